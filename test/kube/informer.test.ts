// Our informers against the embedded API server: list, watch, resume after a dropped watch,
// relist by diff after 410 Gone, and backoff through an API server outage — never flushing.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedApiServer } from '../../src/apiserver/index.ts';
import { WatchCache, type CacheChange } from '../../src/kube/cache.ts';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.ts';
import { Informer, InformerMetrics } from '../../src/kube/informer.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../../src/runtime/metrics.ts';

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

async function until(what: string, fn: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

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
