// Health-check node ports of externalTrafficPolicy=Local Services, answering as kube-proxy's
// service health server does (pkg/proxy/healthcheck/service_health.go): load balancers send
// traffic only to nodes that answer 200, i.e. that have a local Ready endpoint.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { IPFamily } from '../../src/kube/objects.ts';
import type { OwnHealth } from '../../src/runtime/module.ts';
import type { ServiceView } from '../../src/view/types.ts';
import type { ProxyMetrics } from './metrics.ts';

interface Served {
  key: string;
  namespace: string;
  name: string;
  localEndpoints: number;
  servers: Server[];
  addrs: string;
}

export interface HealthCheckBody {
  service: { namespace: string; name: string };
  localEndpoints: number;
  serviceProxyHealthy: boolean;
}

/**
 * The proxy's own health, as kube-proxy's proxy health server decides it
 * (pkg/proxy/healthcheck/proxy_health.go): per family, the oldest change queued and not yet
 * applied; unhealthy once one has waited `timeoutMs` (kube-proxy: 2 × --sync-period). One
 * failed transaction is not unhealthy (the retry follows within seconds); a sync that hangs,
 * or keeps failing, is. Times in ms.
 */
export class ProxyHealth {
  private readonly lastUpdated = new Map<IPFamily, number>();
  private readonly pending = new Map<IPFamily, number>();
  readonly timeoutMs: number;

  /** Healthy while starting: as if each family had just been updated. */
  constructor(timeoutMs: number, families: IPFamily[], now: number) {
    this.timeoutMs = timeoutMs;
    for (const f of families) this.lastUpdated.set(f, now);
  }

  queued(f: IPFamily, now: number): void {
    if (!this.pending.has(f)) this.pending.set(f, now);
  }

  updated(f: IPFamily, now: number): void {
    this.pending.delete(f);
    this.lastUpdated.set(f, now);
  }

  /** A family that is not programmed at all (IPv6 off on this host). */
  forget(f: IPFamily): void {
    this.pending.delete(f);
    this.lastUpdated.delete(f);
  }

  /** `lastUpdated`: of the late family when unhealthy, else the latest. */
  state(now: number): { healthy: boolean; lastUpdated: number } {
    let last = 0;
    for (const t of this.lastUpdated.values()) last = Math.max(last, t);
    for (const [f, since] of this.pending) if (now - since >= this.timeoutMs) return { healthy: false, lastUpdated: this.lastUpdated.get(f) ?? 0 };
    return { healthy: true, lastUpdated: last };
  }

  /**
   * kube-proxy's /healthz: also unhealthy when the node is leaving (deleted, or tainted by the
   * Cluster Autoscaler), so load balancers drain it first (KEP-3836); /livez ignores that.
   * When healthy, lastUpdated reads as now, as kube-proxy keeps it for old clients.
   */
  report(leaving: boolean, now: number): OwnHealth {
    const s = this.state(now);
    const iso = (t: number) => new Date(t).toISOString();
    const healthy = s.healthy && !leaving;
    return { healthy, live: s.healthy, body: { lastUpdated: iso(healthy ? now : s.lastUpdated), currentTime: iso(now), nodeEligible: !leaving } };
  }
}

/** Whether a Service needs a health check node port (kube-proxy: proxied, external policy Local, a valid port). */
function wantsHealthCheck(s: ServiceView | undefined): boolean {
  return !!s && s.proxied && s.externalTrafficPolicy === 'Local' && s.healthCheckNodePort > 0 && s.healthCheckNodePort <= 65535;
}

/** Port → the Service it reports on, for every Service that needs one. Pure. */
export function wantedHealthChecks(services: Iterable<ServiceView>): Map<number, { key: string; namespace: string; name: string; localEndpoints: number }> {
  const out = new Map<number, { key: string; namespace: string; name: string; localEndpoints: number }>();
  for (const s of services) {
    if (!wantsHealthCheck(s)) continue;
    const prev = out.get(s.healthCheckNodePort);
    if (prev && prev.key < s.key) continue;
    // Terminating endpoints do not count: a node with only those must drain (kube-proxy).
    out.set(s.healthCheckNodePort, { key: s.key, namespace: s.namespace, name: s.name, localEndpoints: Math.max(s.localReadyIPs.v4, s.localReadyIPs.v6) });
  }
  return out;
}

export class HealthCheckServers {
  private readonly served = new Map<number, Served>();
  private readonly log: Logger;
  private readonly metrics: ProxyMetrics;
  private readonly healthy: () => boolean;

  constructor(log: Logger, metrics: ProxyMetrics, healthy: () => boolean) {
    this.log = log;
    this.metrics = metrics;
    this.healthy = healthy;
  }

  /** Services that won a health check port at the last full look, by key. */
  private wanted = new Set<string>();
  private lastAddrs: string | undefined;
  /** A port that could not listen is retried at the next sync, whatever changed. */
  private owed = false;

  /**
   * `listen`: the node port addresses ([] = every address). With `changed` (the Services an
   * incremental sync re-planned), a change that touches no health-checked Service costs nothing,
   * not a pass over every Service.
   */
  async sync(services: Iterable<ServiceView>, listen: string[], changed?: { keys: ReadonlySet<string>; view: ReadonlyMap<string, ServiceView> }): Promise<void> {
    const addrs = listen.join(',');
    if (changed && !this.owed && addrs === this.lastAddrs && ![...changed.keys].some((k) => this.wanted.has(k) || wantsHealthCheck(changed.view.get(k)))) return;
    const want = wantedHealthChecks(services);
    this.wanted = new Set([...want.values()].map((w) => w.key));
    this.lastAddrs = addrs;
    this.owed = false;
    for (const [port, s] of this.served) {
      if (!want.has(port) || s.addrs !== addrs || s.key !== want.get(port)!.key) await this.stop(port);
    }
    for (const [port, w] of want) {
      const s = this.served.get(port);
      if (s) {
        s.localEndpoints = w.localEndpoints;
        continue;
      }
      const entry: Served = { ...w, servers: [], addrs };
      try {
        for (const host of listen.length ? listen : ['::']) entry.servers.push(await this.listen(entry, host, port));
        this.served.set(port, entry);
      } catch (err) {
        for (const srv of entry.servers) srv.close();
        this.metrics.healthcheckErrors.inc();
        this.owed = true;
        this.log.warn({ service: w.key, port, err: String((err as Error).message) }, 'cannot listen on the health check node port; retrying at the next sync');
      }
    }
  }

  private listen(s: Served, host: string, port: number): Promise<Server> {
    const srv = createServer((req, res) => {
      const body: HealthCheckBody = {
        service: { namespace: s.namespace, name: s.name },
        localEndpoints: s.localEndpoints,
        serviceProxyHealthy: this.healthy(),
      };
      const ok = body.localEndpoints > 0 && body.serviceProxyHealthy;
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
      res.end(JSON.stringify(body));
    });
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ host, port, ipv6Only: false }, () => {
        srv.off('error', reject);
        resolve(srv);
      });
    });
  }

  private async stop(port: number): Promise<void> {
    const s = this.served.get(port);
    this.served.delete(port);
    for (const srv of s?.servers ?? []) {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  }

  ports(): number[] {
    return [...this.served.keys()].sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    for (const port of [...this.served.keys()]) await this.stop(port);
  }
}
