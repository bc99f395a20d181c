// Anonymous memory (RssAnon) of the built agent running the proxy at SERVICES × PER, against
// the embedded API server, in a private network namespace; beside the same agent with
// `--modules none` (watch cache and view only), so the proxy's own share shows.
// Run: node_modules/.bin/node bench/proxy-memory.ts [services=10000] [endpointsPerService=10]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { EmbeddedApiServer } from '../testbed/apiserver/index.ts';
import { buildAgent } from '../test/proxy/e2e/harness.ts';
import { NODE, NODE_IP, endpointIPs, inPrivateNetns } from './proxy-common.ts';

inPrivateNetns();
const SERVICES = Number(process.argv[2] ?? 10_000);
const PER = Number(process.argv[3] ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'nodeway-proxy-mem-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssAnonMiB(pid: number): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function settled(pid: number): Promise<number> {
  await sleep(3000);
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(rssAnonMiB(pid));
    await sleep(300);
  }
  return xs.sort((a, b) => a - b)[2]!;
}

async function ready(timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      if ((await fetch('http://127.0.0.1:10256/readyz')).status === 200) return;
    } catch {}
    await sleep(200);
  }
  throw new Error('agent never became ready');
}

const api = new EmbeddedApiServer();
await api.start();
writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig());
api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, spec: { podCIDR: '198.18.128.0/24', podCIDRs: ['198.18.128.0/24'] } });
api.patch('v1', 'nodes', undefined, NODE, { status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } }, 'merge', { subresource: 'status' });
const t0 = performance.now();
for (let i = 0; i < SERVICES; i++) {
  api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'bench' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
  api.create({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `svc-${i}-abcde`, namespace: 'bench', labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints: endpointIPs(i, PER).map((ip, j) => ({ addresses: [ip], nodeName: j === 0 ? NODE : 'other', conditions: { ready: true } })),
  });
}
console.log(`proxy memory benchmark: ${SERVICES} Services × ${PER} endpoints (API objects created in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);

const bin = await buildAgent();
// The runtime flags and environment bin/nodeway gives the agent (without them the first-list GC never runs).
const AGENT_FLAGS = ['--expose-gc', '--max-semi-space-size=1', ...(process.env.NODEWAY_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
process.env.MALLOC_ARENA_MAX ??= '2';
async function run(modules: string): Promise<{ rss: number; readyS: number }> {
  const t = performance.now();
  const agent: ChildProcess = spawn(process.execPath, [...AGENT_FLAGS, bin, 'run', '--modules', modules, '--node-name', NODE, '--kubeconfig', join(dir, 'kubeconfig'), '--health-listen', '127.0.0.1:10256', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'], cwd: process.env.HEAP_SNAPSHOT ?? process.cwd() });
  try {
    await ready(300_000);
    const readyS = (performance.now() - t) / 1000;
    if (modules === 'proxy') {
      const n = (await execa('sh', ['-c', 'nft list map ip nodeway service-ips | grep -o "goto" | wc -l'])).stdout.trim();
      if (Number(n) < SERVICES) throw new Error(`only ${n} service-ips elements programmed`);
    }
    const rss = await settled(agent.pid!);
    if (modules === 'proxy') {
      programming = await churn();
      programming += `; RssAnon after them ${rssAnonMiB(agent.pid!).toFixed(0)} MiB`;
    }
    // HEAP_SNAPSHOT=dir: a heap snapshot of each agent there (with NODEWAY_NODE_FLAGS=--heapsnapshot-signal=SIGUSR2).
    if (process.env.HEAP_SNAPSHOT) {
      agent.kill('SIGUSR2');
      await sleep(20_000);
    }
    return { rss, readyS };
  } finally {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
  }
}

/**
 * End to end, as kube-proxy's metric defines it: CHANGES EndpointSlice writes through the API
 * server, each replacing one endpoint and stamped with its last-change-trigger-time, spaced
 * beyond --min-sync-interval so none coalesce; the agent's own
 * kubeproxy_network_programming_duration_seconds histogram then says when each was live.
 */
const CHANGES = 100;
let programming = '';
async function churn(): Promise<string> {
  for (let k = 0; k < CHANGES; k++) {
    const i = (k * 7919) % SERVICES;
    const ips = endpointIPs(i, PER);
    ips[1] = `198.19.${200 + (k >> 8)}.${k & 255}`;
    api.patch('discovery.k8s.io/v1', 'EndpointSlice', 'bench', `svc-${i}-abcde`, {
      metadata: { annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': new Date().toISOString() } },
      endpoints: ips.map((ip, j) => ({ addresses: [ip], nodeName: j === 0 ? NODE : 'other', conditions: { ready: true } })),
    });
    await sleep(150);
  }
  await sleep(500);
  const text = await (await fetch('http://127.0.0.1:10256/metrics')).text();
  const bucket = (le: string) => Number(new RegExp(`^kubeproxy_network_programming_duration_seconds_bucket\\{le="${le}"\\} (\\d+)`, 'm').exec(text)?.[1]);
  const count = Number(/^kubeproxy_network_programming_duration_seconds_count (\d+)/m.exec(text)?.[1]);
  const sum = Number(/^kubeproxy_network_programming_duration_seconds_sum (\S+)/m.exec(text)?.[1]);
  return `${count} observations; mean ${((sum / count) * 1000).toFixed(1)} ms; live within 10 ms ${bucket('0.01')}, 25 ms ${bucket('0.025')}, 50 ms ${bucket('0.05')}, 100 ms ${bucket('0.1')}`;
}

const none = await run('none');
const proxy = await run('proxy');
await api.stop();
rmSync(dir, { recursive: true, force: true });
console.log(`  agent --modules none  (cache + view): RssAnon ${none.rss.toFixed(0)} MiB, ready in ${none.readyS.toFixed(1)} s`);
console.log(`  agent --modules proxy               : RssAnon ${proxy.rss.toFixed(0)} MiB, ready (rules live) in ${proxy.readyS.toFixed(1)} s   (target ≤ 100 MiB)`);
console.log(`  the proxy's own share: ${(proxy.rss - none.rss).toFixed(0)} MiB; ratio to cache-only agent ${(proxy.rss / none.rss).toFixed(2)}×`);
console.log(`  ${CHANGES} endpoint changes written to the API server, to rules live (the agent's programming-latency histogram): ${programming}   (target p99 ≤ 50 ms)`);
console.log('  kube-proxy nftables reference (not measured here): ~260 MiB peak at 10k Services × 2 endpoints (kubernetes PR #126013)');
console.log(`  → ${(proxy.rss / 260).toFixed(2)}× of that reference, at 5× the endpoints`);
