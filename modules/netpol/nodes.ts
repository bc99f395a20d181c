// ClusterNetworkPolicy `nodes` peers (egress): the nodes a label selector picks, as the
// addresses in their status.addresses (InternalIP and ExternalIP, both families), each an
// ipBlock of one address. Resolved at plan time from the view's nodes, so a node's new
// address or label reaches the rules like any other change. Traffic from a pod to its own
// node goes through the input hook, which policy never filters (the node exemption): such a
// rule decides pod → other nodes only.
import { selects } from '../../src/kube/convert-policy.ts';
import type { LabelSelector, Node } from '../../src/kube/objects.ts';
import { ipFamily } from '../../src/net/ip.ts';
import type { Peer } from './plan.ts';

export function nodePeers(sel: LabelSelector, nodes: ReadonlyMap<string, Node> | undefined): Peer[] {
  if (!nodes) return [];
  const ips = new Set<string>();
  for (const n of nodes.values()) {
    if (!selects(sel, n.labels)) continue;
    for (const a of n.addresses) if (ipFamily(a.address)) ips.add(a.address);
  }
  return [...ips].sort().map((ip) => ({ kind: 'ipBlock', cidr: `${ip}/${ipFamily(ip) === 4 ? 32 : 128}`, except: [] }));
}
