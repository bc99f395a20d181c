// netpol on the real dataplane, dual-stack (two nodes over the WireGuard mesh, the upstream
// model's 9 pods, pod → Service): strict mode (n1 runs --netpol-strict, n2 does not: a deny, pod and namespace label changes cut established flows, a firewall reload leaves them cut, a widening edit sweeps nothing), drops by
// policy in /metrics, ClusterNetworkPolicy nodes peers, and the upstream cases over IPv6.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../testbed/apiserver/index.ts';
import type { LabProcess } from '../../testbed/lab/process.ts';
import { workloadPaths } from '../../testbed/lab/workloads.ts';
import { type Family, NetpolLab } from './harness.ts';
import { parseCutSet } from '../../modules/netpol/cut-set.ts';
import { canonicalIP } from '../../src/net/ip.ts';

const HOLD = join(dirname(fileURLToPath(import.meta.url)), 'hold-conn.ts');
const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'batch-probe.ts');
const L = new NetpolLab('npf');
const nsIs = (ns: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': ns } });

beforeAll(async () => {
  await L.start({ n1: ['--netpol-strict'], n2: [] });
  // Every Service programmed on both nodes, every pod reachable in both families.
  await L.expectTable(80, 'tcp', 4);
  await L.expectTable(80, 'tcp', 6);
}, 180_000);

afterAll(() => L.destroy(), 60_000);

const echoes = (p: LabProcess) => Number([...p.lines].reverse().find((l) => l.startsWith('echoes='))?.slice(7) ?? -1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('strict mode: established flows after a deny', () => {
  it('without strict (server on n2) the connection keeps working; with strict (server on n1) it is cut; both families, across nodes', async () => {
    // x/a is on n1 (strict), x/b on n2; y/a (n2) talks to x/a, y/b (n1) to x/b.
    expect([L.pod('x/a').node, L.pod('x/b').node, L.pod('y/a').node, L.pod('y/b').node]).toEqual(['n1', 'n2', 'n2', 'n1']);
    const lab = L.cluster.lab;
    const servers = await Promise.all(['x/a', 'x/b'].map(async (k) => {
      const s = lab.spawn(L.pod(k).netns, workloadPaths().node, [HOLD, 'serve', '7000']);
      await s.waitForLine(/^ready$/, 10_000);
      return s;
    }));
    const conns: Record<string, LabProcess> = {};
    for (const f of [4, 6] as Family[]) for (const [from, to] of [['y/a', 'x/a'], ['y/b', 'x/b']] as const) {
      const c = lab.spawn(L.pod(from).netns, workloadPaths().node, [HOLD, 'connect', L.ip(to, f), '7000']);
      await c.waitForLine(/^ready$/, 10_000);
      conns[`${to}/v${f}`] = c;
    }
    await sleep(1000);
    for (const [k, c] of Object.entries(conns)) expect(echoes(c), `${k} echoes before the policy`).toBeGreaterThan(0);
    const before = await L.metric('n1', 'nodeway_netpol_strict_deleted_entries_total');

    L.policy('x', 'hold', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] }, ingress: [{ ports: [{ port: 80 }, { port: 81 }] }] });
    // New connections to 7000 are denied now on both nodes (x/a is judged on n1, x/b on n2).
    const end = Date.now() + 15_000;
    const denied = async () => {
      const targets = [4, 6].flatMap((f) => ['x/a', 'x/b'].map((k) => ['tcp', L.ip(k, f as Family), 7000]));
      const r = await lab.exec(L.pod('z/c').netns, workloadPaths().node, [PROBE, JSON.stringify(targets), '1000'], { timeoutMs: 20_000 });
      return r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { outcome: string }).outcome);
    };
    let outcomes = await denied();
    while (outcomes.some((o) => o === 'ok') && Date.now() < end) outcomes = await denied();
    expect(outcomes.filter((o) => o === 'ok'), 'new connections to port 7000 once the policy is live').toEqual([]);

    // The strict sweep on n1 (bounded wait): one entry per family for y/a → x/a; nothing else
    // n1 judges is denied by this policy. Then watch each connection for 3 s.
    const swept = Date.now() + 15_000;
    while (await L.metric('n1', 'nodeway_netpol_strict_deleted_entries_total') - before < 2 && Date.now() < swept) await sleep(250);
    await sleep(500);
    const at = Object.fromEntries(Object.entries(conns).map(([k, c]) => [k, echoes(c)]));
    await sleep(3000);
    for (const f of [4, 6]) {
      // n2 is not strict: the established flow to x/b keeps flowing (a byte every 100 ms).
      expect(echoes(conns[`x/b/v${f}`]!) - at[`x/b/v${f}`]!, `IPv${f} flow to x/b (n2, not strict)`).toBeGreaterThanOrEqual(15);
      // n1 is strict: the flow to x/a lost its entry; its next packet was judged new and rejected.
      expect(echoes(conns[`x/a/v${f}`]!) - at[`x/a/v${f}`]!, `IPv${f} flow to x/a (n1, strict)`).toBe(0);
    }
    expect(await L.metric('n1', 'nodeway_netpol_strict_deleted_entries_total') - before).toBe(2);
    expect(await L.metric('n2', 'nodeway_netpol_strict_deleted_entries_total')).toBe(0);
    for (const c of [...Object.values(conns), ...servers]) await c.stop(0);
    L.deletePolicies();
  }, 90_000);
});

