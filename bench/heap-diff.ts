// Where the shipped agent's memory goes, per module: the agent as bench/shipped.ts runs it
// (DaemonSet config, TLS, bookmarks, private network namespace), idle, one V8 heap snapshot per
// module list (bin/nodeway's NODEWAY_NODE_FLAGS=--heapsnapshot-signal); prints the V8 heap by
// object kind and constructor, and the top differences against the first list (the baseline).
// Run: node bench/heap-diff.ts [services=1000] [per=10] [lists=none,daemonset] [idleSeconds=20]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerProcess } from '../test/support/apiserver-process.ts';
import { configFile, ready, settledRss, sleep, startAgent, stopAgent } from './agent-harness.ts';
import { NODE, NODE_IP, inPrivateNetns } from './proxy-common.ts';

inPrivateNetns();
const SERVICES = Number(process.argv[2] ?? 1000);
const PER = Number(process.argv[3] ?? 10);
const LISTS = (process.argv[4] ?? 'none,daemonset').split(';').flatMap((x) => x.split(/,(?=none|daemonset)/)).filter(Boolean);
const IDLE_S = Number(process.argv[5] ?? 20);
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-idl-heap-'));

interface Snapshot { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] }

/** Self sizes by "type: name" (constructor for objects, the kind for the rest). */
function aggregate(file: string): Map<string, { size: number; count: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const f = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const w = f.length;
  const [ti, ni, si] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size')];
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < s.nodes.length; i += w) {
    const type = types[s.nodes[i + ti]!]!;
    let name = type === 'object' || type === 'closure' || type === 'native' ? s.strings[s.nodes[i + ni]!]! : '';
    if (name.length > 60) name = name.slice(0, 60);
    const k = `${type}${name ? `: ${name}` : ''}`;
    const e = out.get(k) ?? { size: 0, count: 0 };
    e.size += s.nodes[i + si]!;
    e.count++;
    out.set(k, e);
  }
  return out;
}

async function snapshot(modules: string): Promise<{ rss: number; agg: Map<string, { size: number; count: number }> }> {
  const api = await ApiServerProcess.start({
    nodeName: NODE, nodeIP: NODE_IP, token: 'idl-heap-token', bookmarkIntervalMs: 5000,
    shape: { services: SERVICES, endpointsPerService: PER, nodes: 20, pods: 1000 },
  });
  const cfg = configFile(tmp, api, modules);
  const dir = mkdtempSync(join(tmp, 'snap-'));
  process.env.NODEWAY_NODE_FLAGS = `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`;
  const agent = startAgent(cfg, api);
  try {
    await ready(agent, 180_000);
    await sleep(IDLE_S * 1000);
    const rss = await settledRss(agent.pid!);
    agent.kill('SIGUSR2');
    let file = '';
    for (let i = 0; i < 600 && !file; i++) {
      await sleep(200);
      const f = readdirSync(dir).find((x) => x.endsWith('.heapsnapshot'));
      // Written once the agent answers again: its health server replies after the snapshot.
      if (f) {
        try {
          JSON.parse(readFileSync(join(dir, f), 'utf8'));
          file = join(dir, f);
        } catch {}
      }
    }
    return { rss, agg: aggregate(file) };
  } finally {
    await stopAgent(agent, cfg);
    await api.stop();
  }
}

const results: { modules: string; rss: number; agg: Map<string, { size: number; count: number }> }[] = [];
for (const m of LISTS) results.push({ modules: m, ...(await snapshot(m)) });
rmSync(tmp, { recursive: true, force: true });
const MiB = (b: number) => (b / 1048576).toFixed(2);
const base = results[0]!;
for (const r of results) {
  const total = [...r.agg.values()].reduce((a, e) => a + e.size, 0);
  console.log(`\nmodules ${r.modules}: RssAnon ${r.rss.toFixed(1)} MiB; heap snapshot ${MiB(total)} MiB of live objects`);
  if (r === base) continue;
  const keys = new Set([...r.agg.keys(), ...base.agg.keys()]);
  const diff = [...keys].map((k) => ({ k, d: (r.agg.get(k)?.size ?? 0) - (base.agg.get(k)?.size ?? 0), n: (r.agg.get(k)?.count ?? 0) - (base.agg.get(k)?.count ?? 0) }));
  diff.sort((a, b) => Math.abs(b.d) - Math.abs(a.d));
  console.log(`  vs ${base.modules}: ${MiB(total - [...base.agg.values()].reduce((a, e) => a + e.size, 0))} MiB more; largest differences (MiB, objects):`);
  for (const { k, d, n } of diff.slice(0, 30)) console.log(`    ${MiB(d).padStart(7)}  ${String(n).padStart(7)}  ${k}`);
}
