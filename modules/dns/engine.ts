// From a query packet to its reply, whatever the transport. The fast path is one map lookup
// (authoritative answers kept encoded per (name, type), dropped whenever the index changes) and
// one render; misses consult the record index, then the forward cache, then the upstreams.
import { answerDep, resolve, type AuthAnswer } from './lookup.ts';
import { decodeMessage, readName, type Message, type RR } from './message.ts';
import type { DnsMetrics } from './metrics.ts';
import { parseQuery, type Query } from './query.ts';
import type { DnsSettings, IndexChange, RecordIndex } from './records.ts';
import { AnswerCache, DEFAULT_CACHE_POLICY, upstreamTemplate, type CachePolicy } from './fwdcache.ts';
import { errorReply, makeTemplate, render, replyLimit, ZONE_CLUSTER, ZONE_FORWARD, type Template, type Zone } from './template.ts';
import type { Forwarder } from './upstream.ts';
import { CLASS_IN, FLAG, HEADER_LEN, RCODE, TYPE, cacheKey, inZone, lowerName, nameToWire } from './wire.ts';
import type { HostsTable } from './hosts.ts';

export interface EngineOptions {
  settings: DnsSettings;
  forwarder: Forwarder;
  metrics: DnsMetrics;
  /** Forward cache bound, per kind (positive, negative). */
  cacheSize: number;
  /** Lifetimes of cached upstream answers (default: kubeadm's `cache 30`). */
  cachePolicy?: CachePolicy;
  /** Per-zone upstreams (stub domains), checked before `forwarder`. */
  stubs?: { zone: string; forwarder: Forwarder }[];
  /** Bound on authoritative answers kept encoded. */
  templateLimit?: number;
  now?: () => number;
}

export type Reply = Buffer | null | Promise<Buffer | null>;

export class Engine {
  settings: DnsSettings;
  private index: RecordIndex | null = null;
  private readonly templates = new Map<string, Template>();
  /** Dependency (see answerDep) → keys of the encoded answers that depend on it. */
  private readonly deps = new Map<string, Set<string>>();
  private readonly templateLimit: number;
  readonly cache: AnswerCache;
  private readonly cachePolicy: CachePolicy;
  private readonly forwarder: Forwarder;
  /** Stub domains, longest zone first. */
  private readonly stubs: { zone: string; forwarder: Forwarder }[];
  private hosts: HostsTable | null = null;
  private readonly metrics: DnsMetrics;
  private readonly now: () => number;
  /** The zone of the last reply handle() returned synchronously (promises are always forwarded). */
  lastZone: Zone = ZONE_CLUSTER;

  constructor(o: EngineOptions) {
    this.settings = o.settings;
    this.forwarder = o.forwarder;
    this.stubs = [...(o.stubs ?? [])].sort((a, b) => b.zone.length - a.zone.length);
    this.metrics = o.metrics;
    this.cache = new AnswerCache(o.cacheSize);
    this.cachePolicy = o.cachePolicy ?? DEFAULT_CACHE_POLICY;
    this.templateLimit = o.templateLimit ?? 50_000;
    this.now = o.now ?? Date.now;
    this.metrics.sizes = () => ({ templates: this.templates.size, ...this.cache.sizes() });
    this.metrics.evicted = () => this.cache.evictions();
  }

  get ready(): boolean {
    return this.index !== null;
  }

  /**
   * A new or updated index. Without `change` (a rebuild) every encoded answer may be stale;
   * with it, only those depending on what changed are forgotten, so churn elsewhere in the
   * cluster leaves the hot answers encoded.
   */
  setIndex(index: RecordIndex, change?: IndexChange, podsChanged = false): void {
    this.index = index;
    this.settings = index.settings;
    if (!change) {
      this.templates.clear();
      this.deps.clear();
      return;
    }
    this.forget('v');
    for (const k of change.services) this.forget(`s:${k}`);
    for (const ns of change.namespaces) this.forget(`n:${ns}`);
    for (const ip of change.ips) this.forget(`i:${ip}`);
    if (podsChanged || change.namespaces.size) this.forget('p');
  }

  /** A new hosts table: its old answers go, and so do cached upstream answers it may now override. */
  setHosts(t: HostsTable | null): void {
    this.hosts = t;
    this.forget('h');
    this.cache.clear();
  }

  /** The forwarder for a name: the longest stub domain holding it, else the default. */
  private forwarderFor(name: string): Forwarder {
    for (const s of this.stubs) if (inZone(name, s.zone)) return s.forwarder;
    return this.forwarder;
  }

  private forget(dep: string): void {
    const keys = this.deps.get(dep);
    if (!keys) return;
    for (const k of keys) this.templates.delete(k);
    this.deps.delete(dep);
  }

  private keep(key: string, t: Template, dep: string): void {
    if (this.templates.size >= this.templateLimit) {
      const oldest = this.templates.keys().next().value!;
      const dropped = this.templates.get(oldest)!;
      this.templates.delete(oldest);
      if (dropped.dep) this.deps.get(dropped.dep)?.delete(oldest);
    }
    t.dep = dep;
    this.templates.set(key, t);
    if (!dep) return;
    let keys = this.deps.get(dep);
    if (!keys) this.deps.set(dep, (keys = new Set()));
    keys.add(key);
  }

