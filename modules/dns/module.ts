// The DNS module as the runner sees it: sync = plan (plan.ts) the parts that changed, diff each
// with a tracker against what was applied, and apply only the difference: the host side
// (capture, sockets, upstreams; checked again on full syncs), the hosts table, and the zone per
// Service (O(changed Services)): only Services whose records differ reach the record index and
// the encoded-answer cache.
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Module, ModuleInputs } from '../../src/runtime/module.ts';
import { isEmpty, Tracker } from '../../src/reconcile/tracker.ts';
import { ipv6Off } from '../../src/sys/ipv6.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import type { NodeView } from '../../src/view/view.ts';
import type { ModuleContext } from '../index.ts';
import { ClientACL } from './access.ts';
import { applyCapture, captureMissing } from './capture.ts';
import { Engine } from './engine.ts';
import { DnsMetrics } from './metrics.ts';
import { dnsConfig, type DnsConfig } from './options.ts';
import { planIndex, updateIndex, type DnsSettings, type IndexInputs, type RecordIndex } from './records.ts';
import { desiredToJSON, effectiveConfig, planClients, planDns, planHost, planHosts, recordsHash, recordsKey, serviceRecords, type DnsDesired, type ServiceRecords } from './plan.ts';
import { loadSnapshot, saveSnapshot, snapshotText, type Clients } from './snapshot.ts';
import { isFileItem, loadUpstreams } from './resolvconf.ts';
import { DnsServer, listenText } from './server.ts';
import { Forwarder, type UpstreamAddr } from './upstream.ts';

const RESOLV_CHECK_MS = 30_000;
/**
 * A changed zone is written to the snapshot at most this often. Each write serialises every
 * Service: at 10,000 × 10 under churn, every 10 s cost 52 ms of CPU per isolated endpoint change
 * and left ~100 MiB more RssAnon after a burst (bench/shipped.ts with and without the snapshot);
 * a restart answers from a zone at most a minute old either way.
 */
const SNAPSHOT_EVERY_MS = 60_000;
/** TTL of answers from a snapshot: clients ask again soon, and get the live zone then. */
const STALE_TTL = 5;

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const sameClients = (a: Clients, b: Clients) => sameList(a.ips, b.ips) && sameList(a.cidrs, b.cidrs);

export class DnsModule implements Module {
  readonly name = 'dns';
  readonly inputs: ModuleInputs;
  /** The capture of the cluster DNS address puts it on a link (ip) and marks it notrack (nft). */
  readonly programs: readonly string[];
  readonly cfg: DnsConfig;
  readonly engine: Engine;
  readonly server: DnsServer;
  readonly metrics: DnsMetrics;
  private readonly forwarder: Forwarder;
  private readonly stubs: { zone: string; upstream: string[]; forwarder: Forwarder }[];
  /** The host side as planned from the config, and what of it is applied ('capture', 'listen', 'upstreams'). */
  private readonly hostPlan: ReturnType<typeof planHost>;
  private readonly hostApplied = new Tracker<unknown>();
  /** The hosts table applied, per name. */
  private readonly hostsApplied = new Tracker<string[]>();
  /** The zone applied, per Service (`<name>.<ns>`): the record index holds it. */
  private readonly zoneApplied = new Tracker<ServiceRecords>(recordsHash);
  private snapshotTimer: NodeJS.Timeout | undefined;
  private snapshotDirty = false;
  private snapshotWrite: Promise<void> = Promise.resolve();
  private snapshotInput: IndexInputs | undefined;
  private snapshotClients: Clients = { ips: [], cidrs: [] };
  private readonly acl: ClientACL;
  private readonly log: Logger;
  private readonly settings: DnsSettings;
  private index: RecordIndex | null = null;
  private starting: Promise<void>;
  private resolvTimer: NodeJS.Timeout | undefined;
  private resolvStamp = '';

