// Asks the node's resolvers what the cluster zone does not answer. One connected UDP socket per
// upstream with random query IDs, replies checked against the question, TCP when a reply comes
// back truncated, the next upstream when one times out or fails, identical questions in flight
// merged into one, and a cap on questions in flight (beyond it: REFUSED, as CoreDNS does).
import { randomFillSync } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
import type { DnsMetrics } from './metrics.ts';
import { EDNS_SIZE, FLAG, HEADER_LEN, RCODE, TYPE } from './wire.ts';

export interface UpstreamAddr {
  host: string;
  port: number;
}

export const addrText = (a: UpstreamAddr): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

export interface ForwarderOptions {
  timeoutMs?: number;
  maxConcurrent?: number;
  log: Logger;
  metrics: DnsMetrics;
}

export type ForwardResult = Buffer | 'failed' | 'overloaded';

interface Pending {
  question: Buffer;
  resolve: (b: Buffer | null) => void;
  timer: NodeJS.Timeout;
}

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
  private sock: Promise<dgram.Socket> | undefined;
  private raw: dgram.Socket | undefined;
  private readonly pending = new Map<number, Pending>();
  fails = 0;
  downUntil = 0;
  looping = false;

  constructor(addr: UpstreamAddr) {
    this.addr = addr;
    this.label = addrText(addr);
  }

  /** The connected socket, once connected (a connected UDP socket only hears its upstream). */
  private socket(): Promise<dgram.Socket> {
    if (this.sock) return this.sock;
    const s = dgram.createSocket(net.isIPv6(this.addr.host) ? 'udp6' : 'udp4');
    s.on('message', (msg) => {
      if (msg.length < HEADER_LEN) return;
      const p = this.pending.get(msg.readUInt16BE(0));
      if (!p || !matches(msg, p.question, p.question.length - HEADER_LEN - 11)) return;
      this.pending.delete(msg.readUInt16BE(0));
      clearTimeout(p.timer);
      p.resolve(msg);
    });
    s.on('error', () => this.reset());
    this.sock = new Promise((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('error', reject);
      s.connect(this.addr.port, this.addr.host);
    });
    this.sock.catch(() => {});
    this.raw = s;
    return this.sock;
  }

  private reset(): void {
    const s = this.raw;
    this.sock = undefined;
    this.raw = undefined;
    try {
      s?.close();
    } catch {}
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve(null);
    }
  }

  udp(query: Buffer, timeoutMs: number): Promise<Buffer | null> {
    let id = randomId();
    for (let i = 0; this.pending.has(id) && i < 16; i++) id = randomId();
    if (this.pending.has(id)) return Promise.resolve(null);
    const q = Buffer.from(query);
    q.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, timeoutMs);
      this.pending.set(id, { question: q, resolve, timer });
      const fail = () => {
        if (this.pending.get(id)?.timer !== timer) return;
        this.pending.delete(id);
        clearTimeout(timer);
        resolve(null);
      };
      this.socket().then((s) => {
        try {
          s.send(q, (err) => err && fail());
        } catch {
          fail();
        }
      }, fail);
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
    this.reset();
  }
}

export class Forwarder {
  private upstreams: Upstream[] = [];
  private readonly inflight = new Map<string, Promise<ForwardResult>>();
  private readonly timeoutMs: number;
  private readonly maxConcurrent: number;
  private readonly log: Logger;
  private readonly metrics: DnsMetrics;
  /** Loop probe key (see parseQuery's key) → the upstream it was sent to. */
  private readonly probes = new Map<string, Upstream>();

  constructor(opts: ForwarderOptions) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
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
    const key = wire.toString('latin1') + String.fromCharCode(TYPE.HINFO);
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
    if (this.inflight.size >= this.maxConcurrent) return Promise.resolve('overloaded');
    const p = this.ask(qname, qtype, qclass, dnssec).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async ask(qname: Buffer, qtype: number, qclass: number, dnssec: number): Promise<ForwardResult> {
    const query = buildQuery(qname, qtype, qclass, dnssec);
    let last: Buffer | null = null;
    for (const u of this.order(Date.now())) {
      this.metrics.forwardRequest(u.label);
      let reply = await u.udp(query, this.timeoutMs);
      if (reply && reply[2]! & (FLAG.TC >> 8)) reply = (await u.tcp(query, this.timeoutMs)) ?? reply;
      if (!reply) {
        this.metrics.forwardFailure(u.label);
        if (++u.fails >= 2) u.downUntil = Date.now() + Math.min(30_000, 1000 * 2 ** Math.min(u.fails - 2, 5));
        continue;
      }
      u.fails = 0;
      u.downUntil = 0;
      const rcode = reply[3]! & 0xf;
      this.metrics.forwardResponse(u.label, rcode);
      if (rcode !== RCODE.SERVFAIL && rcode !== RCODE.REFUSED) return reply;
      last = reply; // another upstream may do better; if none does, this is the answer
    }
    return last ?? 'failed';
  }

  close(): void {
    for (const u of this.upstreams) u.close();
    this.upstreams = [];
  }
}
