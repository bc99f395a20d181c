import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Works from testbed/lab (tests) and from the dist/ bundle (the `nodeway lab`
// demo): the workloads are always run from the source tree as .ts files.
function findLabDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    for (const cand of [dir, join(dir, 'testbed', 'lab')]) {
      if (existsSync(join(cand, 'echo-server.ts')) && existsSync(join(cand, 'probe.ts'))) return cand;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find testbed/lab/echo-server.ts next to the nodeway code');
    dir = up;
  }
}

function findNode(labDir: string): string {
  const pinned = join(labDir, '..', '..', 'node_modules', 'node', 'bin', 'node');
  return existsSync(pinned) ? pinned : process.execPath;
}

let cached: { node: string; echoServer: string; probe: string } | undefined;

/** Absolute paths of the pinned Node and the workload programs. */
export function workloadPaths(): { node: string; echoServer: string; probe: string } {
  if (!cached) {
    const dir = findLabDir();
    cached = { node: findNode(dir), echoServer: join(dir, 'echo-server.ts'), probe: join(dir, 'probe.ts') };
  }
  return cached;
}

export interface EchoServerOptions {
  /** What the server calls itself in every answer; defaults to the endpoint name. */
  name?: string;
  tcp?: number[];
  udp?: number[];
  readyTimeoutMs?: number;
}

export function echoServerArgs(name: string, opts: EchoServerOptions): string[] {
  const args = [workloadPaths().echoServer, '--name', name, '--exit-with-stdin'];
  if (opts.tcp?.length) args.push('--tcp', opts.tcp.join(','));
  if (opts.udp?.length) args.push('--udp', opts.udp.join(','));
  return args;
}

export interface ProbeTarget {
  proto: 'tcp' | 'udp' | 'http';
  host: string;
  port: number;
  /** Per attempt; default 1000 ms. */
  timeoutMs?: number;
  intervalMs?: number;
  source?: string;
  sport?: number;
  payload?: string;
}

export type ProbeOutcome = 'ok' | 'refused' | 'timeout' | 'unreachable' | 'reset' | 'noreply' | 'http-status' | 'error';

export interface ProbeResult {
  outcome: ProbeOutcome;
  /** The raw line the probe printed. */
  line: string;
  /** What the server answered (ok and http-status). */
  answer?: string;
  /** name=, client= and local= from an echo-server answer. */
  name?: string;
  client?: string;
  local?: string;
  status?: number;
}

export function probeArgs(t: ProbeTarget, count: number): string[] {
  const args = [workloadPaths().probe, t.proto, t.host, String(t.port), '--count', String(count)];
  if (t.timeoutMs !== undefined) args.push('--timeout', String(t.timeoutMs));
  if (t.intervalMs !== undefined) args.push('--interval', String(t.intervalMs));
  if (t.source !== undefined) args.push('--source', t.source);
  if (t.sport !== undefined) args.push('--sport', String(t.sport));
  if (t.payload !== undefined) args.push('--payload', t.payload);
  return args;
}

/** Upper bound for one probe run, past which the probe has surely exited. */
export function probeBudgetMs(t: ProbeTarget, count: number): number {
  return count * ((t.timeoutMs ?? 1_000) + (t.intervalMs ?? 0)) + 5_000;
}

function fields(answer: string): Pick<ProbeResult, 'name' | 'client' | 'local'> {
  const out: Pick<ProbeResult, 'name' | 'client' | 'local'> = {};
  for (const m of answer.matchAll(/\b(name|client|local)=(\S+)/g)) out[m[1] as 'name' | 'client' | 'local'] = m[2];
  return out;
}

export function parseProbeLine(line: string): ProbeResult {
  const [head = '', ...rest] = line.trim().split(' ');
  const tail = rest.join(' ');
  if (head === 'ok') return { outcome: 'ok', line, answer: tail, ...fields(tail) };
  const http = /^http-(\d{3})$/.exec(head);
  if (http) return { outcome: 'http-status', line, status: Number(http[1]), answer: tail, ...fields(tail) };
  if (['refused', 'timeout', 'unreachable', 'reset', 'noreply'].includes(head)) return { outcome: head as ProbeOutcome, line };
  return { outcome: 'error', line };
}
