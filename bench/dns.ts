// DNS benchmark, run by hand (not a test):  npx node --expose-gc bench/dns.ts [seconds] [rounds]
// dnsperf against nodeway's DNS module on loopback, and against NSD serving the same names in
// the same run; forwarded names answered from the cache (fake upstream on loopback); p50/p99
// latency at a fixed 40k qps; memory per Service+Pod. Prints figures and ratios.
import { execFile, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import dgram from 'node:dgram';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DnsModule } from '../modules/dns/module.ts';
import { newQuery } from '../modules/dns/query.ts';
import { TYPE } from '../modules/dns/wire.ts';
import { Registry } from '../src/runtime/metrics.ts';
import { FakeUpstream } from '../test/dns/fake-upstream.ts';
import { nodeView, query } from '../test/dns/fixtures.ts';
import { freePort, sleep } from '../test/dns/harness.ts';
import { clusterQueries, externalNames, nsdZones, synthetic, type Synthetic } from './dns-zone.ts';

const SECONDS = Number(process.argv[2] ?? 10);
const ROUNDS = Number(process.argv[3] ?? 3);
/** CoreDNS: 33,669 qps on 2 vCPUs, both pegged (coredns/deployment Scaling_CoreDNS.md). */
const COREDNS_QPS_PER_CORE = 33_669 / 2;
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-dns-bench-'));
const log = pino({ level: 'warn' });
const children: { kill(s?: NodeJS.Signals): boolean }[] = [];

interface Perf {
  qps: number;
  avgMs: number;
  lost: number;
  codes: string;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 30 }, (_e, out, err) => resolve(String(out) + String(err))));
}

async function dnsperf(port: number, file: string, extra: string[] = []): Promise<Perf> {
  const out = await run('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(SECONDS), '-c', '8', '-q', '200', ...extra], (SECONDS + 30) * 1000);
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    lost: num(/Queries lost:\s+(\d+)/),
    codes: /Response codes:\s+(.*)/.exec(out)?.[1] ?? out.slice(-300),
  };
}

/**
 * Latency under load: dnsperf offers `rate` qps (no per-query output, which would load the
 * machine), while a light probe here sends ~2,000 timed queries per second and keeps every RTT.
 */
async function latency(port: number, file: string, probeNames: string[], rate: number): Promise<{ qps: number; p50: number; p99: number; max: number; lost: number; samples: number }> {
  const secs = Math.min(SECONDS, 6);
  const load = run('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(secs), '-c', '8', '-q', '1000', '-Q', String(rate)], (secs + 30) * 1000);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const sent = new Map<number, number>();
  const rtt: number[] = [];
  sock.on('message', (m) => {
    const t = sent.get(m.readUInt16BE(0));
    if (t === undefined) return;
    sent.delete(m.readUInt16BE(0));
    rtt.push(performance.now() - t);
  });
  const packets = probeNames.map((n) => query(n, TYPE.A));
  let id = 0;
  await sleep(500); // let the load settle
  const end = performance.now() + (secs - 1.5) * 1000;
  let lost = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 10; i++) {
      const p = Buffer.from(packets[id % packets.length]!);
      id = (id + 1) & 0xffff;
      p.writeUInt16BE(id, 0);
      if (sent.has(id)) lost++;
      sent.set(id, performance.now());
      sock.send(p, port, '127.0.0.1');
    }
    await sleep(5);
  }
  await sleep(300);
  lost += sent.size;
  sock.close();
  const out = await load;
  rtt.sort((a, b) => a - b);
  const pct = (p: number) => rtt[Math.min(rtt.length - 1, Math.floor((rtt.length * p) / 100))] ?? NaN;
  return { qps: Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), p50: pct(50), p99: pct(99), max: rtt.at(-1) ?? NaN, lost, samples: rtt.length };
}

