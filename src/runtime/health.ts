// /healthz, /readyz and /metrics. Ready: the cache listed every kind and every enabled module
// applied its first sync, has every program it runs, is healthy and its last sync succeeded.
// Healthy: a module with its own rule (the proxy: kube-proxy's /healthz) follows it; any other
// has not owed a change for longer than the timeout (kube-proxy's rule: queued updates must get
// applied). /healthz answers for the proxy alone when it runs, as kube-proxy's port does, so a
// failing dns or mesh never fails it: they show on /readyz and on /healthz/<module>, /readyz/<module>.
import { createServer, type Server } from 'node:http';
import type { Registry } from './metrics.ts';
import type { OwnHealth } from './module.ts';
import type { ModuleHealth } from './runner.ts';

export interface HealthSource {
  cacheReady(): boolean;
  modules(): ModuleHealth[];
  /** A module's own health rule, if it has one. */
  ownHealth?(name: string): OwnHealth | undefined;
}

export interface HealthStatus {
  ready: boolean;
  healthy: boolean;
  cacheReady: boolean;
  modules: (ModuleHealth & { healthy: boolean; ready: boolean })[];
}

export function healthStatus(src: HealthSource, timeoutMs: number, now = Date.now()): HealthStatus {
  const modules = src.modules().map((m) => {
    const own = src.ownHealth?.(m.name);
    const healthy = own ? own.live : m.pendingSince === 0 || now - m.pendingSince < timeoutMs;
    return { ...m, healthy, ready: m.synced && m.missing.length === 0 && m.failures === 0 && healthy };
  });
  const cacheReady = src.cacheReady();
  return {
    cacheReady,
    ready: cacheReady && modules.every((m) => m.ready),
    healthy: modules.every((m) => m.healthy),
    modules,
  };
}

/** The answer to /healthz, /livez, /readyz, optionally /<that>/<module>; null = no such path. */
export function healthAnswer(path: string, src: HealthSource, timeoutMs: number, now = Date.now()): { code: number; body: unknown } | null {
  const m = /^\/(healthz|livez|readyz)(?:\/([A-Za-z0-9_-]+))?$/.exec(path);
  if (!m) return null;
  const [, kind, name] = m;
  const s = healthStatus(src, timeoutMs, now);
  const currentTime = new Date(now).toISOString();
  const code = (ok: boolean) => (ok ? 200 : 503);
  if (name) {
    const mod = s.modules.find((x) => x.name === name);
    if (!mod) return null;
    const own = kind !== 'readyz' ? src.ownHealth?.(name) : undefined;
    if (own) return { code: code(kind === 'livez' ? own.live : own.healthy), body: own.body };
    return { code: code(kind === 'readyz' ? s.cacheReady && mod.ready : mod.healthy), body: { ...mod, currentTime } };
  }
  if (kind !== 'readyz') {
    // The first module with its own rule answers for the agent: the proxy, as kube-proxy on 10256.
    for (const mod of s.modules) {
      const own = src.ownHealth?.(mod.name);
      if (own) return { code: code(kind === 'livez' ? own.live : own.healthy), body: own.body };
    }
    return { code: code(s.healthy), body: { ...s, currentTime } };
  }
  return { code: code(s.ready), body: { ...s, currentTime } };
}

export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(hp.slice(i + 1)) };
}

/**
 * Listens on HOST:PORT. A wildcard host (0.0.0.0, [::] or none) means every address of both
 * families, as Go's listeners (kube-proxy's) treat it: one dual-stack socket on ::, so probes
 * reach IPv6-only nodes too; on a host without IPv6, 0.0.0.0.
 */
export async function listenOn(server: Server, hostport: string): Promise<void> {
  const { host, port } = splitHostPort(hostport);
  const once = (h: string) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: h, ipv6Only: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (host !== '0.0.0.0' && host !== '::') return once(host);
  try {
    await once('::');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
    await once('0.0.0.0');
  }
}

/** /metrics only, on another address (kube-proxy's 10249 and CoreDNS's 9153, where dashboards scrape). */
export async function startMetricsServer(listen: string, reg: Registry): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end('method not allowed\n');
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    void reg.scrape().then((body) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'x-content-type-options': 'nosniff' });
      res.end(body);
    });
  });
  await listenOn(server, listen);
  return server;
}

export async function startHealthServer(listen: string, src: HealthSource, reg: Registry, timeoutMs = 120_000): Promise<Server> {
  const requests = reg.counter('nodeway_health_requests_total', 'Health endpoint requests, by path and code.');
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, type: string, body: string) => {
      requests.inc({ path: path ?? '', code: String(code) });
      res.writeHead(code, { 'content-type': type, 'x-content-type-options': 'nosniff' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'method not allowed\n');
    if (path === '/metrics') return void reg.scrape().then((body) => reply(200, 'text/plain; version=0.0.4', body));
    const h = healthAnswer(path ?? '', src, timeoutMs);
    if (h) return reply(h.code, 'application/json', `${JSON.stringify(h.body)}\n`);
    reply(404, 'text/plain', 'not found\n');
  });
  await listenOn(server, listen);
  return server;
}
