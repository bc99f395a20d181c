// Asks the node's resolvers what the cluster zone does not answer. A fresh UDP socket (random
// source port) and a random ID per question, replies checked against the question, TCP when a
// reply comes back truncated; CoreDNS's retry rule (2 s per try, up to 2 tries per upstream
// round-robin, all within 5 s); identical questions in flight merged into one, and a cap on
// questions in flight (beyond it: REFUSED, as CoreDNS does).
import { randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
import type { DnsMetrics } from './metrics.ts';
import { EDNS_SIZE, FLAG, HEADER_LEN, RCODE, TYPE, cacheKey } from './wire.ts';

export interface UpstreamAddr {
  host: string;
  port: number;
}

export const addrText = (a: UpstreamAddr): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

export interface ForwarderOptions {
  /** One try (CoreDNS's read timeout: 2 s). */
  timeoutMs?: number;
  /** All tries of one question (CoreDNS: 5 s). */
  deadlineMs?: number;
  maxConcurrent?: number;
  log: Logger;
  metrics: DnsMetrics;
}

export type ForwardResult = Buffer | 'failed' | 'overloaded';

const ids = new Uint16Array(4096);
let idPos = ids.length;
function randomId(): number {
  if (idPos >= ids.length) {
    randomFillSync(ids);
    idPos = 0;
  }
  return ids[idPos++]!;
}

/** Header (ID 0, RD, CD if asked) + question + OPT advertising EDNS_SIZE (DO if asked). `dnssec`: DO 1 | CD 2. */
export function buildQuery(qname: Buffer, qtype: number, qclass: number, dnssec = 0): Buffer {
  const b = Buffer.alloc(HEADER_LEN + qname.length + 4 + 11);
  b.writeUInt16BE(FLAG.RD | (dnssec & 2 ? FLAG.CD : 0), 2);
  b.writeUInt16BE(1, 4);
  b.writeUInt16BE(1, 10);
  qname.copy(b, HEADER_LEN);
  let o = HEADER_LEN + qname.length;
  b.writeUInt16BE(qtype, o);
  b.writeUInt16BE(qclass, o + 2);
  o += 4;
  b[o] = 0;
  b.writeUInt16BE(TYPE.OPT, o + 1);
  b.writeUInt16BE(EDNS_SIZE, o + 3);
  if (dnssec & 1) b[o + 7] = 0x80;
  return b;
}

/** Does `reply` answer `query` (same ID, QR set, same question up to ASCII case)? */
export function matches(reply: Buffer, query: Buffer, qlen: number): boolean {
  if (reply.length < HEADER_LEN + qlen || reply[0] !== query[0] || reply[1] !== query[1] || !(reply[2]! & 0x80)) return false;
  if (reply.readUInt16BE(4) !== 1) return false;
  for (let i = HEADER_LEN; i < HEADER_LEN + qlen; i++) {
    const a = reply[i]!;
    const b = query[i]!;
    if (a !== b && (a | 0x20) !== (b | 0x20)) return false;
    if (a !== b && !((a | 0x20) >= 0x61 && (a | 0x20) <= 0x7a)) return false;
  }
  return true;
}

class Upstream {
  readonly addr: UpstreamAddr;
  readonly label: string;
  /** Sockets of questions in flight, each closed with its question. */
  private readonly open = new Set<() => void>();
  fails = 0;
  downUntil = 0;
  looping = false;

  constructor(addr: UpstreamAddr) {
    this.addr = addr;
    this.label = addrText(addr);
  }

  /**
   * One question over a fresh connected socket: the kernel picks a random source port for each
   * (about 15 bits on top of the 16-bit ID against spoofing, where one long-lived socket gave
   * none), and a connected socket only hears its upstream. Replies that do not match are
   * ignored and the wait goes on.
   */
  udp(query: Buffer, timeoutMs: number): Promise<Buffer | null> {
    const q = Buffer.from(query);
    q.writeUInt16BE(randomId(), 0);
    const qlen = q.length - HEADER_LEN - 11;
    return new Promise((resolve) => {
      const s = dgram.createSocket({ type: net.isIPv6(this.addr.host) ? 'udp6' : 'udp4', lookup: literal });
      let done = false;
      const finish = (b: Buffer | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.open.delete(abort);
        try {
          s.close();
        } catch {}
        resolve(b);
      };
      const abort = () => finish(null);
      const timer = setTimeout(abort, timeoutMs);
      this.open.add(abort);
      s.on('message', (msg) => {
        if (matches(msg, q, qlen)) finish(msg);
      });
      s.on('error', abort);
      try {
        s.connect(this.addr.port, this.addr.host, () => {
          if (done) return;
          try {
            s.send(q, (err) => err && abort());
          } catch {
            abort();
          }
        });
      } catch {
        abort();
      }
    });
  }

  tcp(query: Buffer, timeoutMs: number): Promise<Buffer | null> {
    const q = Buffer.alloc(query.length + 2);
    query.copy(q, 2);
    q.writeUInt16BE(query.length, 0);
    q.writeUInt16BE(randomId(), 2);
    const question = q.subarray(2);
    return new Promise((resolve) => {
      let done = false;
      const chunks: Buffer[] = [];
      let have = 0;
      const sock = net.connect({ host: this.addr.host, port: this.addr.port });
      const finish = (b: Buffer | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        resolve(b);
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      sock.on('connect', () => sock.write(q));
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        have += d.length;
        if (have > 65537) return finish(null);
        if (have < 2) return;
        const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        const len = all.readUInt16BE(0);
        if (have < len + 2) return;
        const reply = all.subarray(2, 2 + len);
        finish(matches(reply, question, question.length - HEADER_LEN - 11) ? Buffer.from(reply) : null);
      });
      sock.on('error', () => finish(null));
      sock.on('close', () => finish(null));
    });
  }

  close(): void {
    for (const abort of [...this.open]) abort();
  }
}

