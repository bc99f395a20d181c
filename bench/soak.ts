// Flat over time: the shipped agent (DaemonSet config, TLS + token, API server in its own
// process, bookmarks every 5 s) under steady churn — every step updates an EndpointSlice,
// replaces a Pod, patches a Service, and every 10th step labels a Node — while its RssAnon is
// sampled every 10 s. The figure: the median RssAnon over the last minute against the median
// around 5 min in (for runs shorter than 10 min: over minute 1–2, the first minute is warm-up).
// Run: node bench/soak.ts [minutes=30] [stepsPerSecond=5] [services=1000] [--json]
// test/e2e/soak.test.ts runs it for 3 minutes and fails on growth over 10 %.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerProcess } from '../test/support/apiserver-process.ts';
import { configFile, ready, sleep, startAgent, status, stopAgent } from './agent-harness.ts';
import { NODE, NODE_IP, inPrivateNetns } from './proxy-common.ts';

inPrivateNetns();
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const JSON_OUT = process.argv.includes('--json');
const MINUTES = Number(args[0] ?? 30);
const RATE = Number(args[1] ?? 5);
const SERVICES = Number(args[2] ?? 1000);
const REF_MIN = MINUTES >= 10 ? 5 : 1;
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-shp-soak-'));

const api = await ApiServerProcess.start({
  nodeName: NODE, nodeIP: NODE_IP, token: 'shp-soak-token', bookmarkIntervalMs: 5000,
  shape: { services: SERVICES, endpointsPerService: 10, nodes: 20, pods: 1000 },
});
const cfg = configFile(tmp, api, 'daemonset');
const agent = startAgent(cfg, api);
const samples: { t: number; rss: number }[] = [];
let steps = 0;
try {
  await ready(agent, 180_000);
  const t0 = Date.now();
  const end = t0 + MINUTES * 60_000;
  let nextSample = t0;
  // Steps at a fixed rate from t0, whatever each call took (no drift, no catch-up bursts beyond one).
  while (Date.now() < end) {
    if (Date.now() >= nextSample) {
      samples.push({ t: (Date.now() - t0) / 60_000, rss: status(agent.pid!, 'RssAnon') });
      nextSample += 10_000;
    }
    await api.call({ op: 'churn', step: steps++ });
    const due = t0 + (steps * 1000) / RATE;
    if (due > Date.now()) await sleep(due - Date.now());
    if (agent.exitCode !== null) throw new Error(`agent exited (${agent.exitCode})`);
  }
  samples.push({ t: MINUTES, rss: status(agent.pid!, 'RssAnon') });
} finally {
  await stopAgent(agent, cfg);
  await api.stop();
  rmSync(tmp, { recursive: true, force: true });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// RssAnon swings ±15 % between 10-s samples as V8 collects: medians over a minute compare.
const within = (from: number, to: number) => median(samples.filter((s) => s.t >= from && s.t <= to).map((s) => s.rss));
const ref = MINUTES >= 10 ? within(REF_MIN - 0.5, REF_MIN + 0.5) : within(REF_MIN, REF_MIN + 1);
const last = within(MINUTES - 1, MINUTES);
const result = { minutes: MINUTES, stepsPerSecond: RATE, steps, referenceMinute: REF_MIN, rssAtReference: ref, rssAtEnd: last, growth: last / ref - 1, max: Math.max(...samples.map((s) => s.rss)), load: loadavg()[0]! };
if (JSON_OUT) console.log(JSON.stringify(result));
else {
  console.log(`soak: ${MINUTES} min, ${steps} churn steps (${RATE}/s: slice + Pod replace + Service patch, Node every 10th), ${SERVICES} Services × 10, DaemonSet config; load average ${result.load.toFixed(1)} (machine shared)`);
  console.log(`  RssAnon at ${REF_MIN} min ${ref.toFixed(1)} MiB, at the end ${last.toFixed(1)} MiB: ${(result.growth * 100).toFixed(1)} % (target within 10 %); max ${result.max.toFixed(1)} MiB`);
  console.log(`  samples (min: MiB): ${samples.filter((_, i) => i % 6 === 0).map((s) => `${s.t.toFixed(1)}: ${s.rss.toFixed(1)}`).join(', ')}`);
}