  /** The reply to one packet; null = send nothing. A promise when an upstream must be asked. */
  handle(buf: Buffer, q: Query, tcp: boolean): Reply {
    this.lastZone = ZONE_CLUSTER;
    if (!parseQuery(buf, q)) {
      this.metrics.drop('malformed');
      return null;
    }
    if (q.error) return errorReply(buf, q, q.error);
    if (q.qclass !== CLASS_IN) return errorReply(buf, q, q.qclass === 255 ? RCODE.NOTIMP : RCODE.REFUSED);
    const limit = replyLimit(q, tcp);
    const tpl = this.templates.get(q.key);
    if (tpl) {
      this.lastZone = tpl.zone;
      return render(tpl, buf, q, limit);
    }
    this.lastZone = ZONE_FORWARD;
    // The cluster zone is never forwarded, so a cached upstream answer needs no index lookup.
    const hit = this.cache.get(q.fkey, this.now());
    if (hit && !hit.reverse) {
      this.metrics.cache[hit.negative ? 1 : 0]!++;
      return render(hit.tpl, buf, q, limit, hit.age);
    }
    return this.miss(buf, q, limit);
  }

  private miss(buf: Buffer, q: Query, limit: number): Reply {
    if (q.qtype === TYPE.AXFR || q.qtype === TYPE.IXFR) return errorReply(buf, q, RCODE.REFUSED);
    const name = lowerName(readName(buf, HEADER_LEN).name);
    const a = resolve(this.index, this.settings, name, q.qtype, this.hosts);
    if (!a) return this.forward(buf, { ...q }, limit, name);
    if (a.chase) return this.chase(buf, { ...q }, limit, name, a);
    this.lastZone = a.zone;
    const t = makeTemplate(authMessage(name, q.qtype, a), a.zone);
    if (!a.transient) this.keep(q.key, t, answerDep(this.settings, name, a));
    return render(t, buf, q, limit);
  }

  private async forward(buf: Buffer, q: Query, limit: number, name: string): Promise<Buffer | null> {
    const reverse = name.endsWith('.arpa');
    const forwarder = this.forwarderFor(name);
    const now = this.now();
    const hit = this.cache.get(q.fkey, now);
    if (hit) {
      this.metrics.cache[hit.negative ? 1 : 0]!++;
      return render(hit.tpl, buf, q, limit, hit.age);
    }
    if (this.forwarder.isLoopProbe(q.key) || this.stubs.some((s) => s.forwarder.isLoopProbe(q.key))) return errorReply(buf, q, RCODE.REFUSED);
    this.metrics.cache[2]!++;
    const res = await forwarder.query(q.fkey, buf.subarray(HEADER_LEN, q.qnameEnd), q.qtype, q.qclass, q.dnssec);
    if (res === 'failed') return errorReply(buf, q, RCODE.SERVFAIL);
    if (res === 'overloaded') return errorReply(buf, q, RCODE.REFUSED);
    const c = upstreamTemplate(res, this.cachePolicy);
    if (!c) return errorReply(buf, q, RCODE.SERVFAIL);
    this.cache.set(q.fkey, c, this.now(), reverse);
    return render(c.tpl, buf, q, limit);
  }

  /** An ExternalName outside the zone: our CNAME, then what the upstreams say about the target. */
  private async chase(buf: Buffer, q: Query, limit: number, name: string, a: AuthAnswer): Promise<Buffer | null> {
    const answers: RR[] = [...a.answers];
    let rcode: number = RCODE.NOERROR;
    let authority: RR[] = [];
    let truncated = false;
    const target = await this.lookupUpstream(a.chase!, q.qtype);
    if (target) {
      answers.push(...target.answers);
      rcode = target.flags & 0xf;
      authority = target.authority;
      truncated = (target.flags & FLAG.TC) !== 0;
    } else rcode = RCODE.SERVFAIL;
    const msg = authMessage(name, q.qtype, { ...a, rcode, answers, authority, additional: [] });
    if (truncated) msg.flags |= FLAG.TC;
    return render(makeTemplate(msg, a.zone), buf, q, limit);
  }

  /** The (cached or fresh) upstream answer for a name we build ourselves, decoded, TTLs aged. */
  private async lookupUpstream(name: string, qtype: number): Promise<Message | null> {
    const wire = nameToWire(name);
    if (!wire) return null;
    const key = cacheKey(wire, qtype);
    const now = this.now();
    let tpl: Template | undefined;
    let age = 0;
    const hit = this.cache.get(key, now);
    if (hit) {
      tpl = hit.tpl;
      age = hit.age;
    } else {
      const res = await this.forwarderFor(name).query(key, wire, qtype, CLASS_IN);
      if (typeof res === 'string') return null;
      const c = upstreamTemplate(res, this.cachePolicy);
      if (!c) return null;
      this.cache.set(key, c, this.now(), name.endsWith('.arpa'));
      tpl = c.tpl;
    }
    try {
      const m = decodeMessage(tpl.bytes);
      for (const r of [...m.answers, ...m.authority]) r.ttl = Math.max(0, r.ttl - age);
      return m;
    } catch {
      return null;
    }
  }
}

/** The reply message for an authoritative answer (AA, RA, one question). */
export function authMessage(name: string, qtype: number, a: AuthAnswer): Message {
  const aa = a.rcode === RCODE.SERVFAIL ? 0 : FLAG.AA;
  return {
    id: 0,
    flags: FLAG.QR | aa | FLAG.RA | a.rcode,
    questions: [{ name, type: qtype, class: CLASS_IN }],
    answers: a.answers,
    authority: a.authority,
    additional: a.additional,
  };
}
