// The proxy as the runner sees it: per sync, each family plans, diffs and applies its own
// transaction (one family's failure never blocks the other), then stale datagram flows are
// cleaned and the health-check node ports follow.
import { release } from 'node:os';
import type { Logger } from 'pino';
import type { IPFamily } from '../../src/kube/objects.ts';
import type { Module } from '../../src/runtime/module.ts';
import { isProgramMissing } from '../../src/sys/exec.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import type { NodeView } from '../../src/view/view.ts';
import type { ModuleContext } from '../index.ts';
import { ConntrackCleaner, conntrackCli, type ConntrackExec } from './conntrack.ts';
import { FamilyProxy } from './family.ts';
import { HealthCheckServers } from './healthcheck.ts';
import { proxyMetrics, type ProxyMetrics } from './metrics.ts';
import { nftCli, type NftExec } from './nft.ts';
import { familyNode, localAddresses, loopbackNodePortCIDRs, type FamilyNode, type LocalAddress } from './node.ts';
import { proxyConfig, type ProxyConfig } from './options.ts';
import { planTable, printTable, tableObjects, type PrintedTable } from './table.ts';

export interface ProxyDeps {
  nft?: NftExec;
  conntrack?: ConntrackExec;
  localAddresses?: () => LocalAddress[];
  /** Defaults to whether the running kernel is 6.2 or later. */
  deleteChainsNow?: boolean;
  chunkLines?: number;
  healthChecks?: boolean;
}

/** Kernels from 6.2 release a chain as soon as the map element pointing at it is deleted. */
export function kernelAtLeast(rel: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return !!m && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}

const COMPACT_AFTER_MS = 1000;

function familyLabel(f: IPFamily): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}

export class ProxyModule implements Module {
  readonly name = 'proxy';
  readonly inputs = { kinds: ['services', 'endpointslices', 'nodes', 'servicecidrs'], view: ['services', 'self', 'serviceCIDRs'] } as const;
  readonly programs = ['nft', 'conntrack'] as const;
  readonly config: ProxyConfig;
  readonly families: FamilyProxy[];
  private readonly log: Logger;
  private readonly metrics: ProxyMetrics;
  private readonly conntrack: ConntrackCleaner;
  private readonly health: HealthCheckServers | undefined;
  private readonly localAddrs: () => LocalAddress[];
  private healthy = true;
  /** When each Service change reached the view, for the programming-latency metric. */
  private readonly changedAt = new Map<string, number>();
  private subscribed = false;
  private compaction: NodeJS.Timeout | undefined;

  constructor(ctx: ModuleContext, deps: ProxyDeps = {}) {
    this.config = proxyConfig(ctx.config);
    this.log = ctx.log.child({ module: 'proxy' });
    this.metrics = proxyMetrics(ctx.registry);
    const nft = deps.nft ?? nftCli();
    const deleteChainsNow = deps.deleteChainsNow ?? kernelAtLeast(release(), 6, 2);
    this.families = ([4, 6] as const).map(
      (f) =>
        new FamilyProxy(f, {
          table: this.config.table,
          masqueradeAll: this.config.masqueradeAll,
          nft,
          log: this.log,
          metrics: this.metrics,
          deleteChainsNow,
          chunkLines: deps.chunkLines ?? 20_000,
        }),
    );
    this.conntrack = new ConntrackCleaner(deps.conntrack ?? conntrackCli());
    this.health = deps.healthChecks === false ? undefined : new HealthCheckServers(this.log, this.metrics, () => this.healthy);
    this.localAddrs = deps.localAddresses ?? localAddresses;
    for (const c of loopbackNodePortCIDRs(this.config)) this.log.error({ cidr: c }, '--nodeport-addresses: loopback NodePorts are not supported; ignored');
  }

