// One long-lived child whose stdout lines are events (xtables-monitor, `ip monitor`), kept
// running: started again after a delay that doubles while it keeps exiting (1 s to 1 min; back
// to the shortest once it ran a minute), each failure reason warned once, `up` and exits as
// metrics. What a line means, and which exits are routine, is the owner's (src/sys/nft-events.ts,
// src/sys/ip-monitor.ts).
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { Registry } from '../runtime/metrics.ts';
import { findProgram, installHint, spawnDaemon } from './exec.ts';

export interface ListenerSpec {
  /** The command; `programs` are looked up first, so a missing one is named with its package. */
  command: string[];
  programs: string[];
  /** "nftables event listener": how logs name it. */
  what: string;
  /** What happens while it is down, said when it goes: "drift checks poll until it runs again". */
  meanwhile: string;
  /** Metric names `<prefix>_up` and `<prefix>_exits_total`, and their help. */
  metrics: { prefix: string; up: string; exits: string };
}

export interface ListenerHooks {
  line(line: string): void;
  /** A piece of stderr as it comes; a reason returned is counted as an exit (a burst it overflowed on). */
  stderr?(chunk: string): string | undefined;
  /**
   * An exit caused by what it read (routine: no backoff, no warning, `live` stays true), by
   * reason; undefined: an ordinary exit. Reads the last 500 characters of its stderr.
   */
  routineExit?(stderrTail: string): string | undefined;
  /** Listening; `again`: it ran before, so whatever happened while it was away is unknown. */
  listening(again: boolean): void;
  /** It stopped while it was up (an ordinary exit): events are unknown until it is back. */
  down(): void;
}

export interface ListenerOptions {
  log?: Logger;
  registry?: Registry;
  /** Runs the command through this prefix (tests: `ip netns exec NS`). */
  prefix?: string[];
  minRestartMs?: number;
  maxRestartMs?: number;
}

/** A listener that ran this long before exiting restarts at the shortest delay again. */
const STABLE_MS = 60_000;
/** After a routine exit: started again at once, but not more often than this. */
export const RESTART_ROUTINE_MS = 250;

export class SupervisedListener {
  private readonly opts: ListenerOptions & { minRestartMs: number; maxRestartMs: number };
  private child: ChildProcess | undefined;
  private up = false;
  private closed = true;
  private ranBefore = false;
  private restartMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private lastStart = 0;
  private partial = '';
  private stderrTail = '';
  /** Failure reasons already logged at warn: each is said once per agent. */
  private readonly warned = new Set<string>();
  private saidDown = false;
  private readonly m;
  private readonly spec: ListenerSpec;
  private readonly hooks: ListenerHooks;

  constructor(spec: ListenerSpec, hooks: ListenerHooks, opts: ListenerOptions = {}) {
    this.spec = spec;
    this.hooks = hooks;
    this.opts = { minRestartMs: 1000, maxRestartMs: 60_000, ...opts };
    this.restartMs = this.opts.minRestartMs;
    const reg = opts.registry;
    this.m = reg && {
      up: reg.gauge(`${spec.metrics.prefix}_up`, spec.metrics.up),
      exits: reg.counter(`${spec.metrics.prefix}_exits_total`, spec.metrics.exits),
    };
    this.m?.up.set({}, 0);
  }

  get live(): boolean {
    return this.up;
  }

  /** The child's pid (stdbuf and `ip netns exec` exec in place), while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (!this.closed) return;
    this.closed = false;
    void this.launch();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.restartTimer);
    this.setUp(false);
    this.child?.kill();
    this.child = undefined;
  }

  private setUp(up: boolean): void {
    this.up = up;
    this.m?.up.set({}, up ? 1 : 0);
  }

  private async launch(): Promise<void> {
    if (this.closed) return;
    const absent = this.spec.programs.filter((p) => !findProgram(p));
    if (absent.length) return this.failed('missing', `${absent.join(' and ')} not installed (${installHint(absent)})`);
    const cmd = [...(this.opts.prefix ?? []), ...this.spec.command];
    let child: ChildProcess;
    try {
      child = await spawnDaemon(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
    } catch (err) {
      return this.failed('start', String((err as Error).message ?? err));
    }
    if (this.closed) {
      child.kill();
      return;
    }
    this.child = child;
    this.startedAt = this.lastStart = Date.now();
    this.partial = '';
    this.stderrTail = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => this.onData(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-500);
      const reason = this.hooks.stderr?.(chunk);
      if (reason) this.m?.exits.inc({ reason });
    });
    // 'close', not 'exit': its last words on stderr (why it stopped) are read by then.
    child.once('close', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.closed) return;
      const routine = this.hooks.routineExit?.(this.stderrTail);
      const why = this.stderrTail.trim().split('\n').filter((l) => !/^Perhaps /.test(l)).pop() || (signal ? `signal ${signal}` : `exit ${code}`);
      if (routine) this.restartRoutine(routine, why);
      else this.failed('exit', why);
    });
    this.setUp(true);
    if (this.saidDown) this.opts.log?.info(`${this.spec.what} running again`);
    this.saidDown = false;
    const again = this.ranBefore;
    this.ranBefore = true;
    this.hooks.listening(again);
  }

  /** Stays `live` for the moment it is away: `listening(true)` after the restart covers it. */
  private restartRoutine(reason: string, why: string): void {
    this.m?.exits.inc({ reason });
    this.startedAt = 0;
    this.opts.log?.debug(`${this.spec.what} stopped: ${why}; started again at once`);
    this.restartTimer = setTimeout(() => void this.launch(), Math.max(0, this.lastStart + RESTART_ROUTINE_MS - Date.now()));
    this.restartTimer.unref();
  }

  private failed(reason: 'missing' | 'start' | 'exit', why: string): void {
    const wasUp = this.up;
    this.setUp(false);
    this.m?.exits.inc({ reason });
    const ran = this.startedAt ? Date.now() - this.startedAt : 0;
    this.startedAt = 0;
    if (ran >= STABLE_MS) this.restartMs = this.opts.minRestartMs;
    const wait = this.restartMs;
    this.restartMs = Math.min(this.restartMs * 2, this.opts.maxRestartMs);
    const msg = `${this.spec.what} ${reason === 'missing' ? 'unavailable' : 'stopped'}: ${why}; ${this.spec.meanwhile}`;
    if (!this.warned.has(reason)) {
      this.warned.add(reason);
      this.saidDown = true;
      this.opts.log?.warn({ retryMs: wait }, msg);
    } else this.opts.log?.debug({ retryMs: wait }, msg);
    if (wasUp) this.hooks.down();
    if (this.closed) return;
    this.restartTimer = setTimeout(() => void this.launch(), wait);
    this.restartTimer.unref();
  }

  private onData(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.hooks.line(line);
  }
}

/** A feed of events from one supervised listener: subscribers, and the listener's state. */
export abstract class ListenerFeed<E> {
  private readonly subs = new Set<(ev: E) => void>();
  protected abstract readonly listener: SupervisedListener;

  /** True while it listens: subscribers can then rely on events instead of polling. */
  get live(): boolean {
    return this.listener.live;
  }

  /** The listener's pid, while it runs. */
  get pid(): number | undefined {
    return this.listener.pid;
  }

  /** `fn` runs on every event (callers debounce); returns the unsubscribe. */
  subscribe(fn: (ev: E) => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  start(): void {
    this.listener.start();
  }

  close(): void {
    this.listener.close();
  }

  protected emit(ev: E): void {
    for (const fn of this.subs) fn(ev);
  }
}
