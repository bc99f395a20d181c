// New TCP connections per second through a node's forward path, between two pods (lab network
// namespaces, routed over veths by the node namespace), with the netpol table the module's own
// plan and applier write for: no policy (no table), 10 policies, and 1,000 policies over 5,000
// pods (500 of them on this node; the pods are the synthetic world of bench/netpol-world.ts,
// plus the two real ones, both isolated both ways and allowed by one policy each direction).
// NODEWAY_BENCH_CT=1: the no-policy node has conntrack on (one ct state rule), as every node
// running a Service proxy does; without it the baseline pays no connection tracking at all.
// Load: bench/netpol-forward-load.ts, a Node client with CONCURRENCY loops of connect / FIN /
// close against a Node server that accepts and closes; every connection is a new conntrack
// flow, so every SYN goes through the forward chain's verdict maps and a group's set lookup.
// Each case has a node of its own (client and server pods, its table loaded once), and short
// runs alternate between them in rotating order, so a slow patch of the shared machine hits
// all cases alike; the figure is the median of per-round ratios. With "together", the three
// run at the same time each round: a noisy machine then slows them alike at every instant and
// a costlier forward path shows as a smaller share of the CPU they split. Every connection must
// succeed, and a connection to a port no policy allows must be rejected (the rules are live).
// Run: node bench/netpol-forward.ts [rounds=12] [seconds=1.5] [concurrency=64] [alternate|together]
import { loadavg } from 'node:os';
import { FamilyApplier } from '../modules/netpol/apply.ts';
import { Planner } from '../modules/netpol/planner.ts';
import { cleanupStaleLabs, Lab, type LabNode, type LabPod, type LabProcess } from '../testbed/lab/index.ts';
import { workloadPaths } from '../testbed/lab/workloads.ts';
import { addPod, policyWorld } from './netpol-world.ts';

const ROUNDS = Number(process.argv[2] ?? 12);
const SECONDS = Number(process.argv[3] ?? 1.5);
const CONCURRENCY = Number(process.argv[4] ?? 64);
/** "together": the three cases run at once each round (sharing the CPU alike), else one after another. */
const TOGETHER = process.argv[5] === 'together';
const LOAD = new URL('./netpol-forward-load.ts', import.meta.url).pathname;
const TABLE = 'npp-fwd';

