// The netpol module as the runner sees it: plan from the view, then per family diff and one
// nft transaction. Bridged same-node traffic needs br_netfilter; without it the rules are
// still applied (routed and cross-node traffic is filtered) and the sync fails with the reason,
// so /readyz and the logs say why.
import { exec } from '../../src/sys/exec.ts';
import type { Logger } from 'pino';
import type { Module } from '../../src/runtime/module.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import type { NodeView } from '../../src/view/view.ts';
import type { ModuleContext } from '../index.ts';
import { type ApplyResult, FamilyApplier, type Nft } from './apply.ts';
import { ensureBridgeNetfilter } from './bridge.ts';
import { netpolMetrics, type NetpolMetrics } from './metrics.ts';
import type { Desired } from './model.ts';
import { netpolConfig, type NetpolConfig } from './options.ts';
import { plan } from './plan.ts';
import { Planner } from './planner.ts';
import { desiredToJSON } from './print.ts';
import { deletesChainsAtOnce } from '../../src/sys/kernel.ts';
import { DropReader, dropSeries, parseCounters } from './counters.ts';
import { conntrackTable, type ConntrackTable, StrictSweeper } from './strict.ts';

export interface NetpolDeps {
  nft?: Nft;
  /** '' when bridged traffic is filtered; else the reason it is not. */
  bridge?: () => Promise<string>;
  deleteChainsNow?: boolean;
  conntrack?: ConntrackTable;
}

export function nftExec(bin = 'nft'): Nft {
  return {
    async apply(script) {
      const r = await exec(bin, ['-f', '-'], { input: script, timeoutMs: 300_000 });
      if (!r.ok) throw new Error(`nft -f - failed: ${r.stderr.split('\n').filter((l) => l.trim()).slice(0, 6).join('\n')}`);
    },
    async hasChain(family, table, chain) {
      const r = await exec(bin, ['-t', 'list', 'chain', family, table, chain]);
      if (r.ok) return true;
      if (/No such file or directory/.test(r.stderr)) return false;
      throw new Error(`nft list chain failed: ${r.stderr.trim().split('\n')[0]}`);
    },
    async listSet(family, table, set) {
      const r = await exec(bin, ['-j', 'list', 'set', family, table, set]);
      if (r.ok) return r.stdout;
      if (/No such file or directory/.test(r.stderr)) return null;
      throw new Error(`nft list set failed: ${r.stderr.trim().split('\n')[0]}`);
    },
    async counters(family, table) {
      // Not `list counters table`: nft 1.0.6 fetches the whole family for it, the proxy's map
      // elements too (measured at 10,000 Services x 10: 1.1-1.3 s and 210 MiB RssAnon per
      // scrape). The table, terse (no set elements), lists the same counters: 4 MiB, ~0 s.
      const r = await exec(bin, ['-t', '-j', 'list', 'table', family, table]);
      if (!r.ok) throw new Error(`nft list table (counters) failed: ${r.stderr.trim().split('\n')[0]}`);
      return r.stdout;
    },
  };
}

export class NetpolModule implements Module {
  readonly name = 'netpol';
  // Nodes: ClusterNetworkPolicy `nodes` peers (their labels and addresses).
  readonly inputs = { kinds: ['pods', 'namespaces', 'networkpolicies', 'clusternetworkpolicies', 'nodes'], view: ['policies'] } as const;
  readonly programs: readonly string[];
  readonly config: NetpolConfig;
  readonly families: FamilyApplier[];
  private readonly log: Logger;
  private readonly metrics: NetpolMetrics;
  private readonly bridge: () => Promise<string>;
  private bridgeProblem: string | undefined;
  /** When the oldest change not yet live reached the view. */
  private pendingSince = 0;
  private readonly planner = new Planner();
  private readonly drops: DropReader;
  private readonly unhook: () => void;
  /** Strict mode only. */
  private readonly sweeper: StrictSweeper | undefined;
  /** The last plan applied (explain-policy, strict mode, `nodeway view`). */
  last: Desired | undefined;

  constructor(ctx: ModuleContext, deps: NetpolDeps = {}) {
    this.config = netpolConfig(ctx.config);
    this.log = ctx.log.child({ module: 'netpol' });
    this.metrics = netpolMetrics(ctx.registry);
    const nft = deps.nft ?? nftExec();
    const now = deps.deleteChainsNow ?? deletesChainsAtOnce();
    this.families = ([4, 6] as const).map((f) => new FamilyApplier(f, this.config.table, nft, now, this.config.strict));
    this.bridge = deps.bridge ?? (() => ensureBridgeNetfilter());
    this.drops = new DropReader(async (f) => (nft.counters ? parseCounters(await nft.counters(f === 4 ? 'ip' : 'ip6', this.config.table)) : new Map()));
    this.unhook = ctx.registry.beforeScrape(() => this.collectDrops());
    this.programs = this.config.strict ? ['nft', 'conntrack'] : ['nft'];
    if (this.config.strict) {
      const m = this.metrics;
      const cut = (f: 4 | 6, elements: string[]) => this.families[f === 4 ? 0 : 1]!.cut(elements);
      this.sweeper = new StrictSweeper({ table: deps.conntrack ?? conntrackTable(), cut, log: this.log, metrics: { sweeps: m.strictSweeps, deleted: m.strictDeleted, deferred: m.strictDeferred, failures: m.strictFailures } });
    }
  }

