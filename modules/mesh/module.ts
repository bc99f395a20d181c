// The mesh module: gathers the few facts the decisions need from the host (the key, the
// device as last read, path MTUs, the CNI plugins), plans (plan.ts, pure), decides
// (decide.ts, pure) into one desired value (desired.ts), then runs the appliers in order —
// device and identity, this node's annotations, link, addresses, peers, routes, nft table,
// forward accepts, conflist, the NetworkUnavailable condition. Each applier keeps what it
// made live in its own tracker (src/reconcile/tracker.ts) and only executes the difference.
// Full syncs and the poll compare with the device itself; a partial sync diffs against what
// the last one left, which keeps a peer change to one command. The host's links, addresses and
// routes are watched (src/sys/ip-monitor.ts): an event that contradicts what was applied
// (host-events.ts) wakes a repair at once, so the poll reads only the WireGuard device, and
// the host every HOST_FALLBACK_MS (every POLL_MS while the listener is down). Nothing here
// ever deletes the interface or its peers wholesale, so a restart changes nothing already right.
import type { Logger } from 'pino';
import type { KubeClient } from '../../src/kube/client.ts';
import type { Module } from '../../src/runtime/module.ts';
import { Serial } from '../../src/runtime/serial.ts';
import { isProgramMissing } from '../../src/sys/exec.ts';
import { type IpEvent, IpMonitor } from '../../src/sys/ip-monitor.ts';
import type { PeerView, ViewChanges } from '../../src/view/types.ts';
import type { NodeView } from '../../src/view/view.ts';
import type { ModuleContext } from '../index.ts';
import { ConflistApplier } from './apply/conflist.ts';
import { DeviceApplier } from './apply/device.ts';
import { AddressesApplier, LinkApplier } from './apply/link.ts';
import { ForwardApplier, NftApplier } from './apply/nft.ts';
import { AnnotationsApplier, ConditionApplier } from './apply/node.ts';
import { PeersApplier } from './apply/peers.ts';
import { RoutesApplier } from './apply/routes.ts';
import { decidePeers } from './decide.ts';
import { type Compare, type MeshDesired, meshDesired } from './desired.ts';
import type { Attempt } from './endpoint-choice.ts';
import { CniFacts, PathFacts } from './facts.ts';
import { eventKey, type HostWake, hostWakes } from './host-events.ts';
import { type LoadedKey, loadOrCreateKey } from './key.ts';
import { readLink } from './link.ts';
import { MeshMetrics } from './metrics.ts';
import { type MeshConfig, meshConfig } from './options.ts';
import { type MeshPlan, plan } from './plan.ts';
import { printDesired } from './print.ts';

/** How often the device is compared with the last view without a view change (endpoint trials, metrics; the host too while it is not watched). */
export const POLL_MS = 5_000;
/** While the host is watched, it is still read this often (what no event shows). */
export const HOST_FALLBACK_MS = 60_000;
/** Host events are judged this long after the first of a burst. */
export const HOST_DEBOUNCE_MS = 100;
/** Repairs woken by the host at most this often: another program fighting over a route is not a tight loop. */
export const HOST_REPAIR_GAP_MS = 1_000;

export class NoPodCIDRError extends Error {}

export class MeshModule implements Module {
  readonly name = 'mesh';
  readonly inputs = { kinds: ['nodes'], view: ['peers', 'self'] } as const;
  private readonly cfg: MeshConfig;
  private readonly nodeName: string;
  private readonly log: Logger;
  private readonly client: KubeClient | undefined;
  private readonly metrics: MeshMetrics;
  private key: LoadedKey | undefined;
  private lastView: NodeView | undefined;
  /** By public key: endpoint trials still running (decide.ts). */
  private attempts = new Map<string, Attempt>();
  private peerNames = new Map<string, string>();
  // Facts the decisions read, then the appliers in the order they run.
  private readonly paths = new PathFacts();
  private readonly cni: CniFacts;
  private readonly dev: DeviceApplier;
  private readonly annotations: AnnotationsApplier | undefined;
  private readonly link: LinkApplier;
  private readonly addresses = new AddressesApplier();
  private readonly peers = new PeersApplier();
  private readonly routes = new RoutesApplier();
  private readonly nft = new NftApplier();
  private readonly forward: ForwardApplier;
  private readonly conflist: ConflistApplier;
  private readonly condition: ConditionApplier | undefined;
  private reported = new Set<string>();
  private podCIDRState: string | undefined;
  /** Reconciles, polls and handshake retries never overlap. */
  private readonly serial = new Serial();
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pollError = '';
  private closed = false;
  /** Link, address and route events; started with the first reconcile. */
  private readonly hostEvents: IpMonitor;
  /** Events not judged yet, the last one per object (host-events.ts). */
  private readonly heard = new Map<string, IpEvent>();
  private wakeTimer: NodeJS.Timeout | undefined;
  /** When the poll last read the host's links and routes. */
  private hostReadAt = 0;
  private lastRepair = 0;
  /** ip and nft always; the WireGuard tool of the device in use (or the one the mode forces). */
  get programs(): string[] {
    const d = this.dev.device;
    const userspace = d ? d.userspace : this.cfg.userspace === 'always' ? true : this.cfg.userspace === 'never' ? false : undefined;
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
    this.cni = new CniFacts(this.cfg, this.log);
    this.dev = new DeviceApplier(this.cfg, this.log);
    this.link = new LinkApplier(this.log);
    this.forward = new ForwardApplier(this.log);
    this.conflist = new ConflistApplier(this.cfg.cniConfDir, this.log, this.metrics);
    if (this.client) {
      this.annotations = new AnnotationsApplier(this.client, this.nodeName);
      this.condition = new ConditionApplier(this.client, this.nodeName);
    }
    this.hostEvents = new IpMonitor({ log: this.log.child({ part: 'ip-monitor' }), registry: ctx.registry });
    this.hostEvents.subscribe((ev) => this.onHostEvent(ev));
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
    if (!this.nft.written) return false;
    return (await this.nft.gone()) || (await this.forward.gone());
  }

