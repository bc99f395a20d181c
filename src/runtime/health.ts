// /healthz, /readyz and /metrics. Ready: the cache listed every kind and every enabled module
// applied its first sync and has every program it runs. Healthy: no module has owed a change for longer than the timeout
// (kube-proxy's rule: queued updates must get applied).
import { createServer, type Server } from 'node:http';
import type { Registry } from './metrics.ts';
import type { ModuleHealth } from './runner.ts';

export interface HealthSource {
  cacheReady(): boolean;
  modules(): ModuleHealth[];
}

export interface HealthStatus {
  ready: boolean;
  healthy: boolean;
  cacheReady: boolean;
  modules: (ModuleHealth & { healthy: boolean })[];
}

export function healthStatus(src: HealthSource, timeoutMs: number, now = Date.now()): HealthStatus {
  const modules = src.modules().map((m) => ({ ...m, healthy: m.pendingSince === 0 || now - m.pendingSince < timeoutMs }));
  const cacheReady = src.cacheReady();
  return {
    cacheReady,
    ready: cacheReady && modules.every((m) => m.synced && m.missing.length === 0),
    healthy: modules.every((m) => m.healthy),
    modules,
  };
}

export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(hp.slice(i + 1)) };
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
    if (path === '/metrics') return reply(200, 'text/plain; version=0.0.4', reg.render());
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      const s = healthStatus(src, timeoutMs);
      const ok = path === '/readyz' ? s.ready : s.healthy;
      return reply(ok ? 200 : 503, 'application/json', `${JSON.stringify({ ...s, currentTime: new Date().toISOString() })}\n`);
    }
    reply(404, 'text/plain', 'not found\n');
  });
  const { host, port } = splitHostPort(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