  /** Strict mode: resolves when no conntrack sweep runs or waits (tests). */
  async strictIdle(): Promise<void> {
    await this.sweeper?.idle();
  }

  async close(): Promise<void> {
    this.sweeper?.close();
    this.unhook();
  }

  /** nodeway_netpol_dropped_packets from the counters of the groups live now (at scrape time). */
  async collectDrops(): Promise<void> {
    const d = this.last;
    if (!d) return;
    const counters = await this.drops.counters();
    // Groups with the same policies (pods whose named ports differ) add up into one series.
    const sum = new Map<string, { labels: Record<string, string>; n: number }>();
    for (const fd of [d.v4, d.v6]) {
      for (const s of dropSeries(fd.family, fd.groups.values(), counters.get(fd.family) ?? new Map())) {
        const k = JSON.stringify(s.labels);
        const e = sum.get(k) ?? sum.set(k, { labels: s.labels, n: 0 }).get(k)!;
        e.n += s.packets;
      }
    }
    this.metrics.drops.reset();
    for (const { labels, n } of sum.values()) this.metrics.drops.set(labels, n);
  }

  async sync(view: NodeView, changes: ViewChanges): Promise<void> {
    if (changes.full || this.bridgeProblem !== '') {
      const problem = await this.bridge();
      if (problem !== this.bridgeProblem && problem) this.log.error({ reason: problem }, 'NetworkPolicy is not enforced for same-node pod traffic');
      this.bridgeProblem = problem;
    }
    const t0 = performance.now();
    // What this sync applies reached the view by now; a change queued while it runs is the next sync's.
    const since = this.pendingSince;
    this.pendingSince = 0;
    let d: Desired;
    let narrowed: boolean[];
    try {
      this.planner.invalidate(view.policy, changes.policies, changes.full);
      d = this.planner.plan(view);
      const results = await Promise.allSettled(this.families.map((fa) => fa.sync(fa.family === 4 ? d.v4 : d.v6, changes.full, this.planner.touched(fa.family))));
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      results.forEach((r, i) => {
        const label = { ip_family: i === 0 ? 'IPv4' : 'IPv6' };
        if (r.status === 'rejected') this.metrics.failures.inc(label);
        else this.observe(r.value, label, t0);
      });
      if (failed.length) throw new Error(failed.map((f) => String((f.reason as Error)?.message ?? f.reason)).join('; '));
      narrowed = results.map((r) => r.status === 'fulfilled' && r.value.narrowed === true);
    } catch (err) {
      // What failed to apply is owed again, planned afresh, and its wait goes on.
      this.planner.invalidate(view.policy, [], true);
      if (since && (!this.pendingSince || since < this.pendingSince)) this.pendingSince = since;
      throw err;
    }
    this.last = d;
    // Strict mode: flows established under the old rules that the new ones deny lose their entry.
    narrowed.forEach((n, i) => {
      if (n) this.sweeper?.request(i === 0 ? d.v4 : d.v6);
    });
    if (since) this.metrics.programming.observe({}, (performance.now() - since) / 1000);
    this.gauges(d);
    this.skippedRules(view);
    if (this.bridgeProblem) throw new Error(this.bridgeProblem);
  }

  /** The runner queued a policy change: the programming latency runs from here. */
  queued(): void {
    if (!this.pendingSince) this.pendingSince = performance.now();
  }

  /** Our table gone without a policy change (a firewall reload): the full sync writes it again. */
  async drifted(): Promise<boolean> {
    for (const fa of this.families) if (await fa.gone()) return true;
    return false;
  }

  private observe(r: ApplyResult, label: { ip_family: string }, t0: number): void {
    const secs = (performance.now() - t0) / 1000;
    if (r.kind !== 'none') this.metrics.syncDuration.observe({ ...label, kind: r.kind }, secs);
    if (r.kind === 'full') this.log.info({ family: label.ip_family, lines: r.lines, ms: Math.round(secs * 1000) }, 'policy rules synced');
  }

  private gauges(d: Desired): void {
    let ing = 0, egr = 0;
    for (const p of d.pods.values()) {
      if (p.ingress.length) ing++;
      if (p.egress.length) egr++;
    }
    this.metrics.isolated.set({ direction: 'ingress' }, ing);
    this.metrics.isolated.set({ direction: 'egress' }, egr);
    for (const fd of [d.v4, d.v6]) {
      const label = { ip_family: fd.family === 4 ? 'IPv4' : 'IPv6' };
      let n = 0;
      for (const s of fd.elements.values()) n += s.size;
      this.metrics.elements.set(label, n);
      this.metrics.groups.set(label, fd.groups.size);
    }
  }

  /** ClusterNetworkPolicy rules failing closed (a peer nodeway does not support or cannot read), by peer and action. */
  private skippedRules(view: NodeView): void {
    const n = new Map<string, { peer: string; action: string; n: number }>();
    for (const c of view.policy.clusterNetworkPolicies.values()) for (const r of [...c.ingress, ...c.egress]) {
      if (!r.unknownPeer) continue;
      const k = `${r.unsupported}/${r.action}`;
      (n.get(k) ?? n.set(k, { peer: r.unsupported ?? 'unreadable', action: r.action, n: 0 }).get(k)!).n++;
    }
    this.metrics.skipped.reset();
    for (const { peer, action, n: count } of n.values()) this.metrics.skipped.set({ peer, action }, count);
  }

  desired(view: NodeView): unknown {
    return desiredToJSON(plan(view));
  }
}
