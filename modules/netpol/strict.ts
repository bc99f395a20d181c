// Strict mode (opt-in): after a change that can deny flows that were allowed (an allow gone,
// a pod newly isolated), established flows the new rules deny are cut. Off by default: the
// spec leaves existing connections implementation-defined; a sweep lists the whole conntrack
// table of the family (its cost grows with the node's flows, not with the change); with strict
// mode every forwarded TCP/UDP/SCTP packet costs one more hash lookup (the strict-cut set);
// and cutting a long-lived connection is an outage many expect a policy edit not to cause
// (Calico, kube-router and nodeway by default keep established flows).
//
// How: the flow's two orientations go into the table's strict-cut set (dropped before the
// established-flow accept, for 10 minutes), then its conntrack entry is deleted.
//
// Which entries: every TCP/UDP/SCTP entry, judged as the forward hook saw its first packet
// (source = the original source, destination = the reply's source, i.e. after the proxy's
// DNAT, port = the reply's source port) by the plan's own interpreter (evaluate.ts), so the
// verdict is the one the rules now live would give. Entries with an end on this node (its
// addresses: traffic through input/output, which policy exempts) are never touched.
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { IPFamily, Protocol } from '../../src/kube/objects.ts';
import { canonicalIP } from '../../src/net/ip.ts';
import { exec, isProgramMissing } from '../../src/sys/exec.ts';
import { evaluate } from './evaluate.ts';
import type { FamilyDesired } from './model.ts';

export interface CtEntry {
  proto: 'tcp' | 'udp' | 'sctp';
  /** The original direction's tuple (what conntrack -D matches). */
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** The reply's source address and port: the destination after DNAT. */
  replySrc: string;
  replySport: number;
}

const PROTOS: Record<string, Protocol> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

/** conntrack -L text → entries (TCP, UDP and SCTP; other lines are skipped). */
export function parseEntries(text: string): CtEntry[] {
  const out: CtEntry[] = [];
  for (const line of text.split('\n')) {
    const proto = /^(tcp|udp|sctp)\s/.exec(line)?.[1] as CtEntry['proto'] | undefined;
    if (!proto) continue;
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]!);
    const dst = [...line.matchAll(/\bdst=(\S+)/g)].map((m) => m[1]!);
    const sport = [...line.matchAll(/\bsport=(\d+)/g)].map((m) => Number(m[1]));
    const dport = [...line.matchAll(/\bdport=(\d+)/g)].map((m) => Number(m[1]));
    if (src.length < 2 || dst.length < 1 || sport.length < 2 || dport.length < 1) continue;
    out.push({ proto, src: src[0]!, dst: dst[0]!, sport: sport[0]!, dport: dport[0]!, replySrc: src[1]!, replySport: sport[1]! });
  }
  return out;
}

/** The entries the rules in `fd` deny now. Pure. */
export function deniedEntries(fd: FamilyDesired, entries: CtEntry[], local: ReadonlySet<string>): CtEntry[] {
  const out: CtEntry[] = [];
  for (const e of entries) {
    const src = canonicalIP(e.src), dst = canonicalIP(e.replySrc);
    if (!src || !dst || local.has(src) || local.has(dst)) continue;
    // Only a flow with an end this node isolates can be denied here: skip the rest cheaply.
    if (!fd.egress.has(src) && !fd.ingress.has(dst)) continue;
    if (!evaluate(fd, { src, dst, proto: PROTOS[e.proto]!, port: e.replySport }).allowed) out.push(e);
  }
  return out;
}

/** This node's own addresses (the agent runs in the host's network namespace). */
export function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) {
    const ip = canonicalIP(a.address.split('%')[0]!);
    if (ip) out.add(ip);
  }
  return out;
}

export interface ConntrackTable {
  list(family: IPFamily): Promise<CtEntry[]>;
  /** Deletes the entry with this original tuple; how many went (0: it ended meanwhile). */
  delete(family: IPFamily, e: CtEntry): Promise<number>;
}

export function conntrackTable(bin = 'conntrack'): ConntrackTable {
  const fam = (f: IPFamily) => (f === 4 ? 'ipv4' : 'ipv6');
  return {
    async list(family) {
      const r = await exec(bin, ['-L', '-f', fam(family)], { maxBuffer: 256 * 1024 * 1024, timeoutMs: 30_000 });
      if (!r.ok) throw new Error(`conntrack -L: ${r.stderr.split('\n')[0]}`);
      return parseEntries(r.stdout);
    },
    async delete(family, e) {
      const r = await exec(bin, ['-D', '-f', fam(family), '-p', e.proto, '-s', e.src, '-d', e.dst, '--sport', String(e.sport), '--dport', String(e.dport)]);
      // Exit 1 with "0 flow entries" when it ended meanwhile: nothing left to do.
      return Number(/(\d+) flow entr/.exec(r.stderr)?.[1] ?? 0);
    },
  };
}

/**
 * The strict-cut elements of entries (render.ts): both orientations as the forward hook sees
 * them (after DNAT, before SNAT). Deleting an entry alone is not enough: conntrack picks a TCP
 * flow up mid-stream from whichever side sends next, and if that is the side whose direction
 * policy allows (the server answering), the flow would be re-admitted as a new one.
 */
export function cutElements(entries: CtEntry[]): string[] {
  return entries.flatMap((e) => [`${e.src} . ${e.replySrc} . ${e.proto} . ${e.sport} . ${e.replySport}`, `${e.replySrc} . ${e.src} . ${e.proto} . ${e.replySport} . ${e.sport}`]);
}

