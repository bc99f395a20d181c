// The shipped agent (`bin/nodeway run --config`, the DaemonSet's config, over TLS) against the
// API server in a process of its own holding POLICIES NetworkPolicies over PODS pods (LOCAL on
// this node; bench/netpol-world.ts), run twice in the same bench: with every module, and
// without netpol (which then watches neither Pods nor policies). Reported: time to ready, the
// netpol full sync (its own metric), RssAnon settled after ready, and CHANGES pod label changes
// written to the API server one at a time (every GAP ms), each timed two ways: the agent's
// programming histogram (view change to rules live), and from the API write until the agent's
// next netpol sync completed (its lastSuccess on /healthz/netpol, polled every ms), after which
// `nft get element` must find the element the change adds.
// Run: node bench/netpol-agent.ts [policies=1000] [pods=5000] [local=500] [changes=50] [gapMs=300]
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Planner } from '../modules/netpol/planner.ts';
import { ApiServerProcess } from '../test/support/apiserver-process.ts';
import { configFile, metrics, ready, settledRss, sleep, startAgent, stopAgent } from './agent-harness.ts';
import { labelsOf, PER_NS, podIPOf, policyWorld, rawObjects } from './netpol-world.ts';
import { inPrivateNetns, NODE, NODE_IP, percentile } from './proxy-common.ts';

inPrivateNetns();
const POLICIES = Number(process.argv[2] ?? 1000);
const PODS = Number(process.argv[3] ?? 5000);
const LOCAL = Number(process.argv[4] ?? 500);
const CHANGES = Number(process.argv[5] ?? 50);
const GAP_MS = Number(process.argv[6] ?? 300);
const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-npp-agent-'));

