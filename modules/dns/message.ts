// A complete DNS message codec for the slow paths: building answer templates, reading
// upstream replies, tests. Decoding is strict and bounded (backward-only compression pointers,
// every length checked) so hostile bytes become a DecodeError, never a crash or a loop.
import { isIPv4 } from 'node:net';
import { bytesToIP, ipBytes, ipFamily } from '../../src/net/ip.ts';
import { CLASS_IN, HEADER_LEN, MAX_NAME, TYPE, labelText, lowerName, nameToWire } from './wire.ts';

export class DecodeError extends Error {}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export type RData =
  | { kind: 'ip'; ip: string }
  | { kind: 'name'; name: string }
  | { kind: 'srv'; priority: number; weight: number; port: number; target: string }
  | { kind: 'mx'; preference: number; exchange: string }
  | { kind: 'soa'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  | { kind: 'txt'; texts: string[] }
  | { kind: 'raw'; bytes: Buffer };

export interface RR {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RData;
}

export interface Edns {
  udpSize: number;
  version: number;
  dnssecOk: boolean;
  extRcode: number;
}

export interface Message {
  id: number;
  flags: number;
  questions: Question[];
  answers: RR[];
  authority: RR[];
  /** Without the OPT pseudo-RR, which is in `edns`. */
  additional: RR[];
  edns?: Edns;
}

const NAME_TYPES = new Set<number>([TYPE.NS, TYPE.CNAME, TYPE.PTR]);

/** Reads a possibly compressed name; returns it and the offset after its in-place bytes. */
export function readName(buf: Uint8Array, off: number): { name: string; end: number } {
  const labels: string[] = [];
  let pos = off;
  let end = -1;
  let wireLen = 1;
  let floor = off; // pointers must go strictly backwards, which also rules out loops
  for (;;) {
    if (pos >= buf.length) throw new DecodeError('name runs past the end');
    const len = buf[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new DecodeError('truncated pointer');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= floor) throw new DecodeError('forward or looping pointer');
      if (end < 0) end = pos + 2;
      floor = target;
      pos = target;
      continue;
    }
    if (len & 0xc0) throw new DecodeError('unknown label type');
    if (pos + 1 + len > buf.length) throw new DecodeError('label runs past the end');
    wireLen += len + 1;
    if (wireLen > MAX_NAME) throw new DecodeError('name too long');
    labels.push(labelText(buf, pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { name: labels.join('.'), end };
}

function need(buf: Uint8Array, off: number, n: number): void {
  if (off + n > buf.length) throw new DecodeError('message truncated');
}

function u16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

function u32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) >>> 0) + (buf[off + 1]! << 16) + (buf[off + 2]! << 8) + buf[off + 3]!;
}

function readRData(buf: Buffer, type: number, start: number, len: number): RData {
  const end = start + len;
  const nameIn = (off: number): { name: string; end: number } => {
    const r = readName(buf, off);
    if (r.end > end) throw new DecodeError('name runs past its rdata');
    return r;
  };
  const done = (off: number): void => {
    if (off !== end) throw new DecodeError('rdata length mismatch');
  };
  switch (type) {
    case TYPE.A:
    case TYPE.AAAA: {
      if (len !== (type === TYPE.A ? 4 : 16)) throw new DecodeError('bad address length');
      return { kind: 'ip', ip: bytesToIP(buf.subarray(start, end)) };
    }
    case TYPE.NS:
    case TYPE.CNAME:
    case TYPE.PTR: {
      const n = nameIn(start);
      done(n.end);
      return { kind: 'name', name: n.name };
    }
    case TYPE.MX: {
      need(buf, start, 2);
      const n = nameIn(start + 2);
      done(n.end);
      return { kind: 'mx', preference: u16(buf, start), exchange: n.name };
    }
    case TYPE.SRV: {
      if (len < 7) throw new DecodeError('short SRV');
      const n = nameIn(start + 6);
      done(n.end);
      return { kind: 'srv', priority: u16(buf, start), weight: u16(buf, start + 2), port: u16(buf, start + 4), target: n.name };
    }
    case TYPE.SOA: {
      const m = nameIn(start);
      const r = nameIn(m.end);
      if (r.end + 20 !== end) throw new DecodeError('bad SOA');
      const o = r.end;
      return { kind: 'soa', mname: m.name, rname: r.name, serial: u32(buf, o), refresh: u32(buf, o + 4), retry: u32(buf, o + 8), expire: u32(buf, o + 12), minimum: u32(buf, o + 16) };
    }
    case TYPE.TXT: {
      const texts: string[] = [];
      let p = start;
      while (p < end) {
        const l = buf[p]!;
        if (p + 1 + l > end) throw new DecodeError('bad TXT string');
        texts.push(buf.toString('latin1', p + 1, p + 1 + l));
        p += 1 + l;
      }
      return { kind: 'txt', texts };
    }
    default:
      return { kind: 'raw', bytes: Buffer.from(buf.subarray(start, end)) };
  }
}

