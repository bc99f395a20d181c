// Encoded answers kept ready to send. A template is a whole reply (ID 0, question at offset 12,
// no OPT); sending one copies it, patches the ID, RD/CD bits and the question's spelling from
// the query (owner names point at the question, so the client's case comes back), appends an
// OPT if the query had one, ages TTLs for cached upstream answers, and truncates at an RR
// boundary with TC when it does not fit.
import { encodeMessage, type Message } from './message.ts';
import type { Query } from './query.ts';
import { EDNS_SIZE, FLAG, HEADER_LEN, OPT_LEN, TYPE } from './wire.ts';

/** Where an answer came from, for the metrics' zone label. */
export type Zone = 0 | 1 | 2;
export const ZONE_CLUSTER = 0;
export const ZONE_REVERSE = 1;
export const ZONE_FORWARD = 2;

export interface Template {
  bytes: Buffer;
  qnameEnd: number;
  an: number;
  ns: number;
  ar: number;
  rrEnds: number[];
  rcode: number;
  zone: Zone;
  /** Upstream answers only: TTL offsets and their values when stored, for aging. */
  ttlOffsets?: number[];
  ttls?: number[];
  /** Authoritative answers only: what the answer depends on (engine's invalidation). */
  dep?: string;
}

/** Encodes `msg` (one question) into a template. */
export function makeTemplate(msg: Message, zone: Zone): Template {
  const e = encodeMessage({ ...msg, id: 0, edns: undefined });
  return {
    bytes: e.bytes,
    qnameEnd: e.questionEnd - 4,
    an: msg.answers.length,
    ns: msg.authority.length,
    ar: msg.additional.length,
    rrEnds: e.rrEnds,
    rcode: msg.flags & 0xf,
    zone,
    // Every template has one shape (set here, not added later), so render() stays monomorphic.
    ttlOffsets: undefined,
    ttls: undefined,
    dep: '',
  };
}

/** The size a reply may have: EDNS0 buffer (at least 512) over UDP, 64 KiB over TCP. */
export function replyLimit(q: Query, tcp: boolean): number {
  if (tcp) return 65535;
  if (!q.edns) return 512;
  return q.udpSize > 65507 ? 65507 : q.udpSize;
}

/** Our OPT: DO echoed as asked (RFC 3225 3). */
function writeOpt(out: Buffer, at: number, extRcode: number, dnssecOk: boolean): void {
  out[at] = 0;
  out.writeUInt16BE(TYPE.OPT, at + 1);
  out.writeUInt16BE(EDNS_SIZE, at + 3);
  out.writeUInt32BE(((extRcode & 0xff) << 24) | (dnssecOk ? 0x8000 : 0), at + 5);
  out.writeUInt16BE(0, at + 9);
}

/** Builds the reply to `query` (whose question equals the template's, case aside) from `tpl`. */
export function render(tpl: Template, query: Buffer, q: Query, limit: number, ageSec = 0): Buffer {
  const opt = q.edns ? OPT_LEN : 0;
  let len = tpl.bytes.length;
  let an = tpl.an;
  let ns = tpl.ns;
  let ar = tpl.ar;
  let tc = 0;
  if (len + opt > limit) {
    // Keep the longest run of whole RRs that fits; losing only additional records needs no TC.
    let keep = 0;
    while (keep < tpl.rrEnds.length && tpl.rrEnds[keep]! + opt <= limit) keep++;
    len = keep === 0 ? tpl.qnameEnd + 4 : tpl.rrEnds[keep - 1]!;
    if (keep >= an + ns) ar = keep - an - ns;
    else {
      tc = FLAG.TC;
      an = keep < an ? keep : an;
      ns = 0;
      ar = 0;
      len = an === 0 ? tpl.qnameEnd + 4 : tpl.rrEnds[an - 1]!;
    }
  }
  const out = Buffer.allocUnsafe(len + opt);
  tpl.bytes.copy(out, 0, 0, len);
  out[0] = query[0]!;
  out[1] = query[1]!;
  out[2] = (tpl.bytes[2]! & ~(FLAG.RD >> 8)) | (query[2]! & (FLAG.RD >> 8)) | (tc >> 8);
  out[3] = (tpl.bytes[3]! & ~FLAG.CD) | (query[3]! & FLAG.CD);
  query.copy(out, HEADER_LEN, HEADER_LEN, q.qnameEnd);
  if (tc || ar !== tpl.ar) {
    out.writeUInt16BE(an, 6);
    out.writeUInt16BE(ns, 8);
  }
  out.writeUInt16BE(ar + (opt ? 1 : 0), 10);
  if (opt) writeOpt(out, len, 0, (q.dnssec & 1) !== 0);
  const offs = tpl.ttlOffsets;
  if (offs && ageSec > 0) {
    const ttls = tpl.ttls!;
    for (let i = 0; i < offs.length && offs[i]! < len; i++) {
      const t = ttls[i]! - ageSec;
      out.writeUInt32BE(t > 0 ? t : 0, offs[i]!);
    }
  }
  return out;
}

/**
 * A bare reply carrying only an rcode: the header, the question when it could be read, and an
 * OPT when the query had one (BADVERS travels in the OPT's extended rcode).
 */
export function errorReply(query: Buffer, q: Query, rcode: number): Buffer {
  const qlen = q.qnameEnd > 0 ? q.qnameEnd + 4 - HEADER_LEN : 0;
  const opt = q.edns ? OPT_LEN : 0;
  const out = Buffer.alloc(HEADER_LEN + qlen + opt);
  out[0] = query[0]!;
  out[1] = query[1]!;
  out[2] = 0x80 | (query[2]! & 0x79); // QR, opcode and RD as asked
  out[3] = FLAG.RA | (rcode & 0xf) | (query[3]! & FLAG.CD);
  out[5] = qlen ? 1 : 0;
  if (qlen) query.copy(out, HEADER_LEN, HEADER_LEN, HEADER_LEN + qlen);
  if (opt) {
    out[11] = 1;
    writeOpt(out, HEADER_LEN + qlen, rcode >> 4, (q.dnssec & 1) !== 0);
  }
  return out;
}
