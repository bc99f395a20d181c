import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { WatchCache } from '../../src/kube/cache.ts';
import { KINDS, type Service } from '../../src/kube/objects.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import type { ModuleInputs } from '../../src/runtime/module.ts';
import { type Module, ModuleRunner } from '../../src/runtime/runner.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import { NodeView } from '../../src/view/view.ts';
import type { ChangeReason } from '../../src/sys/nft-events.ts';
import { waitFor } from '../../testbed/lab/wait.ts';

const log = pino({ level: 'silent' });

function svc(name: string, ip: string): Service {
  return {
    namespace: 'default', name, type: 'ClusterIP', proxyName: '', headless: false, clusterIPs: [ip], externalName: '',
    externalIPs: [], loadBalancerIPs: [], loadBalancerSourceRanges: [], ports: [{ name: '', protocol: 'TCP', port: 80, nodePort: 0, targetPort: 80 }],
    affinityTimeout: 0, externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster', healthCheckNodePort: 0,
    publishNotReadyAddresses: false, trafficDistribution: '',
  };
}

function setup() {
  const cache = new WatchCache(KINDS);
  const view = new NodeView(cache, 'n1');
  return { cache, view };
}

function listAll(cache: WatchCache) {
  for (const k of KINDS) cache.replace(k, new Map());
}

