// CIDR arithmetic the mesh needs on top of src/net/ip.ts: overlap checks (WireGuard allowed IPs
// must not overlap), the gateway address of a pod CIDR, and private-address classification.
import { type CIDR, bytesToIP, cidrContains, ipBytes, ipFamily, parseCIDR } from '../../src/net/ip.ts';

/** One contains the other (CIDRs either nest or are disjoint). */
export function overlaps(a: CIDR, b: CIDR): boolean {
  if (a.family !== b.family) return false;
  const bits = Math.min(a.prefix, b.prefix);
  for (let i = 0; i * 8 < bits; i++) {
    const keep = Math.min(8, bits - i * 8);
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((a.bytes[i]! & mask) !== (b.bytes[i]! & mask)) return false;
  }
  return true;
}

interface Trie {
  child: [Trie | undefined, Trie | undefined];
  cidr?: CIDR;
}

const bit = (bytes: Uint8Array, i: number) => ((bytes[i >> 3]! >> (7 - (i & 7))) & 1) as 0 | 1;

/**
 * CIDRs by prefix bits: overlap and membership in O(prefix length) instead of a scan, so a
 * plan over thousands of nodes stays linear.
 */
export class CidrSet {
  private readonly roots: Record<4 | 6, Trie> = { 4: { child: [undefined, undefined] }, 6: { child: [undefined, undefined] } };

  /** A member that contains c or lies inside it, if any. */
  overlap(c: CIDR): CIDR | undefined {
    let n: Trie | undefined = this.roots[c.family];
    for (let i = 0; n; i++) {
      if (n.cidr) return n.cidr;
      if (i === c.prefix) return first(n);
      n = n.child[bit(c.bytes, i)];
    }
    return undefined;
  }

  add(c: CIDR): void {
    let n = this.roots[c.family];
    for (let i = 0; i < c.prefix; i++) {
      const b = bit(c.bytes, i);
      n = n.child[b] ??= { child: [undefined, undefined] };
    }
    n.cidr ??= c;
  }

  /** A member containing ip, if any. */
  containing(ip: string): CIDR | undefined {
    const fam = ipFamily(ip);
    if (fam === 0) return undefined;
    const bytes = ipBytes(ip);
    let n: Trie | undefined = this.roots[fam];
    for (let i = 0; n; i++) {
      if (n.cidr) return n.cidr;
      if (i === bytes.length * 8) return undefined;
      n = n.child[bit(bytes, i)];
    }
    return undefined;
  }
}

function first(n: Trie): CIDR | undefined {
  if (n.cidr) return n.cidr;
  for (const c of n.child) {
    const f = c && first(c);
    if (f) return f;
  }
  return undefined;
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
  const kept = new CidrSet();
  const out: CIDR[] = [];
  for (const c of uniq) {
    if (kept.overlap(c)) continue;
    kept.add(c);
    out.push(c);
  }
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
const PRIVATE = new CidrSet();
for (const c of parseCIDRs([
  '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '127.0.0.0/8', '198.18.0.0/15',
  'fc00::/7', 'fe80::/10', '::1/128',
])) PRIVATE.add(c);

export function isPrivateIP(ip: string): boolean {
  return PRIVATE.containing(ip) !== undefined;
}
