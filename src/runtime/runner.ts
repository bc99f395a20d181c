// Runs one module: coalesces view changes with a minimum interval, syncs, retries failures
// with backoff (incremental once, then full), and reports health. One runner never waits on
// another, and the watch only ever merges key sets into `pending`.
import { collectGarbageSoon, collectGarbageWhenQuiet, memoryFirst } from './gc.ts';
import type { Logger } from 'pino';
import type { NodeView } from '../view/view.ts';
import { emptyChanges, hasChanges, mergeChanges } from '../view/view.ts';
import type { ViewChanges } from '../view/types.ts';
import type { Registry } from './metrics.ts';
import { consumes, type Module } from './module.ts';
import { missingPrograms } from '../sys/exec.ts';
import type { ChangeFeed, ChangeReason } from '../sys/nft-events.ts';

export type { Module } from './module.ts';

export interface RunnerOptions {
  minIntervalMs: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Consecutive failures after which the retry is a full resync. */
  fullAfterFailures?: number;
  /** How often a synced module is asked whether its dataplane drifted (Module.drifted); 0 = never. */
  driftCheckMs?: number;
  /** Says when the host's nftables changed: drift checks then run on a change, and every driftFallbackMs. */
  changes?: ChangeFeed;
  /** The periodic check while `changes` is live (it catches what no event shows). */
  driftFallbackMs?: number;
  /** A change is checked this long after it (a burst of them: once). */
  driftDebounceMs?: number;
}

/**
 * Without a change feed, within this (plus a full sync) of a firewall reload the dataplane is
 * back (kube-proxy only resyncs hourly). Each check runs a few small `nft` listings per module,
 * which was the idle agent's main CPU cost (1.7 % of a core at 5 s, 2.8 % at 2 s), so with the
 * nftables event listener (src/sys/nft-events.ts) running the checks wait for a change and the
 * period is DRIFT_FALLBACK_MS.
 */
export const DRIFT_CHECK_MS = 5_000;
export const DRIFT_FALLBACK_MS = 60_000;
export const DRIFT_DEBOUNCE_MS = 250;

export interface ModuleHealth {
  name: string;
  synced: boolean; // applied its first sync
  lastSuccess: number; // ms epoch, 0 = never
  lastError: string;
  failures: number; // consecutive
  pendingSince: number; // ms epoch of the oldest unapplied change, 0 = none
  /** Programs the module needs that are not installed, each with the package to install. */
  missing: string[];
}

export class ModuleRunner {
  readonly module: Module;
  private readonly view: NodeView;
  private readonly log: Logger;
  private readonly opts: Required<Omit<RunnerOptions, 'changes'>> & Pick<RunnerOptions, 'changes'>;
  private pending: ViewChanges = emptyChanges(true);
  private pendingSince = 0;
  private running = false;
  /** Cancels the scheduled run (set while one is scheduled). */
  private timer: (() => void) | undefined;
  private lastStart = 0;
  private backoff: number;
  private failures = 0;
  private closed = false;
  /** The last failure logged: the same one again (a retry) is logged at debug, not once per backoff. */
  private lastLogged = '';
  private idleWaiters: (() => void)[] = [];
  readonly health: ModuleHealth;
  private readonly m;

  constructor(module: Module, view: NodeView, log: Logger, reg: Registry, opts: RunnerOptions) {
    this.module = module;
    this.view = view;
    this.log = log.child({ module: module.name });
    this.opts = {
      minBackoffMs: 1000, maxBackoffMs: 30_000, fullAfterFailures: 2, driftCheckMs: DRIFT_CHECK_MS,
      driftFallbackMs: DRIFT_FALLBACK_MS, driftDebounceMs: DRIFT_DEBOUNCE_MS, ...opts,
    };
    this.backoff = this.opts.minBackoffMs;
    this.health = { name: module.name, synced: false, lastSuccess: 0, lastError: '', failures: 0, pendingSince: 0, missing: [] };
    this.m = {
      syncs: reg.counter('nodeway_module_syncs_total', 'Module syncs, by module and result (success, error) and kind (full, partial).'),
      duration: reg.histogram('nodeway_module_sync_duration_seconds', 'Time one module sync took, by module.'),
      ready: reg.gauge('nodeway_module_ready', '1 once the module applied its first sync.'),
      drifts: reg.counter('nodeway_module_drift_repairs_total', 'Full syncs because the dataplane changed underneath the module (a firewall reload, a deleted table), by module.'),
      driftChecks: reg.counter('nodeway_module_drift_checks_total', 'Times a module was asked whether its dataplane changed underneath it, by module and trigger (change: an nftables event; period).'),
    };
    this.m.ready.set({ module: module.name }, 0);
    view.subscribe((c) => this.onChanges(c));
    // A view published before this runner subscribed still needs its first (full) sync.
    if (view.ready) this.schedule();
    if (module.drifted && this.opts.driftCheckMs > 0) {
      this.unsubscribe = this.opts.changes?.subscribe((why) => this.suspectDrift(why));
      this.scheduleDriftCheck();
    }
  }