const ALL: ModuleInputs = { kinds: KINDS, view: ['services', 'peers', 'self', 'pods', 'namespaces', 'serviceCIDRs'] };

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` holds (slow machine: up to 5 s), so that exact counts can be asserted after. */
const until = (cond: () => boolean) => waitFor('the condition', cond, 5000, 5);

describe('ModuleRunner', () => {
  it('a sync that hangs keeps the oldest owed change: a change arriving meanwhile does not make it look younger', async () => {
    const { cache, view } = setup();
    let release = () => {};
    const mod: Module = { name: 't', inputs: ALL, sync: () => new Promise<void>((r) => (release = r)) };
    const r = new ModuleRunner(mod, view, log, new Registry(), { minIntervalMs: 0 });
    listAll(cache);
    view.flush();
    await tick(20);
    const first = r.health.pendingSince;
    expect(first).toBeGreaterThan(0);
    await tick(30);
    cache.put('services', 'default/a', svc('a', '198.19.0.1'));
    view.flush();
    expect(r.health.pendingSince).toBe(first);
    release();
    await tick(20);
    release();
    await r.whenIdle();
    expect(r.health.pendingSince).toBe(0);
    await r.close();
  });

  it('syncs nothing before the cache is ready, then one full sync', async () => {
    const { cache, view } = setup();
    const calls: ViewChanges[] = [];
    const mod: Module = { name: 't', inputs: ALL, sync: async (_v, c) => void calls.push(c) };
    const r = new ModuleRunner(mod, view, log, new Registry(), { minIntervalMs: 0 });
    cache.put('services', 'default/a', svc('a', '198.19.0.1'));
    await tick(20);
    expect(calls).toHaveLength(0);
    listAll(cache);
    view.flush();
    await r.whenIdle();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.full).toBe(true);
    expect(r.health.synced).toBe(true);
  });

  it('a module whose dataplane drifted (drifted() true) gets a full sync with no view change, counted', async () => {
    const { cache, view } = setup();
    const calls: ViewChanges[] = [];
    let gone = false;
    const mod: Module = { name: 't', inputs: ALL, sync: async (_v, c) => { calls.push(c); gone = false; }, drifted: async () => gone };
    const reg = new Registry();
    const r = new ModuleRunner(mod, view, log, reg, { minIntervalMs: 0, driftCheckMs: 20 });
    listAll(cache);
    view.flush();
    await r.whenIdle();
    await tick(80);
    expect(calls).toHaveLength(1); // nothing drifted: no sync
    gone = true; // e.g. `nft flush ruleset`
    await tick(80);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.full).toBe(true);
    expect(reg.render()).toMatch(/nodeway_module_drift_repairs_total\{module="t"\} 1\b/);
    await r.close();
  });

  it('with a live change feed, drift is checked on a change (a burst: once) and seldom otherwise', async () => {
    const { cache, view } = setup();
    const calls: ViewChanges[] = [];
    let gone = false;
    let checks = 0;
    const mod: Module = { name: 't', inputs: ALL, sync: async (_v, c) => { calls.push(c); gone = false; }, drifted: async () => (checks++, gone) };
    const subs = new Set<(why: ChangeReason) => void>();
    const feed = { live: true, subscribe: (fn: (why: ChangeReason) => void) => (subs.add(fn), () => subs.delete(fn)) };
    const emit = (why: ChangeReason) => { for (const fn of subs) fn(why); };
    const reg = new Registry();
    const r = new ModuleRunner(mod, view, log, reg, { minIntervalMs: 0, driftCheckMs: 20, driftFallbackMs: 60_000, driftDebounceMs: 30, changes: feed });
    listAll(cache);
    view.flush();
    await r.whenIdle();
    await tick(150);
    expect(checks).toBe(0); // live feed, no change: no check (20 ms would have made ~7)
    for (let i = 0; i < 10; i++) emit('change');
    await until(() => checks > 0);
    await tick(100);
    expect(checks).toBe(1); // the burst, checked once after the debounce
    expect(calls).toHaveLength(1); // nothing drifted: no sync
    gone = true; // e.g. `nft flush ruleset`, then its event
    emit('change');
    await until(() => calls.length > 1);
    await r.whenIdle();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.full).toBe(true);
    expect(reg.render()).toMatch(/nodeway_module_drift_repairs_total\{module="t"\} 1\b/);
    expect(reg.render()).toMatch(/nodeway_module_drift_checks_total\{module="t",trigger="change"\} 2\b/);
    // The feed stops (lost events): checked at once, then every driftCheckMs until it is back.
    feed.live = false;
    emit('lost');
    const lost = checks;
    await until(() => checks >= lost + 5);
    feed.live = true;
    await tick(150); // the period timer set while it was down fires once more
    const settled = checks;
    await tick(150);
    expect(checks).toBe(settled);
    await r.close();
  });

  it('lost events alone (the listener restarting under our own rule churn) are checked at most every driftCheckMs; a change meanwhile after the debounce', async () => {
    const { cache, view } = setup();
    const at: number[] = [];
    const mod: Module = { name: 't', inputs: ALL, sync: async () => {}, drifted: async () => (at.push(Date.now()), false) };
    const subs = new Set<(why: ChangeReason) => void>();
    const feed = { live: true, subscribe: (fn: (why: ChangeReason) => void) => (subs.add(fn), () => subs.delete(fn)) };
    const emit = (why: ChangeReason) => { for (const fn of subs) fn(why); };
    const r = new ModuleRunner(mod, view, log, new Registry(), { minIntervalMs: 0, driftCheckMs: 1000, driftFallbackMs: 60_000, driftDebounceMs: 10, changes: feed });
    listAll(cache);
    view.flush();
    await r.whenIdle();
    // 'lost' every 50 ms for 2.6 s, as xtables-monitor restarting 4 times a second would say.
    const t0 = Date.now();
    while (Date.now() - t0 < 2600) {
      emit('lost');
      await tick(50);
    }
    // The first at once (no check before), then one a second: 3 over 2.6 s, not 52.
    expect(at.length).toBeGreaterThanOrEqual(2);
    expect(at.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(990);
    // A change right after a check is not held back by the lost events' gap (900 ms and more here).
    await until(() => at.length > 0 && Date.now() - at.at(-1)! < 100 && Date.now() - at.at(-1)! > 20);
    emit('lost');
    const before = at.length;
    const changed = Date.now();
    emit('change');
    await until(() => at.length > before);
    expect(at.at(-1)! - changed).toBeLessThan(500);
    await r.close();
  });

  it('a change seen while the module syncs is checked once the sync is done', async () => {
    const { cache, view } = setup();
    let release = () => {};
    let checks = 0;
    const mod: Module = { name: 't', inputs: ALL, sync: () => new Promise<void>((r) => (release = r)), drifted: async () => (checks++, false) };
    let sub: (why: ChangeReason) => void = () => {};
    const feed = { live: true, subscribe: (fn: (why: ChangeReason) => void) => ((sub = fn), () => {}) };
    const r = new ModuleRunner(mod, view, log, new Registry(), { minIntervalMs: 0, driftCheckMs: 20, driftFallbackMs: 60_000, driftDebounceMs: 10, changes: feed });
    listAll(cache);
    view.flush();
    await tick(20);
    sub('change');
    await tick(60);
    expect(checks).toBe(0); // syncing: not checked yet
    release();
    await r.whenIdle();
    await until(() => checks > 0);
    await tick(60);
    expect(checks).toBe(1);
    await r.close();
  });

  it('coalesces a burst of changes within the minimum interval into one sync', async () => {
    const { cache, view } = setup();
    const calls: ViewChanges[] = [];
    const mod: Module = { name: 't', inputs: ALL, sync: async (_v, c) => void calls.push(c) };
    const r = new ModuleRunner(mod, view, log, new Registry(), { minIntervalMs: 200 });
    listAll(cache);
    view.flush();
    await r.whenIdle();
    for (let i = 0; i < 20; i++) {
      cache.put('services', `default/s${i}`, svc(`s${i}`, `198.19.0.${i + 1}`));
      view.flush();
    }
    await tick(50);
    expect(calls).toHaveLength(1); // still inside the interval after the first sync
    await r.whenIdle();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.full).toBe(false);
    expect(calls[1]!.services.size).toBe(20);
  });

  it('retries a failed sync with the same changes, then escalates to a full resync', async () => {
    const { cache, view } = setup();
    const calls: ViewChanges[] = [];
    let fail = 0;
    const mod: Module = {
      name: 't', inputs: ALL,
      sync: async (_v, c) => {
        calls.push({ ...c, services: new Set(c.services) });
        if (fail-- > 0) throw new Error('nft: transaction failed');
      },
    };
    const reg = new Registry();
    const r = new ModuleRunner(mod, view, log, reg, { minIntervalMs: 0, minBackoffMs: 10, maxBackoffMs: 20 });
    listAll(cache);
    view.flush();
    await r.whenIdle();
    fail = 2;
    cache.put('services', 'default/x', svc('x', '198.19.0.9'));
    view.flush();
    await tick(5);
    expect(r.health.failures).toBe(1);
    expect(r.health.lastError).toContain('transaction failed');
    await r.whenIdle();
    // first attempt partial, first retry partial with the same key, then full after 2 failures
    expect(calls.slice(1).map((c) => [c.full, [...c.services]])).toEqual([
      [false, ['default/x']],
      [false, ['default/x']],
      [true, ['default/x']],
    ]);
    expect(r.health.failures).toBe(0);
    expect(reg.render()).toMatch(/nodeway_module_syncs_total\{kind="partial",module="t",result="error"\} 2/);
  });

  it('a slow module does not delay another', async () => {
    const { cache, view } = setup();
    let release!: () => void;
    const slow: Module = { name: 'slow', inputs: ALL, sync: () => new Promise<void>((r) => (release = r)) };
    let fastSyncs = 0;
    const fast: Module = { name: 'fast', inputs: ALL, sync: async () => void fastSyncs++ };
    const reg = new Registry();
    const rs = new ModuleRunner(slow, view, log, reg, { minIntervalMs: 0 });
    const rf = new ModuleRunner(fast, view, log, reg, { minIntervalMs: 0 });
    listAll(cache);
    view.flush();
    await rf.whenIdle();
    cache.put('services', 'default/y', svc('y', '198.19.0.10'));
    view.flush();
    await rf.whenIdle();
    expect(fastSyncs).toBe(2);
    expect(rs.health.synced).toBe(false);
    release();
    await tick(5);
    release();
    await rs.whenIdle();
    expect(rs.health.synced).toBe(true);
  });
});

describe('ModuleRunner inputs', () => {
  it('never wakes a module for a view part it does not read', async () => {
    const { cache, view } = setup();
    const calls: ViewChanges[] = [];
    const mod: Module = { name: 'peers-only', inputs: { kinds: ['nodes'], view: ['peers'] }, sync: async (_v, c) => void calls.push(c) };
    const r = new ModuleRunner(mod, view, log, new Registry(), { minIntervalMs: 0 });
    listAll(cache);
    view.flush();
    await r.whenIdle();
    expect(calls).toHaveLength(1);
    for (let i = 0; i < 10; i++) {
      cache.put('services', `default/s${i}`, svc(`s${i}`, `198.19.0.${i + 1}`));
      cache.put('namespaces', `ns${i}`, { name: `ns${i}`, labels: {} });
      view.flush();
    }
    await tick(30);
    await r.whenIdle();
    expect(calls).toHaveLength(1);
    cache.put('nodes', 'n2', { name: 'n2', labels: {}, annotations: {}, addresses: [], podCIDRs: [], deleting: false, unschedulable: false });
    view.flush();
    await r.whenIdle();
    expect(calls).toHaveLength(2);
    expect([...calls[1]!.peers]).toEqual(['n2']);
  });
});
