// What an agent restart costs pod-to-pod traffic through wireguard-go, and what wireguard-go
// carries. Run by hand, as root:
//
//   npx node bench/mesh-restart.ts [--rounds 3] [--seconds 5]
//
// Three lab nodes with real agents (the built bundle) and pods from the agents' own conflists;
// p1 on n1 pings p3 on n3 every 20 ms while n1's agent restarts, two ways:
//   process: the agent alone dies (SIGKILL) and comes back; its wireguard-go runs on (an agent
//            run by systemd, or by hand, as in this lab).
//   container: the agent and its wireguard-go die together and both come back, as in the
//            shipped DaemonSet, whose container restart kills every process it started.
// Loss is counted from ping's own summary (sent vs received); the outage is lost × 20 ms.
// Throughput: one TCP stream p1 → p3 through the tunnel against the same stream n1 → n3 on the
// underlay veth (the baseline in the same run), `--seconds` each. Kernel WireGuard is not
// measured: this machine's kernel has no WireGuard module (`ip link add type wireguard` fails).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pidPath } from '../modules/mesh/device.ts';
import { nsExec, pingCommand } from '../testbed/lab/run.ts';
import { workloadPaths } from '../testbed/lab/workloads.ts';
import { MeshLab, type MeshNode, sleep, waitFor } from '../test/mesh/harness.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const INTERVAL_MS = 20;

const m = new MeshLab();
process.on('SIGINT', () => void m.destroy().finally(() => process.exit(130)));

function pingLoss(output: string): { sent: number; received: number } {
  const r = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output);
  if (!r) throw new Error(`no ping summary in: ${output}`);
  return { sent: Number(r[1]), received: Number(r[2]) };
}

/** Pings for `totalMs` while `during` runs; returns the loss. */
async function lossDuring(from: string, to: string, totalMs: number, during: () => Promise<void>): Promise<{ sent: number; lost: number }> {
  const [cmd = 'ping', ...pre] = pingCommand();
  const count = Math.round(totalMs / INTERVAL_MS);
  const ping = m.spawn(from, cmd, [...pre, '-i', String(INTERVAL_MS / 1000), '-c', String(count), '-W', '1', to]);
  await ping.waitForLine(/bytes from/, 5_000);
  await during();
  await ping.wait();
  const { sent, received } = pingLoss(ping.output);
  return { sent, lost: sent - received };
}

async function restart(n: MeshNode, withDaemon: boolean): Promise<void> {
  const daemon = Number(readFileSync(pidPath(n.stateDir, n.iface), 'utf8').trim());
  await m.stopAgent(n, 'kill');
  if (withDaemon) {
    process.kill(daemon, 'SIGKILL');
    await waitFor('wireguard-go gone', async () => !(await nsExec(n.lab.ns, 'ip', ['link', 'show', n.iface])).stdout.includes(n.iface), 5_000, 20);
  }
  const a = m.startAgent(n);
  await a.waitForLine(/"msg":"synced"/, 20_000);
}

/** Bytes one TCP stream moves from `from` to `toIP` in SECONDS; Gbit/s. */
async function throughput(from: string, to: string, toIP: string): Promise<number> {
  const port = 5201;
  const server = m.spawn(to, workloadPaths().node, ['-e', `
    const s = require('node:net').createServer((c) => { let n = 0; const t0 = process.hrtime.bigint();
      c.on('data', (d) => { n += d.length; });
      c.on('end', () => { const secs = Number(process.hrtime.bigint() - t0) / 1e9; console.log('bytes ' + n + ' secs ' + secs); s.close(); });
    }).listen(${port}, () => console.log('ready'));`]);
  await server.waitForLine(/^ready/, 10_000);
  await nsExec(from, workloadPaths().node, ['-e', `
    const c = require('node:net').connect(${port}, '${toIP}', () => {
      const buf = Buffer.alloc(256 * 1024); const end = Date.now() + ${SECONDS * 1000};
      const pump = () => { while (Date.now() < end) { if (!c.write(buf)) return c.once('drain', pump); } c.end(); };
      pump();
    });`], { timeoutMs: (SECONDS + 30) * 1000 });
  const [, bytes, secs] = await server.waitForLine(/^bytes (\d+) secs (\S+)/, 30_000);
  return (Number(bytes) * 8) / Number(secs) / 1e9;
}

try {
  await m.start();
  const [n1, n2, n3] = [await m.addNode('n1'), await m.addNode('n2'), await m.addNode('n3')];
  for (const n of [n1, n2, n3]) m.startAgent(n);
  await waitFor('a full mesh', async () => {
    for (const n of [n1, n2, n3]) if ((await m.dump(n)).peers.size !== 2) return false;
    return true;
  }, 30_000);
  const [p1, p3] = await Promise.all([m.addPod(n1, 'p1'), m.addPod(n3, 'p3')]);
  await waitFor('p1 → p3', () => m.ping(p1.ns, p3.ip), 15_000);

  for (const [name, withDaemon] of [['process', false], ['container', true]] as const) {
    for (let r = 0; r < ROUNDS; r++) {
      const { sent, lost } = await lossDuring(p1.ns, p3.ip, 12_000, () => restart(n1, withDaemon));
      console.log(`restart (${name}) round ${r + 1}: lost ${lost} of ${sent} pings at ${INTERVAL_MS} ms = ~${lost * INTERVAL_MS} ms without pod traffic`);
      await waitFor('p1 → p3 again', () => m.ping(p1.ns, p3.ip), 15_000);
    }
  }

  const tunnel: number[] = [];
  const underlay: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    tunnel.push(await throughput(p1.ns, p3.ns, p3.ip));
    underlay.push(await throughput(n1.lab.ns, n3.lab.ns, n3.lab.ipv4));
    console.log(`throughput round ${r + 1}: wireguard-go ${tunnel.at(-1)!.toFixed(2)} Gbit/s, underlay ${underlay.at(-1)!.toFixed(2)} Gbit/s`);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const version = (await nsExec(n1.lab.ns, 'wireguard-go', ['--version'])).stdout.trim().split('\n')[0];
  console.log(`\n${version}; one TCP stream, ${SECONDS} s, median of ${ROUNDS}: wireguard-go ${med(tunnel).toFixed(2)} Gbit/s vs underlay ${med(underlay).toFixed(2)} Gbit/s (${(med(tunnel) / med(underlay)).toFixed(3)}×)`);
} finally {
  await m.destroy();
  await sleep(100);
}
