// The shipped agent as bench/shipped.ts runs it (DaemonSet config, TLS, bookmarks, private
// network namespace), left running for inspection by hand: /proc/PID/smaps, gdb, perf, or
// runtime flags through NODEWAY_NODE_FLAGS (--cpu-prof, --heapsnapshot-signal=SIGUSR2). Writes
// the agent's pid to PIDFILE once ready; PIDFILE.burst (touched) writes 1,000 endpoint changes
// at 20/s; PIDFILE.stop (or SECONDS) ends it. Run inside the namespace: nsenter -t PID -n ...
// Run: node bench/agent-probe.ts [services=10000] [per=10] [modules=daemonset] [seconds=600] [pidfile]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerProcess } from '../test/support/apiserver-process.ts';
import { configFile, ready, root, sleep, startAgent, stopAgent } from './agent-harness.ts';
import { NODE, NODE_IP, inPrivateNetns } from './proxy-common.ts';
import { fmtPeak, MemCgroup, PeakSampler } from './peak.ts';

inPrivateNetns();
const SERVICES = Number(process.argv[2] ?? 10_000);
const PER = Number(process.argv[3] ?? 10);
const MODULES = process.argv[4] ?? 'daemonset';
const SECONDS = Number(process.argv[5] ?? 600);
const PIDFILE = process.argv[6] ?? join(tmpdir(), 'nodeway-probe.pid');
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-probe-'));
const api = await ApiServerProcess.start({
  nodeName: NODE, nodeIP: NODE_IP, token: 'probe-token', bookmarkIntervalMs: 5000,
  shape: { services: SERVICES, endpointsPerService: PER, nodes: 20, pods: 1000 },
});
const cfg = configFile(tmp, api, MODULES);
// NODEWAY_BENCH_CGROUP=1: the agent in a memory cgroup of its own (path printed; bench/peak.ts).
const cg = process.env.NODEWAY_BENCH_CGROUP === '1' ? MemCgroup.create(`nodeway-probe-${process.pid}`) : null;
if (cg) console.log(`memory cgroup ${cg.dir}`);
// NODEWAY_BENCH_AGENT_ROOT=DIR: another checkout's agent (built), for before/after.
const agent = startAgent(cfg, api, cg ?? undefined, process.env.NODEWAY_BENCH_AGENT_ROOT || undefined);
const sampler = new PeakSampler(agent.pid!);
try {
  const t0 = performance.now();
  await ready(agent, 180_000);
  console.log(`ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; agent pid ${agent.pid}`);
  await sleep(5000);
  console.log(`start-up peak (to 5 s after ready): ${fmtPeak(sampler.now())}${cg ? `; cgroup ${JSON.stringify(cg.figures())}` : ''}`);
  writeFileSync(PIDFILE, String(agent.pid));
  const end = Date.now() + SECONDS * 1000;
  while (Date.now() < end && !existsSync(`${PIDFILE}.stop`) && agent.exitCode === null && agent.signalCode === null) {
    if (existsSync(`${PIDFILE}.burst`)) {
      rmSync(`${PIDFILE}.burst`);
      for (let k = 0; k < 1000; k++) {
        await api.call({ op: 'endpointChange', service: (k * 7919 + 13) % SERVICES });
        await sleep(50);
      }
      console.log('burst done');
    }
    await sleep(500);
  }
} finally {
  sampler.stop();
  if (agent.exitCode === null && agent.signalCode === null) await stopAgent(agent, cfg);
  // Killed by hand: what it left (wireguard-go) is still removed.
  else spawnSync(join(root, 'bin/nodeway'), ['cleanup', '--config', cfg], { stdio: 'ignore', env: { ...process.env, NODE_NAME: NODE } });
  await cg?.remove();
  await api.stop();
  rmSync(tmp, { recursive: true, force: true });
}