export interface StrictMetrics {
  /** Sweeps run (each lists the family's conntrack table); absent: not counted. */
  sweeps?: { inc(labels: Record<string, string>): void };
  deleted: { inc(labels: Record<string, string>, by?: number): void };
  failures: { inc(labels: Record<string, string>): void };
  deferred: { inc(labels: Record<string, string>, by?: number): void };
}

/**
 * Entry deletions per sweep at most (each is a conntrack run, a few ms); the rest waits for the
 * next sweep, a second later. Every denied flow is cut at once all the same (one nft
 * transaction, up to MAX_CUTS flows), so a deferred deletion only delays freeing the entry.
 */
export const MAX_DELETES = 500;
export const MAX_CUTS = 50_000;
const AGAIN_MS = 1_000;

/**
 * Runs sweeps one round at a time: requests while a round runs coalesce into the next round,
 * at least a second later; a sweep that hit MAX_DELETES is owed again a second later, one that
 * failed after 1, 2, 4 … 60 s. Bounded work per second, never a tight loop.
 */
export class StrictSweeper {
  private readonly table: ConntrackTable;
  private readonly cut: (family: IPFamily, elements: string[]) => Promise<void>;
  private readonly log: Logger;
  private readonly metrics: StrictMetrics;
  private readonly local: () => ReadonlySet<string>;
  private readonly maxDeletes: number;
  /** Families owed a sweep, with the rules to judge by (the latest plan). */
  private readonly owed = new Map<IPFamily, FamilyDesired>();
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Sweeps failed in a row: the retry waits 1, 2, 4 … 60 s, and only the first failure is logged. */
  private failures = 0;
  private lastRound = -Infinity;

  constructor(o: { table: ConntrackTable; cut?: (family: IPFamily, elements: string[]) => Promise<void>; log: Logger; metrics: StrictMetrics; local?: () => ReadonlySet<string>; maxDeletes?: number }) {
    this.table = o.table;
    this.cut = o.cut ?? (async () => {});
    this.log = o.log;
    this.metrics = o.metrics;
    this.local = o.local ?? localAddresses;
    this.maxDeletes = o.maxDeletes ?? MAX_DELETES;
  }

  /** The rules in `fd` are live and may deny flows they allowed before. */
  request(fd: FamilyDesired): void {
    if (this.closed) return;
    this.owed.set(fd.family, fd);
    // A round running or waiting (a timer) takes it; else one starts, a second after the last.
    if (this.running || this.timer) return;
    const wait = this.lastRound + AGAIN_MS - performance.now();
    if (wait <= 0) this.running = this.drain();
    else this.later(wait);
  }

  /** Resolves when no sweep runs or waits (tests). */
  async idle(): Promise<void> {
    while (this.running || this.timer) await (this.running ?? new Promise((r) => setTimeout(r, 50)));
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.owed.clear();
  }

  private async drain(): Promise<void> {
    let delay = 0;
    this.lastRound = performance.now();
    try {
      // The families owed now; a request arriving meanwhile waits for the next round.
      const round = [...this.owed];
      this.owed.clear();
      for (const [family, fd] of round) {
        if (this.closed) return;
        if (await this.sweep(family, fd)) continue;
        // Not done (capped or failed): owed again, unless a newer plan came meanwhile.
        if (!this.owed.has(family)) this.owed.set(family, fd);
        delay = Math.max(delay, Math.min(60_000, AGAIN_MS * 2 ** Math.max(0, this.failures - 1)));
      }
      // Under a stream of changes: at most one round a second.
      if (this.owed.size) delay ||= AGAIN_MS;
    } finally {
      this.running = undefined;
    }
    if (this.owed.size && !this.closed) this.later(delay);
  }

  private later(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running ??= this.drain();
    }, ms);
    this.timer.unref?.();
  }

  /** One sweep; true when finished (every denied entry deleted). */
  private async sweep(family: IPFamily, fd: FamilyDesired): Promise<boolean> {
    const label = { ip_family: family === 4 ? 'IPv4' : 'IPv6' };
    const t0 = performance.now();
    this.metrics.sweeps?.inc(label);
    try {
      const entries = await this.table.list(family);
      const denied = deniedEntries(fd, entries, this.local());
      const now = denied.slice(0, this.maxDeletes);
      let deleted = 0;
      // Cut first (both directions dropped from now on), then free the entries.
      if (denied.length) await this.cut(family, cutElements(denied.slice(0, MAX_CUTS)));
      for (const e of now) deleted += await this.table.delete(family, e);
      if (deleted) this.metrics.deleted.inc(label, deleted);
      const left = denied.length - now.length;
      if (left) this.metrics.deferred.inc(label, left);
      if (denied.length || left) {
        this.log.info({ family: label.ip_family, listed: entries.length, denied: denied.length, deleted, deferred: left, ms: Math.round(performance.now() - t0) }, 'strict mode: conntrack entries of flows now denied deleted');
      }
      this.failures = 0;
      return left === 0;
    } catch (err) {
      this.metrics.failures.inc(label);
      // A missing conntrack is logged once by exec and keeps the module not ready.
      if (this.failures++ === 0 && !isProgramMissing(err)) this.log.warn({ family: label.ip_family, err: String((err as Error).message ?? err) }, 'strict mode: conntrack sweep failed; retried with backoff');
      return false;
    }
  }
}
