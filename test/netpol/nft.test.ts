// The applier against the real kernel, one node (routed pods made by the lab), IPv4 and IPv6:
// what nft does with new flows must be what the plan's interpreter says, and updates in place
// (label changes, policy edits and deletes) must leave no stale chains or sets.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamilyApplier, type Nft } from '../../modules/netpol/apply.ts';
import { evaluate } from '../../modules/netpol/evaluate.ts';
import { plan } from '../../modules/netpol/plan.ts';
import { cleanupStaleLabs, Lab, type LabNode, type LabPod } from '../../testbed/lab/index.ts';
import { workloadPaths } from '../../testbed/lab/workloads.ts';
import { World } from './world.ts';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'batch-probe.ts');
let lab: Lab;
let node: LabNode;
const pods: Record<string, LabPod> = {};
let w: World;
let appliers: FamilyApplier[];
const TABLE = 'np-test';

beforeAll(async () => {
  await cleanupStaleLabs();
  lab = await Lab.create({ prefix: 'np' });
  node = await lab.addNode('n1');
  for (const name of ['a', 'b', 'c']) {
    pods[name] = await lab.addPod(node, name);
    await pods[name]!.startEchoServer({ tcp: [80, 81], udp: [80] });
  }
  w = new World().ns('x').ns('y');
  for (const [name, p] of Object.entries(pods)) {
    w.pod(name === 'c' ? 'y' : 'x', name, { node: 'n1', ips: [p.ipv4, p.ipv6!], labels: { pod: name }, ports: [{ name: 'web', containerPort: 81 }] });
  }
  const nft: Nft = { apply: async (s) => void (await node.nft(s)) };
  appliers = [new FamilyApplier(4, TABLE, nft, true), new FamilyApplier(6, TABLE, nft, true)];
}, 60_000);

afterAll(async () => {
  await lab?.destroy();
});

async function sync(full = false): Promise<void> {
  const d = plan({ nodeName: 'n1', policy: w });
  await appliers[0]!.sync(d.v4, full);
  await appliers[1]!.sync(d.v6, full);
}

interface Case { from: string; to: string; proto: 'tcp' | 'udp'; port: number; v6?: boolean }

/** Probes every case (one batch-probe process per source pod); returns the keys of the ones that got through. */
async function reachable(cases: Case[]): Promise<Set<string>> {
  const out = new Set<string>();
  await Promise.all(Object.keys(pods).map(async (from) => {
    const mine = cases.filter((c) => c.from === from);
    const targets = mine.map((c) => [c.proto, c.v6 ? pods[c.to]!.ipv6! : pods[c.to]!.ipv4, c.port]);
    const r = await pods[from]!.exec(workloadPaths().node, [PROBE, JSON.stringify(targets), '700'], { timeoutMs: 20_000 });
    const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { outcome: string });
    if (lines.length !== mine.length) throw new Error(`probe from ${from}: ${r.stderr || r.stdout}`);
    lines.forEach((l, i) => l.outcome === 'ok' && out.add(key(mine[i]!)));
  }));
  return out;
}
const key = (c: Case) => `${c.from}>${c.to} ${c.proto}/${c.port}${c.v6 ? ' v6' : ''}`;

function allCases(): Case[] {
  const out: Case[] = [];
  for (const from of ['a', 'b', 'c']) for (const to of ['a', 'b', 'c']) {
    if (from === to) continue;
    for (const [proto, port] of [['tcp', 80], ['tcp', 81], ['udp', 80]] as const) for (const v6 of [false, true]) out.push({ from, to, proto, port, v6 });
  }
  return out;
}

/** The kernel's verdicts must equal the interpreter's on every case; returns the allowed ones. */
async function checkAgainstPlan(): Promise<Set<string>> {
  const d = plan({ nodeName: 'n1', policy: w });
  const cases = allCases();
  const got = await reachable(cases);
  const want = new Set(cases.filter((c) => evaluate(c.v6 ? d.v6 : d.v4, {
    src: c.v6 ? pods[c.from]!.ipv6! : pods[c.from]!.ipv4,
    dst: c.v6 ? pods[c.to]!.ipv6! : pods[c.to]!.ipv4,
    proto: c.proto.toUpperCase(),
    port: c.port,
  }).allowed).map(key));
  expect([...got].sort()).toEqual([...want].sort());
  return got;
}