const ECHO = `
import dgram from 'node:dgram';
const s = dgram.createSocket({ type: 'udp4', reusePort: true });
s.on('message', (m, r) => { const o = Buffer.allocUnsafe(m.length); m.copy(o); o[2] |= 0x80; o[3] = 0x83; s.send(o, r.port, r.address); });
s.bind(Number(process.argv[1]), '127.0.0.1', () => { try { s.setRecvBufferSize(4 << 20); } catch {} console.log('ready'); });
process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;

/** Node's own UDP ceiling here: a bare echo (no DNS work) in `n` SO_REUSEPORT processes. */
async function echoCeiling(n: number, file: string): Promise<number> {
  const port = await freePort();
  const procs = Array.from({ length: n }, () => spawn(process.execPath, ['--input-type=module', '-e', ECHO, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  children.push(...procs);
  await Promise.all(procs.map((p) => new Promise<void>((r) => p.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && r()))));
  await dnsperf(port, file, ['-l', '2']);
  const r = await dnsperf(port, file);
  for (const p of procs) p.kill('SIGTERM');
  return r.qps;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function startNodeway(s: Synthetic, port: number, upstream: number): Promise<DnsModule> {
  const m = new DnsModule({
    config: { dnsListen: [`127.0.0.1:${port}`], dnsUpstream: [`127.0.0.1:${upstream}`], dnsTTL: 30, dnsPods: 'insecure', dnsCacheSize: 100_000 },
    nodeName: 'bench',
    log,
    registry: new Registry(),
  });
  const view = nodeView({ services: s.services, namespaces: s.namespaces });
  await m.sync(view as never, { full: true, services: new Set(), peers: new Set(), pods: new Set(), namespaces: new Set(), self: true, serviceCIDRs: true, servicesAt: new Map(), policies: new Set() });
  return m;
}

async function startNsd(s: Synthetic, port: number): Promise<() => void> {
  const dir = join(tmp, 'nsd');
  rmSync(dir, { recursive: true, force: true });
  const zones = nsdZones(s);
  const conf = [
    'server:',
    `  ip-address: 127.0.0.1@${port}`,
    '  server-count: 1',
    `  zonesdir: "${dir}"`,
    `  pidfile: "${dir}/nsd.pid"`,
    `  zonelistfile: "${dir}/zone.list"`,
    `  xfrdfile: "${dir}/xfrd.state"`,
    `  xfrdir: "${dir}"`,
    '  database: ""',
    '  username: ""',
    '  chroot: ""',
    `  logfile: "${dir}/nsd.log"`,
    '  do-ip6: no',
    // Response rate limiting would throttle a benchmark whose every query comes from 127.0.0.1.
    '  rrl-ratelimit: 0',
    '  rrl-whitelist-ratelimit: 0',
    '  verbosity: 0',
    'remote-control:',
    '  control-enable: no',
    ...Object.keys(zones).flatMap((z) => ['zone:', `  name: ${z}`, `  zonefile: ${z}.zone`]),
  ];
  mkdirSync(dir, { recursive: true });
  for (const [z, text] of Object.entries(zones)) writeFileSync(join(dir, `${z}.zone`), text);
  writeFileSync(join(dir, 'nsd.conf'), conf.join('\n') + '\n');
  const p = spawn('nsd', ['-d', '-c', join(dir, 'nsd.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(p);
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  for (let i = 0; i < 100; i++) {
    const r = await run('dig', ['@127.0.0.1', '-p', String(port), 'cluster.local', 'SOA', '+short', '+tries=1', '+time=1'], 5000);
    if (r.includes('hostmaster')) return () => p.kill('SIGTERM');
    await sleep(100);
  }
  throw new Error(`nsd did not start: ${err}`);
}

function heapMB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

/** Heap the DNS module adds per Service+Pod, with every name's answer encoded (all templates warm). */
async function memorySlope(): Promise<{ small: number; large: number; perObject: number }> {
  const measure = async (services: number) => {
    const s = synthetic(services, 5);
    const before = heapMB();
    const port = await freePort();
    const m = await startNodeway(s, port, 1);
    const q = newQuery();
    for (const v of s.services) {
      const base = `${v.name}.${v.namespace}.svc.cluster.local`;
      for (const t of [TYPE.A, TYPE.AAAA, TYPE.SRV]) m.engine.handle(query(base, t), q, false);
      for (const ep of v.dnsEndpoints) m.engine.handle(query(`${ep.hostname}.${base}`, TYPE.A), q, false);
    }
    const after = heapMB();
    await m.close();
    return { objects: s.services.length + s.pods, bytes: after - before, keep: s };
  };
  if (!(globalThis as { gc?: unknown }).gc) console.log('  (run with --expose-gc for a stable memory figure)');
  const a = await measure(2_000);
  const b = await measure(20_000);
  return { small: a.bytes / 2 ** 20, large: b.bytes / 2 ** 20, perObject: (b.bytes - a.bytes) / (b.objects - a.objects) };
}

const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<void> {
  const s = synthetic(2_000, 5);
  console.log(`nodeway DNS bench — ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}, dnsperf -c 8 -q 200, ${SECONDS} s per run`);
  console.log(`zone: ${s.services.length} Services (${s.services.length / 2} ClusterIP, ${s.services.length / 2} headless) and ${s.pods} pods in 10 namespaces`);
  const qfile = join(tmp, 'cluster.txt');
  writeFileSync(qfile, clusterQueries(s, 20_000));
  console.log('query mix: 40% ClusterIP A, 10% AAAA (NODATA), 10% SRV, 10% headless A, 10% pod hostname A, 10% PTR, 10% search-path NXDOMAIN');
  console.log(`load average before: ${loadavg().map((x) => f(x, 2)).join(' ')} (others' work on a shared machine skews every figure)\n`);

  const upstream = await new FakeUpstream().start();
  const ext = externalNames(2_000);
  for (const [i, n] of ext.entries()) upstream.add(n, `192.0.2.${i % 250}`);
  const port = await freePort();
  const server = spawn(process.execPath, [new URL('./dns-server.ts', import.meta.url).pathname, String(port), String(upstream.port), String(s.services.length), '5'], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(server);
  await new Promise<void>((resolve, reject) => {
    server.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    server.once('exit', () => reject(new Error('the bench DNS server exited')));
  });

  const nsdPort = await freePort();
  const stopNsd = await startNsd(s, nsdPort);
  await dnsperf(port, qfile, ['-l', '2']); // warm-up: JIT and encoded answers
  await dnsperf(nsdPort, qfile, ['-l', '2']);
  // Interleaved rounds, medians reported: the machine may be shared.
  const nw: Perf[] = [];
  const nsd: Perf[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    nw.push(await dnsperf(port, qfile));
    nsd.push(await dnsperf(nsdPort, qfile));
  }

  const efile = join(tmp, 'external.txt');
  writeFileSync(efile, ext.map((n) => `${n} A`).join('\n') + '\n');
  await run('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', efile, '-n', '1', '-c', '4', '-q', '50'], 60_000); // fill the cache
  const fwd: Perf[] = [];
  for (let r = 0; r < ROUNDS; r++) fwd.push(await dnsperf(port, efile));

  const echo1: number[] = [];
  const echo2: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    echo1.push(await echoCeiling(1, qfile));
    echo2.push(await echoCeiling(2, qfile));
  }

  const probeCluster = s.services.filter((v) => !v.headless).slice(0, 200).map((v) => `${v.name}.${v.namespace}.svc.cluster.local`);
  const latNw20 = await latency(port, qfile, probeCluster, 20_000);
  const latNw = await latency(port, qfile, probeCluster, 40_000);
  const latNsd = await latency(nsdPort, qfile, probeCluster, 40_000);
  const latFwd = await latency(port, efile, ext.slice(0, 200), 40_000);
  stopNsd();

  const med = (xs: Perf[]) => median(xs.map((x) => x.qps));
  const show = (label: string, xs: Perf[]) =>
    console.log(`  ${label.padEnd(26)} ${f(med(xs)).padStart(8)} qps  (runs: ${xs.map((x) => f(x.qps)).join(', ')})  avg ${f(median(xs.map((x) => x.avgMs)), 2)} ms  lost ${xs.reduce((a, x) => a + x.lost, 0)}   ${xs[0]!.codes}`);
  console.log(`UDP throughput, median of ${ROUNDS} interleaved runs (server on one core; dnsperf uses the other)`);
  show('nodeway, cluster names', nw);
  show('NSD 4.6 (server-count 1)', nsd);
  show('nodeway, forwarded cached', fwd);
  console.log(`  ratios: nodeway/CoreDNS per core ${f(med(nw) / COREDNS_QPS_PER_CORE, 2)} (CoreDNS ≈ ${f(COREDNS_QPS_PER_CORE)} qps/core, reference 3.1)   nodeway/NSD ${f(med(nw) / med(nsd), 2)}   forwarded/cluster ${f(med(fwd) / med(nw), 2)}`);
  console.log(`  bare Node UDP echo (no DNS work): 1 process ${f(median(echo1))} qps, 2 SO_REUSEPORT processes ${f(median(echo2))} qps → nodeway/echo ${f(med(nw) / median(echo1), 2)}; a second worker ${median(echo2) > median(echo1) * 1.1 ? 'helps' : 'does not help'} on this machine`);
  console.log('\nlatency under 40,000 qps offered by dnsperf: RTT of ~2,000 probe queries/s sent beside it');
  for (const [label, l] of [['nodeway, cluster names', latNw], ['NSD', latNsd], ['nodeway, forwarded cached', latFwd], ['nodeway at 20,000 qps', latNw20]] as const) {
    console.log(`  ${label.padEnd(26)} load achieved ${f(l.qps).padStart(7)} qps   probe p50 ${f(l.p50, 3)} ms  p99 ${f(l.p99, 3)} ms  max ${f(l.max, 1)} ms  (${f(l.samples)} samples, ${l.lost} lost)`);
  }
  console.log(`load average after: ${loadavg().map((x) => f(x, 2)).join(' ')}`);
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024;
  console.log(`\nDNS server process after the runs: VmRSS ${f(kb('VmRSS'), 1)} MiB (RssAnon ${f(kb('RssAnon'), 1)} MiB), VmHWM ${f(kb('VmHWM'), 1)} MiB`);
  server.kill('SIGTERM');
  await upstream.stop();

  const slope = await memorySlope();
  console.log(`memory (index + every answer encoded): ${f(slope.small, 1)} MiB for 7,000 Services+Pods, ${f(slope.large, 1)} MiB for 70,000 → ${f(slope.perObject)} bytes per Service+Pod (budget ≈ 1,024)`);
}

try {
  await main();
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
