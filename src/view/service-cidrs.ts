// The cluster's Service CIDRs: the union of every ServiceCIDR object's ranges, as the proxy
// needs them to drop traffic to ClusterIPs no Service holds.
import type { ServiceCIDR } from '../kube/objects.ts';

/** Every CIDR once (the converter made them canonical), IPv4 first, in a stable order. */
export function collectServiceCIDRs(objects: Iterable<ServiceCIDR>): string[] {
  const all = new Set<string>();
  for (const o of objects) for (const c of o.cidrs) all.add(c);
  const v6 = (c: string) => c.includes(':');
  return [...all].sort((a, b) => Number(v6(a)) - Number(v6(b)) || (a < b ? -1 : a > b ? 1 : 0));
}