/** Long-lived TCP connections (hold-conn.ts) on port 7000: servers first (serve), then clients (connect, both families: key `from>to/vF`); stop() ends them all. */
function holder() {
  const lab = L.cluster.lab;
  const procs: LabProcess[] = [];
  const conns: Record<string, LabProcess> = {};
  return {
    conns,
    async serve(pods: string[]) {
      for (const to of pods) {
        const s = lab.spawn(L.pod(to).netns, workloadPaths().node, [HOLD, 'serve', '7000']);
        procs.push(s);
        await s.waitForLine(/^ready$/, 10_000);
      }
    },
    async connect(pairs: [from: string, to: string][]) {
      for (const f of [4, 6] as Family[]) for (const [from, to] of pairs) {
        const c = lab.spawn(L.pod(from).netns, workloadPaths().node, [HOLD, 'connect', L.ip(to, f), '7000']);
        procs.push(c);
        await c.waitForLine(/^ready$/, 10_000);
        conns[`${from}>${to}/v${f}`] = c;
      }
    },
    async stop() {
      for (const p of procs) await p.stop(0);
    },
  };
}

/** Echoes each connection got over `ms`. */
async function progress(conns: Record<string, LabProcess>, ms: number): Promise<Record<string, number>> {
  const at = Object.fromEntries(Object.entries(conns).map(([k, c]) => [k, echoes(c)]));
  await sleep(ms);
  return Object.fromEntries(Object.entries(conns).map(([k, c]) => [k, echoes(c) - at[k]!]));
}

/** TCP probes of port 7000, both families: from>to → whether it connected. Polled (bounded) until it equals `want`. */
async function until7000(want: Record<string, boolean>): Promise<void> {
  const cells = Object.keys(want);
  const once = async () => {
    const out: Record<string, boolean> = {};
    await Promise.all(cells.map(async (cell) => {
      const [from, to] = cell.split('>') as [string, string];
      const targets = [4, 6].map((f) => ['tcp', L.ip(to, f as Family), 7000]);
      const r = await L.cluster.lab.exec(L.pod(from).netns, workloadPaths().node, [PROBE, JSON.stringify(targets), '1000'], { timeoutMs: 20_000 });
      const ok = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { outcome: string }).outcome === 'ok');
      out[cell] = ok.length === 2 && ok[0] === ok[1] ? ok[0]! : !want[cell];
    }));
    return out;
  };
  const end = Date.now() + 15_000;
  let got = await once();
  while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() < end) got = await once();
  expect(got, 'new connections to port 7000 (both families)').toEqual(want);
}

/** n1's strict sweeps and deleted entries so far. */
async function strictFigures(): Promise<{ sweeps: number; deleted: number }> {
  return { sweeps: await L.metric('n1', 'nodeway_netpol_strict_sweeps_total'), deleted: await L.metric('n1', 'nodeway_netpol_strict_deleted_entries_total') };
}

