// The size-bounded cache of forwarded answers, kept as templates whose TTLs age on the way out.
// Positive and negative answers have separate bounds (CoreDNS: 9984 each) so that a flood of
// random names (NXDOMAIN) cannot push out the names pods really use.
import { ZONE_FORWARD, type Template } from './template.ts';
import { HEADER_LEN, RCODE, TYPE } from './wire.ts';

/** How long upstream answers are kept (seconds), as CoreDNS's cache plugin bounds them. */
export interface CachePolicy {
  /** Most a positive answer is kept (CoreDNS `success CAP TTL`). */
  success: number;
  /** Most a negative (NXDOMAIN, NODATA) answer is kept (`denial CAP TTL`). */
  denial: number;
  /** Least any cached answer is kept: shorter TTLs are raised to it (CoreDNS's MinimalDefaultTTL, 5). */
  min: number;
  /** How long an upstream SERVFAIL is kept (`servfail DURATION`); 0 = never. */
  servfail: number;
}

/** kubeadm's and k3s's `cache 30`. */
export const DEFAULT_CACHE_POLICY: CachePolicy = { success: 30, denial: 30, min: 5, servfail: 5 };

interface Entry {
  tpl: Template;
  stored: number;
  expires: number;
  /** A reverse name: the index may claim it later, so it is only served after asking the index. */
  reverse: boolean;
}

function skipName(b: Buffer, off: number): number {
  for (let hops = 0; hops < 128; hops++) {
    if (off >= b.length) return -1;
    const l = b[off]!;
    if (l === 0) return off + 1;
    if ((l & 0xc0) === 0xc0) return off + 2 <= b.length ? off + 2 : -1;
    if (l > 63) return -1;
    off += l + 1;
  }
  return -1;
}

export interface Cacheable {
  tpl: Template;
  /** Seconds it may be served from the cache; 0 = not at all. */
  ttl: number;
  negative: boolean;
}

/**
 * An upstream reply (one question) as a template: without its OPT record (which we add per
 * client), with TTL offsets for aging. Null when it cannot be one (malformed, OPT not last).
 */
export function upstreamTemplate(reply: Buffer, policy: CachePolicy = DEFAULT_CACHE_POLICY): Cacheable | null {
  if (reply.length < HEADER_LEN || reply.readUInt16BE(4) !== 1) return null;
  const an = reply.readUInt16BE(6);
  const ns = reply.readUInt16BE(8);
  let ar = reply.readUInt16BE(10);
  let off = skipName(reply, HEADER_LEN);
  if (off < 0 || off + 4 > reply.length) return null;
  const qnameEnd = off;
  off += 4;
  const rrEnds: number[] = [];
  const ttlOffsets: number[] = [];
  const ttls: number[] = [];
  let minTtl = Infinity;
  let soaTtl = -1;
  let end = off;
  const total = an + ns + ar;
  for (let i = 0; i < total; i++) {
    const n = skipName(reply, off);
    if (n < 0 || n + 10 > reply.length) return null;
    const type = reply.readUInt16BE(n);
    const rdlen = reply.readUInt16BE(n + 8);
    const next = n + 10 + rdlen;
    if (next > reply.length) return null;
    if (type === TYPE.OPT) {
      if (i !== total - 1) return null;
      ar--;
      break;
    }
    const ttl = reply.readUInt32BE(n + 4) & 0x7fffffff;
    ttlOffsets.push(n + 4);
    ttls.push(ttl);
    if (ttl < minTtl) minTtl = ttl;
    if (type === TYPE.SOA && i >= an && i < an + ns && rdlen >= 22) {
      const minimum = reply.readUInt32BE(next - 4);
      soaTtl = Math.min(ttl, minimum);
    }
    rrEnds.push(next);
    off = next;
    end = next;
  }
  const bytes = Buffer.from(reply.subarray(0, end));
  bytes.writeUInt16BE(0, 0);
  bytes.writeUInt16BE(ar, 10);
  const flags = reply.readUInt16BE(2);
  const rcode = flags & 0xf;
  const truncated = (flags & 0x0200) !== 0;
  const negative = rcode === RCODE.NXDOMAIN || rcode === RCODE.SERVFAIL || (rcode === RCODE.NOERROR && an === 0);
  const clamp = (t: number, max: number) => Math.min(Math.max(t, policy.min), max);
  let ttl = 0;
  if (truncated) ttl = 0;
  else if (rcode === RCODE.SERVFAIL) ttl = policy.servfail;
  else if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) ttl = 0;
  // RFC 2308: a negative answer without an SOA is not cached.
  else if (negative) ttl = soaTtl < 0 ? 0 : clamp(soaTtl, policy.denial);
  else ttl = clamp(minTtl === Infinity ? policy.min : minTtl, policy.success);
  // What is served never claims more than the cache keeps (CoreDNS caps every RR's TTL the same way).
  if (ttl > 0) {
    for (let i = 0; i < ttls.length; i++) {
      if (ttls[i]! <= ttl) continue;
      ttls[i] = ttl;
      bytes.writeUInt32BE(ttl, ttlOffsets[i]!);
    }
  }
  const tpl: Template = { bytes, qnameEnd, an, ns, ar, rrEnds, rcode, zone: ZONE_FORWARD, ttlOffsets, ttls, dep: '' };
  return { tpl, ttl, negative };
}

class Bounded {
  readonly map = new Map<string, Entry>();
  readonly max: number;
  evictions = 0;
  constructor(max: number) {
    this.max = max;
  }
  set(key: string, e: Entry): void {
    this.map.delete(key);
    // Oldest-inserted first out: cheap, and a hot name comes back on its next miss.
    if (this.map.size >= this.max) {
      this.map.delete(this.map.keys().next().value!);
      this.evictions++;
    }
    this.map.set(key, e);
  }
}

export class AnswerCache {
  private readonly positive: Bounded;
  private readonly negative: Bounded;

  constructor(maxEntries: number) {
    this.positive = new Bounded(maxEntries);
    this.negative = new Bounded(maxEntries);
  }

  /** The cached template for `key` and its age in whole seconds, or undefined. */
  get(key: string, now: number): { tpl: Template; age: number; negative: boolean; reverse: boolean } | undefined {
    let e = this.positive.map.get(key);
    let negative = false;
    if (!e) {
      e = this.negative.map.get(key);
      negative = true;
    }
    if (!e) return undefined;
    if (now >= e.expires) {
      (negative ? this.negative : this.positive).map.delete(key);
      return undefined;
    }
    return { tpl: e.tpl, age: Math.floor((now - e.stored) / 1000), negative, reverse: e.reverse };
  }

  set(key: string, c: Cacheable, now: number, reverse = false): void {
    if (c.ttl <= 0 || this.positive.max <= 0) return;
    const e = { tpl: c.tpl, stored: now, expires: now + c.ttl * 1000, reverse };
    if (c.negative) {
      this.positive.map.delete(key);
      this.negative.set(key, e);
    } else {
      this.negative.map.delete(key);
      this.positive.set(key, e);
    }
  }

  evictions(): [number, number] {
    return [this.positive.evictions, this.negative.evictions];
  }

  sizes(): { success: number; denial: number } {
    return { success: this.positive.map.size, denial: this.negative.map.size };
  }

  clear(): void {
    this.positive.map.clear();
    this.negative.map.clear();
  }
}
