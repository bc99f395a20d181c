// Who may use this resolver: the node itself, other nodes, and pods (pod CIDRs and known pod IPs),
// plus configured extra CIDRs. Anyone else is dropped, so no interface becomes an open resolver.
// Before the view is known, unknown clients only ever get SERVFAIL (tiny, cannot amplify).
import { cidrContains, parseCIDR, type CIDR } from '../../src/net/ip.ts';
import type { NodeView } from '../../src/view/view.ts';

export const DENY = 0;
export const ALLOW = 1;
export const SERVFAIL_ONLY = 2;
export type Access = typeof DENY | typeof ALLOW | typeof SERVFAIL_ONLY;

const LOOPBACK = [parseCIDR('127.0.0.0/8')!, parseCIDR('::1/128')!];
const MEMO_MAX = 8192;

export class ClientACL {
  private static: CIDR[];
  private cidrs: CIDR[] = [];
  private ips = new Set<string>();
  private podIPs: ReadonlyMap<string, unknown> | undefined;
  private ready = false;
  private readonly memo = new Map<string, Access>();

  /** `extra`: CIDRs always allowed (--dns-allow). */
  constructor(extra: string[] = []) {
    this.static = [...LOOPBACK, ...extra.map((c) => parseCIDR(c)).filter((c): c is CIDR => c !== null)];
  }

  /** Learns the cluster's node addresses and pod networks from the view. */
  update(view: Pick<NodeView, 'peers' | 'self' | 'podsByIP'>): void {
    const cidrs: CIDR[] = [];
    const ips = new Set<string>([...view.self.internalIPs, ...view.self.externalIPs]);
    for (const c of view.self.podCIDRs) {
      const p = parseCIDR(c);
      if (p) cidrs.push(p);
    }
    for (const peer of view.peers.values()) {
      for (const ip of [...peer.internalIPs, ...peer.externalIPs]) ips.add(ip);
      for (const c of peer.podCIDRs) {
        const p = parseCIDR(c);
        if (p) cidrs.push(p);
      }
    }
    this.cidrs = cidrs;
    this.ips = ips;
    this.podIPs = view.podsByIP;
    this.ready = true;
    this.memo.clear();
  }

  check(address: string): Access {
    const m = this.memo.get(address);
    if (m !== undefined) return m;
    const a = this.decide(address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address);
    if (this.memo.size >= MEMO_MAX) this.memo.clear();
    this.memo.set(address, a);
    return a;
  }

  private decide(ip: string): Access {
    if (this.static.some((c) => cidrContains(c, ip))) return ALLOW;
    if (!this.ready) return SERVFAIL_ONLY;
    if (this.ips.has(ip) || this.podIPs?.has(ip)) return ALLOW;
    return this.cidrs.some((c) => cidrContains(c, ip)) ? ALLOW : DENY;
  }
}
