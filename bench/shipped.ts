// The shipped agent, measured as users run it: `bin/nodeway run --config` with the DaemonSet's
// config (deploy/config.yaml: proxy, dns, mesh, netpol), over TLS with a bearer token, against the API
// server in a process of its own that sends a BOOKMARK every 5 s per watch. Everything runs in a
// private network namespace. For each cluster kind ("current": serves ServiceCIDR; "old": a
// cluster before Kubernetes 1.33, without it) it reports: time to ready (full sync), RssAnon and
// CPU after IDLE seconds idle (the agent's own ticks and its children's, from /proc), the programs
// it started while idle (nodeway_exec_runs_total), API requests and connections while idle
// (counted at the server), endpoint changes (isolated ones timed from the API write to
// `nft monitor` seeing the commit, then a burst of 1,000 at 20/s; the agent's histogram for both;
// RssAnon after), and 1,000 Pod changes (proxy syncs, bytes the server sent the node). Baseline
// from the same run: the same agent with `--modules none` (cache and view only, every kind
// watched, as the agent watched before modules declared their kinds).
// Run: node bench/shipped.ts [services=1000] [per=10] [cluster=both|current|old] [idleSeconds=120] [modules=daemonset|<list>] [phases=all|idle]
// (phases=idle: time to ready and the idle figures only, without the endpoint and Pod changes.)
// NODEWAY_BENCH_ISOLATED=N: isolated endpoint changes (default 200); NODEWAY_BENCH_DUMP=1: each write's time on stderr;
// NODEWAY_BENCH_HTTP1=1: a server that offers no HTTP/2. NODEWAY_BENCH_BEFORE=DIR: the same run also with the agent of
// another checkout (built: DIR/dist, DIR/node_modules), first, for before/after figures from one run.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ApiServerProcess, type Stats } from '../test/support/apiserver-process.ts';
import { execRuns, metric, metrics, PROXY_SYNCS, ready, settledRss, sleep, startAgent, status, stopAgent, tree, configFile } from './agent-harness.ts';
import { NODE, NODE_IP, inPrivateNetns } from './proxy-common.ts';
import { NftMonitor } from './nft-monitor.ts';
import { fmtPeak, MemCgroup, PeakSampler, type Peak } from './peak.ts';

inPrivateNetns();
const SERVICES = Number(process.argv[2] ?? 1000);
const PER = Number(process.argv[3] ?? 10);
const CLUSTERS = (process.argv[4] ?? 'both') === 'both' ? ['current', 'old'] : [process.argv[4]!];
const IDLE_S = Number(process.argv[5] ?? 120);
const MODULES = process.argv[6] ?? 'daemonset';
const IDLE_ONLY = process.argv[7] === 'idle';
/** The DaemonSet's module list, as deploy/config.yaml sets it. */
const DAEMONSET_MODULES = (parse((parse(readFileSync(new URL('../deploy/config.yaml', import.meta.url), 'utf8')) as { data: Record<string, string> }).data['config.yaml']!) as { modules: string[] }).modules.join(', ');
const CHANGES = 1000;
const ISOLATED = Number(process.env.NODEWAY_BENCH_ISOLATED ?? 200);
const ISOLATED_GAP_MS = 300;
const BURST = CHANGES;
const BURST_RATE = 20;
const POD_CHANGES = 1000;
const PODS = 1000;
const NODES = 20;
const BOOKMARK_MS = 5000;
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-shp-bench-'));
let runs = 0;