/** The flows (both orientations) in n1's strict-cut set of family `f`, as "src>dst". */
async function cutOnN1(f: Family): Promise<Set<string>> {
  const r = await L.cluster.lab.exec(L.cluster.nodes.get('n1')!.node.ns, 'nft', ['-j', 'list', 'set', f === 4 ? 'ip' : 'ip6', 'nodeway-np', 'strict-cut']);
  return new Set(parseCutSet(r.stdout).map(([e]) => e.split(' . ')).filter((e) => e[2] === 'tcp').map((e) => `${canonicalIP(e[0]!)}>${canonicalIP(e[1]!)}`));
}

/**
 * Waits (bounded) until n1's sweep cut every `from>to` pair (both families, both orientations in
 * its strict-cut set) and deleted at least `n` more entries than `before` (the held flows; entries
 * of earlier probes may add to it), then lets a packet in flight land.
 */
async function swept(before: number, pairs: [string, string][], n: number): Promise<void> {
  const want = [4, 6].flatMap((f) => pairs.flatMap(([a, b]) => [[f, a, b], [f, b, a]] as [Family, string, string][]));
  const done = async () => {
    const sets = { 4: await cutOnN1(4), 6: await cutOnN1(6) };
    return want.every(([f, a, b]) => sets[f].has(`${canonicalIP(L.ip(a, f))}>${canonicalIP(L.ip(b, f))}`));
  };
  const end = Date.now() + 15_000;
  while (!(await done()) && Date.now() < end) await sleep(100);
  expect(await done(), `${pairs.map((p) => p.join('>')).join(', ')} cut on n1 (both families and orientations)`).toBe(true);
  while ((await strictFigures()).deleted - before < n && Date.now() < end) await sleep(250);
  expect((await strictFigures()).deleted - before, 'entries n1 deleted').toBeGreaterThanOrEqual(n);
  await sleep(500);
}