  /**
   * The plan for this view, printable (`nodeway view --desired mesh`): peers with their
   * candidate endpoints (the one dialled is chosen against the device), routes, the nft table.
   */
  desired(view: NodeView): unknown {
    return printDesired(this.cfg, this.nodeName, view, this.key?.publicKey);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.hostEvents.close();
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
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
    const at = this.peers.nextRetry();
    if (this.closed || at === undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.serial.run(() => this.retryFirstHandshakes()).finally(() => this.scheduleRetry());
    }, Math.max(0, at - Date.now()));
    this.retryTimer.unref();
  }

  /** New peers still without a handshake are re-created, so that they initiate again now (first-handshake.ts). */
  private async retryFirstHandshakes(): Promise<void> {
    const ctl = this.dev.ctl;
    if (this.closed || !ctl) return;
    try {
      const { due, read } = await this.peers.retryFirstHandshakes(ctl, Date.now());
      // A first handshake is reported as soon as it is seen, not at the next poll.
      if (read) this.metrics.device(read, this.peerNames);
      if (!due.length) return;
      this.metrics.handshakeRetries.inc({}, due.length);
      this.log.info({ peers: due.map((d) => this.peerNames.get(d.publicKey) ?? d.publicKey) }, 'no first handshake yet; re-created the peer to initiate again');
    } catch (err) {
      this.log.warn({ err: String((err as Error).message ?? err) }, 'retrying a first handshake failed');
    }
  }

  /**
   * Between view changes: advance endpoint trials and the metrics from the device; repair what
   * vanished (a killed wireguard-go, a deleted route) when the host is read: every poll while
   * it is not watched, else every HOST_FALLBACK_MS.
   */
  private async poll(): Promise<void> {
    if (this.closed || !this.lastView) return;
    const host = !this.hostEvents.live || Date.now() - this.hostReadAt >= HOST_FALLBACK_MS;
    await this.check(host ? 'device' : 'peers', 'periodic mesh check failed');
  }

  /** Reads the host when `compare` says so (the link first: a vanished one is rebuilt), then reconciles. */
  private async check(compare: 'device' | 'full' | 'peers', what: string): Promise<void> {
    if (this.closed || !this.lastView) return;
    try {
      if (compare !== 'peers') {
        this.hostReadAt = Date.now();
        const link = await readLink(this.cfg.iface);
        if (!link) {
          this.log.warn({ iface: this.cfg.iface }, 'WireGuard interface gone; rebuilding it');
          this.dev.forget();
          compare = 'full';
        } else this.addresses.observe(link.addrs);
      }
      await this.reconcile(this.lastView, compare);
      this.pollError = '';
    } catch (err) {
      const msg = String((err as Error).message ?? err);
      // Said once, not every POLL_MS; a missing program was already said by src/sys/exec.ts.
      if (!(err instanceof NoPodCIDRError) && !isProgramMissing(err) && msg !== this.pollError) this.log.warn({ err: msg }, what);
      this.pollError = msg;
    }
  }

  private onHostEvent(ev: IpEvent): void {
    if (this.closed) return;
    this.heard.set(eventKey(ev), ev);
    if (this.wakeTimer) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      void this.serial.run(() => this.onHostChanges());
    }, Math.max(HOST_DEBOUNCE_MS, this.lastRepair + HOST_REPAIR_GAP_MS - Date.now()));
    this.wakeTimer.unref();
  }

  /** Judged once no reconcile runs: what the appliers hold now is what the events are compared with. */
  private async onHostChanges(): Promise<void> {
    const events = [...this.heard.values()];
    this.heard.clear();
    if (this.closed || !this.lastView) return;
    const self = this.lastView.peers.get(this.nodeName);
    const wakes = hostWakes(events, {
      iface: this.cfg.iface, bridge: this.cfg.bridge, device: !!this.dev.device, link: this.link.live,
      addresses: this.addresses.held(), routeHeld: this.routes.held(), nodeIPs: self ? [...self.internalIPs, ...self.externalIPs] : [],
    });
    if (!wakes.size) return;
    this.lastRepair = Date.now();
    for (const w of wakes) this.metrics.hostWakes.inc({ reason: w });
    const lost = wakes.has('lost');
    if (!lost) this.log.info({ changed: [...wakes] }, 'the host changed under the mesh; repairing');
    if (lost || wakes.has('link')) this.link.forget();
    if (lost || wakes.has('underlay')) this.paths.forget();
    // Routes and addresses are read back by a 'device' check; the link first (check()).
    await this.check(wakes.has('device') ? 'full' : 'device', 'mesh repair after a host change failed');
  }

  private report(p: MeshPlan): void {
    const now = new Set<string>();
    for (const r of p.rejected) now.add(`rejected ${r.node}: ${r.reason}`);
    for (const w of p.warnings) now.add(`warning ${w.node}: ${w.reason}`);
    for (const s of now) if (!this.reported.has(s)) this.log.warn(s.startsWith('rejected') ? `node left out of the mesh: ${s.slice(9)}` : `mesh annotation or CIDR ignored: ${s.slice(8)}`);
    this.reported = now;
  }

  private async reconcile(view: NodeView, compare: Compare): Promise<void> {
    try {
      await this.reconcileOnce(view, compare);
    } catch (err) {
      // Whatever half-applied, the next run reads the device again.
      if (!(err instanceof NoPodCIDRError)) {
        this.peers.forget();
        this.routes.forget();
      }
      throw err;
    }
  }

  private async reconcileOnce(view: NodeView, compare: Compare): Promise<void> {
    this.lastView = view;
    const t0 = performance.now();
    const took = laps(t0);
    const key = (this.key ??= await this.loadKey());
    const self = view.peers.get(this.nodeName);
    const p = plan({ config: this.cfg, nodeName: this.nodeName, nodes: view.peers.values(), publicKey: key.publicKey });
    this.report(p);
    const errors: string[] = [];
    // The device with our identity before the key is published (a rotation then never points
    // peers at a key the device lacks); a broken device does not hold back publishing, as
    // peers only need the key to start adding us.
    const deviceError = await this.applyDevice(compare, key).then(() => undefined, (err: unknown) => err);
    if (self) await this.publish(p, self, errors);
    if (deviceError || !this.dev.device || !this.peers.device) throw deviceError ?? new Error('WireGuard device not ready');
    took('device');
    const want = await this.decide(p, self, compare, errors);
    took('decide');
    await this.apply(want, compare, key, took);
    if (self) await this.assertNetworkAvailable(want, p, self, errors);
    took('rest');
    this.metrics.plan(p, this.mtu, this.dev.device.userspace);
    this.metrics.device(this.peers.device, this.peerNames);
    this.log.debug({ ms: Math.round(performance.now() - t0), took: took.all, compare, peers: p.peers.length, routes: p.routes.length }, 'mesh reconciled');
    if (!this.closed) this.hostEvents.start();
    this.schedulePoll();
    this.podNetworkState(p);
    if (errors.length) throw new Error(errors.join('; '));
  }

  /** The decisions (decide.ts) on the facts read from the host (facts.ts): the desired state. */
  private async decide(p: MeshPlan, self: PeerView | undefined, compare: Compare, errors: string[]): Promise<MeshDesired> {
    const d = decidePeers(p.peers, this.peers.device!, this.attempts, Date.now());
    this.attempts = d.attempts;
    for (const sw of d.switches) {
      this.metrics.endpointSwitches.inc();
      this.log.info({ peer: sw.node, from: sw.from, to: sw.to }, 'no handshake on this endpoint; trying the next candidate');
    }
    this.peerNames = new Map(p.peers.map((x) => [x.publicKey, x.node]));
    // A partial sync with an MTU in force does not probe new endpoints: that would put commands
    // between a new node and its peer. The poll (within POLL_MS) probes them.
    this.mtu = this.cfg.mtu > 0 ? this.cfg.mtu : await this.paths.mtu({
      endpoints: d.endpoints, probeNew: !(compare === 'memory' && this.mtu > 0), refresh: compare === 'full', selfIP: self?.internalIPs[0] ?? self?.externalIPs[0],
    });
    const cni = p.podCIDRs.length ? await this.cni.check(compare === 'full') : undefined;
    if (cni?.problem) errors.push(cni.problem);
    if (cni?.checked && cni.choice) await this.conflist.read();
    return meshDesired(this.cfg, p, d.desired, this.mtu, cni?.choice);
  }

  /** The appliers on the host, in order; each executes only what differs from what it applied. */
  private async apply(want: MeshDesired, compare: Compare, key: LoadedKey, took: (phase: string) => void): Promise<void> {
    const full = compare === 'full';
    await this.link.apply(want.link, full);
    await this.addresses.apply(this.cfg.iface, want.addresses, compare);
    took('host');
    const ops = await this.peers.apply(this.dev.ctl!, want.peers, key.publicKey, Date.now());
    if (ops.remove.length || ops.set.length) this.log.info({ removed: ops.remove.length, set: ops.set.length, peers: want.peers.length }, 'WireGuard peers updated');
    this.scheduleRetry();
    took('peers');
    const lines = await this.routes.apply(want.routes, compare);
    if (lines) this.log.info({ changes: lines, routes: want.routes.length }, 'mesh routes updated');
    took('routes');
    await this.nft.apply(want.nft, full);
    await this.forward.apply(want.forward, full);
    if (want.conflist !== undefined && (await this.conflist.apply(want.conflist, this.mtu))) {
      this.log.info({ dir: this.cfg.cniConfDir, mtu: this.mtu, gateways: want.link.gateways }, 'wrote the CNI config');
    }
  }

  /** This node's annotations, as the plan says (API write). */
  private async publish(p: MeshPlan, self: PeerView, errors: string[]): Promise<void> {
    if (!this.annotations) return;
    try {
      const keys = await this.annotations.apply(p.publish, self);
      if (!keys.length) return;
      this.metrics.publishes.inc({ kind: 'annotations', result: 'success' });
      this.log.info({ keys }, 'published this node\'s WireGuard annotations');
    } catch (err) {
      this.metrics.publishes.inc({ kind: 'annotations', result: 'error' });
      errors.push(`publishing annotations: ${(err as Error).message}`);
    }
  }

  /** NetworkUnavailable=False once the runtime can network pods (the conflist is written). */
  private async assertNetworkAvailable(want: MeshDesired, p: MeshPlan, self: PeerView, errors: string[]): Promise<void> {
    if (!this.condition) return;
    try {
      const wrote = await this.condition.apply(want.conflist !== undefined, self, `WireGuard mesh on ${this.cfg.iface} with ${p.peers.length} peer(s)`);
      if (wrote === undefined) return;
      this.metrics.publishes.inc({ kind: 'condition', result: 'success' });
      if (wrote) this.log.info({ was: self.networkUnavailable ?? 'absent' }, 'set NetworkUnavailable=False on this node');
    } catch (err) {
      this.metrics.publishes.inc({ kind: 'condition', result: 'error' });
      errors.push(`setting NetworkUnavailable=False: ${(err as Error).message}`);
    }
  }

  private async loadKey(): Promise<LoadedKey> {
    const key = await loadOrCreateKey(this.cfg.stateDir);
    for (const n of key.notes) this.log.warn({ path: key.path }, n);
    this.log.info({ publicKey: key.publicKey, created: key.created, path: key.path }, key.created ? 'generated the WireGuard key' : 'loaded the WireGuard key');
    return key;
  }

  /** The device (adopted or created), read when the comparison asks for it, with our identity. */
  private async applyDevice(compare: Compare, key: LoadedKey): Promise<void> {
    if (await this.dev.ensure(compare === 'full')) {
      this.peers.forget();
      this.routes.forget();
      this.addresses.forget();
    }
    if (compare !== 'memory' || !this.peers.device) {
      const dump = await this.dev.ctl!.read();
      this.dev.observe(dump);
      this.peers.observe(dump);
    }
    if (await this.dev.apply({ privateKey: key.privateKey, keyPath: key.path, listenPort: this.cfg.port })) this.peers.identity(key.privateKey, this.cfg.port);
  }

  /** Not ready without a pod CIDR; says so once when that changes. */
  private podNetworkState(p: MeshPlan): void {
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
  }
}

/** Milliseconds per phase since the last call (the debug line says where a slow sync went). */
function laps(t0: number): ((phase: string) => void) & { all: Record<string, number> } {
  let lap = t0;
  const all: Record<string, number> = {};
  return Object.assign((phase: string) => {
    const t = performance.now();
    all[phase] = Math.round(t - lap);
    lap = t;
  }, { all });
}
