import { isIPv4, isIPv6 } from 'node:net';
import type { IPFamily } from '../kube/objects.ts';

/** The family of an IP literal, or 0 when it is not one. IPv4-mapped IPv6 is rejected, as Kubernetes does. */
export function ipFamily(ip: string): IPFamily | 0 {
  if (isIPv4(ip)) return 4;
  if (isIPv6(ip) && !ip.includes('%') && !isIPv4Mapped(ip)) return 6;
  return 0;
}

/** ::ffff:a.b.c.d in any spelling (hex or dotted tail, any zero compression); `ip` is valid IPv6. */
function isIPv4Mapped(ip: string): boolean {
  // The ffff group is spelled out in every form, so most addresses need no parse.
  if (!/ffff/i.test(ip)) return false;
  const b = ipBytes(ip);
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** 16 bytes for IPv6, 4 for IPv4; the caller checked the family. */
export function ipBytes(ip: string): Uint8Array {
  if (isIPv4(ip)) return Uint8Array.from(ip.split('.').map(Number));
  const out = new Uint8Array(16);
  let s = ip;
  // An embedded dotted quad ends the address (::ffff:1.2.3.4 style); rewrite it as two hextets.
  const dot = s.lastIndexOf('.');
  if (dot >= 0) {
    const colon = s.lastIndexOf(':');
    const v4 = s.slice(colon + 1).split('.').map(Number);
    s = `${s.slice(0, colon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

export function bytesToIP(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The canonical text of an IP (RFC 5952 for IPv6), or '' when it is not a valid IP. */
export function canonicalIP(ip: string): string {
  const fam = ipFamily(ip.trim());
  if (fam === 0) return '';
  return fam === 4 ? bytesToIP(ipBytes(ip.trim())) : bytesToIP(ipBytes(ip.trim().toLowerCase()));
}

export interface CIDR {
  family: IPFamily;
  bytes: Uint8Array; // network address, host bits cleared
  prefix: number;
  text: string; // canonical a.b.c.d/n
}

export function parseCIDR(text: string): CIDR | null {
  const s = text.trim();
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const addr = s.slice(0, slash);
  const fam = ipFamily(addr);
  const lenText = s.slice(slash + 1);
  if (fam === 0 || !/^\d{1,3}$/.test(lenText)) return null;
  const prefix = Number(lenText);
  const bits = fam === 4 ? 32 : 128;
  if (prefix > bits) return null;
  const bytes = ipBytes(addr);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return { family: fam, bytes, prefix, text: `${bytesToIP(bytes)}/${prefix}` };
}

export function cidrContains(c: CIDR, ip: string): boolean {
  if (ipFamily(ip) !== c.family) return false;
  const b = ipBytes(ip);
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, c.prefix - i * 8));
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((b[i]! & mask) !== c.bytes[i]) return false;
  }
  return true;
}

/** The canonical IP of this family, or '' when `ip` is not one. */
export function familyIP(ip: string, family: IPFamily): string {
  const c = canonicalIP(ip);
  return c !== '' && ipFamily(c) === family ? c : '';
}

/** A CIDR, or a bare IP as its host CIDR. */
function parseCIDROrIP(text: string): CIDR | null {
  return parseCIDR(text.includes('/') ? text : `${text}/${ipFamily(text.trim()) === 6 ? 128 : 32}`);
}

/** Valid CIDRs (or bare IPs) of one family, canonical, with those inside another one dropped. */
export function disjointCIDRs(list: string[], family: IPFamily): { cidrs: string[]; bad: string[] } {
  const parsed: CIDR[] = [];
  const bad: string[] = [];
  for (const raw of list) {
    const c = parseCIDROrIP(raw.trim());
    if (!c) bad.push(raw);
    else if (c.family === family) parsed.push(c);
  }
  parsed.sort((a, b) => a.prefix - b.prefix || (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  const kept: CIDR[] = [];
  for (const c of parsed) {
    const addr = c.text.slice(0, c.text.indexOf('/'));
    if (!kept.some((k) => k.prefix <= c.prefix && cidrContains(k, addr))) kept.push(c);
  }
  const hostBits = family === 4 ? 32 : 128;
  return { cidrs: kept.map((c) => (c.prefix === hostBits ? c.text.slice(0, c.text.indexOf('/')) : c.text)), bad };
}

export function inAnyCIDR(ip: string, cidrs: string[]): boolean {
  return cidrs.some((t) => {
    const c = parseCIDROrIP(t);
    return c !== null && cidrContains(c, ip);
  });
}