  private driftTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** An nftables change not yet checked. */
  private suspect = false;
  /** What the suspicion rests on: someone else's change, or only events the feed lost. */
  private suspectWhy: ChangeReason | undefined;
  /** When the last check started, and when the scheduled one is due. */
  private lastCheck = 0;
  private dueAt = 0;
  private checking = false;
  /** The drift timer is a change's (debounce), not the period's: further changes do not push it back. */
  private changeDue = false;

  /** The next periodic check: seldom while the change feed is live, often while it is not. */
  private scheduleDriftCheck(delayMs?: number): void {
    if (this.closed) return;
    clearTimeout(this.driftTimer);
    const period = this.opts.changes?.live ? this.opts.driftFallbackMs : this.opts.driftCheckMs;
    const trigger = delayMs === undefined ? 'period' : 'change';
    this.changeDue = trigger === 'change';
    this.dueAt = Date.now() + (delayMs ?? period);
    this.driftTimer = setTimeout(() => {
      this.changeDue = false;
      void this.checkDrift(trigger);
    }, delayMs ?? period);
    this.driftTimer.unref();
  }

  /** nftables changed (or the feed lost events, or stopped: then the period shortens). */
  private suspectDrift(why: ChangeReason): void {
    if (this.closed) return;
    this.suspect = true;
    if (this.suspectWhy !== 'change') this.suspectWhy = why;
    if (this.checking) return;
    // A change's check is not pushed back by further ones, but one due sooner replaces a later.
    const delay = this.suspectDelay();
    if (!this.changeDue || Date.now() + delay < this.dueAt) this.scheduleDriftCheck(delay);
  }

  /**
   * Someone else's change: checked after the debounce. Only lost events: xtables-monitor says
   * so after each restart, and every transaction changing the proxy's or netpol's own ip/ip6
   * rules ends it (up to 4 restarts a second under Service churn, each a round of `nft`
   * listings in every module); those are checked at most every driftCheckMs, as the checks
   * poll while it is down.
   */
  private suspectDelay(): number {
    const debounce = this.opts.driftDebounceMs;
    if (this.suspectWhy === 'change') return debounce;
    return Math.max(debounce, this.lastCheck + this.opts.driftCheckMs - Date.now());
  }

  private async checkDrift(trigger: 'change' | 'period'): Promise<void> {
    // Only a module at rest: a sync in flight or owed compares with the host anyway, and a
    // change seen meanwhile is checked once it is done (run() below).
    if (this.closed) return;
    if (this.running || !this.health.synced || hasChanges(this.pending)) return this.scheduleDriftCheck();
    this.checking = true;
    this.suspect = false;
    this.suspectWhy = undefined;
    this.lastCheck = Date.now();
    this.m.driftChecks.inc({ module: this.module.name, trigger });
    let drifted = false;
    try {
      drifted = (await this.module.drifted?.()) ?? false;
    } catch (err) {
      this.log.debug({ err: String((err as Error)?.message ?? err) }, 'drift check failed');
    } finally {
      this.checking = false;
      collectGarbageWhenQuiet();
    }
    if (this.closed) return;
    // A change during the check: once more.
    this.scheduleDriftCheck(this.suspect ? this.suspectDelay() : undefined);
    if (!drifted) return;
    this.m.drifts.inc({ module: this.module.name });
    this.log.warn('dataplane changed underneath (a firewall reload or a deleted table?): full resync');
    this.pending.full = true;
    if (!this.pendingSince) this.pendingSince = Date.now();
    this.health.pendingSince = this.pendingSince;
    this.schedule();
  }

