// DNS as shipped: dnsperf against the cluster DNS address the agent (`bin/nodeway run`, the
// DaemonSet's config, TLS + token, API server in its own process) answers on, beside the DNS
// module alone (bench/dns-server.ts, the view handed to it in-process) and NSD serving the same
// names, in the same run, one after the other, in a private network namespace.
// Run: node bench/shipped-dns.ts [services=2000] [seconds=10] [rounds=2]
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerProcess } from '../test/support/apiserver-process.ts';
import { CLUSTER_DNS, configFile, ready, root, sleep, startAgent, status, stopAgent } from './agent-harness.ts';
import { readFileSync } from 'node:fs';
import { clusterQueries, nsdZones, synthetic } from './dns-zone.ts';
import { NODE, NODE_IP, inPrivateNetns } from './proxy-common.ts';

inPrivateNetns();
const N = Number(process.argv[2] ?? 2000);
const SECONDS = Number(process.argv[3] ?? 10);
const ROUNDS = Number(process.argv[4] ?? 2);
const PODS_PER = 5;
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-shp-dns-'));
const s = synthetic(N, PODS_PER);

/** The synthetic cluster (bench/dns-zone.ts) as API objects, so the agent serves the same names. */
function objects(): unknown[] {
  const out: unknown[] = s.namespaces.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  for (const v of s.services) {
    const port = v.ports[0]!;
    out.push({
      apiVersion: 'v1', kind: 'Service', metadata: { name: v.name, namespace: v.namespace },
      spec: { clusterIP: v.headless ? 'None' : v.clusterIPs[0], ports: [{ name: port.name, port: port.port, protocol: 'TCP' }] },
    });
    if (!v.headless) continue;
    out.push({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${v.name}-abcde`, namespace: v.namespace, labels: { 'kubernetes.io/service-name': v.name } },
      addressType: 'IPv4', ports: [{ name: port.name, protocol: 'TCP', port: port.port }],
      endpoints: v.dnsEndpoints.map((e) => ({ addresses: [e.ip], hostname: e.hostname || undefined, conditions: { ready: true } })),
    });
  }
  return out;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 26 }, (_e, out, err) => resolve(String(out) + String(err))));
}

async function dnsperf(server: string, port: number, file: string): Promise<{ qps: number; done: number; lost: number; codes: string }> {
  const out = await run('dnsperf', ['-s', server, '-p', String(port), '-d', file, '-l', String(SECONDS), '-c', '8', '-q', '200'], (SECONDS + 30) * 1000);
  return { qps: Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), done: Number(/Queries completed:\s+(\d+)/.exec(out)?.[1] ?? NaN), lost: Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? NaN), codes: /Response codes:\s+(.*)/.exec(out)?.[1] ?? out.slice(-200) };
}

async function answers(server: string, port: number, name: string): Promise<string> {
  return (await run('dig', [`@${server}`, '-p', String(port), name, '+short', '+tries=1', '+time=2'], 5000)).trim();
}

async function startNsd(port: number): Promise<{ pid: number; stop: () => void }> {
  const dir = join(tmp, 'nsd');
  mkdirSync(dir, { recursive: true });
  const zones = nsdZones(s);
  const conf = ['server:', `  ip-address: 127.0.0.1@${port}`, '  server-count: 1', `  zonesdir: "${dir}"`, `  pidfile: "${dir}/nsd.pid"`,
    `  zonelistfile: "${dir}/zone.list"`, `  xfrdfile: "${dir}/xfrd.state"`, `  xfrdir: "${dir}"`, '  database: ""', '  username: ""', '  chroot: ""',
    `  logfile: "${dir}/nsd.log"`, '  do-ip6: no', '  rrl-ratelimit: 0', '  rrl-whitelist-ratelimit: 0', '  verbosity: 0', 'remote-control:', '  control-enable: no',
    ...Object.keys(zones).flatMap((z) => ['zone:', `  name: ${z}`, `  zonefile: ${z}.zone`])];
  for (const [z, text] of Object.entries(zones)) writeFileSync(join(dir, `${z}.zone`), text);
  writeFileSync(join(dir, 'nsd.conf'), conf.join('\n') + '\n');
  const p = spawn('nsd', ['-d', '-c', join(dir, 'nsd.conf')], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !(await run('dig', ['@127.0.0.1', '-p', String(port), 'cluster.local', 'SOA', '+short', '+tries=1', '+time=1'], 5000)).includes('hostmaster'); i++) await sleep(100);
  return { pid: p.pid!, stop: () => p.kill('SIGTERM') };
}

// The agent's cluster DNS address is captured NOTRACK (modules/dns/capture.ts); the module alone
// and NSD listen on loopback, whose packets conntrack would otherwise track (the agent's proxy
// tables load it): the same raw-table exemption for them, so all three take the same kernel path.
spawnSync('nft', ['-f', '-'], { input: `table inet nodeway-bench-dns {
  chain prerouting { type filter hook prerouting priority raw; policy accept; ip daddr 127.0.0.1 udp dport { 5354, 5355 } notrack; ip saddr 127.0.0.1 udp sport { 5354, 5355 } notrack; }
  chain output { type filter hook output priority raw; policy accept; ip daddr 127.0.0.1 udp dport { 5354, 5355 } notrack; ip saddr 127.0.0.1 udp sport { 5354, 5355 } notrack; }
}\n` });

/** CPU time (user + system, clock ticks) of a process and its live descendants. */
function cpuTicks(pid: number): number {
  let n = 0;
  const walk = (p: number) => {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      n += Number(f[11]) + Number(f[12]);
      for (const c of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').split(' ').filter(Boolean)) walk(Number(c));
    } catch {}
  };
  walk(pid);
  return n;
}

const api = await ApiServerProcess.start({ nodeName: NODE, nodeIP: NODE_IP, token: 'shp-dns-token', bookmarkIntervalMs: 5000, serviceCIDRs: ['10.96.0.0/16'] });
const created = await api.call<{ failed: number; first: string }>({ op: 'create', objects: objects() });
if (created.failed) console.log(`  (${created.failed} objects refused by the API server: ${created.first})`);
// NODEWAY_BENCH_MODULES=dns (a comma list): the agent with only those modules, to tell their share.
const cfg = configFile(tmp, api, process.env.NODEWAY_BENCH_MODULES ?? 'daemonset');
const agent = startAgent(cfg, api);
// NODEWAY_BENCH_MODULE_FLAGS: runtime flags for the module-alone server (profiling), as NODEWAY_NODE_FLAGS for the agent.
const moduleFlags = (process.env.NODEWAY_BENCH_MODULE_FLAGS ?? '').split(' ').filter(Boolean);
const module = spawn(process.execPath, [...moduleFlags, join(root, 'bench/dns-server.ts'), '5354', '5399', String(N), String(PODS_PER)], { stdio: ['pipe', 'pipe', 'inherit'] });
await new Promise<void>((r) => module.stdout!.once('data', () => r()));
const nsd = await startNsd(5355);
const qfile = join(tmp, 'queries.txt');
writeFileSync(qfile, clusterQueries(s, 20_000));
// svc0 (10.96.0.0, the network address) is refused by the API server: probe another.
const probe = `${s.services[2]!.name}.${s.services[2]!.namespace}.svc.cluster.local`;
const results: Record<string, number[]> = { agent: [], module: [], nsd: [] };
/** Server CPU time per answered question (µs): steadier than qps on a shared machine. */
const cpu: Record<string, number[]> = { agent: [], module: [], nsd: [] };
const HZ = 100;
try {
  await ready(agent, 180_000);
  const same = [await answers(CLUSTER_DNS, 53, probe), await answers('127.0.0.1', 5354, probe), await answers('127.0.0.1', 5355, probe)];
  if (new Set(same).size !== 1 || !same[0]) throw new Error(`the three servers disagree on ${probe}: ${JSON.stringify(same)}`);
  const servers = [['agent', CLUSTER_DNS, 53, agent.pid!], ['module', '127.0.0.1', 5354, module.pid!], ['nsd', '127.0.0.1', 5355, nsd.pid]] as const;
  // Ready is not settled: the agent's other modules finish their first syncs after it. Wait until
  // it idles (under 5 % of a core over a second, 60 s at most), then warm each server's JIT up.
  for (let i = 0; i < 60; i++) {
    const t0 = cpuTicks(agent.pid!);
    await sleep(1000);
    if (cpuTicks(agent.pid!) - t0 < HZ * 0.05) break;
  }
  for (const [, server, port] of servers) await run('dnsperf', ['-s', server, '-p', String(port), '-d', qfile, '-l', '2', '-c', '8', '-q', '200'], 30_000);
  for (let r = 0; r < ROUNDS; r++) {
    // Each round starts with the next server, so none always runs first (or right after NSD).
    for (let i = 0; i < servers.length; i++) {
      const [k, server, port, pid] = servers[(r + i) % servers.length]!;
      const t0 = cpuTicks(pid);
      // NODEWAY_BENCH_PERF=DIR: `perf record` of each server's first round (with --perf-basic-prof
      // in NODEWAY_NODE_FLAGS and NODEWAY_BENCH_MODULE_FLAGS for JavaScript names).
      const perf = process.env.NODEWAY_BENCH_PERF && r < servers.length ? spawn('perf', ['record', '-F', '499', '-g', '-o', join(process.env.NODEWAY_BENCH_PERF, `${k}.data`), '-p', String(pid), '--', 'sleep', String(SECONDS - 1)], { stdio: 'ignore' }) : undefined;
      const p = await dnsperf(server, port, qfile);
      if (perf && perf.exitCode === null) await new Promise((res) => perf.once('exit', res));
      const us = ((cpuTicks(pid) - t0) / HZ / p.done) * 1e6;
      results[k]!.push(p.qps);
      cpu[k]!.push(us);
      console.log(`  round ${r + 1} ${k}: ${p.qps.toFixed(0)} qps, ${us.toFixed(2)} µs CPU/answer, lost ${p.lost}, ${p.codes}`);
    }
  }
  // After the load (which grows V8's young generation up to --max-semi-space-size): memory as it stays.
  await sleep(5000);
  console.log(`  RssAnon 5 s after the load: agent ${status(agent.pid!, 'RssAnon').toFixed(1)} MiB, module alone ${status(module.pid!, 'RssAnon').toFixed(1)} MiB`);
} finally {
  await stopAgent(agent, cfg);
  module.kill('SIGTERM');
  nsd.stop();
  await api.stop();
  rmSync(tmp, { recursive: true, force: true });
}
const med = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return (v[Math.floor((v.length - 1) / 2)]! + v[Math.ceil((v.length - 1) / 2)]!) / 2;
};
console.log(`shipped DNS: ${N} Services (half headless × ${PODS_PER} pods), dnsperf -c 8 -q 200, ${SECONDS} s × ${ROUNDS} rounds each; load average ${loadavg()[0]!.toFixed(1)} (machine shared)`);
console.log(`  agent (bin/nodeway run, DaemonSet config${process.env.NODEWAY_BENCH_MODULES ? `, modules ${process.env.NODEWAY_BENCH_MODULES}` : ''}) ${med(results.agent!).toFixed(0)} qps; module alone ${med(results.module!).toFixed(0)} qps; NSD ${med(results.nsd!).toFixed(0)} qps`);
console.log(`  agent / module alone ${(med(results.agent!) / med(results.module!)).toFixed(2)}× (target ≥ 0.9); agent / NSD ${(med(results.agent!) / med(results.nsd!)).toFixed(2)}× (target ≥ 0.5)`);
console.log(`  CPU per answer: agent ${med(cpu.agent!).toFixed(2)} µs, module alone ${med(cpu.module!).toFixed(2)} µs, NSD ${med(cpu.nsd!).toFixed(2)} µs; module alone / agent ${(med(cpu.module!) / med(cpu.agent!)).toFixed(2)}×, NSD / agent ${(med(cpu.nsd!) / med(cpu.agent!)).toFixed(2)}×`);
