// Our informers against the embedded API server: list, watch, resume after a dropped watch,
// relist by diff after 410 Gone, and backoff through an API server outage — never flushing.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedApiServer } from '../../testbed/apiserver/index.ts';
import { renderKubeconfig } from '../../testbed/apiserver/kubeconfig.ts';
import { WatchCache, type CacheChange } from '../../src/kube/cache.ts';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.ts';
import { Informer, InformerMetrics } from '../../src/kube/informer.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../../src/runtime/metrics.ts';
import { waitFor } from '../../testbed/lab/wait.ts';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function svc(name: string, port = 80) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port }] } };
}

async function setup(opts: { port?: number } = {}) {
  const api = new EmbeddedApiServer({ bookmarkIntervalMs: 200, port: opts.port });
  await api.start();
  const dir = mkdtempSync(join(tmpdir(), 'nodeway-inf-'));
  const kc = join(dir, 'kubeconfig');
  writeFileSync(kc, api.kubeconfig());
  const cache = new WatchCache(['services']);
  const changes: CacheChange[] = [];
  cache.onChange((c) => changes.push(c));
  const reg = new Registry();
  const inf = new Informer('services', new KubeClient(loadKubeConfig({ kubeconfig: kc })), cache, log, new InformerMetrics(reg), { pageSize: 2, minBackoffMs: 50, maxBackoffMs: 200, watchSeconds: 30 });
  void inf.run();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => api.stop(), () => inf.close());
  return { api, cache, changes, reg, inf };
}

const until = (what: string, fn: () => boolean, ms = 10_000) => waitFor(what, fn, ms, 20);

