// The one place the mesh runs programs: failures become errors that name the command and
// carry its stderr, so a sync error in /readyz says what the kernel refused.
import { execa } from 'execa';

export class CommandError extends Error {
  readonly exitCode: number;
  readonly stderr: string;
  constructor(cmd: string, exitCode: number, stderr: string) {
    super(`${cmd}: ${stderr.trim().split('\n').slice(0, 3).join(' | ') || `exit ${exitCode}`}`);
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

export async function run(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await execa(cmd, args, { input, reject: false, timeout: 30_000, stripFinalNewline: false });
  if (r.exitCode !== 0 || r.failed) {
    const shown = [cmd, ...args.slice(0, 6)].join(' ');
    throw new CommandError(shown, r.exitCode ?? -1, String(r.stderr || r.message || ''));
  }
  return String(r.stdout);
}

/** Like run, but a non-zero exit is an answer, not an error. */
export async function tryRun(cmd: string, args: string[], input?: string): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const r = await execa(cmd, args, { input, reject: false, timeout: 30_000 });
  return { ok: r.exitCode === 0 && !r.failed, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? r.message ?? '') };
}

/** `ip -j …` parsed; [] on empty output. */
export async function ipJSON(args: string[]): Promise<Record<string, unknown>[]> {
  const out = await run('ip', ['-j', ...args]);
  if (!out.trim()) return [];
  const v = JSON.parse(out) as unknown;
  return Array.isArray(v) ? (v as Record<string, unknown>[]) : [];
}
