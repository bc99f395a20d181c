// Strict mode's sweep cost in userspace, at scale: parsing a conntrack listing of ENTRIES flows
// and judging each against the plan of POLICIES × PODS (LOCAL on this node), against the
// baseline of parsing alone (the sweep's fixed cost). Entries are flows between random pods of
// the world (half to local pods, so most need a verdict), as `conntrack -L` prints them.
// Run: node_modules/.bin/node bench/netpol-strict.ts [entries=100000] [policies=1000] [pods=5000] [local=500]
import { plan } from '../modules/netpol/plan.ts';
import { deniedEntries, parseEntries } from '../modules/netpol/strict.ts';
import { policyWorld } from './netpol-world.ts';
import { ms, percentile } from './proxy-common.ts';

const ENTRIES = Number(process.argv[2] ?? 100_000);
const POLICIES = Number(process.argv[3] ?? 1000);
const PODS = Number(process.argv[4] ?? 5000);
const LOCAL = Number(process.argv[5] ?? 500);
const NODE = 'bench-node';

const { view } = policyWorld(POLICIES, PODS, LOCAL, NODE);
const fd = plan({ nodeName: NODE, policy: view }).v4;
const all = [...view.pods.values()].map((p) => p.ips[0]!);
const local = [...view.pods.values()].filter((p) => p.nodeName === NODE).map((p) => p.ips[0]!);
let seed = 7;
const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
const lines: string[] = [];
for (let i = 0; i < ENTRIES; i++) {
  const src = all[rnd(all.length)]!;
  const dst = i % 2 ? local[rnd(local.length)]! : all[rnd(all.length)]!;
  const port = [80, 8080, 443][rnd(3)]!;
  const sport = 30000 + (i % 30000);
  lines.push(`tcp      6 431999 ESTABLISHED src=${src} dst=${dst} sport=${sport} dport=${port} src=${dst} dst=${src} sport=${port} dport=${sport} [ASSURED] mark=0 use=1`);
}
const text = `${lines.join('\n')}\n`;

const ROUNDS = 7;
const parse: number[] = [];
const sweep: number[] = [];
let denied = 0;
for (let r = 0; r < ROUNDS; r++) {
  let t = performance.now();
  parseEntries(text);
  parse.push(performance.now() - t);
  t = performance.now();
  denied = deniedEntries(fd, parseEntries(text), new Set()).length;
  sweep.push(performance.now() - t);
}
const p50 = (l: number[]) => percentile(l, 50);
process.stdout.write(`${ENTRIES} entries, ${POLICIES} policies × ${PODS} pods (${LOCAL} local): ${fd.groups.size} groups; ${denied} entries denied\n`);
process.stdout.write(`parse only (baseline): p50 ${ms(p50(parse))}; parse + judge: p50 ${ms(p50(sweep))} (${(p50(sweep) / p50(parse)).toFixed(2)}×), ${(p50(sweep) * 1000 / ENTRIES).toFixed(2)} µs per entry\n`);
