// DNS wire constants and name conversions shared by the codec, the record index and the hot path.
// Names travel as presentation text: dotted, no trailing dot ('' is the root), and bytes that
// are not plain hostname characters escaped as \DDD so that nothing an upstream sends is lost.

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

export const CLASS_IN = 1;

/** Header flag bits (the 16-bit word at offset 2). */
export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080, CD: 0x0010 } as const;

export const HEADER_LEN = 12;
export const MAX_NAME = 255;
export const MAX_LABEL = 63;
/** The payload size we advertise and use when asking upstreams (DNS flag day 2020). */
export const EDNS_SIZE = 1232;
/** OPT RR without options: root name, type, class, ttl, rdlength. */
export const OPT_LEN = 11;

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));

export function typeName(t: number): string {
  return TYPE_NAMES.get(t) ?? `TYPE${t}`;
}

function plain(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x5f || b === 0x2a;
}

/** One label's bytes as presentation text. */
export function labelText(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    s += plain(b) ? String.fromCharCode(b) : `\\${String(b).padStart(3, '0')}`;
  }
  return s;
}

/** Presentation name → wire labels, or null when it is not a valid name (bad escape, label or length). */
export function nameToWire(name: string): Buffer | null {
  if (name === '' || name === '.') return Buffer.from([0]);
  const text = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  const out: number[] = [];
  let label: number[] = [];
  const flush = (): boolean => {
    if (label.length === 0 || label.length > MAX_LABEL) return false;
    out.push(label.length, ...label);
    label = [];
    return true;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (!flush()) return null;
    } else if (c === 0x5c) {
      const d = /^\d{3}/.exec(text.slice(i + 1, i + 4));
      if (d) {
        const v = Number(d[0]);
        if (v > 255) return null;
        label.push(v);
        i += 3;
      } else if (i + 1 < text.length && text.charCodeAt(i + 1) < 0x80) {
        label.push(text.charCodeAt(++i));
      } else return null;
    } else if (c < 0x80) label.push(c);
    else return null;
  }
  if (!flush()) return null;
  out.push(0);
  return out.length > MAX_NAME ? null : Buffer.from(out);
}

/** Lower-cases ASCII letters only: DNS is case-insensitive for A-Z and nothing else. */
export function lowerName(name: string): string {
  return /[A-Z]/.test(name) ? name.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : name;
}

/** Labels of a name decoded from the wire, leftmost first; [] for the root. labelText escapes a
 * dot inside a label as \046, so every literal dot here is a separator. */
export function splitName(name: string): string[] {
  return name === '' ? [] : name.split('.');
}

/** Is `name` equal to `zone` or below it (both lower-case presentation names)? */
export function inZone(name: string, zone: string): boolean {
  return name === zone || (name.length > zone.length && name.endsWith(zone) && name.charCodeAt(name.length - zone.length - 1) === 0x2e);
}

/**
 * The answer caches' key for a (wire name, type): the name's wire bytes and the type's two, as
 * latin1, the bytes a query carries there (so the server slices it from the packet in one go).
 */
export function cacheKey(wire: Buffer, qtype: number): string {
  return wire.toString('latin1') + String.fromCharCode(qtype >> 8, qtype & 0xff);
}
