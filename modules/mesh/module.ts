// The mesh executor: gathers the few facts the plan needs from the host (key, path MTUs),
// plans, then makes the device match — WireGuard peers, routes, the nft table, the bridge and
// the conflist — and writes this node's annotations and condition. Full syncs and the poll
// compare with the device itself; a partial sync diffs against what the last one left
// (read back or applied), which keeps a peer change to one command. Nothing here ever
// deletes the interface or its peers wholesale, so a restart changes nothing already right.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { KubeClient } from '../../src/kube/client.ts';
import { ipFamily } from '../../src/net/ip.ts';
import type { Module } from '../../src/runtime/module.ts';
import { isEmpty, Tracker } from '../../src/reconcile/tracker.ts';
import { Serial } from '../../src/runtime/serial.ts';
import { ipv6Off } from '../../src/sys/ipv6.ts';
import type { PeerView, ViewChanges } from '../../src/view/types.ts';
import type { NodeView } from '../../src/view/view.ts';
import type { ModuleContext } from '../index.ts';
import { chooseCniVersion, missingPlugins, pluginVersions, readConflist, REQUIRED_PLUGINS, shadowingConfigs, WRITABLE_CNI_VERSIONS, writeConflist } from './cni.ts';
import { conflistMTU, renderConflist } from './conflist.ts';
import { type Device, ensureDevice } from './device.ts';
import { formatEndpoint } from './annotations.ts';
import { decidePeers, knownPaths, mtuProbes } from './decide.ts';
import type { Attempt } from './endpoint-choice.ts';
import { dueRetries, nextRetry, type Pending, trackPending } from './first-handshake.ts';
import { afterOps, type WgControl, wgControl } from './control.ts';
import { exec, isProgramMissing, run } from '../../src/sys/exec.ts';
import { type LoadedKey, loadOrCreateKey } from './key.ts';
import { ensureBridge, pathMTUs, readLink, setAddresses, setLink, underlayMTU } from './link.ts';
import { MeshMetrics } from './metrics.ts';
import { type PathMTU, tunnelMTU } from './mtu.ts';
import { ensureForward, forwardMissing } from './forward.ts';
import { NFT_TABLE, renderNft, replaceScript } from './nft.ts';
import { annotationPatch, markNetworkAvailable, needsNetworkAvailable, patchAnnotations } from './node-status.ts';
import { type MeshConfig, meshConfig } from './options.ts';
import { type MeshPlan, plan } from './plan.ts';
import { type DeviceRoute, diffRoutes, parseRoutes, ROUTE_PROTO } from './routes.ts';
import { type DeviceState, diffPeers } from './wg.ts';

/** How often the device is compared with the last view without a view change (self-healing, endpoint trials, metrics). */
export const POLL_MS = 5_000;

export class NoPodCIDRError extends Error {}

/** full: re-check everything, device included; device: peers and routes read back; memory: diff against the last state. */
type Compare = 'full' | 'device' | 'memory';

export class MeshModule implements Module {
  readonly name = 'mesh';
  readonly inputs = { kinds: ['nodes'], view: ['peers', 'self'] } as const;
  private readonly cfg: MeshConfig;
  private readonly nodeName: string;
  private readonly log: Logger;
  private readonly client: KubeClient | undefined;
  private readonly metrics: MeshMetrics;
  private key: LoadedKey | undefined;
  private device: Device | undefined;
  private ctl: WgControl | undefined;
  /** The peers and routes as the last reconcile left them; undefined = read the device. */
  private believed: { dev: DeviceState; routes: DeviceRoute[] } | undefined;
  private underlay: PathMTU | null | undefined;
  private lastView: NodeView | undefined;
  private attempts = new Map<string, Attempt>();
  /** New peers this node retries the first handshake with (see first-handshake.ts). */
  private readonly firstHandshakes = new Map<string, Pending>();
  private retryTimer: NodeJS.Timeout | undefined;
  private peerNames = new Map<string, string>();
  private readonly paths = new Map<string, PathMTU | null>();
  /** What the single-object appliers made live: 'host' (link, sysctls, bridge), 'nft', 'conflist'. */
  private readonly applied = new Tracker<string>();
  /** The cluster networks the forward accepts were last written for (see forward.ts). */
  private appliedFwd: { key: string; nets: MeshPlan['clusterNets'] } | undefined;
  /** The tunnel addresses last applied, compared with the link at every poll. */
  private tunnelAddrs: string[] = [];
  private hadV6Routes = false;
  /** The view of this Node the last NetworkUnavailable assertion answered. */
  private conditionAnswered: PeerView | undefined;
  private pluginsOK = false;
  private cniVersion = '1.0.0';
  /** The highest MTU older pods may still carry after the pod MTU was lowered (0: none known). */
  private stalePodMTU = 0;
  /** The conflist as last read or written: its MTU is what pods created since then have. */
  private conflistText = '';
  private reported = new Set<string>();
  private podCIDRState: string | undefined;
  /** Reconciles, polls and handshake retries never overlap. */
  private readonly serial = new Serial();
  private timer: NodeJS.Timeout | undefined;
  private pollError = '';
  private closed = false;
  /** ip and nft always; the WireGuard tool of the device in use (or the one the mode forces). */
  get programs(): string[] {
    const userspace = this.device ? this.device.userspace : this.cfg.userspace === 'always' ? true : this.cfg.userspace === 'never' ? false : undefined;
    return ['ip', 'nft', ...(userspace === undefined ? [] : [userspace ? 'wireguard-go' : 'wg'])];
  }