describe('strict mode: label changes cut, a widening edit does not', () => {
  // Servers on n1 pods (x/a, x/c: n1 judges their ingress), clients on n2 pods.
  it('a pod\'s label change makes a policy select it: its established connections are cut; a firewall reload (table deleted, repaired by the drift check) leaves them cut', async () => {
    expect([L.pod('x/a').node, L.pod('y/a').node, L.pod('y/c').node]).toEqual(['n1', 'n2', 'n2']);
    L.policy('x', 'iso', { podSelector: { matchLabels: { iso: '1' } }, ingress: [{ ports: [{ port: 80 }] }] });
    await L.expectTable(80, 'tcp', 4, { 'y/a>x/a': true });
    const h = holder();
    try {
      await h.serve(['x/a']);
      await h.connect([['y/a', 'x/a'], ['y/c', 'x/a']]);
      for (const [k, n] of Object.entries(await progress(h.conns, 1000))) expect(n, `${k} before`).toBeGreaterThanOrEqual(5);
      const before = await strictFigures();
      L.setPodLabels('x/a', { pod: 'a', iso: '1' });
      await until7000({ 'z/a>x/a': false });
      // Four flows (two clients × two families) to x/a on a port the policy does not admit.
      await swept(before.deleted, [['y/a', 'x/a'], ['y/c', 'x/a']], 4);
      for (const [k, n] of Object.entries(await progress(h.conns, 3000))) expect(n, `${k} after x/a was selected`).toBe(0);

      // A firewall reload: n1's tables deleted; the drift check writes them again, cut flows included.
      const n1 = L.cluster.nodes.get('n1')!.node;
      for (const fam of ['ip', 'ip6']) await L.cluster.lab.exec(n1.ns, 'nft', ['delete', 'table', fam, 'nodeway-np'], { check: true });
      const end = Date.now() + 15_000;
      const back = async () => (await L.cluster.lab.exec(n1.ns, 'nft', ['list', 'set', 'ip6', 'nodeway-np', 'strict-cut'])).exitCode === 0
        && (await L.cluster.lab.exec(n1.ns, 'nft', ['list', 'set', 'ip', 'nodeway-np', 'strict-cut'])).exitCode === 0;
      while (!(await back()) && Date.now() < end) await sleep(100);
      expect(await back(), 'the tables written again by the drift check').toBe(true);
      for (const f of [4, 6] as Family[]) {
        const cut = await cutOnN1(f);
        for (const from of ['y/a', 'y/c']) {
          const [a, b] = [canonicalIP(L.ip(from, f)), canonicalIP(L.ip('x/a', f))];
          expect(cut.has(`${a}>${b}`) && cut.has(`${b}>${a}`), `${from} ↔ x/a IPv${f} in the repaired strict-cut set, both ways`).toBe(true);
        }
      }
      // A flow may have got a packet through while the tables were gone; from now on none.
      await sleep(500);
      for (const [k, n] of Object.entries(await progress(h.conns, 3000))) expect(n, `${k} after the tables were repaired`).toBe(0);
      await until7000({ 'z/a>x/a': false });
    } finally {
      await h.stop();
      L.setPodLabels('x/a', { pod: 'a' });
      L.deletePolicies();
    }
    await L.expectTable(80, 'tcp', 4, { 'y/a>x/a': true });
  }, 120_000);

  it('a peer stops matching (its label) and a namespace loses the label a policy selects by: their connections are cut, the others\' kept', async () => {
    expect([L.pod('x/c').node, L.pod('z/b').node, L.pod('y/a').node, L.pod('y/c').node]).toEqual(['n1', 'n2', 'n2', 'n2']);
    L.setNamespaceLabels('z', { team: 'blue' });
    L.setPodLabels('y/a', { pod: 'a', role: 'client' });
    L.setPodLabels('y/c', { pod: 'c', role: 'client' });
    // x/c admits pods labelled role=client in any namespace, and every pod of a team=blue namespace.
    L.policy('x', 'clients', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: 'client' } } }, { namespaceSelector: { matchLabels: { team: 'blue' } } }] }] });
    const h = holder();
    try {
      await h.serve(['x/c']);
      await until7000({ 'y/a>x/c': true, 'y/b>x/c': false, 'z/b>x/c': true });
      await h.connect([['y/a', 'x/c'], ['y/c', 'x/c'], ['z/b', 'x/c']]);
      for (const [k, n] of Object.entries(await progress(h.conns, 1000))) expect(n, `${k} before`).toBeGreaterThanOrEqual(5);
      let before = await strictFigures();
      L.setPodLabels('y/a', { pod: 'a' });
      await until7000({ 'y/a>x/c': false, 'y/c>x/c': true });
      await swept(before.deleted, [['y/a', 'x/c']], 2);
      let got = await progress(h.conns, 3000);
      for (const f of [4, 6]) {
        expect(got[`y/a>x/c/v${f}`], `y/a → x/c IPv${f}, y/a no longer a client`).toBe(0);
        expect(got[`y/c>x/c/v${f}`], `y/c → x/c IPv${f}, still a client`).toBeGreaterThanOrEqual(15);
        expect(got[`z/b>x/c/v${f}`], `z/b → x/c IPv${f}, z still team=blue`).toBeGreaterThanOrEqual(15);
      }
      before = await strictFigures();
      L.setNamespaceLabels('z', {});
      await until7000({ 'z/b>x/c': false, 'y/c>x/c': true });
      await swept(before.deleted, [['z/b', 'x/c']], 2);
      got = await progress(h.conns, 3000);
      for (const f of [4, 6]) {
        expect(got[`z/b>x/c/v${f}`], `z/b → x/c IPv${f}, z lost team=blue`).toBe(0);
        expect(got[`y/c>x/c/v${f}`], `y/c → x/c IPv${f}, still a client`).toBeGreaterThanOrEqual(15);
      }
    } finally {
      await h.stop();
      L.setNamespaceLabels('z', {});
      L.setPodLabels('y/a', { pod: 'a' });
      L.setPodLabels('y/c', { pod: 'c' });
      L.deletePolicies();
    }
    await L.expectTable(80, 'tcp', 4, { 'y/a>x/c': true });
  }, 120_000);

  it('a widening edit (a port and a namespace added) cuts nothing and makes no sweep', async () => {
    L.policy('x', 'in', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsIs('y') }], ports: [{ port: 7000 }] }] });
    const h = holder();
    try {
      await h.serve(['x/a']);
      await until7000({ 'y/a>x/a': true, 'z/b>x/a': false });
      await h.connect([['y/a', 'x/a']]);
      for (const [k, n] of Object.entries(await progress(h.conns, 1000))) expect(n, `${k} before`).toBeGreaterThanOrEqual(5);
      // Sweeps of earlier changes are over (x/a newly isolated made one): none while nothing changes.
      const before = await strictFigures();
      expect(before.sweeps, 'n1 counts its sweeps').toBeGreaterThan(0);
      L.policy('x', 'in', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsIs('y') }, { namespaceSelector: nsIs('z') }], ports: [{ port: 7000 }, { port: 80 }] }] });
      await until7000({ 'y/a>x/a': true, 'z/b>x/a': true });
      const got = await progress(h.conns, 3000);
      for (const f of [4, 6]) expect(got[`y/a>x/a/v${f}`], `y/a → x/a IPv${f} after the widening edit`).toBeGreaterThanOrEqual(15);
      expect(await strictFigures(), 'n1 swept nothing').toEqual(before);
    } finally {
      await h.stop();
      L.deletePolicies();
    }
  }, 90_000);
});

