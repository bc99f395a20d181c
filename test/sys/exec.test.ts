// The one exec wrapper: a missing program is one error naming its Debian package, logged once
// per program and counted; a failing one carries its stderr; a daemon that cannot start rejects
// instead of crashing the process with an unhandled 'error' event.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/runtime/metrics.ts';
import { Serial } from '../../src/runtime/serial.ts';
import { CommandError, checkPrograms, exec, execFailures, findProgram, installHint, missingPrograms, packageOf, ProgramMissingError, reportExecTo, run, spawnDaemon } from '../../src/sys/exec.ts';

const dir = mkdtempSync(join(tmpdir(), 'nodeway-rob-exec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

describe('exec', () => {
  it('names the Debian package of each program the agent runs', () => {
    expect(Object.fromEntries(['nft', 'ip', 'wg', 'wireguard-go', 'conntrack'].map((p) => [p, packageOf(p)]))).toEqual({
      nft: 'nftables', ip: 'iproute2', wg: 'wireguard-tools', 'wireguard-go': 'wireguard-go', conntrack: 'conntrack',
    });
    expect(installHint(['nft', 'ip', 'nft'])).toBe('install the Debian packages nftables, iproute2 (apt-get install nftables iproute2)');
  });

  it('turns a missing program into one error with its package, logged once, counted per call', async () => {
    const { log, lines } = capture();
    const reg = new Registry();
    reportExecTo(log, reg);
    const prog = 'nodeway-rob-missing';
    const before = execFailures(prog, 'missing');
    for (let i = 0; i < 3; i++) {
      const err = await exec(prog, ['x']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProgramMissingError);
      expect((err as Error).message).toBe(`${prog} is not installed (not found on PATH): install the Debian package ${prog} (apt-get install ${prog})`);
    }
    await expect(run(prog, [])).rejects.toBeInstanceOf(ProgramMissingError);
    expect(execFailures(prog, 'missing') - before).toBe(4);
    expect(lines.filter((l) => String(l.msg).includes(prog))).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, program: prog });
    expect(reg.render()).toContain(`nodeway_exec_failures_total{program="${prog}",reason="missing"} 4`);
    expect(missingPrograms([prog, 'sh']).map((e) => e.program)).toEqual([prog]);
    reportExecTo(undefined);
  });

  it('forgets a missing program once it is on PATH again, and says so', async () => {
    const { log, lines } = capture();
    reportExecTo(log);
    const prog = 'nodeway-rob-late';
    const bin = join(dir, 'late');
    rmSync(bin, { recursive: true, force: true });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      expect(checkPrograms([prog]).map((e) => e.program)).toEqual([prog]);
      expect(missingPrograms([prog])).toHaveLength(1);
      mkdirSync(bin);
      writeFileSync(join(bin, prog), '#!/bin/sh\necho here\n');
      chmodSync(join(bin, prog), 0o755);
      expect(findProgram(prog)).toBe(join(bin, prog));
      expect(missingPrograms([prog])).toHaveLength(0);
      expect(await run(prog, [])).toBe('here\n');
      expect(lines.map((l) => l.msg)).toEqual([expect.stringContaining(`${prog} is not installed`), `${prog} found again`]);
    } finally {
      process.env.PATH = path;
      reportExecTo(undefined);
    }
  });

  it('returns a non-zero exit from exec; run rejects with the stderr and counts it', async () => {
    const r = await exec('sh', ['-c', 'echo out; echo bad thing >&2; exit 3']);
    expect(r).toEqual({ ok: false, exitCode: 3, stdout: 'out\n', stderr: 'bad thing\n' });
    const before = execFailures('sh', 'exit');
    const err = await run('sh', ['-c', 'echo bad thing >&2; exit 3']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).message).toBe('sh -c echo bad thing >&2; exit 3: bad thing');
    expect((err as CommandError).exitCode).toBe(3);
    expect(execFailures('sh', 'exit') - before).toBe(1);
    expect(await run('sh', ['-c', 'cat'], { input: 'piped' })).toBe('piped');
  });

  it('rejects a run that times out', async () => {
    const before = execFailures('sleep', 'timeout');
    await expect(exec('sleep', ['5'], { timeoutMs: 100 })).rejects.toThrow(/timed out/);
    expect(execFailures('sleep', 'timeout') - before).toBe(1);
  });

  it('a daemon that is not installed rejects; nothing is left to crash the process', async () => {
    await expect(spawnDaemon('nodeway-rob-nodaemon', [], { stdio: 'ignore' })).rejects.toThrow(/nodeway-rob-nodaemon is not installed/);
    const child = await spawnDaemon('sleep', ['0.1'], { stdio: 'ignore', detached: false });
    expect(child.pid).toBeGreaterThan(0);
    await new Promise((r) => child.once('exit', r));
  });
});

describe('Serial', () => {
  it('runs one at a time in order; a failure does not block what follows', async () => {
    const s = new Serial();
    const seen: string[] = [];
    let running = 0;
    const job = (name: string, fail = false) => s.run(async () => {
      running++;
      expect(running).toBe(1);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(name);
      running--;
      if (fail) throw new Error(name);
      return name;
    });
    const results = await Promise.allSettled([job('a'), job('b', true), job('c')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(seen).toEqual(['a', 'b', 'c']);
    await s.idle();
  });
});
