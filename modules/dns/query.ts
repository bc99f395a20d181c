// The hot-path reader of incoming queries: header, the one question and an OPT record, with
// no allocation beyond the cache key. Everything else in the packet is only skipped over.
import { FLAG, HEADER_LEN, MAX_LABEL, MAX_NAME, RCODE, TYPE } from './wire.ts';

export interface Query {
  id: number;
  /** The header flags word as sent. */
  flags: number;
  /** Offset after the question name; the question is 12..qnameEnd+4. */
  qnameEnd: number;
  qtype: number;
  qclass: number;
  /** Lower-cased wire name + the type's two bytes, as latin1 (wire.ts cacheKey): the key of every answer cache. */
  key: string;
  /** DO (1) and CD (2) as asked: forwarded answers differ by them. */
  dnssec: number;
  /** The forward cache's key: `key`, plus the DNSSEC bits when any is set. */
  fkey: string;
  edns: boolean;
  udpSize: number;
  /** 0 = fine; otherwise the rcode to answer with (FORMERR, NOTIMP, BADVERS). */
  error: number;
}

export function newQuery(): Query {
  return { id: 0, flags: 0, qnameEnd: 0, qtype: 0, qclass: 0, key: '', dnssec: 0, fkey: '', edns: false, udpSize: 512, error: 0 };
}

const lower = Buffer.alloc(MAX_NAME + 2);

/** Skips a name in the additional/answer sections (pointers allowed there). -1 when malformed. */
function skipName(buf: Buffer, off: number): number {
  let wire = 0;
  for (;;) {
    if (off >= buf.length) return -1;
    const l = buf[off]!;
    if (l === 0) return off + 1;
    if ((l & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if (l > MAX_LABEL) return -1;
    wire += l + 1;
    if (wire >= MAX_NAME) return -1;
    off += l + 1;
  }
}

/**
 * Fills `q` from `buf`. Returns false when the packet deserves no answer at all (too short to
 * carry an ID, or a response); otherwise q.error says whether to answer normally.
 */
export function parseQuery(buf: Buffer, q: Query): boolean {
  if (buf.length < HEADER_LEN) return false;
  const flags = (buf[2]! << 8) | buf[3]!;
  if (flags & FLAG.QR) return false;
  q.id = (buf[0]! << 8) | buf[1]!;
  q.flags = flags;
  q.edns = false;
  q.udpSize = 512;
  q.error = 0;
  q.qnameEnd = 0;
  q.key = '';
  q.fkey = '';
  q.dnssec = flags & FLAG.CD ? 2 : 0;
  const qd = (buf[4]! << 8) | buf[5]!;
  if (qd !== 1) {
    q.error = RCODE.FORMERR;
    return true;
  }
  // The question name: plain labels only, lower-cased into the key.
  let off = HEADER_LEN;
  let upper = false;
  for (;;) {
    if (off >= buf.length) return fail(q);
    const l = buf[off]!;
    if (l === 0) break;
    if (l > MAX_LABEL || off + 1 + l >= buf.length || off + 1 + l - HEADER_LEN >= MAX_NAME) return fail(q);
    for (let i = off + 1; i <= off + l; i++) {
      const b = buf[i]!;
      if (b >= 0x41 && b <= 0x5a) upper = true;
    }
    off += 1 + l;
  }
  const qnameEnd = off + 1;
  if (qnameEnd + 4 > buf.length) return fail(q);
  q.qnameEnd = qnameEnd;
  q.qtype = (buf[qnameEnd]! << 8) | buf[qnameEnd + 1]!;
  q.qclass = (buf[qnameEnd + 2]! << 8) | buf[qnameEnd + 3]!;
  // The name and the type follow each other in the packet: one flat string, no concatenation
  // (a cons string would be flattened again by the first Map lookup).
  if (upper) {
    const n = qnameEnd - HEADER_LEN;
    for (let i = 0; i < n; i++) {
      const b = buf[HEADER_LEN + i]!;
      lower[i] = b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
    }
    lower[n] = buf[qnameEnd]!;
    lower[n + 1] = buf[qnameEnd + 1]!;
    q.key = lower.toString('latin1', 0, n + 2);
  } else {
    q.key = buf.toString('latin1', HEADER_LEN, qnameEnd + 2);
  }
  q.fkey = q.key;
  if ((flags >> 11) & 0xf) {
    q.error = RCODE.NOTIMP; // only QUERY
    return true;
  }
  // Answer and authority records (should be none) are skipped; the additional may hold OPT.
  const rrs = ((buf[6]! << 8) | buf[7]!) + ((buf[8]! << 8) | buf[9]!);
  const ar = (buf[10]! << 8) | buf[11]!;
  if (rrs + ar === 0) {
    if (q.dnssec) q.fkey = DNSSEC_PREFIX[q.dnssec] + q.key;
    return true;
  }
  off = qnameEnd + 4;
  for (let i = 0; i < rrs + ar; i++) {
    const nameStart = off;
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return fail(q);
    const type = (buf[off]! << 8) | buf[off + 1]!;
    const rdlen = (buf[off + 8]! << 8) | buf[off + 9]!;
    if (type === TYPE.OPT) {
      if (i < rrs || q.edns || off !== nameStart + 1) return fail(q);
      q.edns = true;
      const size = (buf[off + 2]! << 8) | buf[off + 3]!;
      q.udpSize = size < 512 ? 512 : size;
      if (buf[off + 5] !== 0) q.error = RCODE.BADVERS;
      if (buf[off + 6]! & 0x80) q.dnssec |= 1;
    }
    off += 10 + rdlen;
    if (off > buf.length) return fail(q);
  }
  if (q.dnssec) q.fkey = DNSSEC_PREFIX[q.dnssec] + q.key;
  return true;
}

// A key starts with a label length (< 64) or the root's 0, so these prefixes never collide.
const DNSSEC_PREFIX = ['', '\u0101', '\u0102', '\u0103'];

function fail(q: Query): true {
  q.error = RCODE.FORMERR;
  return true;
}
