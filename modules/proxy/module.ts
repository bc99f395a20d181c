// The proxy as the runner sees it: per sync, each family plans, diffs and applies its own
// transaction (one family's failure never blocks the other), then stale datagram flows are
// cleaned and the health-check node ports follow.
import type { Logger } from 'pino';
import type { IPFamily } from '../../src/kube/objects.ts';
import { consumes, type Module, type OwnHealth } from '../../src/runtime/module.ts';
import { isProgramMissing } from '../../src/sys/exec.ts';
import { ipv6Off } from '../../src/sys/ipv6.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import type { NodeView } from '../../src/view/view.ts';
import type { ModuleContext } from '../index.ts';
import { ConntrackCleaner, conntrackCli, type ConntrackExec } from './conntrack.ts';
import { FamilyProxy, type FamilySyncResult } from './family.ts';
import { HealthCheckServers, ProxyHealth } from './healthcheck.ts';
import { proxyMetrics, type ProxyMetrics } from './metrics.ts';
import { nftCli, type NftExec } from './nft.ts';
import { familyNode, localAddresses, loopbackNodePortCIDRs, type FamilyNode, type LocalAddress } from './node.ts';
import { masqOptions, proxyConfig, type ProxyConfig } from './options.ts';
import { planTable, printTable, tableObjects, type PrintedTable } from './table.ts';
import { deletesChainsAtOnce } from '../../src/sys/kernel.ts';

export interface ProxyDeps {
  nft?: NftExec;
  conntrack?: ConntrackExec;
  localAddresses?: () => LocalAddress[];
  /** Defaults to whether the running kernel is 6.2 or later. */
  deleteChainsNow?: boolean;
  /** A brand-new table is loaded in nft runs of at most this many operations (an element each). */
  chunkOps?: number;
  healthChecks?: boolean;
  /** Overrides --proxy-health-timeout (tests). */
  healthTimeoutMs?: number;
  /** How soon a failed conntrack cleanup is retried (default CONNTRACK_RETRY_MS). */
  conntrackRetryMs?: number;
}

const COMPACT_AFTER_MS = 1000;
export const CONNTRACK_RETRY_MS = 10_000;

function familyLabel(f: IPFamily): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}