  private onChanges(c: ViewChanges): void {
    // A change to a part of the view this module does not read never wakes it.
    if (this.closed || !consumes(this.module.inputs, c)) return;
    this.module.queued?.();
    mergeChanges(this.pending, c);
    if (!this.pendingSince) this.pendingSince = Date.now();
    // A change that arrives while a sync runs does not hide the older one that sync is applying.
    this.health.pendingSince ||= this.pendingSince;
    this.schedule();
  }

  private schedule(delayMs?: number): void {
    if (this.closed || this.running || this.timer || !this.view.ready) return;
    const wait = delayMs ?? Math.max(0, this.lastStart + this.opts.minIntervalMs - Date.now());
    const go = () => {
      this.timer = undefined;
      void this.run();
    };
    // A change after a quiet spell (beyond the min interval) runs at once: setTimeout(0) would
    // add a millisecond to every isolated change's latency.
    if (wait > 0) {
      const t = setTimeout(go, wait);
      this.timer = () => clearTimeout(t);
    } else {
      const t = setImmediate(go);
      this.timer = () => clearImmediate(t);
    }
  }

  private async run(): Promise<void> {
    if (this.closed || this.running) return;
    if (!hasChanges(this.pending) && this.health.synced) return this.idle();
    this.running = true;
    this.lastStart = Date.now();
    const changes = this.pending;
    this.pending = emptyChanges();
    const since = this.pendingSince;
    this.pendingSince = 0;
    const kind = changes.full ? 'full' : 'partial';
    const t0 = performance.now();
    // A full sync builds the whole dataplane at once: V8 holds its garbage down meanwhile (gc.ts).
    const release = kind === 'full' ? memoryFirst() : undefined;
    try {
      try {
        await this.module.sync(this.view, changes);
      } finally {
        release?.();
      }
      const secs = (performance.now() - t0) / 1000;
      this.m.duration.observe({ module: this.module.name }, secs);
      this.m.syncs.inc({ module: this.module.name, result: 'success', kind });
      this.failures = 0;
      if (this.lastLogged) this.log.info('sync succeeded again');
      this.lastLogged = '';
      this.backoff = this.opts.minBackoffMs;
      Object.assign(this.health, { synced: true, lastSuccess: Date.now(), lastError: '', failures: 0, pendingSince: this.pendingSince });
      this.m.ready.set({ module: this.module.name }, 1);
      // A full sync builds the whole dataplane at once (10k Services: ~100 MiB transient).
      if (kind === 'full') collectGarbageSoon();
      collectGarbageWhenQuiet();
      this.log.debug({ kind, ms: Math.round(secs * 1000), services: changes.services.size, peers: changes.peers.size }, 'synced');
    } catch (err) {
      this.m.syncs.inc({ module: this.module.name, result: 'error', kind });
      this.failures++;
      // What was not applied is still owed; after repeated failures, owe everything.
      mergeChanges(changes, this.pending);
      this.pending = changes;
      if (this.failures >= this.opts.fullAfterFailures) this.pending.full = true;
      this.pendingSince = since || Date.now();
      const msg = String((err as Error)?.message ?? err).split('\n').slice(0, 3).join(' | ');
      Object.assign(this.health, { lastError: msg, failures: this.failures, pendingSince: this.pendingSince });
      const repeat = msg === this.lastLogged;
      this.lastLogged = msg;
      this.log[repeat ? 'debug' : 'error']({ err: msg, failures: this.failures, retryMs: this.backoff, nextFull: this.pending.full }, 'sync failed');
      this.running = false;
      const wait = this.backoff;
      this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs);
      this.schedule(wait);
      return;
    }
    this.running = false;
    if (hasChanges(this.pending)) this.schedule();
    else {
      if (this.suspect && !this.checking && !this.changeDue) this.scheduleDriftCheck(this.suspectDelay());
      this.idle();
    }
  }

  private idle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Health as of now: the missing programs are looked up again (an install clears them). */
  status(): ModuleHealth {
    this.health.missing = missingPrograms(this.module.programs ?? []).map((e) => e.message);
    return this.health;
  }

  /** Resolves when nothing is pending and no sync runs (tests, `nodeway view`). */
  whenIdle(): Promise<void> {
    if (!this.running && !this.timer && !hasChanges(this.pending) && this.health.synced) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.();
    if (this.driftTimer) clearTimeout(this.driftTimer);
    this.unsubscribe?.();
    await this.module.close?.();
  }
}
