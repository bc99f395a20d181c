// The tunnel MTU. WireGuard adds 32 bytes of its own plus the outer UDP and IP headers:
// 60 over IPv4, 80 over IPv6 (Calico's split; flannel and Cilium always take 80 and lose 20
// bytes per packet on IPv4). Pods get the same MTU, so nothing fragments in the tunnel.
export const OVERHEAD = { 4: 60, 6: 80 } as const;
export const FALLBACK_MTU = 1420;
const MIN_MTU = 576;

export interface PathMTU {
  family: 4 | 6;
  /** min(route mtu, device mtu) toward an endpoint. */
  mtu: number;
}

/**
 * forced wins; else the smallest path to any peer endpoint; else this node's own underlay
 * (before it has peers, so the first pods already get the right MTU).
 */
export function tunnelMTU(forced: number, paths: PathMTU[], underlay: PathMTU | null): number {
  if (forced > 0) return forced;
  const all = paths.length ? paths : underlay ? [underlay] : [];
  if (!all.length) return FALLBACK_MTU;
  return Math.max(MIN_MTU, Math.min(...all.map((p) => p.mtu - OVERHEAD[p.family])));
}
