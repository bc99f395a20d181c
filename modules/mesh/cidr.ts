// CIDR arithmetic the mesh needs on top of src/net/ip.ts: overlap checks (WireGuard allowed IPs
// must not overlap), the gateway address of a pod CIDR, and private-address classification.
import { type CIDR, bytesToIP, cidrContains, ipFamily, parseCIDR } from '../../src/net/ip.ts';

/** One contains the other (CIDRs either nest or are disjoint). */
export function overlaps(a: CIDR, b: CIDR): boolean {
  if (a.family !== b.family) return false;
  const [wide, narrow] = a.prefix <= b.prefix ? [a, b] : [b, a];
  return cidrContains(wide, bytesToIP(narrow.bytes));
}

/** The first host address: the pods' gateway on the bridge (host-local's default too). */
export function gatewayOf(c: CIDR): string {
  const b = Uint8Array.from(c.bytes);
  if (c.prefix >= (c.family === 4 ? 31 : 127)) return bytesToIP(b);
  b[b.length - 1]! += 1;
  return bytesToIP(b);
}

/** Drops CIDRs contained in another of the list; sorted, canonical. */
export function collapse(list: CIDR[]): CIDR[] {
  const uniq = [...new Map(list.map((c) => [c.text, c])).values()].sort((a, b) => a.prefix - b.prefix);
  const out: CIDR[] = [];
  for (const c of uniq) if (!out.some((o) => overlaps(o, c))) out.push(c);
  return out.sort(compareCIDR);
}

export function compareCIDR(a: CIDR, b: CIDR): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i]! - b.bytes[i]!;
  return a.prefix - b.prefix;
}

export function parseCIDRs(list: string[]): CIDR[] {
  return list.map((s) => parseCIDR(s)).filter((c): c is CIDR => c !== null);
}

// Not globally routable: a node with only such addresses is behind NAT or a private network,
// so its peers' view of it needs keepalives. 198.18.0.0/15 (benchmarking) counts as private.
const PRIVATE = parseCIDRs([
  '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '127.0.0.0/8', '198.18.0.0/15',
  'fc00::/7', 'fe80::/10', '::1/128',
]);

export function isPrivateIP(ip: string): boolean {
  if (ipFamily(ip) === 0) return false;
  return PRIVATE.some((c) => cidrContains(c, ip));
}
