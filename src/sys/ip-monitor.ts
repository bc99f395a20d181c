// Tells a module when links, addresses or routes changed in the agent's network namespace, so
// that it needs no periodic `ip` reads to notice: one long-lived `ip -o monitor link address
// route` (both families; iproute2 flushes each line), parsed into events. What an event means
// (ours? something we depend on?) is the subscriber's to judge: the mesh keeps its filter pure
// (modules/mesh/host-events.ts).
//
// rtnetlink says nothing about who made a change, so the agent's own changes come back as
// events too; a subscriber judges them against what it applied. A listener that exits, or whose
// socket overflowed in a burst ("No buffer space available": events were dropped), is reported
// as 'lost' (the subscriber then reads the host once), and started again after a delay that
// doubles while it keeps exiting (1 s to 1 min), then 'lost' again (what changed meanwhile).
// Meanwhile `live` is false: subscribers poll.
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { Registry } from '../runtime/metrics.ts';
import { findProgram, installHint, spawnDaemon } from './exec.ts';

export type IpEvent =
  | { kind: 'link'; deleted: boolean; name: string; up: boolean; mtu: number }
  | { kind: 'addr'; deleted: boolean; name: string; family: 4 | 6; cidr: string; scope: string }
  | { kind: 'route'; deleted: boolean; type: string; dst: string; table: string; dev: string; proto: string; src: string; via: string }
  /** Events may have been missed (the listener stopped or overflowed): read the host again. */
  | { kind: 'lost' };

const LINK = /^(Deleted )?\d+: ([^:@\s]+)(?:@\S*)?: <([^>]*)>.*? mtu (\d+)/;
const ADDR = /^(Deleted )?\d+: (\S+)\s+inet(6?) (\S+) (?:.*? )?scope (\S+)/;
const ROUTE_TYPES = new Set(['unicast', 'local', 'broadcast', 'multicast', 'anycast', 'unreachable', 'prohibit', 'blackhole', 'throw', 'nat']);

/** One line of `ip -o monitor link address route`; undefined for anything else (neighbours, netconf, noise). */
export function parseIpMonitorLine(line: string): IpEvent | undefined {
  let m = LINK.exec(line);
  if (m) {
    const flags = m[3]!.split(',');
    return { kind: 'link', deleted: !!m[1], name: m[2]!, up: flags.includes('UP'), mtu: Number(m[4]) };
  }
  m = ADDR.exec(line);
  if (m) return { kind: 'addr', deleted: !!m[1], name: m[2]!, family: m[3] ? 6 : 4, cidr: m[4]!, scope: m[5]! };
  const words = line.trim().split(/\s+/);
  if (!words[0]) return undefined;
  const deleted = words[0] === 'Deleted';
  if (deleted) words.shift();
  let type = 'unicast';
  if (ROUTE_TYPES.has(words[0]!)) type = words.shift()!;
  const dst = words.shift();
  // A route line names its destination then key/value pairs; anything else is not one.
  if (!dst || !(dst === 'default' || /^[0-9a-f.:]+(\/\d+)?$/i.test(dst))) return undefined;
  const at = (k: string) => {
    const i = words.indexOf(k);
    return i >= 0 ? (words[i + 1] ?? '') : '';
  };
  return { kind: 'route', deleted, type, dst, table: at('table') || 'main', dev: at('dev'), proto: at('proto') || 'boot', src: at('src'), via: at('via') };
}

export interface IpMonitorOptions {
  log?: Logger;
  registry?: Registry;
  /** Runs the listener through this prefix (tests: `ip netns exec NS`). */
  prefix?: string[];
  minRestartMs?: number;
  maxRestartMs?: number;
}

const LISTENER = ['ip', '-o', 'monitor', 'link', 'address', 'route'];
/** A listener that ran this long before exiting restarts at the shortest delay again. */
const STABLE_MS = 60_000;

export class IpMonitor {
  private readonly opts: IpMonitorOptions & { minRestartMs: number; maxRestartMs: number };
  private readonly subs = new Set<(ev: IpEvent) => void>();
  private child: ChildProcess | undefined;
  private up = false;
  private closed = true;
  private restartMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private partial = '';
  private stderrTail = '';
  private readonly warned = new Set<string>();
  private saidDown = false;
  private ranBefore = false;
  private readonly m;

  constructor(opts: IpMonitorOptions = {}) {
    this.opts = { minRestartMs: 1000, maxRestartMs: 60_000, ...opts };
    this.restartMs = this.opts.minRestartMs;
    const reg = opts.registry;
    this.m = reg && {
      up: reg.gauge('nodeway_ip_monitor_up', '1 while the link/address/route event listener (`ip monitor`) runs; else the mesh reads the host every few seconds.'),
      exits: reg.counter('nodeway_ip_monitor_exits_total', 'Times the `ip monitor` listener exited, could not start, or overflowed (events lost), by reason.'),
      events: reg.counter('nodeway_ip_monitor_events_total', 'Link, address and route events heard, by kind.'),
    };
    this.m?.up.set({}, 0);
  }

  get live(): boolean {
    return this.up;
  }

  /** The listener's pid (`ip netns exec` execs it in place), while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  subscribe(fn: (ev: IpEvent) => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
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

  private emit(ev: IpEvent): void {
    this.m?.events.inc({ kind: ev.kind });
    for (const fn of this.subs) fn(ev);
  }

  private async launch(): Promise<void> {
    if (this.closed) return;
    const cmd = [...(this.opts.prefix ?? []), ...LISTENER];
    if (!findProgram('ip')) return this.failed('missing', `ip not installed (${installHint(['ip'])})`);
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
    this.startedAt = Date.now();
    this.partial = '';
    this.stderrTail = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => this.onData(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-500);
      // iproute2 goes on after an overflow; what the kernel dropped is unknown.
      if (/No buffer space/.test(chunk)) {
        this.m?.exits.inc({ reason: 'overflow' });
        this.emit({ kind: 'lost' });
      }
    });
    child.once('close', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.closed) return;
      const why = this.stderrTail.trim().split('\n').pop() || (signal ? `signal ${signal}` : `exit ${code}`);
      this.failed('exit', why);
    });
    this.setUp(true);
    if (this.saidDown) this.opts.log?.info('link/address/route event listener running again');
    this.saidDown = false;
    // Listening again: what changed while it was down is read once now.
    if (this.ranBefore) this.emit({ kind: 'lost' });
    this.ranBefore = true;
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
    const msg = `link/address/route event listener ${reason === 'missing' ? 'unavailable' : 'stopped'}: ${why}; the mesh reads the host every few seconds until it runs again`;
    if (!this.warned.has(reason)) {
      this.warned.add(reason);
      this.saidDown = true;
      this.opts.log?.warn({ retryMs: wait }, msg);
    } else this.opts.log?.debug({ retryMs: wait }, msg);
    if (wasUp) this.emit({ kind: 'lost' });
    if (this.closed) return;
    this.restartTimer = setTimeout(() => void this.launch(), wait);
    this.restartTimer.unref();
  }

  private onData(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      const ev = parseIpMonitorLine(line);
      if (ev) this.emit(ev);
    }
  }
}
