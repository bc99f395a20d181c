// DNS under Service churn, run by hand (not a test):  npx node bench/dns-churn.ts [seconds] [rounds] [changes/s]
// Three DNS servers over the same 2,000-Service zone, each in its own process: no churn (the
// baseline), 10 Service changes per second with answers forgotten by name (as shipped), and the
// same churn forgetting every encoded answer on each change (the module before issue #11 item 6).
// dnsperf sends the cluster query mix to each in interleaved rounds; medians are compared. Then
// the same three cases with the engine alone (no sockets: the answer path's own cost, which
// socket overhead and a busy shared machine hide in the dnsperf figures).
import { emptyChanges } from '../src/view/view.ts';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DnsModule } from '../modules/dns/module.ts';
import { newQuery } from '../modules/dns/query.ts';
import { TYPE } from '../modules/dns/wire.ts';
import { Registry } from '../src/runtime/metrics.ts';
import type { ServiceView } from '../src/view/types.ts';
import { nodeView, query } from '../test/dns/fixtures.ts';
import { freePort } from '../test/dns/harness.ts';
import { clusterQueries, synthetic } from './dns-zone.ts';

const SECONDS = Number(process.argv[2] ?? 10);
const ROUNDS = Number(process.argv[3] ?? 3);
const CHURN = Number(process.argv[4] ?? 10);
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-dns-churn-'));
const children: ChildProcess[] = [];

function dnsperf(port: number, file: string, seconds: number): Promise<number> {
  return new Promise((resolve) =>
    execFile('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(seconds), '-c', '8', '-q', '200'], { timeout: (seconds + 30) * 1000, maxBuffer: 1 << 26 }, (_e, out) =>
      resolve(Number(/Queries per second:\s+([\d.]+)/.exec(String(out))?.[1] ?? NaN)),
    ),
  );
}

async function server(churn: number, mode: string): Promise<number> {
  const port = await freePort();
  const p = spawn(process.execPath, [new URL('./dns-server.ts', import.meta.url).pathname, String(port), '9', '2000', '5', String(churn), mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(p);
  await new Promise<void>((resolve, reject) => {
    p.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    p.once('exit', () => reject(new Error('a bench DNS server exited')));
  });
  return port;
}

/** Queries the engine answers per second while `perSec` Services change (one sync each). */
async function engineAlone(perSec: number, clearAll: boolean, qfile: string): Promise<{ qps: number; misses: number }> {
  const s = synthetic(2_000, 5);
  const m = new DnsModule({ config: { dnsListen: [`127.0.0.1:${await freePort()}`], dnsUpstream: ['127.0.0.1:9'] }, nodeName: 'bench', log: pino({ level: 'warn' }), registry: new Registry() });
  const view = nodeView({ services: s.services, namespaces: s.namespaces });
  const none = emptyChanges();
  await m.sync(view as never, { ...none, full: true });
  const types: Record<string, number> = { A: TYPE.A, AAAA: TYPE.AAAA, SRV: TYPE.SRV, PTR: TYPE.PTR };
  const qs = qfile.trim().split('\n').map((l) => query(l.split(' ')[0]!, types[l.split(' ')[1]!]!));
  const q = newQuery();
  const services = view.services as Map<string, ServiceView>;
  let round = 0;
  let n = 0;
  let templatesBuilt = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    for (let i = 0; i < 2000; i++) m.engine.handle(qs[n++ % qs.length]!, q, false);
    if (perSec > 0 && performance.now() - t0 > (round * 1000) / perSec) {
      round++;
      const v = s.services[(round * 7) % s.services.length]!;
      const cur = services.get(v.key)!;
      services.set(v.key, v.headless ? { ...cur, dnsEndpoints: cur.dnsEndpoints.map((ep, i) => (i === 0 ? { ...ep, ip: `10.250.${(round >> 8) & 255}.${round & 255}` } : ep)) } : { ...cur, ports: cur.ports.map((p) => ({ ...p, port: p.port === 80 ? 81 : 80 })) });
      const kept = m.metrics.sizes().templates;
      await m.sync(view as never, { ...none, full: false, services: new Set([v.key]) });
      if (clearAll) m.engine.setIndex((m as unknown as { index: never }).index);
      templatesBuilt += kept - m.metrics.sizes().templates;
    }
  }
  const secs = (performance.now() - t0) / 1000;
  await m.close();
  return { qps: n / secs, misses: templatesBuilt / secs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

try {
  const s = synthetic(2_000, 5);
  const qfile = join(tmp, 'cluster.txt');
  writeFileSync(qfile, clusterQueries(s, 20_000));
  console.log(`DNS under churn — ${cpus().length} CPUs, Node ${process.version}, 2,000 Services, ${CHURN} Service changes/s, dnsperf -c 8 -q 200, ${SECONDS} s per run`);
  console.log(`load average before: ${loadavg().map((x) => f(x, 2)).join(' ')}`);
  const runs = [
    { label: 'no churn (baseline)', port: await server(0, 'selective'), qps: [] as number[] },
    { label: `${CHURN}/s, forget by name`, port: await server(CHURN, 'selective'), qps: [] as number[] },
    { label: `${CHURN}/s, forget everything`, port: await server(CHURN, 'clear-all'), qps: [] as number[] },
  ];
  for (const r of runs) await dnsperf(r.port, qfile, 2); // warm-up
  for (let i = 0; i < ROUNDS; i++) for (const r of runs) r.qps.push(await dnsperf(r.port, qfile, SECONDS));
  const base = median(runs[0]!.qps);
  for (const r of runs) console.log(`  ${r.label.padEnd(28)} ${f(median(r.qps)).padStart(8)} qps  ×${f(median(r.qps) / base, 2)} of baseline  (runs: ${r.qps.map((x) => f(x)).join(', ')})`);
  const qtext = clusterQueries(s, 20_000);
  const alone = { base: [] as number[], sel: [] as number[], all: [] as number[], lostSel: 0, lostAll: 0 };
  for (let i = 0; i < ROUNDS; i++) {
    alone.base.push((await engineAlone(0, false, qtext)).qps);
    const a = await engineAlone(CHURN, false, qtext);
    alone.sel.push(a.qps);
    alone.lostSel = a.misses;
    const b = await engineAlone(CHURN, true, qtext);
    alone.all.push(b.qps);
    alone.lostAll = b.misses;
  }
  const eb = median(alone.base);
  console.log('engine alone (no sockets), queries answered per second:');
  console.log(`  ${'no churn (baseline)'.padEnd(28)} ${f(eb).padStart(9)}`);
  console.log(`  ${`${CHURN}/s, forget by name`.padEnd(28)} ${f(median(alone.sel)).padStart(9)}  ×${f(median(alone.sel) / eb, 2)}  (${f(alone.lostSel, 1)} encoded answers dropped per second)`);
  console.log(`  ${`${CHURN}/s, forget everything`.padEnd(28)} ${f(median(alone.all)).padStart(9)}  ×${f(median(alone.all) / eb, 2)}  (${f(alone.lostAll, 1)} encoded answers dropped per second)`);
  console.log(`load average after: ${loadavg().map((x) => f(x, 2)).join(' ')}`);
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
