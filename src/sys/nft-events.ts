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
// every RESTART_ROUTINE_MS, src/sys/listener.ts) and, once it listens, subscribers hear 'lost': the transaction it
// died on, and any committed before it listens again, are checked then (rtnetlink-style
// generation ids cannot tell: under churn of the agent's own rules it dies before printing any).
// Other exits (killed, not installed, failing to start) restart after a delay that doubles while
// it keeps exiting (1 s to 1 min), and the checks poll every few seconds while it is down.
import type { Logger } from 'pino';
import type { Registry } from '../runtime/metrics.ts';
import { isOwnChild } from './exec.ts';
import { ListenerFeed, SupervisedListener } from './listener.ts';

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

export class NftEvents extends ListenerFeed<ChangeReason> implements ChangeFeed {
  protected readonly listener: SupervisedListener;
  /** The transaction being printed touched tables, chains or rules. */
  private structural = false;
  private readonly transactions;
  private readonly isOwn: (pid: number) => boolean;

  constructor(opts: NftEventsOptions = {}) {
    super();
    this.isOwn = opts.isOwn ?? isOwnChild;
    this.transactions = opts.registry?.counter('nodeway_nft_events_transactions_total', 'nftables transactions seen, by whose (own: the agent\'s nft runs; other) and what (structural: tables, chains or rules; elements).');
    this.listener = new SupervisedListener({
      command: ['stdbuf', '-oL', 'xtables-monitor', '-e'],
      programs: ['stdbuf', 'xtables-monitor'],
      what: 'nftables event listener',
      meanwhile: 'drift checks poll until it runs again',
      metrics: {
        prefix: 'nodeway_nft_events',
        up: '1 while the nftables event listener runs (drift checks then wait for changes; else they poll every few seconds).',
        exits: 'Times the nftables event listener exited or could not start, by reason.',
      },
    }, {
      line: (line) => this.onLine(line),
      routineExit: (tail) => (/Parsing nftables rule failed/.test(tail) ? 'unparsed' : /No buffer space/.test(tail) ? 'overflow' : undefined),
      listening: (again) => {
        this.structural = false;
        // It subscribes as it starts (checks wait DRIFT_DEBOUNCE_MS): what it missed is checked.
        if (again) this.emit('lost');
      },
      down: () => this.emit('lost'),
    }, opts);
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
    const own = this.isOwn(Number(gen[1]));
    this.transactions?.inc({ whose: own ? 'own' : 'other', what: structural ? 'structural' : 'elements' });
    if (structural && !own) this.emit('change');
  }
}