describe('drops by policy', () => {
  it('every denied probe counts once in nodeway_netpol_dropped_packets of the rejecting node, by direction, tier and policy', async () => {
    // z/a is on n1; z/b on n2 probes it.
    expect([L.pod('z/a').node, L.pod('z/b').node]).toEqual(['n1', 'n2']);
    L.policy('z', 'deny-a', { podSelector: { matchLabels: { pod: 'a' } } });
    await L.expectTable(80, 'tcp', 4, { 'z/b>z/a': false });
    const labels = { ip_family: 'IPv4', direction: 'ingress', tier: 'networkpolicy', policies: 'z/deny-a' };
    // Figures are read at scrape and cached a second: let any earlier read expire first.
    await sleep(1100);
    const before = await L.metric('n1', 'nodeway_netpol_dropped_packets', labels);
    const N = 7;
    // The kernel rate-limits the ICMP errors a reject sends, per destination (a burst of 6, then
    // 1 per second): N rejects within a second would see timeouts after the sixth. Off on the
    // rejecting node for this count.
    await L.cluster.lab.exec(L.cluster.nodes.get('n1')!.node.ns, 'sysctl', ['-qw', 'net.ipv4.icmp_ratelimit=0']);
    const targets = Array.from({ length: N }, () => ['tcp', L.ip('z/a', 4), 80]);
    const r = await L.cluster.lab.exec(L.pod('z/b').netns, workloadPaths().node, [PROBE, JSON.stringify(targets), '1000'], { timeoutMs: 20_000 });
    const outcomes = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { outcome: string }).outcome);
    expect(outcomes).toEqual(Array(N).fill('EHOSTUNREACH'));
    // Read at scrape (cached a second).
    await sleep(1100);
    expect(await L.metric('n1', 'nodeway_netpol_dropped_packets', labels) - before).toBe(N);
    expect(await L.metric('n2', 'nodeway_netpol_dropped_packets', { policies: 'z/deny-a' })).toBe(0);
    L.deletePolicies();
    await L.expectTable(80, 'tcp', 4, { 'z/b>z/a': true });
  }, 90_000);
});

describe('ClusterNetworkPolicy nodes peers', () => {
  it('an Admin Deny to a node by label cuts pod → that node (both families); pod → own node stays allowed (not filtered)', async () => {
    const lab = L.cluster.lab;
    const nodeIPs = (n: string) => { const ln = L.cluster.nodes.get(n)!.node; return [ln.ipv4, ln.ipv6!]; };
    const servers = await Promise.all(['n1', 'n2'].map((n) => lab.startEchoServer(L.cluster.nodes.get(n)!.node, { name: n, tcp: [7100] })));
    const probe = async (from: string) => {
      const targets = ['n1', 'n2'].flatMap((n) => nodeIPs(n).map((ip) => ['tcp', ip, 7100]));
      const r = await lab.exec(L.pod(from).netns, workloadPaths().node, [PROBE, JSON.stringify(targets), '1000'], { timeoutMs: 20_000 });
      return r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { outcome: string }).outcome === 'ok');
    };
    // x/a on n1: its node's two addresses, then n2's two.
    expect(await probe('x/a')).toEqual([true, true, true, true]);
    const cnp = { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'no-nodes' }, spec: {
      tier: 'Admin', priority: 5, subject: { namespaces: nsIs('x') },
      egress: [{ action: 'Deny', to: [{ nodes: { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'Exists' }] } }], protocols: [{ tcp: { destinationPort: { number: 7100 } } }] }],
    } };
    L.cluster.api.create(cnp as KubeObject);
    const want = [true, true, false, false];
    const end = Date.now() + 15_000;
    let got = await probe('x/a');
    while (got.join() !== want.join() && Date.now() < end) got = await probe('x/a');
    expect(got).toEqual(want);
    // y/a is not a subject: unaffected.
    expect(await probe('y/a')).toEqual([true, true, true, true]);
    L.cluster.api.delete('policy.networking.k8s.io/v1alpha2', 'clusternetworkpolicies', undefined, 'no-nodes');
    for (const s of servers) await s.stop(0);
  }, 60_000);
});