  /** The MTU in force: what the device and the conflist carry. */
  mtu = 0;

  constructor(ctx: ModuleContext) {
    this.cfg = meshConfig(ctx.config);
    this.nodeName = ctx.nodeName;
    this.log = ctx.log.child({ module: 'mesh' });
    this.client = ctx.client;
    this.metrics = new MeshMetrics(ctx.registry);
  }

  sync(view: NodeView, changes: ViewChanges): Promise<void> {
    // Services, pods and namespaces mean nothing to the mesh.
    if (!changes.full && !changes.self && changes.peers.size === 0 && this.lastView === view) return Promise.resolve();
    return this.serial.run(() => this.reconcile(view, changes.full ? 'full' : 'memory'));
  }

  /**
   * A firewall reload (`nft flush ruleset`) or a deleted table: our table, or the jump in a
   * drop-policy forward chain, is gone. Two or three small `nft` listings (the runner asks every
   * few seconds); the full sync it triggers rewrites both.
   */
  async drifted(): Promise<boolean> {
    if (!this.applied.has('nft')) return false;
    const t = await exec('nft', ['list', 'chain', 'inet', NFT_TABLE, 'postrouting']);
    if (!t.ok) return true;
    return this.appliedFwd ? forwardMissing(this.appliedFwd.nets) : false;
  }

