import { afterAll, beforeAll, expect, it } from 'vitest';
import { MeshLab, waitFor } from './harness.ts';

const m = new MeshLab();
beforeAll(async () => {
  await m.start();
}, 60_000);
afterAll(async () => {
  
  await m.destroy();
});

it('smoke', async () => {
  const a = await m.addNode('n1');
  const b = await m.addNode('n2');
  m.startAgent(a);
  m.startAgent(b);
  await waitFor('peers', async () => (await m.dump(a)).peers.size === 1 && (await m.dump(b)).peers.size === 1, 20_000);
  const p1 = await m.addPod(a, 'p1');
  const p2 = await m.addPod(b, 'p2');
  console.log(p1.ip, p2.ip);
  const ok = await m.ping(p1.ns, p2.ip, 3);
  for (const n of [a, b]) {
    for (const c of [['wg', 'show', n.iface], ['ip', 'route'], ['ip', 'addr'], ['nft', 'list', 'ruleset']]) {
      const r = await m.exec(n.lab.ns, c[0]!, c.slice(1));
      console.log(n.name, c.join(' '), '\n', r.stdout, r.stderr);
    }
  }
  for (const [ns, ip] of [[p1.ns, p2.ip], [a.lab.ns, p2.ip], [b.lab.ns, p2.ip], [p1.ns, '198.18.129.1'], [a.lab.ns, '198.18.130.1']] as const) {
    const r = await m.exec(ns, 'busybox', ['ping', '-c', '2', '-W', '2', ip]);
    console.log('PING', ns, ip, r.stdout, r.stderr);
  }
  const r = await m.exec(p1.ns, 'ip', ['route']);
  console.log('POD ROUTE', r.stdout);
  for (const n of [a, b]) { const x = await m.exec(n.lab.ns, 'wg', ['show', n.iface, 'transfer']); console.log('TRANSFER', x.stdout); }
  expect(ok).toBe(true);
}, 60_000);