/** Decodes a whole message; the OPT RR (at most one, in the additional section) becomes `edns`. */
export function decodeMessage(buf: Buffer): Message {
  need(buf, 0, HEADER_LEN);
  const counts = [u16(buf, 4), u16(buf, 6), u16(buf, 8), u16(buf, 10)] as const;
  const msg: Message = { id: u16(buf, 0), flags: u16(buf, 2), questions: [], answers: [], authority: [], additional: [] };
  let off = HEADER_LEN;
  for (let i = 0; i < counts[0]; i++) {
    const n = readName(buf, off);
    need(buf, n.end, 4);
    msg.questions.push({ name: n.name, type: u16(buf, n.end), class: u16(buf, n.end + 2) });
    off = n.end + 4;
  }
  const sections = [msg.answers, msg.authority, msg.additional];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const n = readName(buf, off);
      need(buf, n.end, 10);
      const type = u16(buf, n.end);
      const cls = u16(buf, n.end + 2);
      const ttl = u32(buf, n.end + 4);
      const len = u16(buf, n.end + 8);
      const start = n.end + 10;
      need(buf, start, len);
      off = start + len;
      if (type === TYPE.OPT) {
        if (s !== 2 || n.name !== '' || msg.edns) throw new DecodeError('misplaced or repeated OPT');
        msg.edns = { udpSize: cls, extRcode: ttl >>> 24, version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0 };
        continue;
      }
      sections[s]!.push({ name: n.name, type, class: cls, ttl, data: readRData(buf, type, start, len) });
    }
  }
  return msg;
}

/** What encoding produced besides the bytes: where each RR ends and where its TTL sits. */
export interface Encoded {
  bytes: Buffer;
  /** End offset of every RR, answers then authority then additional (OPT excluded). */
  rrEnds: number[];
  /** Offset of the TTL field of every RR, same order. */
  ttlOffsets: number[];
  /** Offset after the question section. */
  questionEnd: number;
}

class Writer {
  private buf = Buffer.alloc(512);
  len = 0;
  private readonly dict = new Map<string, number>();

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void {
    this.grow(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.grow(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.grow(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  setU16(off: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, off);
  }
  /** Writes a name, pointing at an earlier copy of its longest known suffix (compared case-insensitively). */
  name(name: string, compress = true): void {
    const wire = nameToWire(name);
    if (!wire) throw new DecodeError(`invalid name ${JSON.stringify(name)}`);
    let p = 0;
    while (wire[p] !== 0) {
      const suffix = lowerName(wire.toString('latin1', p));
      const at = compress ? this.dict.get(suffix) : undefined;
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x3fff) this.dict.set(suffix, this.len);
      const l = wire[p]!;
      this.bytes(wire.subarray(p, p + 1 + l));
      p += 1 + l;
    }
    this.u8(0);
  }
  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

function writeRData(w: Writer, rr: RR): void {
  const d = rr.data;
  switch (d.kind) {
    case 'ip': {
      const fam = ipFamily(d.ip);
      if (fam === 0 || (fam === 4) !== (rr.type === TYPE.A)) throw new DecodeError(`bad address ${d.ip}`);
      w.bytes(ipBytes(d.ip));
      return;
    }
    case 'name':
      return w.name(d.name);
    case 'srv':
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      return w.name(d.target, false); // RFC 2782: SRV targets are not compressed
    case 'mx':
      w.u16(d.preference);
      return w.name(d.exchange);
    case 'soa':
      w.name(d.mname);
      w.name(d.rname);
      for (const v of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) w.u32(v);
      return;
    case 'txt':
      for (const t of d.texts) {
        const b = Buffer.from(t, 'latin1').subarray(0, 255);
        w.u8(b.length);
        w.bytes(b);
      }
      return;
    case 'raw':
      return w.bytes(d.bytes);
  }
}

/** Encodes with name compression. The OPT RR, when `edns` is set, goes last. */
export function encodeMessage(msg: Message): Encoded {
  const w = new Writer();
  w.u16(msg.id);
  w.u16(msg.flags);
  w.u16(msg.questions.length);
  w.u16(msg.answers.length);
  w.u16(msg.authority.length);
  w.u16(msg.additional.length + (msg.edns ? 1 : 0));
  for (const q of msg.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  const questionEnd = w.len;
  const rrEnds: number[] = [];
  const ttlOffsets: number[] = [];
  for (const rr of [...msg.answers, ...msg.authority, ...msg.additional]) {
    w.name(rr.name);
    w.u16(rr.type);
    w.u16(rr.class);
    ttlOffsets.push(w.len);
    w.u32(rr.ttl);
    const lenAt = w.len;
    w.u16(0);
    writeRData(w, rr);
    w.setU16(lenAt, w.len - lenAt - 2);
    rrEnds.push(w.len);
  }
  if (msg.edns) {
    const e = msg.edns;
    w.u8(0);
    w.u16(TYPE.OPT);
    w.u16(e.udpSize);
    w.u32(((e.extRcode & 0xff) << 24) | ((e.version & 0xff) << 16) | (e.dnssecOk ? 0x8000 : 0));
    w.u16(0);
  }
  return { bytes: w.done(), rrEnds, ttlOffsets, questionEnd };
}

/** Convenience for builders and tests. */
export function rr(name: string, type: number, ttl: number, data: RData): RR {
  return { name, type, class: CLASS_IN, ttl, data };
}

export function ipRR(name: string, ip: string, ttl: number): RR {
  return rr(name, isIPv4(ip) ? TYPE.A : TYPE.AAAA, ttl, { kind: 'ip', ip });
}
