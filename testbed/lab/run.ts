// The lab's commands run through the agent's one exec wrapper (src/sys/exec.ts); the lab
// only wants its answers as exit codes it can print (a missing program is 127, a run that
// timed out 124, one killed 128) and trimmed output, or a throw with `check`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { exec, isProgramMissing } from '../../src/sys/exec.ts';

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Throw (with the command's stderr) on a non-zero exit instead of returning it. */
  check?: boolean;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const trimEnd = (s: string) => (s.endsWith('\n') ? s.slice(0, -1) : s);

export async function run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  let res: ExecResult;
  try {
    const r = await exec(cmd, args, { input: opts.input, timeoutMs: opts.timeoutMs ?? 30_000, env: opts.env });
    res = { stdout: trimEnd(r.stdout), stderr: trimEnd(r.stderr), exitCode: r.exitCode };
  } catch (err) {
    const msg = String((err as Error).message ?? err);
    res = { stdout: '', stderr: msg, exitCode: isProgramMissing(err) ? 127 : /timed out/i.test(msg) ? 124 : 128 };
  }
  if (opts.check && res.exitCode !== 0) {
    const why = res.exitCode === 124 ? 'timed out' : `exit ${res.exitCode}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}: ${res.stderr || res.stdout}`.trim());
  }
  return res;
}

export function nsExec(ns: string, cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Runs many `ip` commands in one namespace with one process. */
export async function ipBatch(ns: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await run('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n', check: true });
}

export async function sysctl(ns: string, settings: Record<string, string | number>): Promise<void> {
  const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  await nsExec(ns, 'sysctl', ['-qw', ...args], { check: true });
}

export async function listNetns(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return parseNetnsList(r.stdout);
}

export function parseNetnsList(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d && existsSync(join(d, cmd)));
}

let pingCmd: string[] | undefined;

/** iputils ping where installed, else BusyBox's; both take -c, -q and -W. */
export function pingCommand(): string[] {
  if (!pingCmd) {
    if (onPath('ping')) pingCmd = ['ping'];
    else if (onPath('busybox')) pingCmd = ['busybox', 'ping'];
    else throw new Error('no ping found: install iputils-ping (or busybox)');
  }
  return pingCmd;
}
