// The health and metrics listeners: a wildcard address serves both families (IPv6 probes on
// IPv6-only nodes), a specific one only itself.
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer, startMetricsServer } from '../../src/runtime/health.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import type { Server } from 'node:http';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function get(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const src = { cacheReady: () => true, modules: () => [] };

describe('listeners', () => {
  it.each(['0.0.0.0:0', '[::]:0'])('%s serves /readyz over IPv4 and IPv6 loopback', async (listen) => {
    const s = await startHealthServer(listen, src, new Registry());
    servers.push(s);
    const { port } = s.address() as AddressInfo;
    expect(await get('127.0.0.1', port, '/readyz')).toMatchObject({ status: 200 });
    expect(await get('::1', port, '/readyz')).toMatchObject({ status: 200 });
  });

  it('a specific address is only that address', async () => {
    const s = await startHealthServer('127.0.0.1:0', src, new Registry());
    servers.push(s);
    const { port } = s.address() as AddressInfo;
    expect((await get('127.0.0.1', port, '/healthz')).status).toBe(200);
    await expect(get('::1', port, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('the extra metrics listener serves the same registry, /metrics only', async () => {
    const reg = new Registry();
    reg.counter('nodeway_test_total', 'T.').inc({}, 3);
    const s = await startMetricsServer('0.0.0.0:0', reg);
    servers.push(s);
    const { port } = s.address() as AddressInfo;
    const m = await get('::1', port, '/metrics');
    expect(m.status).toBe(200);
    expect(m.body).toContain('nodeway_test_total 3');
    expect((await get('127.0.0.1', port, '/readyz')).status).toBe(404);
  });
});
