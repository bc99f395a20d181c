// NetworkPolicy programming at scale, in a private network namespace:
//   - full sync (plan + one nft transaction) of POLICIES over PODS (LOCAL of them on this node),
//   - one pod label change, event to rules live (plan + diff + transaction), p50/p99 over CHANGES,
//   - RssAnon added by the planned state and the applier's memory of it.
// Policies: per namespace (50 pods), 10 policies selecting app=k, each allowing ingress from
// app=k+1 in namespaces team=t on ports 80 and 8080 and egress to its namespace.
// Run: [NODEWAY_BENCH_STRICT=1] node_modules/.bin/node --expose-gc bench/netpol-sync.ts [policies=1000] [pods=5000] [local=500] [changes=100] [shared|unique]
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { FamilyApplier } from '../modules/netpol/apply.ts';
import { Planner } from '../modules/netpol/planner.ts';
import { PER_NS, policyWorld } from './netpol-world.ts';
import { inPrivateNetns, ms, percentile } from './proxy-common.ts';

inPrivateNetns();
const POLICIES = Number(process.argv[2] ?? 1000);
const PODS = Number(process.argv[3] ?? 5000);
const LOCAL = Number(process.argv[4] ?? 500);
const CHANGES = Number(process.argv[5] ?? 100);
/** "unique": no two policies' peer sets share a recipe (the worst case for shared sets). */
const UNIQUE = process.argv[6] === 'unique';
const NODE = 'bench-node';

const rssAnon = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const gc = () => (globalThis as { gc?: () => void }).gc?.();

const world = policyWorld(POLICIES, PODS, LOCAL, NODE, UNIQUE);
const { view } = world;
const pods = view.pods;

let nftMs = 0;
const nft = { apply: async (s: string) => {
  const t = performance.now();
  await execa('nft', ['-f', '-'], { input: s, maxBuffer: 1 << 30 });
  nftMs += performance.now() - t;
} };
// NODEWAY_BENCH_STRICT=1: the applier of strict mode (its strict-cut set, and each partial sync
// works out whether it may deny a flow allowed before: modules/netpol/narrowing.ts).
const STRICT = process.env.NODEWAY_BENCH_STRICT === '1';
const applier = new FamilyApplier(4, 'nodeway-np', nft, true, STRICT);

gc();
const rss0 = rssAnon();
const planner = new Planner();
let t0 = performance.now();
let d = planner.plan({ nodeName: NODE, policy: view });
const planMs = performance.now() - t0;
t0 = performance.now();
await applier.sync(d.v4, true, planner.touched(4));
const applyMs = performance.now() - t0;
let elements = 0;
for (const s of d.v4.elements.values()) elements += s.size;
gc();
const rss1 = rssAnon();
console.log(`netpol full sync, ${POLICIES} policies × ${PODS} pods${UNIQUE ? ' (every peer selector unique)' : ''} (${[...pods.values()].filter((p) => p.nodeName === NODE).length} local): plan ${ms(planMs)} + nft ${ms(applyMs)} = ${ms(planMs + applyMs)} (target ≤ 2 s)`);
console.log(`  ${d.v4.groups.size} groups, ${d.v4.ingress.size} ingress- and ${d.v4.egress.size} egress-isolated pod IPs, ${elements} set elements`);
console.log(`  RssAnon added by the plan and the applier's memory of it: ${(rss1 - rss0).toFixed(1)} MiB`);

const lat: number[] = [];
const planLat: number[] = [];
const nftLat: number[] = [];
/** Changes that changed rules (a transaction ran): their latency, and the same run's floor: one nft run of one element on this table. */
const live: number[] = [];
const liveNft: number[] = [];
const liveLines: number[] = [];
const floor: number[] = [];
for (let c = 0; c < CHANGES; c++) {
  // A pod (local or not) changes app label: it moves between peer sets, maybe between groups.
  const i = (c * 37) % PODS;
  const cur = pods.get(`ns-${Math.floor(i / PER_NS)}/pod-${i}`)!;
  const next = world.pod(i, { ...cur.labels, app: `app-${(Number(cur.labels.app!.slice(4)) + 1 + c) % 10}` });
  const t = performance.now();
  pods.set(`${next.namespace}/${next.name}`, next);
  planner.invalidate(view, [`pod:${next.namespace}/${next.name}`]);
  d = planner.plan({ nodeName: NODE, policy: view });
  planLat.push(performance.now() - t);
  nftMs = 0;
  const r = await applier.sync(d.v4, false, planner.touched(4));
  planner.touched(6);
  lat.push(performance.now() - t);
  nftLat.push(nftMs);
  if (r.kind !== 'none') {
    live.push(performance.now() - t);
    liveNft.push(nftMs);
    liveLines.push(r.lines);
    const f = performance.now();
    await nft.apply('add table ip nodeway-np\n');
    floor.push(performance.now() - f);
  }
}
console.log(`${STRICT ? '[strict] ' : ''}pod label change, change to rules live, over ${CHANGES}: p50 ${ms(percentile(lat, 50))}, p99 ${ms(percentile(lat, 99))} (plan alone p50 ${ms(percentile(planLat, 50))}, nft alone p50 ${ms(percentile(nftLat, 50))}) (target p99 ≤ 100 ms)`);
console.log(`  the ${live.length} that changed rules: p50 ${ms(percentile(live, 50))}, p99 ${ms(percentile(live, 99))} (nft alone p50 ${ms(percentile(liveNft, 50))}; lines p50 ${percentile(liveLines, 50)}, max ${Math.max(...liveLines)}); same-run floor, one nft run on this table: p50 ${ms(percentile(floor, 50))}, p99 ${ms(percentile(floor, 99))}`);