/** Each family's desired table for a view, printable; pure given the node's local addresses. */
export function proxyDesired(config: ProxyConfig, view: NodeView, local: LocalAddress[]): Record<string, PrintedTable & { table: string }> {
  const out: Record<string, PrintedTable & { table: string }> = {};
  for (const family of [4, 6] as const) {
    const ctx = { family, masq: masqOptions(config) };
    const { table } = planTable(view.services, familyNode(view, config, family, local), ctx);
    out[familyLabel(family)] = { table: `${family === 4 ? 'ip' : 'ip6'} ${config.table}`, ...printTable(tableObjects(table, ctx)) };
  }
  return out;
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
  private readonly hcServers: HealthCheckServers | undefined;
  private readonly localAddrs: () => LocalAddress[];
  /** kube-proxy's health rule: no change queued longer than the timeout (healthcheck.ts). */
  private readonly own: ProxyHealth;
  private view: NodeView | undefined;
  private compaction: NodeJS.Timeout | undefined;
  private ctRetry: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly ctRetryMs: number;
  private readonly nft: NftExec;
  /** The families this host can carry, decided at the first sync; the others are skipped. */
  private active: FamilyProxy[] | undefined;

  constructor(ctx: ModuleContext, deps: ProxyDeps = {}) {
    this.config = proxyConfig(ctx.config);
    this.log = ctx.log.child({ module: 'proxy' });
    this.metrics = proxyMetrics(ctx.registry);
    const nft = (this.nft = deps.nft ?? nftCli());
    const deleteChainsNow = deps.deleteChainsNow ?? deletesChainsAtOnce();
    this.families = ([4, 6] as const).map(
      (f) =>
        new FamilyProxy(f, {
          table: this.config.table,
          masq: masqOptions(this.config),
          nft,
          log: this.log,
          metrics: this.metrics,
          deleteChainsNow,
          // ~25 MiB for nft a run (tx.ts renderChunks); 13 runs for 10,000 Services x 10.
          chunkOps: deps.chunkOps ?? 10_000,
        }),
    );
    this.conntrack = new ConntrackCleaner(deps.conntrack ?? conntrackCli());
    this.own = new ProxyHealth(deps.healthTimeoutMs ?? this.config.healthTimeoutS * 1000, this.families.map((fp) => fp.family), Date.now());
    // As kube-proxy's service health server: the proxy's health, not the node's eligibility.
    this.hcServers = deps.healthChecks === false ? undefined : new HealthCheckServers(this.log, this.metrics, () => this.own.state(Date.now()).healthy);
    this.localAddrs = deps.localAddresses ?? localAddresses;
    this.ctRetryMs = deps.conntrackRetryMs ?? CONNTRACK_RETRY_MS;
    for (const c of loopbackNodePortCIDRs(this.config)) this.log.error({ cidr: c }, '--nodeport-addresses: loopback NodePorts are not supported; ignored');
  }

  async sync(view: NodeView, changes: ViewChanges): Promise<void> {
    this.view = view;
    this.queued();
    if (!this.active) {
      this.active = await this.usableFamilies();
      // A family this host cannot carry is never applied: it owes nothing.
      for (const fp of this.families) if (!this.active.includes(fp)) this.own.forget(fp.family);
    }
    const families = this.active;
    const local = this.localAddrs();
    const nodes = families.map((fp) => familyNode(view, this.config, fp.family, local));
    const results = await Promise.allSettled(families.map((fp, i) => this.syncFamily(fp, view, changes, nodes[i]!)));
    results.forEach((r, i) => r.status === 'fulfilled' && this.own.updated(families[i]!.family, Date.now()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    // The rules are live once every family's transaction is in: observed before the conntrack
    // cleanup and the health-check servers, as kube-proxy observes right after its transaction.
    if (failed.length === 0) this.observeProgramming(view, changes);
    await Promise.all(results.map((r, i) => r.status === 'fulfilled' && this.cleanConntrack(families[i]!, view, r.value)));
    if (this.hcServers) await this.hcServers.sync(view.services.values(), healthCheckAddresses(nodes), changes.full ? undefined : { keys: changes.services, view: view.services });
    this.scheduleCompaction();
    this.scheduleConntrackRetry();
    // Both families fail alike when nft is missing: say it once.
    if (failed.length > 0) throw new Error([...new Set(failed.map((f) => String((f.reason as Error)?.message ?? f.reason)))].join('; '));
    this.metrics.lastSync.set({}, Date.now() / 1000);
    this.metrics.serviceChanges.inc({}, changes.services.size);
  }

  /** The runner queued a change for us (also while a sync runs or hangs): only a success clears it. */
  queued(): void {
    const now = Date.now();
    for (const fp of this.active ?? this.families) this.own.queued(fp.family, now);
  }

  /** kube-proxy's /healthz (and /livez), served by the agent's health server for this module. */
  health(): OwnHealth {
    return this.own.report(this.view?.self.leaving === true, Date.now());
  }

  /** Each family's desired table for this view, printable (`nodeway view --desired proxy`). */
  desired(view: NodeView): Record<string, PrintedTable & { table: string }> {
    return proxyDesired(this.config, view, this.localAddrs());
  }

  /**
   * IPv6 is skipped, with one log line, on a host without it (src/sys/ipv6.ts says so once for
   * the agent) or whose kernel/nft cannot NAT it while IPv4 can: syncing it would only fail,
   * forever, and turn every retry into a full resync of IPv4 too.
   */
  private async usableFamilies(): Promise<FamilyProxy[]> {
    const v6 = this.families.find((fp) => fp.family === 6);
    if (!v6) return this.families;
    let reason = ipv6Off() ? 'IPv6 is off on this host' : '';
    if (!reason && this.nft.natSupport) {
      const [nat4, nat6] = await Promise.all([this.nft.natSupport('ip'), this.nft.natSupport('ip6')]);
      if (nat6 && !nat4) {
        reason = `nft cannot do IPv6 NAT here (${nat6})`;
        this.log.warn({ family: 'IPv6', err: nat6 }, 'IPv6 skipped: nft cannot do IPv6 NAT on this host; the proxy programs IPv4 only');
      }
    }
    if (reason) this.metrics.familySkipped.set({ ip_family: 'IPv6' }, 1);
    return reason ? this.families.filter((fp) => fp !== v6) : this.families;
  }

  /**
   * kubeproxy_network_programming_duration_seconds as kube-proxy measures it: from the
   * EndpointSlice's last-change-trigger-time (the pod change that caused it, on the API
   * server's clock) to the rules being live; from when the view changed when a slice has none.
   */
  private observeProgramming(view: NodeView, changes: ViewChanges): void {
    const now = performance.now();
    const wall = Date.now();
    // servicesAt: when each change reached the view (the runner keeps the first of a failed sync's).
    for (const [k, t] of changes.servicesAt) {
      const trigger = view.services.get(k)?.triggerTime ?? 0;
      const secs = trigger > 0 ? (wall - trigger) / 1000 : (now - t) / 1000;
      if (secs >= 0) this.metrics.programming.observe({}, secs);
    }
  }

  private async syncFamily(fp: FamilyProxy, view: NodeView, changes: ViewChanges, node: FamilyNode): Promise<FamilySyncResult> {
    const label = { ip_family: familyLabel(fp.family) };
    const t0 = performance.now();
    const r = await fp.sync(view.services, changes.services, changes.full, node);
    const secs = (performance.now() - t0) / 1000;
    this.metrics.syncDuration.observe(label, secs);
    (r.kind === 'partial' ? this.metrics.partialDuration : this.metrics.fullDuration).observe(label, secs);
    if (r.kind !== 'partial') this.log.info({ family: familyLabel(fp.family), kind: r.kind, ops: r.ops, ms: Math.round(secs * 1000) }, 'proxy rules synced');
    return r;
  }

  /** Stale datagram flows of the Services a family just re-planned (never fails the sync). */
  private async cleanConntrack(fp: FamilyProxy, view: NodeView, r: FamilySyncResult): Promise<void> {
    const label = { ip_family: familyLabel(fp.family) };
    const c0 = performance.now();
    try {
      const deleted = await this.conntrack.afterSync(fp.family, view.services, r.planned, r.kind !== 'partial');
      this.metrics.ctDeleted.inc(label, deleted);
      if (deleted > 0) this.log.info({ family: familyLabel(fp.family), deleted }, 'stale conntrack entries deleted');
    } catch (err) {
      this.metrics.ctFailures.inc(label);
      // A missing conntrack was logged once (src/sys/exec.ts) and keeps the proxy not ready.
      if (!isProgramMissing(err)) this.log.warn({ family: familyLabel(fp.family), err: String((err as Error).message) }, 'conntrack cleanup failed; retried shortly');
    }
    this.metrics.ctDuration.observe(label, (performance.now() - c0) / 1000);
  }

  /** Stale flows whose cleanup failed are retried on a timer until it works, not only at the next change of their Service. */
  private scheduleConntrackRetry(): void {
    if (this.closed || this.ctRetry || !this.conntrack.hasOwed) return;
    this.ctRetry = setTimeout(() => void this.retryConntrack(), this.ctRetryMs).unref();
  }

  private async retryConntrack(): Promise<void> {
    for (const fp of this.families) {
      const label = { ip_family: familyLabel(fp.family) };
      try {
        const deleted = await this.conntrack.retryOwed(fp.family);
        this.metrics.ctDeleted.inc(label, deleted);
        if (deleted > 0) this.log.info({ family: label.ip_family, deleted }, 'stale conntrack entries deleted (retry)');
      } catch (err) {
        this.metrics.ctFailures.inc(label);
        if (!isProgramMissing(err)) this.log.warn({ family: label.ip_family, err: String((err as Error).message) }, 'conntrack cleanup failed again; retried shortly');
      }
    }
    this.ctRetry = undefined;
    this.scheduleConntrackRetry();
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

  /** A family's table gone without a Service change (`nft flush ruleset`): the full sync rewrites it. */
  async drifted(): Promise<boolean> {
    for (const fp of this.families) if (!(await fp.present())) return true;
    return false;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.compaction);
    clearTimeout(this.ctRetry);
    await this.hcServers?.close();
  }
}

/** Health checks listen where NodePorts answer; [] = every address. */
function healthCheckAddresses(nodes: FamilyNode[]): string[] {
  if (nodes.some((n) => n.nodePortIPs === 'all')) return [];
  const ips = nodes.flatMap((n) => (n.nodePortIPs === 'all' ? [] : n.nodePortIPs));
  return ips.length ? ips : [];
}
