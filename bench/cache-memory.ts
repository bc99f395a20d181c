// Anonymous memory (RssAnon) of the agent with only its watch cache and node view
// (`--modules none`), against the embedded API server on loopback:
//   empty cluster vs 1,000 Services × 10 endpoints (10,000 endpoints), beside bare Node.js.
// Run: npm run build && node_modules/.bin/node bench/cache-memory.ts [services] [endpointsPerService]
// HEAP_SNAPSHOT=dir NODEWAY_NODE_FLAGS=--heapsnapshot-signal=SIGUSR2: also a heap snapshot of each
// agent, written there once its memory is measured.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedApiServer } from '../testbed/apiserver/index.ts';

const SERVICES = Number(process.argv[2] ?? 1000);
const PER = Number(process.argv[3] ?? 10);
const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'nodeway-bench-'));

function rssAnonKiB(pid: number): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function settle(pid: number): Promise<number> {
  // Let the heap settle after the initial list, then take the median of a few readings.
  await new Promise((r) => setTimeout(r, Number(process.env.SETTLE_MS ?? 15_000)));
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(rssAnonKiB(pid));
    await new Promise((r) => setTimeout(r, 300));
  }
  return xs.sort((a, b) => a - b)[2]!;
}

async function ready(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('agent never became ready');
}

/** Signals the agent and waits until the snapshot it writes into `dir` stops growing. */
async function heapSnapshot(child: ChildProcess, dir: string): Promise<void> {
  const snapshots = () => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot'));
  const before = new Set(snapshots());
  child.kill('SIGUSR2');
  let size = -1;
  for (let i = 0; i < 120; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const f = snapshots().find((x) => !before.has(x));
    if (!f) continue;
    const now = statSync(join(dir, f)).size;
    if (now === size) return console.error(`heap snapshot: ${join(dir, f)}`);
    size = now;
  }
  throw new Error('no heap snapshot written (NODEWAY_NODE_FLAGS=--heapsnapshot-signal=SIGUSR2?)');
}

async function agentMemory(api: EmbeddedApiServer, port: number): Promise<number> {
  const kc = join(dir, `kc-${port}`);
  writeFileSync(kc, api.kubeconfig());
  const child: ChildProcess = spawn(join(root, 'bin', 'nodeway'), ['run', '--modules', 'none', '--node-name', 'node-0', '--kubeconfig', kc, '--health-listen', `127.0.0.1:${port}`, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'], cwd: process.env.HEAP_SNAPSHOT ?? process.cwd(), env: { ...process.env, NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', process.env.MEMPROBE ? '--import /tmp/memprobe.mjs' : ''].join(' ') } });
  try {
    await ready(port);
    const kib = await settle(child.pid!);
    if (process.env.HEAP_SNAPSHOT) await heapSnapshot(child, process.env.HEAP_SNAPSHOT);
    return kib;
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

function populate(api: EmbeddedApiServer) {
  for (let n = 0; n < 10; n++) {
    api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${n}`, labels: { 'topology.kubernetes.io/zone': `z${n % 3}` } }, spec: { podCIDRs: [`10.244.${n}.0/24`] }, status: { addresses: [{ type: 'InternalIP', address: `198.18.0.${n + 2}` }] } });
  }
  for (let s = 0; s < SERVICES; s++) {
    const name = `svc-${s}`;
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', labels: { app: name } }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
    api.create({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-abcde`, namespace: 'default', labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
      addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints: Array.from({ length: PER }, (_, e) => {
        const i = s * PER + e;
        return { addresses: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`], nodeName: `node-${i % 10}`, zone: `z${i % 3}`, conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', name: `${name}-pod-${e}`, namespace: 'default', uid: `uid-${i}` } };
      }),
    });
  }
}

const bare = spawn(join(root, 'node_modules', 'node', 'bin', 'node'), ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
const nodeBase = await settle(bare.pid!);
bare.kill();

const empty = new EmbeddedApiServer();
await empty.start();
const emptyKiB = await agentMemory(empty, 19256);
await empty.stop();

const full = new EmbeddedApiServer();
await full.start();
populate(full);
const fullKiB = await agentMemory(full, 19257);
await full.stop();
rmSync(dir, { recursive: true, force: true });

const mib = (k: number) => (k / 1024).toFixed(1);
console.log(`bare Node.js (idle)                       RssAnon ${mib(nodeBase)} MiB`);
console.log(`agent, empty cluster, --modules none      RssAnon ${mib(emptyKiB)} MiB  (${(emptyKiB / nodeBase).toFixed(2)}× bare Node.js)`);
console.log(`agent, ${SERVICES} services × ${PER} endpoints      RssAnon ${mib(fullKiB)} MiB  (${(fullKiB / emptyKiB).toFixed(2)}× empty; target < 40 MiB)`);
console.log(`per endpoint above empty: ${(((fullKiB - emptyKiB) * 1024) / (SERVICES * PER)).toFixed(0)} bytes`);