  constructor(ctx: ModuleContext) {
    // IPv6 off on this host (the agent says so once): its addresses can be neither held nor bound.
    this.cfg = effectiveConfig(dnsConfig(ctx.config), ipv6Off() !== '');
    this.hostPlan = planHost(this.cfg);
    // Pod records answer from the pod IP alone unless they are 'verified' against the Pods.
    // Records need Services and namespaces (and pods for `pods verified`); who may ask (access.ts)
    // needs the nodes' addresses and pod CIDRs, and the pod IPs when no cluster CIDR is given.
    // Pod IPs matter to who-may-ask only outside the cluster CIDRs, which it allows whole: with
    // clusterCIDR set, Pods are watched only for `pods verified` (a Pod watch sends every Pod
    // change in the cluster to every node; issue #11).
    const clusterCIDR = (ctx.config.clusterCIDR as string[] | undefined) ?? [];
    const pods = this.cfg.pods === 'verified' || clusterCIDR.length === 0;
    this.inputs = pods
      ? { kinds: ['services', 'endpointslices', 'namespaces', 'nodes', 'pods'], view: ['services', 'namespaces', 'pods', 'peers', 'self'] }
      : { kinds: ['services', 'endpointslices', 'namespaces', 'nodes'], view: ['services', 'namespaces', 'peers', 'self'] };
    this.programs = this.cfg.clusterDNS.length ? ['ip', 'nft'] : [];
    this.log = ctx.log.child({ module: 'dns' });
    this.metrics = new DnsMetrics(ctx.registry, `dns://${listenText(this.cfg.listen[0]!)}`, this.cfg.zone);
    this.forwarder = new Forwarder({ log: this.log, metrics: this.metrics });
    this.settings = { zone: this.cfg.zone, ttl: this.cfg.ttl, pods: this.cfg.pods, nameservers: this.cfg.clusterDNS };
    this.stubs = this.cfg.stubs.map((st) => ({ ...st, forwarder: new Forwarder({ log: this.log, metrics: this.metrics }) }));
    this.engine = new Engine({ settings: this.settings, forwarder: this.forwarder, stubs: this.stubs, metrics: this.metrics, cacheSize: this.cfg.cacheSize, cachePolicy: this.cfg.cachePolicy });
    if (this.cfg.hosts.length) this.applyHosts({ peers: new Map(), self: { known: false } as NodeView['self'] });
    // Host-network clients asking a captured address send from that address.
    this.acl = new ClientACL([...this.cfg.allow, ...this.cfg.clusterDNS.map((ip) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`))]);
    if (this.cfg.snapshot) this.answerFromSnapshot();
    this.server = new DnsServer(this.engine, this.metrics, this.acl, this.log);
    // Serve (SERVFAIL for the cluster zone, forwarding for the rest) before the view is ready.
    this.starting = this.applyHost();
    this.starting.catch((err: Error) => this.log.error({ err: err.message }, 'DNS start failed; retrying at the next sync'));
  }

  /**
   * Capture, sockets, upstreams: the parts of the host side not applied yet. A failed capture
   * (nft or ip missing) does not stop the sockets that can open: DNS answers wherever it can and
   * the error keeps the module not ready; what failed is owed, and tried again at the next sync.
   */
  private async applyHost(): Promise<void> {
    const want = new Map<string, unknown>([
      ['capture', this.hostPlan.capture],
      ['listen', this.hostPlan.listen],
      ['upstreams', [this.hostPlan.upstreams, this.hostPlan.stubs]],
    ]);
    const diff = this.hostApplied.diff(want);
    const errors: string[] = [];
    for (const part of [...diff.create, ...diff.update]) {
      try {
        await this.applyHostPart(part[0]);
        this.hostApplied.done({ create: [part], update: [], delete: [] });
      } catch (err) {
        errors.push(part[0] === 'capture' ? `capturing the cluster DNS address: ${(err as Error).message}` : (err as Error).message);
      }
    }
    if (errors.length) throw new Error(errors.join('; '));
  }

  private async applyHostPart(part: string): Promise<void> {
    if (part === 'capture') {
      if (this.cfg.clusterDNS.length === 0) return;
      const dev = await applyCapture(this.cfg.clusterDNS);
      this.log.info({ addresses: this.cfg.clusterDNS, link: dev }, 'cluster DNS addresses captured (local, notrack)');
    } else if (part === 'listen') await this.server.listen(this.cfg.listen);
    else {
      // Read at once the first time; a full sync's check re-reads only a resolv.conf that changed.
      this.reloadUpstreams(this.resolvStamp === '');
      if (!this.resolvTimer && this.cfg.upstream.some(isFileItem)) {
        this.resolvTimer = setInterval(() => this.reloadUpstreams(false), RESOLV_CHECK_MS);
        this.resolvTimer.unref();
      }
    }
  }

  /** Reads the upstream list (again, if a resolv.conf changed), leaving out addresses that are us. */
  private reloadUpstreams(force: boolean): void {
    const stamp = this.cfg.upstream.map((f) => (isFileItem(f) ? `${f}@${mtime(f)}` : f)).join(',');
    if (!force && stamp === this.resolvStamp) return;
    this.resolvStamp = stamp;
    const { addrs, errors } = loadUpstreams(this.cfg.upstream);
    for (const e of errors) this.log.warn({ err: e }, 'cannot read upstream resolvers');
    const usable = addrs.filter((a) => !this.isSelf(a));
    for (const a of addrs) if (!usable.includes(a)) this.log.warn({ upstream: `${a.host}:${a.port}` }, 'upstream is this DNS server itself; left out');
    if (usable.length === 0) this.log.warn('no upstream resolvers: names outside the cluster get SERVFAIL');
    this.forwarder.setUpstreams(usable);
    this.log.info({ upstreams: this.forwarder.addresses }, 'DNS upstreams');
    for (const st of this.stubs) {
      const r = loadUpstreams(st.upstream);
      for (const e of r.errors) this.log.warn({ err: e, zone: st.zone }, 'cannot read stub domain resolvers');
      st.forwarder.setUpstreams(r.addrs.filter((a) => !this.isSelf(a)));
      this.log.info({ zone: st.zone, upstreams: st.forwarder.addresses }, 'DNS stub domain upstreams');
    }
  }

  /** Until the first sync, the zone as the last run saw it, with a short TTL. */
  private answerFromSnapshot(): void {
    const s = loadSnapshot(this.cfg.snapshot, this.cfg.zone);
    if (typeof s === 'string') {
      this.log.info({ snapshot: this.cfg.snapshot, why: s }, 'no DNS zone snapshot to answer from until the watch syncs');
      return;
    }
    const stale = planIndex(s.input, { ...this.settings, ttl: Math.min(this.settings.ttl, STALE_TTL) }, Math.floor(s.savedAt / 1000));
    this.engine.setIndex(stale);
    // Pods are answered too, not only the node: the ACL as it was.
    this.acl.update({ self: { name: '', known: false, zone: '', internalIPs: s.clients.ips, externalIPs: [], podCIDRs: s.clients.cidrs }, peers: new Map(), podsByIP: new Map() });
    this.metrics.stale = 1;
    this.log.info({ snapshot: this.cfg.snapshot, savedAt: new Date(s.savedAt).toISOString(), services: s.input.services.size }, 'answering the cluster zone from the snapshot until the watch syncs');
  }

  /**
   * Marks the zone for the snapshot; it is written within SNAPSHOT_EVERY_MS (the first one at
   * once). A Node change that leaves the zone and who may ask as they were (a node's
   * annotations, its conditions) writes nothing: at 10,000 × 10 a write is ~170 ms of CPU and a
   * ~35 MB burst of garbage, and the mesh publishing its key set one off a minute after start.
   */
  private markSnapshot(input: IndexInputs, view: NodeView, first: boolean, zoneChanged: boolean): void {
    if (!this.cfg.snapshot) return;
    const clients = planClients(view);
    if (!first && !zoneChanged && sameClients(clients, this.snapshotClients)) return;
    this.snapshotInput = input;
    this.snapshotClients = clients;
    this.snapshotDirty = true;
    if (first) void this.writeSnapshot();
    else if (!this.snapshotTimer) {
      this.snapshotTimer = setTimeout(() => {
        this.snapshotTimer = undefined;
        void this.writeSnapshot();
      }, SNAPSHOT_EVERY_MS);
      this.snapshotTimer.unref();
    }
  }

  /** One write at a time (they share a temporary file). */
  private writeSnapshot(): Promise<void> {
    this.snapshotWrite = this.snapshotWrite.then(async () => {
      if (!this.snapshotDirty || !this.snapshotInput) return;
      this.snapshotDirty = false;
      try {
        await saveSnapshot(this.cfg.snapshot, snapshotText(this.cfg.zone, this.snapshotInput, this.snapshotClients));
      } catch (err) {
        this.log.warn({ snapshot: this.cfg.snapshot, err: (err as Error).message }, 'cannot write the DNS zone snapshot');
      }
    });
    return this.snapshotWrite;
  }

  /** The hosts table from the config lines and (NodeHosts) the nodes' internal IPs; swapped in when it differs. */
  private applyHosts(view: Pick<NodeView, 'peers' | 'self'>): void {
    const t = planHosts(this.cfg, view);
    const diff = this.hostsApplied.diff(t.byName);
    if (isEmpty(diff)) return;
    this.engine.setHosts(t.byName.size ? t : null);
    this.hostsApplied.done(diff);
  }

  private isSelf(a: UpstreamAddr): boolean {
    return this.cfg.listen.some((l) => l.port === a.port && (l.host === a.host || ((l.host === '0.0.0.0' || l.host === '::') && /^(127\.|::1$)/.test(a.host))));
  }

  async sync(view: NodeView, changes: ViewChanges): Promise<void> {
    // Records are served whatever the host side says; its error is thrown after them.
    const hostError = await this.syncHost(changes.full);
    const input = { services: view.services, namespaces: view.namespaces, podsByIP: view.podsByIP };
    const serial = Math.floor(Date.now() / 1000);
    const podsChanged = this.cfg.pods === 'verified' && changes.pods.size > 0;
    const relevant = changes.full || changes.services.size > 0 || changes.namespaces.size > 0 || podsChanged;
    const first = !this.index;
    let zoneChanged = true;
    if (!this.index || changes.full) {
      const zone = new Map<string, ServiceRecords>();
      for (const [k, v] of view.services) zone.set(recordsKey(k), serviceRecords(v, this.cfg.zone));
      this.zoneApplied.reset(zone);
      this.index = planIndex(input, this.settings, serial);
      this.engine.setIndex(this.index);
      this.metrics.stale = 0;
    } else if (relevant) zoneChanged = this.syncZone(view, changes, podsChanged, serial);
    else {
      zoneChanged = false;
      if (!this.engine.ready) this.engine.setIndex(this.index);
    }
    if (this.cfg.nodeHosts && (changes.full || changes.peers.size > 0 || changes.self)) this.applyHosts(view);
    this.acl.update(view);
    if (zoneChanged || changes.peers.size > 0 || changes.self) this.markSnapshot(input, view, first, zoneChanged);
    if (hostError) throw hostError;
  }

  /** The host side: waits for the constructor's apply; a full sync checks it against the host again. */
  private async syncHost(full: boolean): Promise<unknown> {
    try {
      await this.starting;
      // The first sync follows the constructor's apply: nothing to check yet.
      if (!full || !this.index) return undefined;
      this.hostApplied.reset();
    } catch {
      // What failed is still owed: applied below.
    }
    this.starting = this.applyHost();
    return this.starting.then(() => undefined, (err: unknown) => err);
  }

  /**
   * An incremental sync of the zone: the changed Services' records diffed with what is applied;
   * only those that differ are re-indexed and have their encoded answers forgotten. The others
   * (a change DNS does not show: conditions, terminating endpoints, traffic policies) only have
   * the index point at their new view.
   */
  private syncZone(view: NodeView, changes: ViewChanges, podsChanged: boolean, serial: number): boolean {
    const index = this.index!;
    const want = new Map<string, ServiceRecords>();
    const viewKeys = new Map<string, string>();
    for (const k of changes.services) {
      const rk = recordsKey(k);
      viewKeys.set(rk, k);
      const v = view.services.get(k);
      if (v) want.set(rk, serviceRecords(v, this.cfg.zone));
    }
    const diff = this.zoneApplied.diffKeys(want, viewKeys.keys());
    const changed = [...diff.create.map(([k]) => k), ...diff.update.map(([k]) => k), ...diff.delete].map((rk) => viewKeys.get(rk)!);
    const differ = new Set(changed);
    for (const k of changes.services) {
      const e = differ.has(k) ? undefined : index.services.get(recordsKey(k));
      const v = view.services.get(k);
      if (e && v) e.view = v;
    }
    if (changed.length || changes.namespaces.size > 0 || podsChanged) {
      const change = updateIndex(index, { services: view.services, namespaces: view.namespaces, podsByIP: view.podsByIP }, changed, changes.namespaces.size > 0, serial);
      this.engine.setIndex(index, change, podsChanged);
    }
    this.zoneApplied.done(diff);
    // What the snapshot holds (records and namespaces; pods are not kept) changed.
    return changed.length > 0 || changes.namespaces.size > 0;
  }

  /** What this node serves for `view` (`nodeway view --desired dns`). */
  desired(view: NodeView): unknown {
    return desiredToJSON(this.plan(view));
  }

  plan(view: NodeView): DnsDesired {
    return planDns(this.cfg, view);
  }

  /** The capture table gone (`nft flush ruleset`): the full sync captures again. */
  async drifted(): Promise<boolean> {
    return this.cfg.clusterDNS.length > 0 && (await captureMissing());
  }

  async close(): Promise<void> {
    if (this.resolvTimer) clearInterval(this.resolvTimer);
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
    await this.writeSnapshot();
    await this.server.close();
    this.forwarder.close();
    for (const st of this.stubs) st.forwarder.close();
  }
}

function mtime(f: string): number {
  try {
    return statSync(f).mtimeMs;
  } catch {
    return 0;
  }
}
