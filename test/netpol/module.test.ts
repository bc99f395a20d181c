// The module's programming-latency histogram: each sync observes the wait of the oldest change
// it applies, and a change queued while a sync runs is timed by the next sync, from its own queue.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { NetpolModule } from '../../modules/netpol/module.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import { emptyChanges } from '../../src/view/view.ts';
import type { NodeView } from '../../src/view/view.ts';
import { FakeNft } from './fake-nft.ts';
import { World } from './world.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('netpol programming latency', () => {
  it('times a change queued during a sync from its queueing, in the next sync', async () => {
    const w = new World().ns('x');
    w.pod('x', 'a', { node: 'n1', ips: ['10.0.0.1'], labels: { app: 'a' } });
    w.np('x', 'deny', { podSelector: {} });
    const slow = new FakeNft();
    const nft = { apply: async (s: string) => { await sleep(120); await slow.apply(s); } };
    const registry = new Registry();
    const m = new NetpolModule({ config: {}, nodeName: 'n1', log: pino({ level: 'silent' }), registry }, { nft, bridge: async () => '', deleteChainsNow: true });
    const view = { nodeName: 'n1', policy: w } as unknown as NodeView;
    const hist = registry.histogram('nodeway_netpol_programming_duration_seconds', '');
    await m.sync(view, emptyChanges(true));
    expect(hist.count()).toBe(0);

    w.pod('x', 'a', { node: 'n1', ips: ['10.0.0.3'], labels: { app: 'a' } });
    m.queued();
    const first = m.sync(view, { ...emptyChanges(), policies: new Set(['pod:x/a']) });
    await sleep(60);
    w.pod('x', 'b', { node: 'n1', ips: ['10.0.0.2'], labels: { app: 'b' } });
    const queuedAt = performance.now();
    m.queued();
    await first;
    expect(hist.count()).toBe(1);
    await sleep(50);
    await m.sync(view, { ...emptyChanges(), policies: new Set(['pod:x/b']) });
    const waited = (performance.now() - queuedAt) / 1000;
    expect(hist.count()).toBe(2);
    const sum = Number(/_sum (\S+)/.exec(hist.render().join('\n'))![1]);
    // The first sync's 120 ms apply, then the second change's whole wait: the rest of the first
    // sync (~60 ms), 50 ms idle and its own 120 ms apply.
    expect(sum).toBeGreaterThanOrEqual(0.12 + 0.23 - 0.01);
    expect(sum).toBeLessThanOrEqual(0.12 + waited + 0.2);
    expect(slow.elements('ip', 'nodeway-np', 'hairpin')).toEqual(['10.0.0.2 . 10.0.0.2', '10.0.0.3 . 10.0.0.3']);
  });
});