await cleanupStaleLabs();
const lab = await Lab.create({ prefix: 'npp', ipv6: false });
const stop = async () => {
  await lab.destroy();
};
process.on('SIGINT', () => void stop().then(() => process.exit(130)));
try {
  const { node: nodeBin } = workloadPaths();
  const cases: { name: string; policies: number }[] = [{ name: 'no policy', policies: -1 }, { name: '10 policies', policies: 10 }, { name: '1,000 policies × 5,000 pods', policies: 1000 }];
  // One node (with its client and server pod) per case, its table loaded once: runs alternate
  // between nodes without a table load (seconds of nft CPU) just before a run.
  const setups: { name: string; policies: number; node: LabNode; cli: LabPod; srv: LabPod; server: LabProcess; info: string }[] = [];
  for (const [n, c] of cases.entries()) {
    const node = await lab.addNode(`n${n + 1}`);
    const cli = await lab.addPod(node, 'cli');
    const srv = await lab.addPod(node, 'srv');
    // Every flow is new; finished ones must leave conntrack fast enough not to fill it, and the
    // client's ports must come back fast enough.
    await node.exec('sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait=1', 'net.netfilter.nf_conntrack_tcp_timeout_fin_wait=2', 'net.netfilter.nf_conntrack_tcp_timeout_close_wait=2', 'net.netfilter.nf_conntrack_tcp_timeout_last_ack=2'], { check: true });
    await cli.exec('sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1'], { check: true });
    const server = srv.spawn(nodeBin, [LOAD, 'server', '8080', '9090']);
    await server.waitForLine(/^listening$/, 20_000);
    // NODEWAY_BENCH_CT=1: the baseline node tracks connections too (a forward rule matching ct
    // state, as any node running a Service proxy or masquerade has): what the policy table adds
    // beyond conntrack itself.
    if (c.policies < 0 && process.env.NODEWAY_BENCH_CT === '1') await node.nft('table inet npp-base {\n  chain forward {\n    type filter hook forward priority 0;\n    ct state established,related accept\n  }\n}\n');
    const info = c.policies < 0 ? (process.env.NODEWAY_BENCH_CT === '1' ? '[conntrack on: one ct state rule]' : '') : await install(node, cli.ipv4, srv.ipv4, c.policies);
    setups.push({ ...c, node, cli, srv, server, info });
  }

  /** The module's table for `policies`: the plan of the synthetic world with the two real pods, one full sync. */
  async function install(node: LabNode, cliIP: string, srvIP: string, policies: number): Promise<string> {
    const w = policyWorld(policies, 5000, 500, node.name);
    // srv: app-0 in ns-0 (team t-0): np-0 allows ingress from app-1 of team t-0 on 80 and http (8080).
    // cli: app-1 in ns-0: np-1 selects it and allows egress to its namespace.
    addPod(w, 'srv', 'ns-0', srvIP, node.name, { app: 'app-0' });
    addPod(w, 'cli', 'ns-0', cliIP, node.name, { app: 'app-1' });
    const d = new Planner().plan({ nodeName: node.name, policy: w.view });
    if (d.v4.ingress.get(srvIP) === undefined || d.v4.egress.get(cliIP) === undefined) throw new Error('the real pods are not isolated');
    const t = performance.now();
    await new FamilyApplier(4, TABLE, { apply: async (s) => void (await node.nft(s)) }, true).sync(d.v4, true);
    let elements = 0;
    for (const s of d.v4.elements.values()) elements += s.size;
    return `[${d.v4.groups.size} groups, ${elements} elements, loaded in ${Math.round(performance.now() - t)} ms]`;
  }

  async function load(cli: LabPod, srv: LabPod, seconds: number, port = 8080, concurrency = CONCURRENCY) {
    const r = await cli.exec(nodeBin, [LOAD, 'client', srv.ipv4, String(port), String(seconds), String(concurrency)], { timeoutMs: (seconds + 30) * 1000 });
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: number; failed: number; seconds: number; errors: Record<string, number> };
  }

  for (const s of setups) {
    if (s.policies < 0) continue;
    // The rules are live: a port no policy allows is rejected, every time.
    const denied = await load(s.cli, s.srv, 0.3, 9090, 4);
    if (denied.ok !== 0 || denied.failed === 0) throw new Error(`${s.name}: port 9090 not denied: ${JSON.stringify(denied)}`);
  }
  const rates = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  console.log(`load before: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${ROUNDS} rounds × ${SECONDS} s per case (${TOGETHER ? 'the three at once' : 'one after another, order rotating'}), ${CONCURRENCY} concurrent connects`);
  for (const s of setups) await load(s.cli, s.srv, 0.5); // warm-up
  const one = async (s: (typeof setups)[number]) => {
    const r = await load(s.cli, s.srv, SECONDS);
    if (r.failed !== 0) throw new Error(`${s.name}: ${r.failed} connections failed: ${JSON.stringify(r.errors)}`);
    rates.get(s.name)!.push(r.ok / r.seconds);
  };
  for (let round = 0; round < ROUNDS; round++) {
    if (TOGETHER) await Promise.all(setups.map(one));
    else for (let j = 0; j < setups.length; j++) await one(setups[(round + j) % setups.length]!);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = rates.get(cases[0]!.name)!;
  for (const c of cases) {
    const xs = rates.get(c.name)!;
    const t = setups.find((s) => s.name === c.name)!.info;
    const ratios = xs.map((x, i) => x / base[i]!);
    console.log(`${c.name.padEnd(28)} min ${Math.round(Math.min(...xs))} / median ${Math.round(median(xs))} conn/s` +
      (c.policies >= 0 ? `; per-round ratio to no policy: median ${median(ratios).toFixed(3)}, min ${Math.min(...ratios).toFixed(3)}` : '') +
      (t ? `  ${t}` : '') + `  runs: ${xs.map(Math.round).join(' ')}`);
  }
  console.log(`load after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const s of setups) await s.server.stop();
} finally {
  await stop();
}
