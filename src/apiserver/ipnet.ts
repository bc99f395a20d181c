import { isIPv4, isIPv6 } from 'node:net';

export type Family = 'IPv4' | 'IPv6';

export function familyOf(ip: string): Family | undefined {
  return isIPv4(ip) ? 'IPv4' : isIPv6(ip) ? 'IPv6' : undefined;
}

export function ipToBigInt(ip: string): bigint {
  if (isIPv4(ip)) return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipToBigInt(v4[1]!);
    text = text.slice(0, -v4[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function bigIntToIp(n: bigint, family: Family): string {
  if (family === 'IPv4') return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
  const groups = [...Array(8)].map((_, i) => Number((n >> BigInt((7 - i) * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (length >= 2) of zero groups, the first one on ties.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export interface Cidr {
  family: Family;
  base: bigint;
  bits: number;
  size: bigint;
  text: string;
}

export function parseCidr(text: string): Cidr {
  const [addr, len] = text.split('/');
  const family = familyOf(addr ?? '');
  const bits = Number(len);
  const max = family === 'IPv4' ? 32 : 128;
  if (!family || !Number.isInteger(bits) || bits < 0 || bits > max) throw new Error(`invalid CIDR ${text}`);
  const hostBits = BigInt(max - bits);
  const base = (ipToBigInt(addr!) >> hostBits) << hostBits;
  return { family, base, bits, size: 1n << hostBits, text };
}

export function cidrContains(c: Cidr, ip: string): boolean {
  if (familyOf(ip) !== c.family) return false;
  const n = ipToBigInt(ip);
  return n >= c.base && n < c.base + c.size;
}