  async sync(view: NodeView, changes: ViewChanges): Promise<void> {
    if (!this.subscribed) {
      this.subscribed = true;
      view.subscribe((c) => {
        const now = performance.now();
        for (const k of c.services) if (!this.changedAt.has(k)) this.changedAt.set(k, now);
      });
    }
    const local = this.localAddrs();
    const nodes = this.families.map((fp) => familyNode(view, this.config, fp.family, local));
    const results = await Promise.allSettled(this.families.map((fp, i) => this.syncFamily(fp, view, changes, nodes[i]!)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    this.healthy = failed.length === 0;
    if (this.health) await this.health.sync(view.services.values(), healthCheckAddresses(nodes));
    if (this.healthy) this.observeProgramming(view, changes);
    this.scheduleCompaction();
    // Both families fail alike when nft is missing: say it once.
    if (failed.length > 0) throw new Error([...new Set(failed.map((f) => String((f.reason as Error)?.message ?? f.reason)))].join('; '));
    this.metrics.lastSync.set({}, Date.now() / 1000);
    this.metrics.serviceChanges.inc({}, changes.services.size);
  }

  /** Each family's desired table for this view, printable (`nodeway view --desired proxy`). */
  desired(view: NodeView): Record<string, PrintedTable & { table: string }> {
    const local = this.localAddrs();
    const out: Record<string, PrintedTable & { table: string }> = {};
    for (const fp of this.families) {
      const ctx = { family: fp.family, masqueradeAll: this.config.masqueradeAll };
      const { table } = planTable(view.services, familyNode(view, this.config, fp.family, local), ctx);
      out[familyLabel(fp.family)] = { table: `${fp.family === 4 ? 'ip' : 'ip6'} ${this.config.table}`, ...printTable(tableObjects(table, ctx)) };
    }
    return out;
  }

  /**
   * kubeproxy_network_programming_duration_seconds as kube-proxy measures it: from the
   * EndpointSlice's last-change-trigger-time (the pod change that caused it, on the API
   * server's clock) to the rules being live; from when the view changed when a slice has none.
   */
  private observeProgramming(view: NodeView, changes: ViewChanges): void {
    const now = performance.now();
    const wall = Date.now();
    for (const k of changes.full ? [...this.changedAt.keys()] : changes.services) {
      const t = this.changedAt.get(k);
      if (t === undefined) continue;
      this.changedAt.delete(k);
      const trigger = view.services.get(k)?.triggerTime ?? 0;
      const secs = trigger > 0 ? (wall - trigger) / 1000 : (now - t) / 1000;
      if (secs >= 0) this.metrics.programming.observe({}, secs);
    }
  }

  private async syncFamily(fp: FamilyProxy, view: NodeView, changes: ViewChanges, node: FamilyNode): Promise<void> {
    const label = { ip_family: familyLabel(fp.family) };
    const t0 = performance.now();
    const r = await fp.sync(view.services, changes.services, changes.full, node);
    const secs = (performance.now() - t0) / 1000;
    this.metrics.syncDuration.observe(label, secs);
    (r.kind === 'partial' ? this.metrics.partialDuration : this.metrics.fullDuration).observe(label, secs);
    if (r.kind !== 'partial') this.log.info({ family: familyLabel(fp.family), kind: r.kind, ops: r.ops, ms: Math.round(secs * 1000) }, 'proxy rules synced');
    const c0 = performance.now();
    try {
      const deleted = await this.conntrack.afterSync(fp.family, view.services, r.planned, r.kind !== 'partial');
      this.metrics.ctDeleted.inc(label, deleted);
      if (deleted > 0) this.log.info({ family: familyLabel(fp.family), deleted }, 'stale conntrack entries deleted');
    } catch (err) {
      this.metrics.ctFailures.inc(label);
      // A missing conntrack was logged once (src/sys/exec.ts) and keeps the proxy not ready.
      if (!isProgramMissing(err)) this.log.warn({ family: familyLabel(fp.family), err: String((err as Error).message) }, 'conntrack cleanup failed; retried at the next sync');
    }
    this.metrics.ctDuration.observe(label, (performance.now() - c0) / 1000);
  }

  /** Overridden endpoints move to the main maps a second after a change, batched (FamilyProxy.compact). */
  private scheduleCompaction(): void {
    if (this.compaction || !this.families.some((fp) => fp.pendingOverrides > 0)) return;
    this.compaction = setTimeout(() => void this.compact(), COMPACT_AFTER_MS).unref();
  }

  private async compact(): Promise<void> {
    let failed = false;
    for (const fp of this.families) {
      try {
        await fp.compact();
      } catch (err) {
        failed = true;
        this.metrics.cleanupFailures.inc({ ip_family: familyLabel(fp.family) });
        this.log.warn({ family: familyLabel(fp.family), err: String((err as Error).message) }, 'moving overridden endpoints failed; retried after the next sync');
      }
    }
    this.compaction = undefined;
    // Harmless to wait: overrides shadow the main maps correctly for as long as they stay.
    if (!failed) this.scheduleCompaction();
  }

  async close(): Promise<void> {
    clearTimeout(this.compaction);
    await this.health?.close();
  }
}

/** Health checks listen where NodePorts answer; [] = every address. */
function healthCheckAddresses(nodes: FamilyNode[]): string[] {
  if (nodes.some((n) => n.nodePortIPs === 'all')) return [];
  const ips = nodes.flatMap((n) => (n.nodePortIPs === 'all' ? [] : n.nodePortIPs));
  return ips.length ? ips : [];
}