describe('upstream NetworkPolicy cases over IPv6 (pod → IPv6 ClusterIP, two nodes)', () => {
  it('#1 default-deny-ingress, #25 egress denial, #2 deny-all, #33 delete', async () => {
    L.policy('x', 'deny-ingress', { podSelector: {} });
    await L.expectTable(80, 'tcp', 6, { 'y/a>x/a': false, 'x/b>x/a': false, 'x/a>y/a': true });
    L.deletePolicies();
    L.policy('x', 'deny-egress-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'] });
    await L.expectTable(80, 'udp', 6, { 'x/a>y/b': false, 'x/a>x/b': false, 'y/b>x/a': true });
    L.policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    await L.expectTable(81, 'tcp', 6, { 'x/b>y/a': false, 'y/a>x/b': false, 'y/a>z/b': true });
    L.deletePolicies();
    await L.expectTable(80, 'tcp', 6, { 'x/b>y/a': true, 'y/a>x/b': true });
  }, 90_000);

  it('#10 pod AND namespace selector, #14 numbered port, #19 named port egress', async () => {
    const notX = { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['x'] }] };
    L.policy('x', 'from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: notX, podSelector: { matchLabels: { pod: 'b' } } }] }] });
    await L.expectTable(80, 'tcp', 6, { 'y/b>x/a': true, 'z/b>x/a': true, 'y/a>x/a': false, 'x/b>x/a': false });
    L.deletePolicies();
    L.policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsIs('y') }], ports: [{ port: 81, protocol: 'TCP' }] }] });
    await L.expectTable(81, 'tcp', 6, { 'y/b>x/a': true, 'z/b>x/a': false });
    await L.expectTable(80, 'tcp', 6, { 'y/b>x/a': false });
    L.policy('x', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-80-udp', protocol: 'UDP' }] }] });
    await L.expectTable(80, 'udp', 6, { 'x/a>y/a': true });
    await L.expectTable(81, 'udp', 6, { 'x/a>y/a': false });
    L.deletePolicies();
  }, 120_000);

  it('#34/#35 ipBlock on IPv6 pod addresses with except; an IPv4 block does not open IPv6; #28 egress denial beats an ingress allow', async () => {
    const b6 = L.ip('x/b', 6);
    L.policy('x', 'cidr', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: 'fd00:198:18:100::/56', except: [`${b6}/128`] } }] }] });
    await L.expectTable(80, 'tcp', 6, { 'x/a>x/b': false, 'x/a>x/c': true, 'x/a>y/b': true });
    L.policy('x', 'cidr', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '198.18.128.0/17' } }] }] });
    await L.expectTable(80, 'tcp', 6, { 'x/a>x/b': false, 'x/a>y/b': false });
    await L.expectTable(80, 'tcp', 4, { 'x/a>x/b': true, 'x/a>y/b': true });
    L.deletePolicies();
    L.policy('x', 'out', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsIs('y'), podSelector: { matchLabels: { pod: 'a' } } }] }] });
    L.policy('y', 'in', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: nsIs('x'), podSelector: { matchLabels: { pod: 'a' } } }] }] });
    await L.expectTable(80, 'tcp', 6, { 'x/a>y/a': true, 'x/a>y/b': false, 'x/b>y/a': false });
    L.deletePolicies();
  }, 120_000);
});
