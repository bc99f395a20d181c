// The DNS module as the runner sees it: sync = plan the record index from the view (O(changed
// Services)), swap it into the engine, refresh who may ask; the sockets, the capture and the
// upstream list are the executor's side and are (re)checked on full syncs.
import { statSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { Module, ModuleInputs } from '../../src/runtime/module.ts';
import { ipv6Off } from '../../src/sys/ipv6.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import type { NodeView } from '../../src/view/view.ts';
import type { ModuleContext } from '../index.ts';
import { ClientACL } from './access.ts';
import { applyCapture, captureMissing } from './capture.ts';
import { Engine } from './engine.ts';
import { hostsTable, hostsText, type NodeAddresses } from './hosts.ts';
import { DnsMetrics } from './metrics.ts';
import { dnsConfig, type DnsConfig } from './options.ts';
import { planIndex, updateIndex, type DnsSettings, type IndexInputs, type RecordIndex } from './records.ts';
import { loadSnapshot, saveSnapshot, snapshotText, type Clients } from './snapshot.ts';
import { isFileItem, loadUpstreams } from './resolvconf.ts';
import { DnsServer, listenText } from './server.ts';
import { Forwarder, type UpstreamAddr } from './upstream.ts';

const RESOLV_CHECK_MS = 30_000;
/** A changed zone is written to the snapshot at most this often. */
const SNAPSHOT_EVERY_MS = 10_000;
/** TTL of answers from a snapshot: clients ask again soon, and get the live zone then. */
const STALE_TTL = 5;

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
  private hostsStamp = '';
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
    const cfg = dnsConfig(ctx.config);
    // IPv6 off on this host (the agent says so once): its addresses can be neither held nor bound.
    this.cfg = ipv6Off() ? { ...cfg, clusterDNS: cfg.clusterDNS.filter((ip) => !isIPv6(ip)), listen: cfg.listen.filter((l) => !isIPv6(l.host)) } : cfg;
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
    if (this.cfg.hosts.length) this.setHosts([]);
    // Host-network clients asking a captured address send from that address.
    this.acl = new ClientACL([...this.cfg.allow, ...this.cfg.clusterDNS.map((ip) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`))]);
    if (this.cfg.snapshot) this.answerFromSnapshot();
    this.server = new DnsServer(this.engine, this.metrics, this.acl, this.log);
    // Serve (SERVFAIL for the cluster zone, forwarding for the rest) before the view is ready.
    this.starting = this.start();
    this.starting.catch((err: Error) => this.log.error({ err: err.message }, 'DNS start failed; retrying at the next sync'));
  }

  /**
   * Capture, sockets, upstreams. A failed capture (nft or ip missing) does not stop the
   * sockets that can open: DNS answers wherever it can and the error keeps the module not ready.
   */
  private async start(): Promise<void> {
    let captureError: unknown;
    if (this.cfg.clusterDNS.length) {
      try {
        const dev = await applyCapture(this.cfg.clusterDNS);
        this.log.info({ addresses: this.cfg.clusterDNS, link: dev }, 'cluster DNS addresses captured (local, notrack)');
      } catch (err) {
        captureError = err;
      }
    }
    let listenError: unknown;
    try {
      await this.server.listen(this.cfg.listen);
    } catch (err) {
      listenError = err;
    }
    this.reloadUpstreams(true);
    if (!this.resolvTimer && this.cfg.upstream.some(isFileItem)) {
      this.resolvTimer = setInterval(() => this.reloadUpstreams(false), RESOLV_CHECK_MS);
      this.resolvTimer.unref();
    }
    const errors = [captureError && `capturing the cluster DNS address: ${(captureError as Error).message}`, listenError && (listenError as Error).message].filter(Boolean);
    if (errors.length) throw new Error(errors.join('; '));
  }

  /** The host side: started (again, after a failure), and on a full sync checked against the host. */
  private async ensureHost(full: boolean, first: boolean): Promise<unknown> {
    try {
      await this.starting;
    } catch {
      this.starting = this.start();
      return this.starting.then(() => undefined, (err: unknown) => err);
    }
    if (!full || first) return undefined;
    try {
      // Trust nothing remembered: the capture and the sockets are checked against the host.
      if (this.cfg.clusterDNS.length) await applyCapture(this.cfg.clusterDNS);
      await this.server.listen(this.cfg.listen);
      this.reloadUpstreams(false);
      return undefined;
    } catch (err) {
      return err;
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

  /** Marks the zone for the snapshot; it is written within SNAPSHOT_EVERY_MS (the first one at once). */
  private markSnapshot(input: IndexInputs, view: NodeView, first: boolean): void {
    if (!this.cfg.snapshot) return;
    this.snapshotInput = input;
    const ips = [...view.self.internalIPs, ...view.self.externalIPs];
    const cidrs = [...view.self.podCIDRs];
    for (const p of view.peers.values()) {
      ips.push(...p.internalIPs, ...p.externalIPs);
      cidrs.push(...p.podCIDRs);
    }
    this.snapshotClients = { ips: [...new Set(ips)], cidrs: [...new Set(cidrs)] };
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
  private setHosts(nodes: NodeAddresses[]): void {
    const t = hostsTable(this.cfg.hosts, nodes, this.cfg.hostsTTL);
    const stamp = hostsText(t);
    if (stamp === this.hostsStamp) return;
    this.hostsStamp = stamp;
    this.engine.setHosts(t.byName.size ? t : null);
  }

  private isSelf(a: UpstreamAddr): boolean {
    return this.cfg.listen.some((l) => l.port === a.port && (l.host === a.host || ((l.host === '0.0.0.0' || l.host === '::') && /^(127\.|::1$)/.test(a.host))));
  }

  async sync(view: NodeView, changes: ViewChanges): Promise<void> {
    // Records are served whatever the host side says; its error is thrown after them.
    const hostError = await this.ensureHost(changes.full, !this.index);
    const input = { services: view.services, namespaces: view.namespaces, podsByIP: view.podsByIP };
    const serial = Math.floor(Date.now() / 1000);
    const relevant = changes.full || changes.services.size > 0 || changes.namespaces.size > 0 || (this.cfg.pods === 'verified' && changes.pods.size > 0);
    const first = !this.index;
    if (!this.index || changes.full) {
      this.index = planIndex(input, this.settings, serial);
      this.engine.setIndex(this.index);
      this.metrics.stale = 0;
    } else if (relevant) {
      const change = updateIndex(this.index, input, changes.services, changes.namespaces.size > 0, serial);
      this.engine.setIndex(this.index, change, changes.pods.size > 0);
    } else if (!this.engine.ready) this.engine.setIndex(this.index);
    if (this.cfg.nodeHosts && (changes.full || changes.peers.size > 0 || changes.self)) {
      const nodes = [...view.peers.values()].filter((p) => !p.self).map((p) => ({ name: p.name, ips: p.internalIPs }));
      if (view.self.known) nodes.push({ name: view.self.name, ips: view.self.internalIPs });
      this.setHosts(nodes);
    }
    this.acl.update(view);
    if (relevant || changes.peers.size > 0 || changes.self) this.markSnapshot(input, view, first);
    if (hostError) throw hostError;
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
