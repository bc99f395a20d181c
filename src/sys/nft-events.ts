// Tells the drift checks when nftables changed, so that an idle agent runs no `nft` at all.
// One long-lived listener on the nftables event group of the agent's network namespace (a
// child inherits it): xtables-monitor (Debian iptables), which keeps no copy of the ruleset.
// `nft monitor` would do the same, but it loads the whole ruleset first and caches every element
// added after (measured: 25 MiB RssAnon at 1,000 Services × 10 endpoints, 171 MiB at 100k
// elements). xtables-monitor fully buffers a pipe, so it runs under `stdbuf -oL`.
//
// It prints each transaction as its objects (" EVENT: …": tables, chains, rules; set elements
// are not printed) followed by "NEWGEN: GENID=n PID=p NAME=comm". A transaction that touched
// tables, chains or rules is a change unless one of the agent's own nft runs made it; the
// kernel numbers that pid in the initial pid namespace, so in a pod without hostPID the agent's
// own transactions count as changes too (each then costs one cheap check, never a resync).
// Element-only transactions are not changes: the drift checks look at tables and chains.
//
// xtables-monitor exits on a rule of an ip or ip6 table that iptables cannot express ("Parsing
// nftables rule failed": the proxy's and netpol's own rules, or a firewall reload deleting them),
// and when a burst overflows its socket ("No buffer space available"). Nothing makes it go on
// (-4/-6 only narrow the family it parses), and `nft monitor`, which can print every rule, loads
// and keeps the whole ruleset (39 MiB RssAnon at 1,000 chains of 10 rules, against 0.16 MiB for
// xtables-monitor, side by side). So after such an exit it is started again at once (at most
// every RESTART_CHOKED_MS) and, once it listens, subscribers hear 'lost': the transaction it
// died on, and any committed before it listens again, are checked then (rtnetlink-style
// generation ids cannot tell: under churn of the agent's own rules it dies before printing any).
// Other exits (killed, not installed, failing to start) restart after a delay that doubles while
// it keeps exiting (1 s to 1 min), and the checks poll every few seconds while it is down.
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { Registry } from '../runtime/metrics.ts';
import { findProgram, installHint, isOwnChild, spawnDaemon } from './exec.ts';

export type ChangeReason = 'change' | 'lost';

/** Something that says when the host's dataplane may have changed (the runner's drift checks). */
export interface ChangeFeed {
  /** True while changes are being watched: the periodic check can then run seldom. */
  readonly live: boolean;
  /** `fn` runs on every possible change (callers debounce); returns the unsubscribe. */
  subscribe(fn: (why: ChangeReason) => void): () => void;
}

export interface NftEventsOptions {
  log?: Logger;
  registry?: Registry;
  /** Runs the listener through this prefix (tests: `ip netns exec NS`). */
  prefix?: string[];
  /** Whether a transaction's pid is the agent's own; default: a child exec.ts started. */
  isOwn?: (pid: number) => boolean;
  minRestartMs?: number;
  maxRestartMs?: number;
}

const LISTENER = ['stdbuf', '-oL', 'xtables-monitor', '-e'];
/** A listener that ran this long before exiting restarts at the shortest delay again. */
const STABLE_MS = 60_000;
/** After a rule it could not print or an overflow: started again at once, but not more often than this. */
export const RESTART_CHOKED_MS = 250;

export class NftEvents implements ChangeFeed {
  private readonly opts: NftEventsOptions & { minRestartMs: number; maxRestartMs: number };
  private readonly subs = new Set<(why: ChangeReason) => void>();
  private child: ChildProcess | undefined;
  private up = false;
  private closed = true;
  private restartMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private partial = '';
  private structural = false;
  private stderrTail = '';
  /** Failure reasons already logged at warn: each is said once per agent. */
  private readonly warned = new Set<string>();
  private saidDown = false;
  private readonly m;
  private lastStart = 0;
  /** It died on what it read: once it listens again, a check covers what it missed. */
  private choked = false;