async function tableText(): Promise<string> {
  return (await node.exec('nft', ['list', 'table', 'ip', TABLE], { check: true })).stdout;
}

describe('netpol applier on the real dataplane', () => {
  it('no policy: everything reachable; the empty frame loads', async () => {
    await sync(true);
    const got = await checkAgainstPlan();
    expect(got.size).toBe(allCases().length);
  }, 60_000);

  it('ingress from pod=a to port web (named, 81) only; egress of a only to y', async () => {
    w.np('x', 'in', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 'web' }] }] });
    w.np('x', 'out', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] });
    await sync();
    const got = await checkAgainstPlan();
    // a → b:81 is allowed by b's ingress but denied by a's egress, on one node (no early accept).
    expect(got.has('a>b tcp/81')).toBe(false);
    expect(got.has('a>c tcp/80')).toBe(true);
    expect(got.has('c>b tcp/81')).toBe(false);
    expect(got.has('c>a tcp/80')).toBe(true);
  }, 60_000);

  it('updates in place: a label change moves c into the allowed peers; deleting policies removes every chain and set', async () => {
    w.np('x', 'out', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {} }, { namespaceSelector: {} }] }] });
    await sync();
    let got = await checkAgainstPlan();
    expect(got.has('a>b tcp/81')).toBe(true);
    expect(got.has('c>b tcp/81')).toBe(false);
    w.pod('y', 'c', { node: 'n1', ips: [pods.c!.ipv4, pods.c!.ipv6!], labels: { pod: 'a' } });
    w.np('x', 'in', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } }, namespaceSelector: {} }], ports: [{ port: 'web' }] }] });
    await sync();
    got = await checkAgainstPlan();
    expect(got.has('c>b tcp/81')).toBe(true);
    w.networkPolicies.clear();
    await sync();
    got = await checkAgainstPlan();
    expect(got.size).toBe(allCases().length);
    const text = await tableText();
    expect(text).not.toMatch(/chain [ie]-/);
    expect(text).not.toMatch(/set [ie]-/);
  }, 60_000);

  it('ClusterNetworkPolicy tiers: Admin Deny beats a NetworkPolicy allow, Pass hands over to it, Baseline judges the rest', async () => {
    w.cnp('admin', { tier: 'Admin', priority: 10, subject: { namespaces: {} }, ingress: [
      { action: 'Pass', from: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { pod: 'a' } } } }], protocols: [{ tcp: { destinationPort: { number: 80 } } }] },
      { action: 'Deny', from: [{ namespaces: {} }], protocols: [{ tcp: { destinationPort: { number: 81 } } }] },
    ] });
    w.cnp('base', { tier: 'Baseline', priority: 0, subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] });
    w.np('x', 'allow-b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{}] });
    await sync();
    const got = await checkAgainstPlan();
    expect(got.has('a>b tcp/80')).toBe(true);
    expect(got.has('a>b tcp/81')).toBe(false);
    expect(got.has('b>a udp/80')).toBe(false);
    expect((await tableText())).toMatch(/goto i-[0-9a-f]+-n/);
    w.clusterNetworkPolicies.clear();
    w.networkPolicies.clear();
    await sync();
    expect(await tableText()).not.toMatch(/chain [ie]-/);
  }, 60_000);

  it('a restart (full sync over the live table) replaces it atomically with the same rules', async () => {
    w.np('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    await sync();
    const before = await tableText();
    const fresh = new FamilyApplier(4, TABLE, { apply: async (s) => void (await node.nft(s)) }, true);
    await fresh.sync(plan({ nodeName: 'n1', policy: w }).v4, true);
    const after = await tableText();
    const strip = (s: string) => s.replace(/packets \d+ bytes \d+/g, '').split('\n').sort().join('\n');
    expect(strip(after)).toBe(strip(before));
    await checkAgainstPlan();
  }, 60_000);
});
