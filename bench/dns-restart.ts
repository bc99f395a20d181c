// The DNS restart gap, run by hand (not a test):  npx node bench/dns-restart.ts [list-delay-ms]
// The shipped agent (dns module) against the embedded API server; a prober asks a cluster name
// every 10 ms over UDP while the agent is restarted (SIGTERM, then a new process at once, as a
// DaemonSet rollout does), and the new process's first list is held back for list-delay-ms
// (an API server that is slow or briefly away, as in a large cluster or during an upgrade).
// Run twice in the same run: without a zone snapshot (the baseline) and with --dns-snapshot.
// Prints, per run, how long the name got no answer, SERVFAIL, and snapshot (TTL 5) answers.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedApiServer } from '../testbed/apiserver/index.ts';
import { renderKubeconfig } from '../testbed/apiserver/kubeconfig.ts';
import { decodeMessage } from '../modules/dns/message.ts';
import { TYPE } from '../modules/dns/wire.ts';
import { query } from '../test/dns/fixtures.ts';
import { buildDnsAgent, freePort, NODE, service, sleep, waitFor } from '../test/dns/harness.ts';

const LIST_DELAY_MS = Number(process.argv[2] ?? 3000);
const NAME = 'web.default.svc.cluster.local';
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-dns-restart-'));
const children: ChildProcess[] = [];

type Outcome = 'live' | 'stale' | 'servfail' | 'none';

async function once(snapshot: boolean): Promise<Record<Outcome, number>> {
  const bundle = await buildDnsAgent();
  const apiPort = await freePort();
  const port = await freePort();
  const kubeconfig = join(tmp, `kubeconfig-${snapshot}`);
  writeFileSync(kubeconfig, renderKubeconfig({ server: `http://127.0.0.1:${apiPort}` }));
  const api = new EmbeddedApiServer({ port: apiPort });
  await api.start();
  api.create(service('web', { clusterIP: '198.19.0.20', ports: [{ name: 'http', port: 80 }] }));
  const args = [bundle, 'run', '--modules', 'dns', '--node-name', 'n1', '--kubeconfig', kubeconfig, '--health-listen', `127.0.0.1:${await freePort()}`,
    '--dns-listen', `127.0.0.1:${port}`, '--dns-upstream', '127.0.0.1:9', '--log-level', 'error', ...(snapshot ? ['--dns-snapshot', join(tmp, `zone-${Date.now()}.json`)] : [])];
  const start = () => {
    const p = spawn(NODE, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(p);
    return p;
  };
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const sent = new Map<number, number>();
  const results: { at: number; outcome: Outcome }[] = [];
  sock.on('message', (m) => {
    const id = m.readUInt16BE(0);
    const at = sent.get(id);
    if (at === undefined) return;
    sent.delete(id);
    const d = decodeMessage(m);
    const rcode = d.flags & 0xf;
    results.push({ at, outcome: rcode === 2 ? 'servfail' : d.answers[0]?.ttl === 5 ? 'stale' : d.answers.length ? 'live' : 'servfail' });
  });
  let id = 0;
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const q = query(NAME, TYPE.A, { id: ++id & 0xffff });
      sent.set(id & 0xffff, performance.now());
      sock.send(q, port, '127.0.0.1');
      await sleep(10);
    }
  })();
  let a = start();
  await waitFor('the first agent', () => results.some((r) => r.outcome === 'live'), 30_000);
  await sleep(500); // its snapshot is written on the first sync
  api.injectFaults((req) => (req.verb === 'list' ? { status: 503 } : undefined));
  const t0 = performance.now();
  a.kill('SIGTERM');
  await new Promise((r) => a.once('exit', r));
  a = start();
  setTimeout(() => api.injectFaults(undefined), LIST_DELAY_MS);
  await waitFor('the new agent to list', () => results.some((r) => r.at > t0 + LIST_DELAY_MS && r.outcome === 'live'), 60_000);
  await sleep(500);
  probing = false;
  await probe;
  await sleep(400);
  const lost = [...sent.values()].filter((t) => t > t0).map((at) => ({ at, outcome: 'none' as Outcome }));
  const all = [...results.filter((r) => r.at >= t0), ...lost].sort((x, y) => x.at - y.at);
  // Each probe stands for the 10 ms until the next one.
  const ms: Record<Outcome, number> = { live: 0, stale: 0, servfail: 0, none: 0 };
  const firstLive = all.findIndex((r) => r.outcome === 'live' && r.at > t0 + 100);
  for (const r of all.slice(0, firstLive < 0 ? all.length : firstLive)) ms[r.outcome] += 10;
  a.kill('SIGTERM');
  await new Promise((r) => a.once('exit', r));
  sock.close();
  await api.stop();
  return ms;
}

try {
  console.log(`DNS across an agent restart (SIGTERM, new process at once), new process's first list held back ${LIST_DELAY_MS} ms; a probe every 10 ms`);
  for (const snapshot of [false, true]) {
    const ms = await once(snapshot);
    console.log(`  ${snapshot ? 'with --dns-snapshot       ' : 'without snapshot (baseline)'}  no answer ${ms.none} ms, SERVFAIL ${ms.servfail} ms, snapshot answers (TTL 5) ${ms.stale} ms, before the live zone`);
  }
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
