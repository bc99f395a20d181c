// The informer's one reconnect guard: whatever the API server does — an error class, a reset
// connection, a watch that ends at once with 200, a kind it does not serve — a kind never lists
// or watches faster than its backoff allows. Each case counts the requests the server saw.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EmbeddedApiServer, type Fault } from '../../testbed/apiserver/index.ts';
import { WatchCache } from '../../src/kube/cache.ts';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.ts';
import { Informer, InformerMetrics, type InformerOptions } from '../../src/kube/informer.ts';
import type { Kind } from '../../src/kube/objects.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import { selfSigned } from '../support/tls.ts';

const log = pino({ level: 'silent' });
let cert: { cert: string; key: string } | undefined;
const tls = () => (cert ??= selfSigned());

const WINDOW_MS = 2500;
const MIN = 100;
const MAX = 1000;

/**
 * Cycles (a list and/or a watch each) that fit in `ms` when every cycle waits at least 0.75 × the
 * backoff, which starts at MIN and doubles up to MAX: the guard's upper bound, jitter included.
 */
function maxCycles(ms: number): number {
  let t = 0;
  let b = MIN;
  let n = 1;
  for (;;) {
    t += 0.75 * b;
    if (t > ms) return n;
    n++;
    b = Math.min(2 * b, MAX);
  }
}

async function run(kind: Kind, fault: (verb: string) => Fault | undefined, opts: InformerOptions = {}, server: { omitResources?: string[]; tls?: boolean } = {}, windowMs = WINDOW_MS) {
  const api = new EmbeddedApiServer({ bookmarkIntervalMs: 200, omitResources: server.omitResources, tls: server.tls ? tls() : undefined });
  await api.start();
  api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
  const resource = kind;
  api.injectFaults((r) => (r.resource === resource ? fault(r.verb) : undefined));
  const dir = mkdtempSync(join(tmpdir(), 'nodeway-shp-guard-'));
  writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig());
  const cache = new WatchCache([kind]);
  const reg = new Registry();
  const inf = new Informer(kind, new KubeClient(loadKubeConfig({ kubeconfig: join(dir, 'kubeconfig') })), cache, log, new InformerMetrics(reg), {
    minBackoffMs: MIN, maxBackoffMs: MAX, watchSeconds: 30, absentRetryMs: 60_000, ...opts,
  });
  void inf.run();
  await new Promise((r) => setTimeout(r, windowMs));
  // Cleaned up here, not in afterEach: the cases run concurrently.
  inf.close();
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
  const counts = api.requests.snapshot().byRequest;
  const lists = counts[`list ${resource}`] ?? 0;
  const watches = counts[`watch ${resource}`] ?? 0;
  const reconnects = Number(/nodeway_watch_reconnects_total\{kind="[a-z]+"\} (\d+)/.exec(reg.render())?.[1] ?? 0);
  return { lists, watches, cycles: reconnects + 1, cache };
}

describe('Informer reconnect guard', () => {
  const bound = maxCycles(WINDOW_MS);
  const errorCases: [string, (verb: string) => Fault | undefined][] = [
    ['500 on every request', () => ({ status: 500 })],
    ['a reset connection on every request', () => ({ reset: true })],
    ['a watch that ends at once with 200', (v) => (v === 'watch' ? { endWatch: true } : undefined)],
    ['410 Gone on every watch (relist, 410 again, …)', (v) => (v === 'watch' ? { status: 410 } : undefined)],
    ['504 on every watch (a version the server has not reached)', (v) => (v === 'watch' ? { status: 504 } : undefined)],
    ['404 on a kind the agent needs (services)', () => ({ status: 404, text: '404 page not found' })],
    ['403 on a kind the agent needs (services)', () => ({ status: 403 })],
  ];
  it.concurrent.each(errorCases)('%s: no faster than the backoff', async (_what, fault) => {
    const r = await run('services', fault);
    // Each cycle is at most one list (one page here) and one watch.
    expect(r.cycles).toBeLessThanOrEqual(bound);
    expect(r.lists).toBeLessThanOrEqual(bound);
    expect(r.watches).toBeLessThanOrEqual(bound);
    // It does keep trying (a guard that gave up would pass the bounds too).
    expect(r.lists + r.watches).toBeGreaterThanOrEqual(3);
  });

  // Over TLS the agent speaks HTTP/2: a reset is one stream's RST_STREAM, not a TCP reset.
  it.concurrent.each(errorCases.slice(0, 4))('over HTTP/2, %s: no faster than the backoff', async (_what, fault) => {
    const r = await run('services', fault, {}, { tls: true });
    expect(r.cycles).toBeLessThanOrEqual(bound);
    expect(r.lists).toBeLessThanOrEqual(bound);
    expect(r.watches).toBeLessThanOrEqual(bound);
    expect(r.lists + r.watches).toBeGreaterThanOrEqual(3);
  });

  it.concurrent('429 with Retry-After: 2 is asked again only after 2 s', async () => {
    const r = await run('services', () => ({ status: 429, retryAfterSeconds: 2 }), {}, {}, 4500);
    // t=0, t≥2 s, t≥4 s: at most three lists in 4.5 s, where the backoff alone would allow eight.
    expect(r.lists).toBeGreaterThanOrEqual(2);
    expect(r.lists).toBeLessThanOrEqual(3);
    expect(maxCycles(4500)).toBeGreaterThanOrEqual(8);
    expect(r.watches).toBe(0);
  });

  it.concurrent.each([
    ['404 (text/plain, as a real API server)', { status: 404, text: '404 page not found' }],
    ['404 (a JSON Status)', { status: 404 }],
    ['403', { status: 403 }],
  ] as [string, Fault][])('an optional kind answered %s is listed as none and asked once per absentRetryMs', async (_what, fault) => {
    const r = await run('servicecidrs', () => fault);
    expect(r.cache.ready).toBe(true);
    expect(r.lists).toBe(1);
    expect(r.watches).toBe(0);
  });

  it.concurrent('an optional kind whose watch (not list) answers 404 waits absentRetryMs too', async () => {
    const r = await run('servicecidrs', (v) => (v === 'watch' ? { status: 404, text: '404 page not found' } : undefined));
    expect(r.cache.ready).toBe(true);
    expect(r.lists).toBe(1);
    expect(r.watches).toBe(1);
  });

  it.concurrent('a server without the kind at all (an older cluster): one list, no watch', async () => {
    const r = await run('servicecidrs', () => undefined, {}, { omitResources: ['servicecidrs'] });
    expect(r.cache.ready).toBe(true);
    expect(r.cache.size('servicecidrs')).toBe(0);
    expect(r.lists).toBe(1);
    expect(r.watches).toBe(0);
  });

  it.concurrent('a healthy watch the server ends cleanly is resumed at once, with no relist', async () => {
    // healthyWatchMs 0: every watch counts as healthy; the server ends each after 1 s.
    const r = await run('services', () => undefined, { healthyWatchMs: 0, watchSeconds: 1 }, {}, 4500);
    expect(r.lists).toBe(1);
    // timeoutSeconds is 1 or 2 s: at least one renewal in 4.5 s even on a slow start, at most 4.
    expect(r.watches).toBeGreaterThanOrEqual(2);
    expect(r.watches).toBeLessThanOrEqual(5);
  });
});