  constructor(opts: NftEventsOptions = {}) {
    this.opts = { minRestartMs: 1000, maxRestartMs: 60_000, ...opts };
    this.restartMs = this.opts.minRestartMs;
    const reg = opts.registry;
    this.m = reg && {
      up: reg.gauge('nodeway_nft_events_up', '1 while the nftables event listener runs (drift checks then wait for changes; else they poll every few seconds).'),
      exits: reg.counter('nodeway_nft_events_exits_total', 'Times the nftables event listener exited or could not start, by reason.'),
      transactions: reg.counter('nodeway_nft_events_transactions_total', 'nftables transactions seen, by whose (own: the agent\'s nft runs; other) and what (structural: tables, chains or rules; elements).'),
    };
    this.m?.up.set({}, 0);
  }

  get live(): boolean {
    return this.up;
  }

  /** The listener's pid (stdbuf and `ip netns exec` exec it in place), while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  subscribe(fn: (why: ChangeReason) => void): () => void {
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

  private emit(why: ChangeReason): void {
    for (const fn of this.subs) fn(why);
  }

  private async launch(): Promise<void> {
    if (this.closed) return;
    const cmd = [...(this.opts.prefix ?? []), ...LISTENER];
    const absent = ['stdbuf', 'xtables-monitor'].filter((p) => !findProgram(p));
    if (absent.length) return this.failed('missing', `${absent.join(' and ')} not installed (${installHint(absent)})`);
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
    this.structural = false;
    this.stderrTail = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => this.onData(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-500);
    });
    // 'close', not 'exit': its last words on stderr (why it stopped) are read by then.
    child.once('close', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.closed) return;
      const why = this.stderrTail.trim().split('\n').filter((l) => !/^Perhaps /.test(l)).pop() || (signal ? `signal ${signal}` : `exit ${code}`);
      const reason = /Parsing nftables rule failed/.test(this.stderrTail) ? 'unparsed' : /No buffer space/.test(this.stderrTail) ? 'overflow' : 'exit';
      if (reason === 'exit') this.failed(reason, why);
      else this.restartChoked(reason, why);
    });
    // Listening from here on; whatever changed before was the periodic checks' to see.
    this.setUp(true);
    if (this.saidDown) this.opts.log?.info('nftables event listener running again');
    this.saidDown = false;
    // Listening again (it subscribes as it starts; checks wait DRIFT_DEBOUNCE_MS): what it missed is checked.
    if (this.choked) this.emit('lost');
    this.choked = false;
  }

  /**
   * Died on what it read (a rule it cannot print, an overflow): routine under churn of ip/ip6
   * rules, so no backoff and no warning. It stays `live` for the moment it is away: the 'lost'
   * that follows its restart covers that moment.
   */
  private restartChoked(reason: 'unparsed' | 'overflow', why: string): void {
    this.m?.exits.inc({ reason });
    this.choked = true;
    this.startedAt = 0;
    this.opts.log?.debug(`nftables event listener stopped: ${why}; started again at once`);
    this.restartTimer = setTimeout(() => void this.launch(), Math.max(0, this.lastStart + RESTART_CHOKED_MS - Date.now()));
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
    // Said once per reason.
    const msg = `nftables event listener ${reason === 'missing' ? 'unavailable' : 'stopped'}: ${why}; drift checks poll until it runs again`;
    if (!this.warned.has(reason)) {
      this.warned.add(reason);
      this.saidDown = true;
      this.opts.log?.warn({ retryMs: wait }, msg);
    } else this.opts.log?.debug({ retryMs: wait }, msg);
    this.choked = false;
    if (wasUp) this.emit('lost');
    if (this.closed) return;
    this.restartTimer = setTimeout(() => void this.launch(), wait);
    this.restartTimer.unref();
  }

  private onData(chunk: string): void {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: string): void {
    if (line.startsWith(' EVENT:')) {
      this.structural = true;
      return;
    }
    const gen = /^NEWGEN: GENID=\d+ PID=(\d+)/.exec(line);
    if (!gen) return;
    const structural = this.structural;
    this.structural = false;
    const own = (this.opts.isOwn ?? isOwnChild)(Number(gen[1]));
    this.m?.transactions.inc({ whose: own ? 'own' : 'other', what: structural ? 'structural' : 'elements' });
    if (structural && !own) this.emit('change');
  }
}
