// Proxy sync cost at scale, against a kube-proxy-shaped ruleset for the same Services, in a
// private network namespace:
//   - full sync of SERVICES × PER (cold: no table; restart: a new process over the live table),
//   - one endpoint change, event (watch cache update) to rules live, p50/p99 over CHANGES.
// Run: node_modules/.bin/node bench/proxy-sync.ts [services=10000] [endpointsPerService=10] [changes=100]
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import { ProxyModule } from '../modules/proxy/module.ts';
import type { ConntrackExec } from '../modules/proxy/conntrack.ts';
import { Registry } from '../src/runtime/metrics.ts';
import type { ViewChanges } from '../src/view/types.ts';
import { emptyChanges, mergeChanges } from '../src/view/view.ts';
import { NODE, NODE_IP, cluster, endpointIPs, inPrivateNetns, kpFullScript, kpServiceLines, ms, percentile, ratio, silent, sliceObj } from './proxy-common.ts';

inPrivateNetns();
const SERVICES = Number(process.argv[2] ?? 10_000);
const PER = Number(process.argv[3] ?? 10);
const CHANGES = Number(process.argv[4] ?? 100);
/** --ours-only: skip the kube-proxy-shaped baseline (minutes at 10k). */
const OURS_ONLY = process.argv.includes('--ours-only');

const noConntrack: ConntrackExec = { list: async () => [], delete: async () => 0 };
const nft = (script: string) => execa('nft', ['-f', '-'], { input: script, maxBuffer: 1 << 30 });

function module(): ProxyModule {
  return new ProxyModule(
    { config: {}, nodeName: NODE, log: silent, registry: new Registry() },
    { conntrack: noConntrack, healthChecks: false, localAddresses: () => [{ address: NODE_IP, internal: false }] },
  );
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function objects(family: string, table: string): { chains: number; rules: number } {
  const out = execFileSync('nft', ['-t', 'list', 'table', family, table], { encoding: 'utf8', maxBuffer: 1 << 30 });
  return { chains: (out.match(/^\s*chain /gm) ?? []).length, rules: out.split('\n').filter((l) => /^\t\t[^\t}]/.test(l) && !/^\t\t(type|policy|flags|timeout|size|elements|comment)\b/.test(l)).length };
}

console.log(`proxy sync benchmark: ${SERVICES} Services × ${PER} endpoints, ${CHANGES} single-endpoint changes (nft ${execFileSync('nft', ['--version'], { encoding: 'utf8' }).trim()})`);
const t0 = performance.now();
const { cache, view } = cluster(SERVICES, PER);
console.log(`  view built in ${ms(performance.now() - t0)}`);

// ---- nodeway ----
const cold = await timed(() => module().sync(view, emptyChanges(true)));
console.log(`  nodeway cold full sync: ${ms(cold)}`);
const mod = module();
const restart = await timed(() => mod.sync(view, emptyChanges(true)));
console.log(`  nodeway restart full sync: ${ms(restart)}`);
const ours = objects('ip', 'nodeway');

let pending: ViewChanges = emptyChanges();
view.subscribe((c) => mergeChanges(pending, c));
const changes: { i: number; ips: string[] }[] = [];
for (let k = 0; k < CHANGES; k++) {
  const i = (k * 7919) % SERVICES;
  const ips = endpointIPs(i, PER);
  ips[1] = `198.19.${200 + (k >> 8)}.${k & 255}`;
  changes.push({ i, ips });
}
const incr: number[] = [];
for (const { i, ips } of changes) {
  const start = performance.now();
  cache.put('endpointslices', `bench/svc-${i}-abcde`, sliceObj(i, ips));
  view.flush();
  const c = pending;
  pending = emptyChanges();
  await mod.sync(view, c);
  incr.push(performance.now() - start);
}
console.log(`  nodeway incremental p50 ${ms(percentile(incr, 50))} p99 ${ms(percentile(incr, 99))}`);
execFileSync('nft', ['delete', 'table', 'ip', 'nodeway']);
execFileSync('nft', ['delete', 'table', 'ip6', 'nodeway']);

if (OURS_ONLY) process.exit(0);

// ---- kube-proxy-shaped baseline: the same cluster before the changes, then the same changes ----
const original = cluster(SERVICES, PER).view;
const script = kpFullScript(original.services.values());
const kpCold = await timed(() => nft(script));
console.log(`  baseline cold full sync: ${ms(kpCold)}`);
const kpRestart = await timed(() => nft(script));
console.log(`  baseline restart full sync: ${ms(kpRestart)}`);
const kp = objects('ip', 'kube-proxy');
const kpIncr: number[] = [];
const kpIncrList: number[] = [];
for (const { i } of changes) {
  const start = performance.now();
  const before = kpServiceLines(original.services.get(`bench/svc-${i}`)!);
  const after = kpServiceLines(view.services.get(`bench/svc-${i}`)!);
  // The partial sync rewrites the Service's chains and flushes the endpoint chain that went away.
  const stale = before.chains.filter((c) => !after.chains.includes(c)).map((c) => `flush chain ip kube-proxy ${c}`);
  await nft(`${[...after.decls, ...stale, ...after.rules, ...after.elements].join('\n')}\n`);
  kpIncr.push(performance.now() - start);
  // kube-proxy ≤1.36 also lists the table's chains on every sync to find stale ones (kubernetes#139513).
  await execa('nft', ['-j', 'list', 'chains', 'ip'], { maxBuffer: 1 << 30 });
  kpIncrList.push(performance.now() - start);
}
execFileSync('nft', ['delete', 'table', 'ip', 'kube-proxy']);

console.log('');
console.log(`objects in the kernel      nodeway: ${ours.chains} chains, ${ours.rules} rules   kube-proxy-shaped: ${kp.chains} chains, ${kp.rules} rules`);
console.log(`full sync, cold            nodeway ${ms(cold)}   baseline ${ms(kpCold)}   ${ratio(cold, kpCold)}   (target ≤ 5 s)`);
console.log(`full sync, restart         nodeway ${ms(restart)}   baseline ${ms(kpRestart)}   ${ratio(restart, kpRestart)}`);
for (const p of [50, 99]) {
  const o = percentile(incr, p);
  console.log(`1 endpoint change p${p}      nodeway ${ms(o)} (cache event → rules live)   baseline ${ms(percentile(kpIncr, p))} nft only, ${ms(percentile(kpIncrList, p))} with its chain listing   ${ratio(o, percentile(kpIncrList, p))}${p === 99 ? '   (target ≤ 50 ms)' : ''}`);
}
