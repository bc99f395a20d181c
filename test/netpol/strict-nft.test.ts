// Strict mode's cut set on the real kernel, one lab node (routed pods), IPv4: a long-lived TCP
// connection cut by a sweep (conntrack listed and judged in the node, its flow cut, its entry
// deleted) stays cut across every kind of full sync: a forced one over the live table, one
// after the table was deleted underneath (a firewall reload, which the drift check repairs;
// the applier's memory puts the cut back), and a restarted agent's first one (its memory empty;
// the cut read from the live set), each with what was left of its 10 minutes.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamilyApplier, type Nft } from '../../modules/netpol/apply.ts';
import { parseCutSet } from '../../modules/netpol/cut-set.ts';
import { plan } from '../../modules/netpol/plan.ts';
import { STRICT_CUT } from '../../modules/netpol/render.ts';
import { cutElements, deniedEntries, parseEntries } from '../../modules/netpol/strict.ts';
import { cleanupStaleLabs, Lab, type LabNode, type LabPod } from '../../testbed/lab/index.ts';
import type { LabProcess } from '../../testbed/lab/process.ts';
import { workloadPaths } from '../../testbed/lab/workloads.ts';
import { World } from './world.ts';

const HOLD = join(dirname(fileURLToPath(import.meta.url)), 'hold-conn.ts');
const TABLE = 'st-cut';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let lab: Lab;
let node: LabNode;
let a: LabPod, b: LabPod;
let nft: Nft;
const procs: LabProcess[] = [];

beforeAll(async () => {
  await cleanupStaleLabs();
  lab = await Lab.create({ prefix: 'st' });
  node = await lab.addNode('n1');
  a = await lab.addPod(node, 'a');
  b = await lab.addPod(node, 'b');
  nft = {
    apply: async (s) => void (await node.nft(s)),
    listSet: async (family, table, set) => {
      const r = await node.exec('nft', ['-j', 'list', 'set', family, table, set]);
      return r.exitCode === 0 ? r.stdout : null;
    },
  };
}, 60_000);

afterAll(async () => {
  for (const p of procs) await p.stop(0);
  await lab?.destroy();
});

const echoes = (p: LabProcess) => Number([...p.lines].reverse().find((l) => l.startsWith('echoes='))?.slice(7) ?? -1);

/** Echoes the connection got over `ms`. */
async function flowing(c: LabProcess, ms: number): Promise<number> {
  const at = echoes(c);
  await sleep(ms);
  return echoes(c) - at;
}

async function cutInKernel(): Promise<[string, number][]> {
  const r = await nft.listSet!('ip', TABLE, STRICT_CUT);
  return r ? parseCutSet(r).sort() : [];
}

describe('strict mode: a cut connection stays cut across full syncs', () => {
  it('forced full sync, deleted table repaired, restarted agent', async () => {
    const w = new World().ns('x');
    w.pod('x', 'a', { node: 'n1', ips: [a.ipv4], labels: { pod: 'a' } });
    w.pod('x', 'b', { node: 'n1', ips: [b.ipv4], labels: { pod: 'b' } });
    const ap = new FamilyApplier(4, TABLE, nft, true, true);
    await ap.sync(plan({ nodeName: 'n1', policy: w }).v4, true);

    const srv = b.spawn(workloadPaths().node, [HOLD, 'serve', '7000']);
    procs.push(srv);
    await srv.waitForLine(/^ready$/, 10_000);
    const c = a.spawn(workloadPaths().node, [HOLD, 'connect', b.ipv4, '7000']);
    procs.push(c);
    await c.waitForLine(/^ready$/, 10_000);
    expect(await flowing(c, 1000), 'echoes before the policy').toBeGreaterThanOrEqual(5);

    // b now admits port 80 only: the established flow to 7000 is allowed by conntrack until swept.
    w.np('x', 'only-80', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ port: 80 }] }] });
    const d = plan({ nodeName: 'n1', policy: w }).v4;
    expect((await ap.sync(d, false)).narrowed).toBe(true);
    expect(await flowing(c, 1000), 'still flowing before the sweep (not strict yet)').toBeGreaterThanOrEqual(5);

    // The sweep, as StrictSweeper does it, in the node: list, judge, cut, delete.
    const listed = parseEntries((await node.exec('conntrack', ['-L', '-f', 'ipv4'], { check: true })).stdout);
    const denied = deniedEntries(d, listed, new Set([node.ipv4]));
    expect(denied.map((e) => `${e.src}>${e.replySrc}:${e.replySport}`)).toEqual([`${a.ipv4}>${b.ipv4}:7000`]);
    const els = cutElements(denied);
    await ap.cut(els);
    for (const e of denied) await node.exec('conntrack', ['-D', '-f', 'ipv4', '-p', e.proto, '-s', e.src, '-d', e.dst, '--sport', String(e.sport), '--dport', String(e.dport)], { check: true });
    await sleep(500);
    expect(await flowing(c, 2000), 'cut').toBe(0);
    const first = await cutInKernel();
    expect(first.map(([e]) => e)).toEqual([...els].sort());

    // 1. A forced full sync rebuilds the table: the cut is written back with what it had left.
    await sleep(1500);
    await ap.sync(d, true);
    const again = await cutInKernel();
    expect(again.map(([e]) => e)).toEqual([...els].sort());
    for (const [i, [, secs]] of again.entries()) {
      expect(secs).toBeLessThan(first[i]![1]);
      expect(secs).toBeGreaterThan(590);
    }
    expect(await flowing(c, 2000), 'cut after a forced full sync').toBe(0);

    // 2. The table deleted underneath (a firewall reload): gone() says so, the full sync repairs it, cut included.
    await node.exec('nft', ['delete', 'table', 'ip', TABLE], { check: true });
    expect(await cutInKernel()).toEqual([]);
    await ap.sync(d, true);
    expect((await cutInKernel()).map(([e]) => e)).toEqual([...els].sort());
    // The flow may have got a packet through while the table was gone; from now on none.
    await sleep(500);
    expect(await flowing(c, 2000), 'cut after the table was deleted and repaired').toBe(0);

    // 3. A restarted agent (a new applier, nothing remembered) reads the cut from the live set.
    const fresh = new FamilyApplier(4, TABLE, nft, true, true);
    await fresh.sync(d, true);
    const kept = await cutInKernel();
    expect(kept.map(([e]) => e)).toEqual([...els].sort());
    for (const [, secs] of kept) expect(secs).toBeLessThan(600);
    expect(await flowing(c, 2000), 'cut after a restart').toBe(0);
    expect(c.lines.some((l) => l.startsWith('closed')), 'the client saw no reset: the flow is dropped, not rejected').toBe(false);
  }, 60_000);
});
