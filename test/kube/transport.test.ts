// The agent's API connection over TLS: every list and watch of every kind on one HTTP/2
// connection when the server offers h2 (as kube-apiserver does), HTTP/1.1 when it does not, and
// a new connection after the server drops the old one. Counted at the server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Socket } from 'node:net';
import { EmbeddedApiServer } from '../../testbed/apiserver/index.ts';
import { renderKubeconfig } from '../../testbed/apiserver/kubeconfig.ts';
import { WatchCache } from '../../src/kube/cache.ts';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.ts';
import { Informer, InformerMetrics } from '../../src/kube/informer.ts';
import type { Kind } from '../../src/kube/objects.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import { selfSigned } from '../support/tls.ts';
import { waitFor } from '../support/wait.ts';

const log = pino({ level: 'silent' });
const KINDS: Kind[] = ['services', 'endpointslices', 'nodes', 'namespaces', 'servicecidrs'];
const tls = selfSigned();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function agentWatches(opts: { http1Only?: boolean }) {
  const api = new EmbeddedApiServer({ tls, token: 'h2-token', bookmarkIntervalMs: 200, http1Only: opts.http1Only });
  await api.start();
  cleanups.push(() => api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'nodeway-h2-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig());
  const client = new KubeClient(loadKubeConfig({ kubeconfig: join(dir, 'kubeconfig') }));
  const cache = new WatchCache(KINDS);
  const informers = KINDS.map((k) => new Informer(k, client, cache, log, new InformerMetrics(new Registry()), { pageSize: 2, watchSeconds: 30, minBackoffMs: 50, maxBackoffMs: 200 }));
  cleanups.push(() => {
    for (const i of informers) i.close();
    client.close();
  });
  for (const i of informers) void i.run();
  await cache.whenReady();
  // Every watch open (the server counts them as it serves them).
  await waitFor('every watch open', () => KINDS.every((k) => (api.requests.byRequest.get(`watch ${k}`) ?? 0) >= 1), 5000);
  return { api, client, cache };
}

function service(name: string) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port: 80 }] } };
}

describe('API transport', () => {
  it('lists (paged) and watches five kinds over one HTTP/2 connection', async () => {
    const { api, client, cache } = await agentWatches({});
    expect(client.protocol).toBe('h2');
    // Namespaces list in 2 pages of 2: paging goes over the same connection.
    expect(api.requests.byRequest.get('list namespaces')).toBeGreaterThanOrEqual(2);
    const before = cache.size('services');
    for (let i = 0; i < 20; i++) api.create(service(`s${i}`));
    await waitFor('20 Services in the cache', () => cache.size('services') === before + 20, 5000);
    expect(api.requests.connections).toBe(1);
  });

  it('falls back to one HTTP/1.1 connection per request when the server offers no h2', async () => {
    const { api, client, cache } = await agentWatches({ http1Only: true });
    expect(client.protocol).toBe('http/1.1');
    api.create(service('one'));
    await waitFor('the Service', () => cache.get('services', 'default/one') !== undefined, 5000);
    // The ALPN probe, every list page and every watch: one connection each.
    expect(api.requests.connections).toBeGreaterThan(KINDS.length);
  });

  it('connects anew when the server drops the connection, and every watch resumes on it', async () => {
    const { api, client, cache } = await agentWatches({});
    const watchesBefore = KINDS.map((k) => api.requests.byRequest.get(`watch ${k}`) ?? 0);
    api.dropConnections();
    await waitFor('every watch again', () => KINDS.every((k, i) => (api.requests.byRequest.get(`watch ${k}`) ?? 0) > watchesBefore[i]!), 5000);
    api.create(service('after'));
    await waitFor('the Service made after', () => cache.get('services', 'default/after') !== undefined, 5000);
    expect(client.protocol).toBe('h2');
    expect(api.requests.connections).toBe(2);
  });

  it('a caller stops waiting on a TLS handshake that never completes when its own signal says so', async () => {
    // Accepts and never answers: the shared connection attempt hangs.
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      silent.close(() => r());
    }));
    const dir = mkdtempSync(join(tmpdir(), 'nodeway-h2-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = (silent.address() as { port: number }).port;
    writeFileSync(join(dir, 'kubeconfig'), renderKubeconfig({ server: `https://127.0.0.1:${port}`, token: 't', caPem: tls.cert }));
    const client = new KubeClient(loadKubeConfig({ kubeconfig: join(dir, 'kubeconfig') }));
    // A first request with a long deadline starts the attempt; a second joining it with a
    // 300 ms deadline must not wait for the first's.
    const first = new AbortController();
    const firstDone = client.request('GET', '/api/v1/nodes', undefined, undefined, first.signal).catch((e: unknown) => e);
    const t0 = performance.now();
    await expect(client.request('GET', '/api/v1/services', undefined, undefined, AbortSignal.timeout(300))).rejects.toThrow();
    expect(performance.now() - t0).toBeLessThan(5000);
    first.abort();
    expect(await firstDone).toBeInstanceOf(Error);
  });
});