/** p99 from a cumulative histogram: the smallest bucket bound holding 99 % of observations. */
function p99(text: string, name: string, before: string): string {
  const buckets = (t: string) => new Map([...t.matchAll(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"\\} (\\d+)`, 'gm'))].map((m) => [m[1]!, Number(m[2])]));
  const a = buckets(text);
  const b = buckets(before);
  const total = (a.get('+Inf') ?? 0) - (b.get('+Inf') ?? 0);
  for (const [le, n] of a) if (le !== '+Inf' && n - (b.get(le) ?? 0) >= 0.99 * total) return `p99 ≤ ${Number(le) * 1000} ms (${total} observations)`;
  return `p99 > the largest bucket (${total} observations)`;
}

/** Mean in seconds from a histogram's _sum and _count between two scrapes. */
function mean(text: string, name: string, before: string): number {
  const v = (t: string, s: string) => metric(t, new RegExp(`^${name}_${s}(?:\\{[^}]*\\})? ([\\d.e+-]+)`, 'gm'));
  return (v(text, 'sum') - v(before, 'sum')) / (v(text, 'count') - v(before, 'count'));
}

interface Result {
  cluster: string;
  modules: string;
  readyS: number;
  rssIdle: number;
  cpuIdlePct: number;
  /** The agent process's own CPU (no children), % of a core. */
  cpuOwnPct: number;
  /** Programs started per minute while idle, by program. */
  spawnsPerMin: Record<string, number>;
  /** The drift machinery's counters at the end of the idle window. */
  drift: string;
  /** Where RssAnon goes: the V8 heap by space, external memory, the rest (malloc, stacks). */
  heap: string;
  helpers: string;
  idle: { requests: number; connections: number; bytes: number; byRequest: Record<string, number> };
  watches: number;
  /** TCP connections the server accepted from the agent's start to the end of the idle window. */
  connectionsAtIdle: number;
  endpoint?: { isolated: string; latency: string; rssAfter: number; syncs: number; bytes: number };
  /** Bytes the server sent from the agent's start until ready: the initial lists. */
  syncBytes: number;
  /** Memory peaks: start-up (to 5 s after ready), and over the whole run. */
  peakStart: Peak;
  peakAll?: Peak;
  /** The agent's memory cgroup at 5 s after ready and at the end (null: none could be made). */
  cgStart: ReturnType<MemCgroup['figures']> | null;
  cgAll?: ReturnType<MemCgroup['figures']> | null;
  pods: { proxySyncs: number; bytes: number };
}

async function run(cluster: string, modules: string, idleS: number, withChanges: boolean, agentRoot?: string): Promise<Result> {
  const api = await ApiServerProcess.start({
    nodeName: NODE, nodeIP: NODE_IP, token: 'shp-bench-token', bookmarkIntervalMs: BOOKMARK_MS,
    omitResources: cluster === 'old' ? ['servicecidrs'] : [], shape: { services: SERVICES, endpointsPerService: PER, nodes: NODES, pods: PODS },
    // NODEWAY_BENCH_HTTP1=1: a server that offers no HTTP/2 (the agent then opens a connection per watch).
    http1Only: process.env.NODEWAY_BENCH_HTTP1 === '1',
  });
  const cfg = configFile(tmp, api, modules);
  const cg = MemCgroup.create(`nodeway-bench-${process.pid}-${++runs}`);
  const t0 = performance.now();
  const agent = startAgent(cfg, api, cg ?? undefined, agentRoot);
  const sampler = new PeakSampler(agent.pid!);
  try {
    await ready(agent, 180_000);
    const readyS = (performance.now() - t0) / 1000;
    const syncBytes = (await api.stats()).bytesSent;
    await sleep(5000);
    const peakStart = sampler.now();
    const cgStart = cg?.figures() ?? null;
    // Idle: nothing changes; the server sends bookmarks; the agent should do nothing.
    const s0: Stats = await api.stats();
    const x0 = await metrics();
    const c0 = tree(agent.pid!);
    const w0 = performance.now();
    await sleep(idleS * 1000);
    const c1 = tree(agent.pid!);
    const wall = (performance.now() - w0) / 1000;
    const x1 = await metrics();
    const s1: Stats = await api.stats();
    const ticks = (c: typeof c0) => c.reduce((a, p) => a + p.ticks, 0);
    const cpuIdlePct = ((ticks(c1) - ticks(c0)) / 100 / wall) * 100;
    const own = (c: typeof c0) => c.find((p) => p.pid === agent.pid)!.own;
    const cpuOwnPct = ((own(c1) - own(c0)) / 100 / wall) * 100;
    const spawnsPerMin: Record<string, number> = {};
    for (const [k, v] of Object.entries(execRuns(x1))) if (v - (execRuns(x0)[k] ?? 0)) spawnsPerMin[k] = +(((v - (execRuns(x0)[k] ?? 0)) * 60) / wall).toFixed(1);
    const rssIdle = await settledRss(agent.pid!);
    const heap = heapBreakdown(await metrics(), rssIdle);
    const helpers = c1.filter((p) => p.pid !== agent.pid).map((p) => ({ p, rss: status(p.pid, 'RssAnon') })).filter((x) => !Number.isNaN(x.rss)).map(({ p, rss }) => `${p.comm} ${rss.toFixed(1)} MiB`).join(', ') || 'none';
    const byRequest: Record<string, number> = {};
    for (const [k, v] of Object.entries(s1.byRequest)) if (v - (s0.byRequest[k] ?? 0)) byRequest[k] = v - (s0.byRequest[k] ?? 0);
    const watches = Object.keys(s1.byRequest).filter((k) => k.startsWith('watch ')).length;
    const result: Result = {
      cluster, modules, readyS, syncBytes, peakStart, cgStart, rssIdle, heap, cpuIdlePct, cpuOwnPct, spawnsPerMin, helpers, watches, connectionsAtIdle: s1.connections,
      drift: x1.split('\n').filter((l) => /^nodeway_(nft_events|module_drift)/.test(l)).map((l) => l.replace(/^nodeway_/, '')).join('; '),
      idle: { requests: s1.total - s0.total, connections: s1.connections - s0.connections, bytes: s1.bytesSent - s0.bytesSent, byRequest },
      pods: { proxySyncs: 0, bytes: 0 },
    };
    if (withChanges) result.endpoint = await endpointChanges(api, agent.pid!);
    const end = () => Object.assign(result, { peakAll: sampler.now(), cgAll: cg?.figures() ?? null });
    if (IDLE_ONLY) return end();
    // 1,000 Pod changes (a label each): what reaches this node, and what it wakes.
    const m0 = await metrics();
    const p0 = await api.stats();
    for (let k = 0; k < POD_CHANGES; k++) {
      await api.call({ op: 'podChange', pod: k % PODS });
      if (k % 50 === 49) await sleep(100);
    }
    await sleep(3000);
    const p1 = await api.stats();
    const m1 = await metrics();
    const proxySyncs = (t: string) => metric(t, PROXY_SYNCS);
    // Bookmarks in the same interval are counted too: the idle rate says how much that is.
    result.pods = { proxySyncs: proxySyncs(m1) - proxySyncs(m0), bytes: p1.bytesSent - p0.bytesSent };
    return end();
  } finally {
    sampler.stop();
    await stopAgent(agent, cfg);
    await cg?.remove();
    await api.stop();
  }
}

const quantile = (xs: number[], q: number) => xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]! : NaN;
const ms = (x: number) => `${x.toFixed(1)} ms`;

/**
 * One endpoint change as the target means it: ISOLATED changes, each written ISOLATED_GAP_MS
 * after the last (beyond --min-sync-interval, so none waits behind another or coalesces),
 * timed from the API write to the kernel announcing the new elements (`nft monitor`), p50/p99;
 * and the agent's own histogram over the same changes. Then a BURST at BURST_RATE per second
 * (closer together than the min interval: changes that arrive within one interval share a sync;
 * the sync count says how many did).
 */
async function endpointChanges(api: ApiServerProcess, pid: number): Promise<NonNullable<Result['endpoint']>> {
  const mon = new NftMonitor();
  await sleep(500);
  const syncs = (t: string) => metric(t, PROXY_SYNCS);
  const e0 = (await api.stats()).bytesSent;
  const m0 = await metrics();
  const ticks = () => tree(pid).reduce((a, p) => a + p.ticks, 0);
  const k0 = ticks();
  const iso: number[] = [];
  let missed = 0;
  for (let k = 0; k < ISOLATED; k++) {
    mon.clear();
    const written: number = await api.call({ op: 'endpointChange', service: (k * 7919) % SERVICES });
    // Every flip moves the Service between pick-9 and pick-10 in service-ips (the 1 s
    // compaction of earlier changes touches only the endpoint maps).
    const hit = await mon.first(written - 1, (t) => t.includes(' service-ips '), 5000);
    // NODEWAY_BENCH_DUMP: each write's time, to line up with an agent's NODEWAY_TRACE output.
    if (process.env.NODEWAY_BENCH_DUMP) console.error(`W ${written} iso ${hit ? (hit.at - written).toFixed(1) : 'miss'}`);
    if (hit) iso.push(hit.at - written);
    else missed++;
    await sleep(ISOLATED_GAP_MS);
  }
  const m1 = await metrics();
  const k1 = ticks();
  const t0 = performance.now();
  for (let k = 0; k < BURST; k++) {
    const w: number = await api.call({ op: 'endpointChange', service: (k * 7919 + 13) % SERVICES });
    if (process.env.NODEWAY_BENCH_DUMP) console.error(`W ${w} burst`);
    await sleep(1000 / BURST_RATE);
  }
  const burstS = (performance.now() - t0) / 1000;
  await sleep(2000);
  const m2 = await metrics();
  const k2 = ticks();
  mon.stop();
  // CPU per change (agent and its nft runs, in ms): what the load on a shared machine does not inflate.
  const cpu = (a: number, b: number, n: number) => `${(((b - a) * 10) / n).toFixed(1)} ms CPU per change`;
  const e1 = (await api.stats()).bytesSent;
  const H = 'kubeproxy_network_programming_duration_seconds';
  return {
    isolated: `${ISOLATED} isolated changes (${ISOLATED_GAP_MS} ms apart), API write to nft announcing it: ${iso.length ? `p50 ${ms(quantile(iso, 0.5))}, p99 ${ms(quantile(iso, 0.99))}, max ${ms(Math.max(...iso))}` : 'none seen'}${missed ? `, ${missed} not seen within 5 s${mon.ended ? ` (${mon.ended})` : ''}` : ''}; the agent's histogram: ${p99(m1, H, m0)}, mean ${ms(mean(m1, H, m0) * 1000)}; proxy syncs ${syncs(m1) - syncs(m0)}; ${cpu(k0, k1, ISOLATED)} (agent + its nft runs)`,
    latency: `${BURST} changes at ${BURST_RATE}/s (${burstS.toFixed(1)} s): the agent's histogram ${p99(m2, H, m1)}, mean ${ms(mean(m2, H, m1) * 1000)}; proxy syncs ${syncs(m2) - syncs(m1)} (the rest coalesced); ${cpu(k1, k2, BURST)}`,
    // Steady state again: 30 s after the last change.
    rssAfter: (await sleep(30_000), await settledRss(pid)),
    syncs: syncs(m2) - syncs(m0),
    bytes: e1 - e0,
  };
}

const MiB = (x: number) => `${x.toFixed(1)} MiB`;
/** A cgroup's peak charge counts page cache as well (reclaimed before an OOM kill); anon and file are its charge at the time read. */
const cgText = (c: NonNullable<Result['cgStart']>) => `${MiB(c.peak)} (anon + page cache; now anon ${MiB(c.anon)}, file ${MiB(c.file)})${process.env.NODEWAY_BENCH_MEMLIMIT ? `; limit ${process.env.NODEWAY_BENCH_MEMLIMIT}: hit ${c.failcnt} times, ${c.oomKills} OOM kills` : ''}`;

/** The agent's V8 heap by space (committed / used), its external memory, and what RssAnon holds besides. */
function heapBreakdown(text: string, rss: number): string {
  const spaces = (m: string) => new Map([...text.matchAll(new RegExp(`^${m}\\{space="([^"]+)"\\} (\\S+)`, 'gm'))].map((x) => [x[1]!, Number(x[2]) / 1048576]));
  const total = spaces('nodejs_heap_space_size_total_bytes');
  const used = spaces('nodejs_heap_space_size_used_bytes');
  const sum = [...total.values()].reduce((a, b) => a + b, 0);
  const ext = Number(/^nodejs_external_memory_bytes (\S+)/m.exec(text)?.[1] ?? NaN) / 1048576;
  const parts = [...total].filter(([, v]) => v >= 0.05).map(([k, v]) => `${k} ${v.toFixed(1)}/${(used.get(k) ?? 0).toFixed(1)}`);
  return `V8 heap ${sum.toFixed(1)} MiB committed (${parts.join(', ')} MiB committed/used); external ${ext.toFixed(1)} MiB; RssAnon beyond the heap ${(rss - sum).toFixed(1)} MiB`;
}
console.log(`shipped-agent benchmark: ${SERVICES} Services × ${PER} endpoints, ${NODES + 1} Nodes, ${PODS} Pods; TLS + token, ${process.env.NODEWAY_BENCH_HTTP1 === '1' ? 'server without HTTP/2' : 'HTTP/2 offered'}; bookmarks every ${BOOKMARK_MS / 1000} s; idle ${IDLE_S} s; load average ${loadavg()[0]!.toFixed(1)} (machine shared)`);
const results: Result[] = [];
const BEFORE = process.env.NODEWAY_BENCH_BEFORE;
const before = BEFORE ? { ...(await run(CLUSTERS[0]!, MODULES, IDLE_S, !IDLE_ONLY, BEFORE)), load: loadavg()[0]! } : undefined;
for (const cluster of CLUSTERS) results.push(await run(cluster, MODULES, IDLE_S, !IDLE_ONLY));
const BASE_IDLE_S = Math.min(IDLE_S, 60);
const base = await run(CLUSTERS[0]!, 'none', BASE_IDLE_S, false);
rmSync(tmp, { recursive: true, force: true });

for (const r of [...(before ? [before] : []), ...results, base]) {
  const label = `${r === before ? `BEFORE (${BEFORE}; load after it ${before.load.toFixed(1)}): ` : ''}${r.cluster === 'old' ? 'cluster without ServiceCIDR (< 1.33)' : 'cluster serving ServiceCIDR (1.33+)'}, modules ${r.modules === 'daemonset' ? `as the DaemonSet (${DAEMONSET_MODULES})` : r.modules}`;
  const idleS = r === base ? BASE_IDLE_S : IDLE_S;
  console.log(`\n${label}`);
  console.log(`  ready (full sync, rules live) ${r.readyS.toFixed(1)} s; initial lists ${(r.syncBytes / 1048576).toFixed(2)} MiB sent by the server`);
  console.log(`  start-up peak (to 5 s after ready): ${fmtPeak(r.peakStart)}`);
  if (r.cgStart) console.log(`  start-up, its memory cgroup: peak charge ${cgText(r.cgStart)}`);
  if (r.peakAll) console.log(`  peak over the whole run: ${fmtPeak(r.peakAll)}${r.cgAll ? `; cgroup peak charge ${cgText(r.cgAll)}` : ''}`);
  console.log(`  idle: RssAnon ${MiB(r.rssIdle)}; CPU ${r.cpuIdlePct.toFixed(2)} % of a core (agent + children; the agent alone ${r.cpuOwnPct.toFixed(2)} %; live children: ${r.helpers})`);
  const spawns = Object.values(r.spawnsPerMin).reduce((a, b) => a + b, 0);
  console.log(`  idle: ${spawns.toFixed(1)} programs started per minute ${JSON.stringify(r.spawnsPerMin)}`);
  console.log(`  idle memory: ${r.heap}`);
  if (r.drift) console.log(`  drift checks since the start: ${r.drift}`);
  console.log(`  idle: ${r.idle.requests} API requests, ${r.idle.connections} new connections (${r.connectionsAtIdle} since the agent started), ${(r.idle.bytes / 1024).toFixed(1)} KiB received in ${idleS} s (${r.watches} watches open; each renews every 240–480 s) ${JSON.stringify(r.idle.byRequest)}`);
  if (r.endpoint) {
    console.log(`  endpoint change, ${r.endpoint.isolated}`);
    console.log(`  endpoint burst, ${r.endpoint.latency}; ${(r.endpoint.bytes / 1024).toFixed(1)} KiB sent to this node in both; RssAnon after ${MiB(r.endpoint.rssAfter)}`);
  }
  if (!IDLE_ONLY) console.log(`  ${POD_CHANGES} Pod changes: proxy syncs ${r.pods.proxySyncs}; ${(r.pods.bytes / 1024).toFixed(1)} KiB sent to this node`);
}
const cur = results[0]!;
console.log('\nratios (same run)');
if (before) console.log(`  this agent / before: start-up peak RssAnon (agent + children) ${(cur.peakStart.tree / before.peakStart.tree).toFixed(2)}× (${MiB(cur.peakStart.tree)} vs ${MiB(before.peakStart.tree)}); idle RssAnon ${(cur.rssIdle / before.rssIdle).toFixed(2)}×; idle CPU ${cur.cpuIdlePct.toFixed(2)} % vs ${before.cpuIdlePct.toFixed(2)} %; ready ${cur.readyS.toFixed(1)} s vs ${before.readyS.toFixed(1)} s`);
for (const r of results.slice(1)) console.log(`  ${r.cluster} / ${cur.cluster}: RssAnon ${(r.rssIdle / cur.rssIdle).toFixed(2)}×, idle requests ${r.idle.requests} vs ${cur.idle.requests}, idle CPU ${r.cpuIdlePct.toFixed(2)} % vs ${cur.cpuIdlePct.toFixed(2)} %`);
console.log(`  agent (${cur.modules}) / cache-only agent: start-up peak ${(cur.peakStart.tree / base.peakStart.tree).toFixed(2)}× (${MiB(cur.peakStart.tree)} vs ${MiB(base.peakStart.tree)}); idle RssAnon ${(cur.rssIdle / base.rssIdle).toFixed(2)}× (${MiB(cur.rssIdle)} vs ${MiB(base.rssIdle)})`);
if (!IDLE_ONLY) console.log(`  bytes per ${POD_CHANGES} Pod changes: ${(cur.pods.bytes / 1024).toFixed(1)} KiB vs ${(base.pods.bytes / 1024).toFixed(1)} KiB when every kind is watched (${(cur.pods.bytes / base.pods.bytes).toFixed(3)}×)`);
