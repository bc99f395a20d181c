// The one way the agent runs external programs (nft, ip, wg, wireguard-go, conntrack). A
// program that is not installed is one clear error naming its Debian package, logged once per
// program (not per call) and counted; a module that needs it is reported not ready (see
// missingPrograms) while the rest of the agent goes on. Failures are counted by program and
// reason in nodeway_exec_failures_total.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { execa } from 'execa';
import type { Logger } from 'pino';
import { Counter, type Registry } from '../runtime/metrics.ts';
import { findProgram, installHint, packageOf } from './programs.ts';

export { findProgram, installHint, packageOf };

/** The program is not on PATH (ENOENT). */
export class ProgramMissingError extends Error {
  readonly program: string;
  readonly package: string;
  constructor(program: string) {
    const pkg = packageOf(program);
    super(`${program} is not installed (not found on PATH): ${installHint([program])}`);
    this.program = program;
    this.package = pkg;
  }
}

/** The program ran and failed: non-zero exit (checked runs only), timeout or signal. */
export class CommandError extends Error {
  readonly program: string;
  readonly exitCode: number;
  readonly stderr: string;
  constructor(cmd: string, exitCode: number, stderr: string, program = cmd.split(' ')[0]!) {
    super(`${cmd}: ${stderr.trim().split('\n').slice(0, 3).join(' | ') || `exit ${exitCode}`}`);
    this.program = program;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

export function isProgramMissing(err: unknown): err is ProgramMissingError {
  return err instanceof ProgramMissingError;
}

export interface ExecOptions {
  input?: string;
  /** Default 60 s: a hung program must not hold a module's sync forever. */
  timeoutMs?: number;
  maxBuffer?: number;
  env?: Record<string, string>;
}

export interface ExecResult {
  ok: boolean;
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type FailureReason = 'missing' | 'exit' | 'timeout' | 'signal' | 'error';

const runs = new Counter('nodeway_exec_runs_total', 'External programs started, by program: what an idle agent should not be doing.');
const failures = new Counter('nodeway_exec_failures_total', 'External programs that could not run or failed, by program and reason: missing (also once when found absent at start), exit (a non-zero exit the caller treats as failure), timeout, signal, error.');
/** Programs last seen missing, with the error their callers got. */
const missing = new Map<string, ProgramMissingError>();
/** Programs whose absence was logged; cleared once the program runs again. */
const announced = new Set<string>();
let logger: Logger | undefined;

/** Where exec failures are logged and counted (the agent's logger and registry). */
export function reportExecTo(log: Logger | undefined, registry?: Registry): void {
  logger = log;
  registry?.register(failures);
  registry?.register(runs);
}

/** Pids of the agent's own recent children, with when each was started (src/sys/nft-events.ts). */
const children = new Map<number, number>();
/** Long after an nft run's transaction is reported, short of the kernel reusing its pid. */
const CHILD_MEMORY_MS = 60_000;

function remember(pid: number | undefined): void {
  if (pid === undefined) return;
  const now = Date.now();
  children.delete(pid); // a reused pid moves to the end
  children.set(pid, now);
  // Oldest first (insertion order): forget those past the window.
  for (const [p, t] of children) {
    if (now - t < CHILD_MEMORY_MS) break;
    children.delete(p);
  }
}

/** Whether `pid` is a program this agent started within the last minute (as this pid namespace numbers it). */
export function isOwnChild(pid: number): boolean {
  const t = children.get(pid);
  return t !== undefined && Date.now() - t < CHILD_MEMORY_MS;
}

/** nodeway_exec_failures_total for one program and reason (tests). */
export function execFailures(program: string, reason: FailureReason): number {
  return failures.get({ program, reason });
}

function count(program: string, reason: FailureReason): void {
  failures.inc({ program, reason });
}

function markMissing(program: string): ProgramMissingError {
  const err = missing.get(program) ?? new ProgramMissingError(program);
  missing.set(program, err);
  if (!announced.has(program)) {
    announced.add(program);
    logger?.error({ program, package: err.package }, err.message);
  }
  return err;
}

function markRan(program: string): void {
  if (announced.delete(program)) logger?.info({ program }, `${program} found again`);
  missing.delete(program);
}

/**
 * Of `programs`, those missing: seen missing at a run or at checkPrograms() and still not on
 * PATH (an install clears it without waiting for the next run).
 */
export function missingPrograms(programs: Iterable<string>): ProgramMissingError[] {
  const out: ProgramMissingError[] = [];
  for (const p of programs) {
    const err = missing.get(p);
    if (!err) continue;
    if (findProgram(p)) missing.delete(p);
    else out.push(err);
  }
  return out;
}

/** Looks each program up on PATH (as kube-proxy checks at start): missing ones are logged once and remembered. */
export function checkPrograms(programs: Iterable<string>): ProgramMissingError[] {
  const out: ProgramMissingError[] = [];
  for (const p of new Set(programs)) {
    if (findProgram(p)) continue;
    count(p, 'missing');
    out.push(markMissing(p));
  }
  return out;
}

/**
 * Runs `program`. A non-zero exit is an answer (ok false, for the caller to judge); a program
 * that could not run or finish — missing, timed out, killed — rejects.
 */
export async function exec(program: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  runs.inc({ program });
  const child = execa(program, args, {
    reject: false,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    ...(opts.input === undefined ? {} : { input: opts.input }),
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: opts.maxBuffer ?? 64 * 1024 * 1024,
    stripFinalNewline: false,
    ...(opts.env ? { env: opts.env } : {}),
  });
  remember(child.pid);
  const r = await child;
  const shown = [program, ...args.slice(0, 6)].join(' ');
  if (r.exitCode === undefined) {
    if (r.code === 'ENOENT') {
      count(program, 'missing');
      throw markMissing(program);
    }
    markRan(program);
    const reason: FailureReason = r.timedOut ? 'timeout' : r.signal ? 'signal' : 'error';
    count(program, reason);
    throw new CommandError(shown, -1, String(r.originalMessage || r.shortMessage || reason), program);
  }
  markRan(program);
  return { ok: r.exitCode === 0, exitCode: r.exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Like exec, but a non-zero exit rejects with a CommandError carrying the program's stderr. */
export async function run(program: string, args: string[], opts: ExecOptions = {}): Promise<string> {
  const r = await exec(program, args, opts);
  if (!r.ok) {
    count(program, 'exit');
    throw new CommandError([program, ...args.slice(0, 6)].join(' '), r.exitCode, r.stderr);
  }
  return r.stdout;
}

/**
 * Starts a long-lived program (a daemon) and resolves once it runs. Missing rejects with
 * ProgramMissingError; never an unhandled 'error' event, which would end the agent.
 */
export function spawnDaemon(program: string, args: string[], opts: { stdio: StdioOptions; env?: NodeJS.ProcessEnv; detached?: boolean }): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    runs.inc({ program });
    try {
      child = spawn(program, args, { detached: opts.detached ?? true, stdio: opts.stdio, env: opts.env });
    } catch (err) {
      count(program, 'error');
      reject(err);
      return;
    }
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a later error (e.g. a failed kill) is not a start failure
      if (err.code === 'ENOENT') {
        count(program, 'missing');
        reject(markMissing(program));
      } else {
        count(program, 'error');
        reject(new CommandError(program, -1, err.message, program));
      }
    });
    child.once('spawn', () => {
      markRan(program);
      resolve(child);
    });
  });
}