function literal(address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, address, typeof family === 'number' ? family : net.isIPv6(address) ? 6 : 4);
}

export class Forwarder {
  private upstreams: Upstream[] = [];
  private readonly inflight = new Map<string, Promise<ForwardResult>>();
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly maxConcurrent: number;
  private readonly log: Logger;
  private readonly metrics: DnsMetrics;
  /** Loop probe key (see parseQuery's key) → the upstream it was sent to. */
  private readonly probes = new Map<string, Upstream>();

  constructor(opts: ForwarderOptions) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.deadlineMs = opts.deadlineMs ?? 5000;
    this.maxConcurrent = opts.maxConcurrent ?? 1000;
    this.log = opts.log;
    this.metrics = opts.metrics;
  }

  get addresses(): string[] {
    return this.upstreams.filter((u) => !u.looping).map((u) => u.label);
  }

  /** Replaces the upstream list (keeping the state of those that stay) and probes the new ones for loops. */
  setUpstreams(list: UpstreamAddr[]): void {
    const old = new Map(this.upstreams.map((u) => [u.label, u]));
    const next = list.map((a) => old.get(addrText(a)) ?? new Upstream(a));
    for (const u of this.upstreams) if (!next.includes(u)) u.close();
    const fresh = next.filter((u) => !old.has(u.label));
    this.upstreams = next;
    for (const u of fresh) void this.probe(u);
  }

  /**
   * CoreDNS's loop check: ask each new upstream a random name only we know. If that question
   * reaches our own listener, the upstream forwards to us and is left out from then on.
   */
  private async probe(u: Upstream): Promise<void> {
    const hex = () => Buffer.from(Array.from({ length: 8 }, randomId)).toString('hex').slice(0, 16);
    const labels = [hex(), hex(), 'nodeway-loop-check'];
    const wire = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
    const key = cacheKey(wire, TYPE.HINFO);
    this.probes.set(key, u);
    await u.udp(buildQuery(wire, TYPE.HINFO, 1), this.timeoutMs);
    // Keep the key a while: a looping query may come round more than once.
    setTimeout(() => this.probes.delete(key), 30_000).unref();
  }

  /** Called for every forwarded question before it goes out: true if it is our own loop probe. */
  isLoopProbe(key: string): boolean {
    const u = this.probes.get(key);
    if (!u) return false;
    if (!u.looping) {
      u.looping = true;
      this.metrics.loops++;
      this.log.error({ upstream: u.label }, 'forwarding loop: this upstream sends our queries back to us; no longer using it');
    }
    return true;
  }

  /** The ordered upstreams to try: healthy ones in configured order, then the resting ones. */
  private order(now: number): Upstream[] {
    const usable = this.upstreams.filter((u) => !u.looping);
    return [...usable.filter((u) => u.downUntil <= now), ...usable.filter((u) => u.downUntil > now)];
  }

  /**
   * The upstream reply (with our ID; the caller patches its own) to (qname, qtype, qclass);
   * 'failed' when no upstream answered; 'overloaded' when too many questions are in flight.
   */
  query(key: string, qname: Buffer, qtype: number, qclass: number, dnssec = 0): Promise<ForwardResult> {
    const existing = this.inflight.get(key);
    if (existing) return existing;
    if (this.inflight.size >= this.maxConcurrent) {
      this.metrics.rejects++;
      return Promise.resolve('overloaded');
    }
    const p = this.ask(qname, qtype, qclass, dnssec).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async ask(qname: Buffer, qtype: number, qclass: number, dnssec: number): Promise<ForwardResult> {
    const query = buildQuery(qname, qtype, qclass, dnssec);
    const list = this.order(Date.now());
    const deadline = Date.now() + this.deadlineMs;
    // CoreDNS: round-robin over the list, 2 tries per upstream, until the deadline.
    const maxTries = 2 * list.length;
    const refused = new Set<Upstream>();
    let last: Buffer | null = null;
    for (let i = 0; i < maxTries && refused.size < list.length; i++) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const u = list[i % list.length]!;
      if (refused.has(u)) continue;
      this.metrics.forwardRequest(u.label);
      const timeout = Math.min(this.timeoutMs, left);
      // A try that waits until the deadline is the last one. Timers count from the event loop's cached
      // clock, so they may fire before Date.now() reaches the deadline; asking again would send a
      // query nobody waits for.
      const lastTry = timeout === left;
      const t0 = performance.now();
      let reply = await u.udp(query, timeout);
      if (reply && reply[2]! & (FLAG.TC >> 8)) reply = (await u.tcp(query, Math.max(1, Math.min(timeout, deadline - Date.now())))) ?? reply;
      if (!reply) {
        this.metrics.forwardFailure(u.label);
        if (++u.fails >= 2) u.downUntil = Date.now() + Math.min(30_000, 1000 * 2 ** Math.min(u.fails - 2, 5));
        if (lastTry) break;
        continue;
      }
      u.fails = 0;
      u.downUntil = 0;
      const rcode = reply[3]! & 0xf;
      this.metrics.forwardResponse(u.label, rcode, (performance.now() - t0) / 1000);
      if (rcode !== RCODE.SERVFAIL && rcode !== RCODE.REFUSED) return reply;
      // Another upstream may do better (asking this one again would not); if none does, this is the answer.
      last = reply;
      refused.add(u);
    }
    return last ?? 'failed';
  }

  close(): void {
    for (const u of this.upstreams) u.close();
    this.upstreams = [];
  }
}