/** Bucket bounds holding 50 % and 99 % of what a histogram observed between two scrapes, its count and mean. */
function histogram(after: string, before: string, name: string): string {
  const read = (t: string) => new Map([...t.matchAll(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"\\} (\\d+)`, 'gm'))].map((m) => [m[1]!, Number(m[2])]));
  const sum = (t: string) => Number(new RegExp(`^${name}_sum(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(t)?.[1] ?? 0);
  const a = read(after), b = read(before);
  const n = (a.get('+Inf') ?? 0) - (b.get('+Inf') ?? 0);
  const at = (q: number) => {
    for (const [le, c] of a) if (c - (b.get(le) ?? 0) >= q * n) return le === '+Inf' ? '> max' : `≤ ${Number(le) * 1000} ms`;
    return '?';
  };
  return `${n} observed, mean ${((sum(after) - sum(before)) / Math.max(1, n) * 1000).toFixed(1)} ms, p50 ${at(0.5)}, p99 ${at(0.99)}`;
}

async function once(modules: string): Promise<void> {
  const api = await ApiServerProcess.start({ nodeName: NODE, nodeIP: NODE_IP, token: 'npp-bench-token', shape: { nodes: 20 } });
  const agentCfg = configFile(tmp, api, modules);
  let agent;
  try {
    const objects = rawObjects(POLICIES, PODS, LOCAL, NODE);
    for (let i = 0; i < objects.length; i += 1000) {
      const r = await api.call<{ failed: number; first: string }>({ op: 'create', objects: objects.slice(i, i + 1000) });
      if (r.failed) throw new Error(`creating the cluster: ${r.failed} failed: ${r.first}`);
    }
    const t0 = performance.now();
    agent = startAgent(agentCfg, api);
    await ready(agent, 300_000);
    const readyS = (performance.now() - t0) / 1000;
    await sleep(3000);
    const rss = await settledRss(agent.pid!);
    const m0 = await metrics();
    const full = /^nodeway_netpol_sync_duration_seconds_sum\{[^}]*ip_family="IPv4"[^}]*kind="full"[^}]*\} (\S+)/m.exec(m0)
      ?? /^nodeway_netpol_sync_duration_seconds_sum\{[^}]*kind="full"[^}]*ip_family="IPv4"[^}]*\} (\S+)/m.exec(m0);
    console.log(`[${modules}] ready in ${readyS.toFixed(1)} s; RssAnon ${rss.toFixed(1)} MiB settled after ready` +
      (full ? `; netpol full sync (plan + IPv4 transaction, its metric) ${(Number(full[1]) * 1000).toFixed(0)} ms` : '') + ` (load ${loadavg()[0]!.toFixed(2)})`);
    if (!modules.includes('netpol')) return;

    // The bench keeps the same world to know which element each change must add.
    const w = policyWorld(POLICIES, PODS, LOCAL, NODE);
    const planner = new Planner();
    let d = planner.plan({ nodeName: NODE, policy: w.view });
    planner.touched(4);
    const lat: number[] = [];
    for (let c = 0; lat.length < CHANGES; c++) {
      // A remote pod takes an app label that policies of its namespace's team allow in: it
      // joins their groups' peer sets (an ingress peer of the local pods those policies select).
      const i = 1 + ((c * 97) % (PODS - 1));
      const key = `ns-${Math.floor(i / PER_NS)}/pod-${i}`;
      const team = Math.floor(i / PER_NS) % 5;
      const cur = Number(w.view.pods.get(key)!.labels.app!.slice(4));
      const app = [team + 1, team + 6].map((x) => x % 10).find((x) => x !== cur)!;
      const next = w.pod(i, { ...labelsOf(i), app: `app-${app}` });
      w.view.pods.set(key, next);
      planner.invalidate(w.view, [`pod:${key}`]);
      d = planner.plan({ nodeName: NODE, policy: w.view });
      const el = `${podIPOf(i)} . tcp . 80`;
      // A set the change added the element to (the planner reports what it changed in place).
      const set = [...planner.touched(4)].find(([s, els]) => els.has(el) && d.v4.elements.get(s)?.has(el))?.[0];
      planner.touched(6);
      // The module's last successful sync, from /healthz/netpol (a scrape of /metrics would read
      // the drop counters with nft, itself a cost on the node being measured).
      const count = async () => {
        const body = (await (await fetch('http://127.0.0.1:10256/healthz/netpol')).json()) as { lastSuccess?: number };
        if (typeof body.lastSuccess !== 'number') throw new Error(`/healthz/netpol has no lastSuccess: ${JSON.stringify(body)}`);
        return body.lastSuccess;
      };
      const n0 = await count();
      const t = performance.now();
      await api.call({ op: 'patch', target: { apiVersion: 'v1', kind: 'Pod', namespace: key.split('/')[0], name: `pod-${i}` }, patch: { metadata: { labels: { app: `app-${app}` } } } });
      if (!set) {
        // No local pod is selected by a policy letting this label in: nothing to time.
        await sleep(GAP_MS);
        continue;
      }
      // Live when the agent's next netpol sync completes (nothing else changes meanwhile), polled
      // over HTTP every ms; then nft must find the element.
      while ((await count()) === n0) {
        if (performance.now() - t > 10_000) throw new Error(`change ${c}: no netpol sync within 10 s`);
        await sleep(1);
      }
      lat.push(performance.now() - t);
      await run('nft', ['get', 'element', 'ip', 'nodeway-np', set, `{ ${el} }`]).catch(() => {
        throw new Error(`change ${c}: the sync after it completed, yet ${el} is not in ${set}`);
      });
      await sleep(GAP_MS);
    }
    const m1 = await metrics();
    console.log(`  ${CHANGES} pod label changes, one every ~${GAP_MS} ms (load ${loadavg()[0]!.toFixed(2)}):`);
    console.log(`    API write → the sync applying it completed (element then found by nft): p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`);
    console.log(`    agent's histogram (view change → rules live): ${histogram(m1, m0, 'nodeway_netpol_programming_duration_seconds')}`);
    if (process.env.NPP_DEBUG) for (const l of m1.split('\n')) if (/netpol_sync_duration_seconds_(sum|count)|module_sync_duration_seconds_(sum|count)|module_syncs_total/.test(l)) console.log('    ' + l);
  } finally {
    if (agent) await stopAgent(agent, agentCfg);
    await api.stop();
  }
}

console.log(`${POLICIES} policies × ${PODS} pods (${LOCAL} on this node); load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
try {
  for (const modules of (process.env.NPP_MODULES ?? 'proxy,dns,mesh;proxy,dns,mesh,netpol').split(';')) await once(modules);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
