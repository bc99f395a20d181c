// The shipped agent as a benchmark runs it: `bin/nodeway run --config` with the DaemonSet's
// config file (deploy/config.yaml), pointed at an API server process, in the bench's private
// network namespace; and what is read from it (/proc, its /metrics).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { ApiServerProcess } from '../test/support/apiserver-process.ts';
import { NODE } from './proxy-common.ts';
import type { MemCgroup } from './peak.ts';

export const CLUSTER_DNS = '198.18.255.10';
export const root = new URL('..', import.meta.url).pathname;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A /proc/PID/status field in MiB; NaN when the process is gone (a short-lived child). */
export function status(pid: number, field: string): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return NaN;
  }
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(text);
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * The agent and its live descendants (wireguard-go): CPU ticks each, their own (utime + stime) and
 * their children's that have exited (cutime + cstime: the nft, ip and wg runs).
 */
export function tree(pid: number): { pid: number; comm: string; ticks: number; own: number }[] {
  const procs = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const own = Number(f[11]) + Number(f[12]);
      return [{ pid: Number(d), comm, ppid: Number(f[1]), own, ticks: own + Number(f[13]) + Number(f[14]) }];
    } catch {
      return [];
    }
  });
  const out = procs.filter((p) => p.pid === pid);
  for (let i = 0; i < out.length; i++) out.push(...procs.filter((p) => p.ppid === out[i]!.pid));
  return out;
}

export async function settledRss(pid: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(status(pid, 'RssAnon'));
    await sleep(300);
  }
  return xs.sort((a, b) => a - b)[2]!;
}

export async function metrics(): Promise<string> {
  return (await fetch('http://127.0.0.1:10256/metrics')).text();
}

export function metric(text: string, re: RegExp): number {
  let n = 0;
  for (const m of text.matchAll(re)) n += Number(m[1]);
  return n;
}

let runs = 0;

/** The DaemonSet's config file, pointed at this run's API server, paths and lab addresses. */
export function configFile(tmp: string, api: ApiServerProcess, modules: string): string {
  const cm = parse(readFileSync(join(root, 'deploy/config.yaml'), 'utf8')) as { data: Record<string, string> };
  const cfg = parse(cm.data['config.yaml']!) as Record<string, unknown>;
  const dir = mkdtempSync(join(tmp, 'node-'));
  for (const d of ['state', 'cni-conf', 'cni-bin']) mkdirSync(join(dir, d));
  // What the DaemonSet's init container installs.
  for (const p of ['bridge', 'host-local', 'portmap', 'loopback']) symlinkSync(`/usr/lib/cni/${p}`, join(dir, 'cni-bin', p));
  Object.assign(cfg, {
    apiserver: api.url,
    clusterCIDR: ['198.18.128.0/17'],
    clusterDNS: [CLUSTER_DNS],
    healthListen: '127.0.0.1:10256',
    logLevel: 'warn',
    stateDir: join(dir, 'state'),
    cniConfDir: join(dir, 'cni-conf'),
    cniBinDir: join(dir, 'cni-bin'),
    // wireguard-go's socket is per host (/var/run/wireguard): a name of this run's own.
    wgInterface: `shp${process.pid % 10_000}w${++runs}`,
  });
  if (modules !== 'daemonset') cfg.modules = modules === 'none' ? ['none'] : modules.split(',');
  // NODEWAY_BENCH_CONFIG='{"key": value}': config keys set on top of the DaemonSet's (experiments); null removes one.
  for (const [k, v] of Object.entries(JSON.parse(process.env.NODEWAY_BENCH_CONFIG ?? '{}') as Record<string, unknown>)) {
    if (v === null) delete cfg[k];
    else cfg[k] = v;
  }
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify(cfg));
  return file;
}

export async function ready(agent: ChildProcess, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (agent.exitCode !== null || agent.signalCode !== null) throw new Error(`agent exited (${agent.exitCode ?? agent.signalCode})`);
    try {
      if ((await fetch('http://127.0.0.1:10256/readyz')).status === 200) return;
    } catch {}
    await sleep(100);
  }
  throw new Error('agent never became ready');
}


/**
 * Starts the agent as the DaemonSet does (NODE_NAME from the environment); in a memory cgroup
 * when given one (entered before the exec, so the agent and every child it starts are charged to it).
 */
export function startAgent(cfg: string, api: ApiServerProcess, cgroup?: MemCgroup, agentRoot = root): ChildProcess {
  assertBuilt(agentRoot);
  // NODEWAY_BENCH_AGENT_STDOUT=file keeps what the agent prints (e.g. NODEWAY_NODE_FLAGS=--trace-gc).
  const out = process.env.NODEWAY_BENCH_AGENT_STDOUT ? openSync(process.env.NODEWAY_BENCH_AGENT_STDOUT, 'a') : 'ignore';
  const argv = [join(agentRoot, 'bin/nodeway'), 'run', '--config', cfg, '--kubeconfig', api.kubeconfig];
  const [cmd, args] = cgroup ? ['sh', ['-c', cgroup.enter(), 'sh', ...argv]] : [argv[0]!, argv.slice(1)];
  return spawn(cmd, args, { stdio: ['ignore', out, 'inherit'], env: { ...process.env, NODE_NAME: NODE } });
}

/** Stops the agent, then removes the dataplane it leaves in place by design (wireguard-go too). */
export async function stopAgent(agent: ChildProcess, cfg: string): Promise<void> {
  agent.kill('SIGTERM');
  await new Promise((r) => (agent.exitCode !== null ? r(null) : agent.once('exit', r)));
  await new Promise((r) => spawn(join(root, 'bin/nodeway'), ['cleanup', '--config', cfg], { stdio: 'ignore', env: { ...process.env, NODE_NAME: NODE } }).once('exit', r));
}

/** nodeway_exec_runs_total by program. */
export function execRuns(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^nodeway_exec_runs_total\{program="([^"]+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

export const PROXY_SYNCS = /^nodeway_module_syncs_total\{[^}]*module="proxy"[^}]*\} (\d+)/gm;

/**
 * bin/nodeway runs dist/, not the sources: a bench of a checkout whose build is older than its
 * sources measures another agent (it happened once: a whole quiet round measured the last session's).
 */
export function assertBuilt(dir: string): void {
  const built = statSync(join(dir, 'dist/nodeway.mjs'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const newest = (d: string): number => {
    let t = 0;
    for (const e of readdirSync(join(dir, d), { withFileTypes: true, recursive: true })) {
      if (e.isFile() && e.name.endsWith('.ts')) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
    }
    return t;
  };
  const src = Math.max(...['cmd', 'src', 'modules'].map(newest));
  if (built < src) throw new Error(`${dir}/dist is older than its sources (or missing): run \`npm run build\` there first`);
}