  /**
   * The plan for this view, printable (`nodeway view --desired mesh`): peers with their
   * candidate endpoints (the one dialled is chosen against the device), routes, the nft table.
   * The MTU is probed when applied unless --mtu sets it.
   */
  desired(view: NodeView): unknown {
    const p = plan({ config: this.cfg, nodeName: this.nodeName, nodes: view.peers.values(), publicKey: this.key?.publicKey ?? '' });
    return {
      publicKey: this.key?.publicKey ?? '(read from the state dir at the first sync)',
      podCIDRs: p.podCIDRs.map((c) => c.text),
      gateways: p.gateways.map((g) => g.cidr),
      tunnelAddrs: p.tunnelAddrs,
      mtu: this.cfg.mtu > 0 ? this.cfg.mtu : 'path MTU, probed when applied',
      peers: p.peers.map((x) => ({ node: x.node, publicKey: x.publicKey, candidates: x.candidates.map(formatEndpoint), forced: x.forced, allowedIPs: x.allowedIPs, keepalive: x.keepalive })),
      routes: p.routes,
      pending: p.pending,
      rejected: p.rejected,
      warnings: p.warnings,
      publish: p.publish,
      nft: renderNft({ iface: this.cfg.iface, podCIDRs: p.podCIDRs, clusterNets: p.clusterNets }).split('\n'),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.serial.idle();
  }

  private schedulePoll(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.serial.run(() => this.poll()).finally(() => this.schedulePoll());
    }, POLL_MS);
    this.timer.unref();
  }

  private scheduleRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const at = nextRetry(this.firstHandshakes);
    if (this.closed || at === undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.serial.run(() => this.retryFirstHandshakes()).finally(() => this.scheduleRetry());
    }, Math.max(0, at - Date.now()));
    this.retryTimer.unref();
  }

  /** Re-creates the new peers still without a handshake, so that they initiate again now. */
  private async retryFirstHandshakes(): Promise<void> {
    if (this.closed || !this.ctl || this.firstHandshakes.size === 0) return;
    try {
      const dev = await this.ctl.read();
      // What the next partial sync diffs against learns the handshakes too.
      for (const [k, p] of this.believed?.dev.peers ?? []) {
        const d = dev.peers.get(k);
        if (d && d.latestHandshake !== p.latestHandshake) this.believed!.dev.peers.set(k, { ...p, latestHandshake: d.latestHandshake });
      }
      const due = dueRetries(this.firstHandshakes, dev, Date.now());
      if (!due.length) return;
      // Removals first, then the same peers again: fresh handshake state, initiation at once.
      await this.ctl.apply({ remove: due.map((d) => d.publicKey), set: due });
      this.metrics.handshakeRetries.inc({}, due.length);
      this.log.info({ peers: due.map((d) => this.peerNames.get(d.publicKey) ?? d.publicKey) }, 'no first handshake yet; re-created the peer to initiate again');
    } catch (err) {
      // The device is gone or broken: the poll rebuilds it, and that sync starts new retries.
      this.believed = undefined;
      this.firstHandshakes.clear();
      this.log.warn({ err: String((err as Error).message ?? err) }, 'retrying a first handshake failed');
    }
  }

  /** Between view changes: repair what vanished (a killed wireguard-go), advance endpoint trials. */
  private async poll(): Promise<void> {
    if (this.closed || !this.lastView) return;
    try {
      const link = await readLink(this.cfg.iface);
      if (!link) {
        this.log.warn({ iface: this.cfg.iface }, 'WireGuard interface gone; rebuilding it');
        this.device = undefined;
      } else if (link.addrs.length !== this.tunnelAddrs.length || this.tunnelAddrs.some((a) => !link.addrs.includes(a))) {
        // Someone removed or added an address: the host step runs again and puts them right.
        this.applied.failed('host');
      }
      await this.reconcile(this.lastView, link ? 'device' : 'full');
      this.pollError = '';
    } catch (err) {
      const msg = String((err as Error).message ?? err);
      // Said once, not every POLL_MS; a missing program was already said by src/sys/exec.ts.
      if (!(err instanceof NoPodCIDRError) && !isProgramMissing(err) && msg !== this.pollError) this.log.warn({ err: msg }, 'periodic mesh check failed');
      this.pollError = msg;
    }
  }

  private report(p: MeshPlan): void {
    const now = new Set<string>();
    for (const r of p.rejected) now.add(`rejected ${r.node}: ${r.reason}`);
    for (const w of p.warnings) now.add(`warning ${w.node}: ${w.reason}`);
    for (const s of now) if (!this.reported.has(s)) this.log.warn(s.startsWith('rejected') ? `node left out of the mesh: ${s.slice(9)}` : `mesh annotation or CIDR ignored: ${s.slice(8)}`);
    this.reported = now;
  }

  /**
   * A partial sync does not probe new endpoints: that would put two commands between a new
   * node and its peer. The poll (within POLL_MS) probes them and lowers the MTU if needed.
   */
  /**
   * A read-only /proc/sys (an unprivileged container) is not fatal when the host already has
   * the value; otherwise pod traffic will not flow, and the log says why.
   */
  private async sysctl(path: string, value: string): Promise<void> {
    try {
      await writeFile(path, value);
    } catch (err) {
      const now = await readFile(path, 'utf8').then((v) => v.trim(), () => '');
      if (now !== value) this.log.warn({ path, want: value, now, err: String((err as Error).message) }, 'could not set a sysctl that pod traffic needs');
    }
  }

  private async computeMTU(endpoints: string[], compare: Compare): Promise<number> {
    if (this.cfg.mtu > 0) return this.cfg.mtu;
    const full = compare === 'full';
    if (full) this.paths.clear();
    const { ips, probe } = mtuProbes(endpoints, this.paths, !(compare === 'memory' && this.mtu > 0));
    if (probe.length) {
      const found = await pathMTUs(probe);
      // ip prints IPv6 destinations canonically, as parseEndpoint keeps them.
      for (const ip of probe) {
        const mtu = found.get(ip);
        this.paths.set(ip, mtu === undefined ? null : { family: ipFamily(ip) as 4 | 6, mtu });
      }
    }
    const paths = knownPaths(ips, this.paths);
    let underlay: PathMTU | null = null;
    if (!paths.length) {
      if (full || this.underlay === undefined) {
        const self = this.lastView?.peers.get(this.nodeName);
        const ip = self?.internalIPs[0] ?? self?.externalIPs[0];
        const m = await underlayMTU(ip);
        this.underlay = m ? { family: ip && ipFamily(ip) === 6 ? 6 : 4, mtu: m } : null;
      }
      underlay = this.underlay;
    }
    return tunnelMTU(0, paths, underlay);
  }

  private async reconcile(view: NodeView, compare: Compare): Promise<void> {
    try {
      await this.reconcileOnce(view, compare);
    } catch (err) {
      // Whatever half-applied, the next run reads the device again.
      if (!(err instanceof NoPodCIDRError)) this.believed = undefined;
      throw err;
    }
  }

  private async reconcileOnce(view: NodeView, compare: Compare): Promise<void> {
    const full = compare === 'full';
    this.lastView = view;
    const { cfg } = this;
    const t0 = performance.now();
    const took: Record<string, number> = {};
    let lap = t0;
    const mark = (phase: string) => {
      const t = performance.now();
      took[phase] = Math.round(t - lap);
      lap = t;
    };
    if (!this.key) {
      this.key = await loadOrCreateKey(cfg.stateDir);
      for (const n of this.key.notes) this.log.warn({ path: this.key.path }, n);
      this.log.info({ publicKey: this.key.publicKey, created: this.key.created, path: this.key.path }, this.key.created ? 'generated the WireGuard key' : 'loaded the WireGuard key');
    }
    const selfPeer = view.peers.get(this.nodeName);
    const p = plan({ config: cfg, nodeName: this.nodeName, nodes: view.peers.values(), publicKey: this.key.publicKey });
    this.report(p);

    // The device with our identity before the key is published (a rotation then never points
    // peers at a key the device lacks); a broken device does not hold back publishing, as
    // peers only need the key to start adding us.
    let deviceError: unknown;
    let dump: DeviceState | undefined;
    try {
      if (!this.device || !this.ctl || full) {
        this.device = await ensureDevice(cfg.iface, cfg.userspace, cfg.stateDir, this.log);
        this.ctl = wgControl(cfg.iface, this.device.userspace);
        this.believed = undefined;
      }
      dump = compare !== 'memory' || !this.believed ? await this.ctl.read() : this.believed.dev;
      if (dump.privateKey !== this.key.privateKey || dump.listenPort !== cfg.port) {
        await this.ctl.apply({ remove: [], set: [] }, { privateKey: this.key.privateKey, keyPath: this.key.path, listenPort: cfg.port });
        if (dump.privateKey) this.log.warn({ publicKey: this.key.publicKey }, 'the device had another key or port; set to the stored ones');
        dump = { ...dump, privateKey: this.key.privateKey, listenPort: cfg.port };
      }
    } catch (err) {
      deviceError = err;
    }

    const errors: string[] = [];
    if (this.client && selfPeer) {
      const patch = annotationPatch(p.publish, selfPeer.annotations);
      if (patch) {
        try {
          await patchAnnotations(this.client, this.nodeName, patch);
          this.metrics.publishes.inc({ kind: 'annotations', result: 'success' });
          this.log.info({ keys: Object.keys(patch) }, 'published this node\'s WireGuard annotations');
        } catch (err) {
          this.metrics.publishes.inc({ kind: 'annotations', result: 'error' });
          errors.push(`publishing annotations: ${(err as Error).message}`);
        }
      }
    }
    if (deviceError || !dump || !this.ctl || !this.device) throw deviceError ?? new Error('WireGuard device not ready');
    const fromDevice = compare !== 'memory' || !this.believed;

    mark('device');
    const d = decidePeers(p.peers, dump, this.attempts, Date.now());
    this.attempts = d.attempts;
    for (const sw of d.switches) {
      this.metrics.endpointSwitches.inc();
      this.log.info({ peer: sw.node, from: sw.from, to: sw.to }, 'no handshake on this endpoint; trying the next candidate');
    }
    const { desired, endpoints: endpointsInUse } = d;

    mark('plan');
    this.mtu = await this.computeMTU(endpointsInUse, compare);
    mark('mtu');
    // Link, sysctls and bridge change only with the MTU or our pod CIDRs; a vanished link
    // makes the poll run a full reconcile, which redoes them.
    const host = `${this.mtu}|${p.gateways.map((g) => g.cidr).join(',')}`;
    if (this.changed('host', host, full)) {
      const link = await readLink(cfg.iface);
      if (!link) throw new Error(`WireGuard interface ${cfg.iface} vanished`);
      await setLink(link, this.mtu);
      await setAddresses(link, p.tunnelAddrs);
      if (p.podCIDRs.some((c) => c.family === 4)) {
        // Loose: replies from pods behind peers arrive on the tunnel, whatever the main table says.
        await this.sysctl(`/proc/sys/net/ipv4/conf/${cfg.iface}/rp_filter`, '2');
        await this.sysctl('/proc/sys/net/ipv4/ip_forward', '1');
      }
      if (p.podCIDRs.some((c) => c.family === 6)) await this.sysctl('/proc/sys/net/ipv6/conf/all/forwarding', '1');
      if (p.gateways.length) await ensureBridge(cfg.bridge, p.gateways.map((g) => g.cidr), this.mtu);
      this.applied.observed('host', host);
      this.tunnelAddrs = p.tunnelAddrs;
    }

    mark('host');
    const ops = diffPeers(desired, dump);
    if (ops.remove.length || ops.set.length) {
      await this.ctl.apply(ops);
      this.log.info({ removed: ops.remove.length, set: ops.set.length, peers: desired.length }, 'WireGuard peers updated');
    }
    const devAfter = afterOps(dump, ops, this.key.privateKey, cfg.port);
    this.peerNames = new Map(p.peers.map((x) => [x.publicKey, x.node]));
    trackPending(this.firstHandshakes, this.key.publicKey, desired, devAfter, new Set(ops.set.map((x) => x.publicKey)), Date.now());
    this.scheduleRetry();

    mark('peers');
    const wantV6 = p.routes.some((r) => r.family === 6);
    let current: DeviceRoute[];
    if (fromDevice) {
      current = parseRoutes(await run('ip', ['-j', '-4', 'route', 'show', 'table', 'main', 'proto', String(ROUTE_PROTO)]));
      // With IPv6 off there is no IPv6 routing table to read (ipv6.disable=1 refuses the request).
      if ((full || wantV6 || this.hadV6Routes) && !ipv6Off()) {
        current.push(...parseRoutes(await run('ip', ['-j', '-6', 'route', 'show', 'table', 'main', 'proto', String(ROUTE_PROTO)])));
      }
    } else current = this.believed!.routes;
    this.hadV6Routes = wantV6;
    const lines = diffRoutes(p.routes, current);
    if (lines.length) {
      await run('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n` });
      this.log.info({ changes: lines.length, routes: p.routes.length }, 'mesh routes updated');
    }
    this.believed = { dev: devAfter, routes: p.routes.map((r) => ({ dst: r.dst, dev: r.dev, src: r.src })) };

    mark('routes');
    const nft = renderNft({ iface: cfg.iface, podCIDRs: p.podCIDRs, clusterNets: p.clusterNets });
    if (this.changed('nft', nft, full)) {
      await run('nft', ['-f', '-'], { input: replaceScript(nft) });
      this.applied.observed('nft', nft);
    }
    const fwdKey = p.clusterNets.map((c) => c.text).join(',');
    if (full || fwdKey !== this.appliedFwd?.key) {
      const n = await ensureForward(p.clusterNets, fwdKey !== this.appliedFwd?.key);
      if (n) this.log.info({ tables: n, nets: fwdKey }, 'the host firewall drops forwarded traffic: accepted the cluster networks first (chain NODEWAY-FWD)');
      this.appliedFwd = { key: fwdKey, nets: p.clusterNets };
    }

    let networkUp = false;
    if (p.podCIDRs.length) {
      networkUp = await this.ensureConflist(p, full, errors);
    }

    if (this.client && selfPeer) {
      if (needsNetworkAvailable(networkUp, selfPeer, this.conditionAnswered)) {
        try {
          const wrote = await markNetworkAvailable(this.client, this.nodeName, `WireGuard mesh on ${cfg.iface} with ${p.peers.length} peer(s)`);
          this.conditionAnswered = selfPeer;
          this.metrics.publishes.inc({ kind: 'condition', result: 'success' });
          if (wrote) this.log.info({ was: selfPeer.networkUnavailable ?? 'absent' }, 'set NetworkUnavailable=False on this node');
        } catch (err) {
          this.metrics.publishes.inc({ kind: 'condition', result: 'error' });
          errors.push(`setting NetworkUnavailable=False: ${(err as Error).message}`);
        }
      }
    }

    mark('rest');
    this.metrics.plan(p, this.mtu, this.device.userspace);
    this.metrics.device(devAfter, new Map(p.peers.map((x) => [x.publicKey, x.node])));
    this.log.debug({ ms: Math.round(performance.now() - t0), took, compare, peers: p.peers.length, routes: p.routes.length }, 'mesh reconciled');
    this.schedulePoll();

    if (!p.selfKnown) throw new NoPodCIDRError(`node ${this.nodeName} is not in the API server (yet): no pod CIDR to network`);
    const state = p.podCIDRs.map((c) => c.text).join(',');
    if (state !== this.podCIDRState) {
      if (state) this.log.info({ podCIDRs: state, gateways: p.gateways.map((g) => g.cidr), mtu: this.mtu }, 'pod network configured');
      else this.log.error({ node: this.nodeName }, 'this node has no pod CIDR (spec.podCIDRs is empty): no pod can be networked here until one is assigned (kube-controller-manager --allocate-node-cidrs)');
      this.podCIDRState = state;
    }
    if (!p.podCIDRs.length) {
      this.metrics.noPodCIDRs();
      throw new NoPodCIDRError(`node ${this.nodeName} has no pod CIDR (spec.podCIDRs is empty); mesh peers are programmed, pods cannot be`);
    }
    if (errors.length) throw new Error(errors.join('; '));
  }

  /** `value` differs from what was applied under `key` (on a full sync: always redo it). */
  private changed(key: string, value: string, full: boolean): boolean {
    return full || !isEmpty(this.applied.diffKeys(new Map([[key, value]]), [key]));
  }

  /** Writes the conflist when it differs; true once the runtime can network pods. */
  private async ensureConflist(p: MeshPlan, full: boolean, errors: string[]): Promise<boolean> {
    const { cfg } = this;
    if (full || !this.pluginsOK) {
      const missing = await missingPlugins(cfg.cniBinDir, REQUIRED_PLUGINS);
      this.pluginsOK = missing.length === 0;
      if (missing.length) {
        errors.push(`CNI plugins ${missing.join(', ')} missing in ${cfg.cniBinDir}; the conflist is not written until they are there`);
        return false;
      }
      const shadows = await shadowingConfigs(cfg.cniConfDir);
      if (shadows.length) this.log.warn({ dir: cfg.cniConfDir, files: shadows }, 'the container runtime uses the lexically first CNI config: these come before nodeway\'s');
      const onDisk = (await readConflist(cfg.cniConfDir)) ?? undefined;
      this.applied.observed('conflist', onDisk);
      this.conflistText = onDisk ?? '';
      // The plugins may be older than the spec this build writes (an init container keeps them).
      const names = [...REQUIRED_PLUGINS, ...((await missingPlugins(cfg.cniBinDir, ['portmap'])).length ? [] : ['portmap'])];
      const supported = await Promise.all(names.map((n) => pluginVersions(cfg.cniBinDir, n)));
      const silent = names.filter((_, i) => supported[i] === null);
      if (silent.length) this.log.warn({ plugins: silent }, 'CNI plugins did not say which spec versions they support (CNI_COMMAND=VERSION)');
      const version = chooseCniVersion(supported);
      if (!version) {
        this.pluginsOK = false;
        errors.push(`the CNI plugins in ${cfg.cniBinDir} share no spec version nodeway can write (${WRITABLE_CNI_VERSIONS.join(', ')}): ${names.map((n, i) => `${n} ${supported[i]?.join('/') ?? '?'}`).join(', ')}`);
        return false;
      }
      if (version !== this.cniVersion) this.log.info({ cniVersion: version, plugins: names }, 'CNI spec version every plugin supports');
      this.cniVersion = version;
    }
    const portmap = (await missingPlugins(cfg.cniBinDir, ['portmap'])).length === 0;
    const text = renderConflist({ bridge: cfg.bridge, podCIDRs: p.podCIDRs, gateways: p.gateways, mtu: this.mtu, ipamDir: join(cfg.stateDir, 'ipam'), portmap, cniVersion: this.cniVersion });
    if (this.changed('conflist', text, false)) {
      // Pods keep the MTU they were created with: a lower one reaches only new pods.
      const before = conflistMTU(this.conflistText);
      if (before > this.mtu) {
        this.stalePodMTU = Math.max(this.stalePodMTU, before);
        this.metrics.stalePodMTU.set({}, this.stalePodMTU);
        this.log.warn({ from: before, to: this.mtu }, 'pod MTU lowered: pods created before keep the old one (and may lose large packets) until they are re-created');
      }
      await writeConflist(cfg.cniConfDir, text);
      this.applied.observed('conflist', text);
      this.conflistText = text;
      this.log.info({ dir: cfg.cniConfDir, mtu: this.mtu, podCIDRs: p.podCIDRs.map((c) => c.text) }, 'wrote the CNI config');
    }
    return true;
  }
}
