// The cluster naming rules that turn IPs into labels and reverse names into IPs.
import { bytesToIP, canonicalIP, ipBytes, ipFamily } from '../../src/net/ip.ts';

/** An IP as one label, as CoreDNS names endpoints without a hostname: 10-0-0-1, 2001-db8--0. */
export function dashedIP(ip: string): string {
  let s = ip.replace(/[.:]/g, '-');
  if (s.endsWith('-')) s += '0';
  if (s.startsWith('-')) s = `0${s}`;
  return s;
}

/** The IP a pod label names (a-b-c-d, or IPv6 with dashes for colons), or '' when it names none. */
export function ipFromDashed(label: string): string {
  const dots = label.replace(/-/g, '.');
  if ((label.match(/-/g)?.length ?? 0) === 3 && !label.includes('--') && ipFamily(dots) === 4) return bytesToIP(ipBytes(dots));
  const colons = label.replace(/-/g, ':');
  return ipFamily(colons) === 6 ? bytesToIP(ipBytes(colons.toLowerCase())) : '';
}

/** in-addr.arpa / ip6.arpa name (lower-case, no trailing dot) of a full address → canonical IP, else ''. */
export function ipFromReverse(name: string): string {
  if (name.endsWith('.in-addr.arpa')) {
    const parts = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) < 256)) return '';
    return parts.reverse().join('.');
  }
  if (name.endsWith('.ip6.arpa')) {
    const parts = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (parts.length !== 32 || !parts.every((p) => /^[0-9a-f]$/.test(p))) return '';
    const hex = parts.reverse().join('');
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4));
    return bytesToIP(ipBytes(groups.join(':')));
  }
  return '';
}

/** The reverse name of an IP (no trailing dot), IPv6 in full nibble form. */
export function reverseName(ip: string): string {
  const b = ipBytes(ip);
  if (b.length === 4) return `${b[3]}.${b[2]}.${b[1]}.${b[0]}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) nibbles.push((b[i]! & 0xf).toString(16), (b[i]! >> 4).toString(16));
  return `${nibbles.join('.')}.ip6.arpa`;
}

/** Canonical text of a valid IP (RFC 5952), '' otherwise: the cache's own normalisation. */
export const canonical = canonicalIP;