describe('Informer', () => {
  it('lists in pages, then follows the watch', async () => {
    const { api, cache } = await setup();
    for (const n of ['a', 'b', 'c', 'd', 'e']) api.create(svc(n));
    await until('listed', () => cache.isListed('services'));
    // Objects created before or during the first list all arrive.
    await until('5 services', () => cache.size('services') === 5);
    api.create(svc('f'));
    api.patch('v1', 'Service', 'default', 'a', { spec: { ports: [{ port: 81 }] } }, 'merge');
    api.delete('v1', 'Service', 'default', 'b');
    await until('watch events applied', () => cache.size('services') === 5 && cache.get('services', 'default/a')?.ports[0]?.port === 81);
    expect(cache.get('services', 'default/b')).toBeUndefined();
    expect(cache.get('services', 'default/f')).toBeDefined();
  });

  it('resumes a dropped watch from its resourceVersion without relisting', async () => {
    const { api, cache, reg } = await setup();
    api.create(svc('a'));
    await until('a', () => cache.size('services') === 1);
    api.dropWatches();
    api.create(svc('b'));
    await until('b after resume', () => cache.size('services') === 2);
    expect(reg.render()).toMatch(/nodeway_watch_lists_total\{kind="services"\} 1\n/);
  });

  it('an expired continue token restarts the list from the top, never ending it half empty', async () => {
    const item = (n: string) => ({ metadata: { name: n, namespace: 'default', resourceVersion: '1' }, spec: { ports: [{ port: 80 }] } });
    let expired = 0;
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.get('watch') === 'true') return void res.writeHead(200, { 'content-type': 'application/json' }).write('');
      const cont = url.searchParams.get('continue');
      const json = (code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (cont === 'old') {
        expired++;
        return json(410, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'continue token expired' });
      }
      if (cont === 'fresh') return json(200, { metadata: { resourceVersion: '9' }, items: [item('c')] });
      json(200, { metadata: { resourceVersion: '9', continue: expired ? 'fresh' : 'old' }, items: [item('a'), item('b')] });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const dir = mkdtempSync(join(tmpdir(), 'nodeway-inf-'));
    const kc = join(dir, 'kubeconfig');
    writeFileSync(kc, renderKubeconfig({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
    const cache = new WatchCache(['services']);
    const sizes: number[] = [];
    cache.onChange(() => sizes.push(cache.size('services')));
    const inf = new Informer('services', new KubeClient(loadKubeConfig({ kubeconfig: kc })), cache, log, new InformerMetrics(new Registry()), { pageSize: 2, minBackoffMs: 50, maxBackoffMs: 200 });
    void inf.run();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => new Promise<void>((r) => server.close(() => r())), () => inf.close());
    await until('listed', () => cache.isListed('services'));
    expect(expired).toBe(1);
    expect([...cache.all('services')].map((s) => s.name).sort()).toEqual(['a', 'b', 'c']);
    expect(sizes.at(-1)).toBe(3);
  });

  it('relists after 410 Gone and reports only what really changed', async () => {
    const { api, cache, changes, reg } = await setup();
    api.create(svc('keep'));
    api.create(svc('gone'));
    await until('2', () => cache.size('services') === 2);
    // Changes the watch never sees, then the history is compacted: resuming must 410.
    api.compact();
    api.delete('v1', 'Service', 'default', 'gone');
    api.create(svc('new'));
    api.compact();
    changes.length = 0;
    api.dropWatches();
    await until('relisted', () => cache.get('services', 'default/new') !== undefined && cache.get('services', 'default/gone') === undefined);
    await until('list counted', () => /nodeway_watch_lists_total\{kind="services"\} 2\n/.test(reg.render()));
    // "keep" was never deleted and re-added: a relist is a diff, not a flush.
    expect(changes.map((c) => [c.key, c.next ? 'put' : 'delete']).sort()).toEqual([
      ['default/gone', 'delete'],
      ['default/new', 'put'],
    ]);
  });

  it('keeps the cache through an API server outage and catches up after it', async () => {
    const first = await setup();
    // Push the first server's resourceVersion ahead of what the second one will reach.
    for (let i = 0; i < 5; i++) first.api.create(svc(`t${i}`));
    for (let i = 0; i < 5; i++) first.api.delete('v1', 'Service', 'default', `t${i}`);
    first.api.create(svc('a'));
    await until('a', () => first.cache.size('services') === 1);
    const port = Number(new URL(first.api.url).port);
    await first.api.stop();
    await new Promise((r) => setTimeout(r, 300));
    expect(first.cache.size('services')).toBe(1); // nothing flushed while the server is away
    // A new server on the same address, with different objects and a fresh history: our
    // resourceVersion is one it has not reached ("too large"), so resuming fails → relist.
    const again = new EmbeddedApiServer({ port, bookmarkIntervalMs: 200 });
    await again.start();
    cleanups.push(() => again.stop());
    again.create(svc('b'));
    await until('caught up', () => first.cache.get('services', 'default/b') !== undefined && first.cache.size('services') === 1, 15_000);
    expect(first.reg.render()).toMatch(/nodeway_watch_errors_total\{kind="services"\} [1-9]/);
  });
});

describe('Informer: ServiceCIDRs, which older clusters do not serve', () => {
  /** An API server that answers ServiceCIDR lists with `answer` (a status, or the list) and keeps watches open. */
  async function fakeServer(answer: () => number | Record<string, unknown>) {
    let asked = 0;
    const server = createServer((req, res) => {
      asked++;
      const a = answer();
      if (typeof a === 'number') {
        // What a real apiserver answers for a resource it does not serve.
        res.writeHead(a, { 'content-type': 'text/plain' }).end(`${a} page not found`);
      } else if (req.url?.includes('watch=true')) res.writeHead(200, { 'content-type': 'application/json' }).write('');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(a));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const dir = mkdtempSync(join(tmpdir(), 'nodeway-inf-'));
    const kc = join(dir, 'kubeconfig');
    writeFileSync(kc, renderKubeconfig({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
    const logs: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const cache = new WatchCache(['servicecidrs']);
    const reg = new Registry();
    const inf = new Informer('servicecidrs', new KubeClient(loadKubeConfig({ kubeconfig: kc })), cache, logger, new InformerMetrics(reg), { minBackoffMs: 50, maxBackoffMs: 200, absentRetryMs: 100 });
    cleanups.push(
      () => rmSync(dir, { recursive: true, force: true }),
      () => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())),
      () => inf.close(),
    );
    return { cache, reg, inf, logs, asked: () => asked };
  }

  it.each([
    [404, 30, 'not served'],
    [403, 40, 'forbidden'],
  ])('a %i lists as none at once (the cache gets ready), is logged once, and is asked again slowly', async (status, level, says) => {
    const f = await fakeServer(() => status);
    // Left from before (an API server downgraded under us): not served means there are none.
    f.cache.put('servicecidrs', 'old', { name: 'old', cidrs: ['10.96.0.0/12'] });
    void f.inf.run();
    await f.cache.whenReady();
    expect(f.cache.size('servicecidrs')).toBe(0);
    await until('asked three times', () => f.asked() >= 3);
    const about = f.logs.filter((l) => l.msg.includes(says));
    expect(about.filter((l) => l.level === level)).toHaveLength(1);
    expect(about.filter((l) => l.level !== 20 && l.level !== level)).toEqual([]);
    // A cluster without ServiceCIDRs is not an error; a ClusterRole that forbids them is.
    expect(/nodeway_watch_errors_total\{kind="servicecidrs"\}/.test(f.reg.render())).toBe(status === 403);
  });

  it('served later (the cluster was upgraded): listed then, and watched', async () => {
    let served = false;
    const list = { kind: 'ServiceCIDRList', apiVersion: 'networking.k8s.io/v1', metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'kubernetes' }, spec: { cidrs: ['10.96.0.0/12'] } }] };
    const f = await fakeServer(() => (served ? list : 404));
    void f.inf.run();
    await f.cache.whenReady();
    served = true;
    await until('listed', () => f.cache.get('servicecidrs', 'kubernetes') !== undefined);
    expect(f.cache.get('servicecidrs', 'kubernetes')).toEqual({ name: 'kubernetes', cidrs: ['10.96.0.0/12'] });
    await until('logged', () => f.logs.some((l) => l.level === 30 && /now served/.test(l.msg)));
  });

  it('the embedded API server serves the default ServiceCIDR, named kubernetes', async () => {
    const api = new EmbeddedApiServer({ serviceCIDRs: ['10.96.0.0/16', 'fd00:96::/112'] });
    await api.start();
    const dir = mkdtempSync(join(tmpdir(), 'nodeway-inf-'));
    const kc = join(dir, 'kubeconfig');
    writeFileSync(kc, api.kubeconfig());
    const cache = new WatchCache(['servicecidrs']);
    const inf = new Informer('servicecidrs', new KubeClient(loadKubeConfig({ kubeconfig: kc })), cache, log, new InformerMetrics(new Registry()), { watchSeconds: 30 });
    void inf.run();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => api.stop(), () => inf.close());
    await cache.whenReady();
    expect([...cache.all('servicecidrs')]).toEqual([{ name: 'kubernetes', cidrs: ['10.96.0.0/16', 'fd00:96::/112'] }]);
    api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'extra' }, spec: { cidrs: ['10.97.0.0/16'] } });
    await until('watched', () => cache.get('servicecidrs', 'extra') !== undefined);
    api.delete('networking.k8s.io/v1', 'servicecidrs', undefined, 'kubernetes');
    await until('deleted', () => cache.size('servicecidrs') === 1);
  });
});
