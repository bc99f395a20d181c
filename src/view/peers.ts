import type { Node } from '../kube/objects.ts';
import type { PeerView, SelfView } from './types.ts';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

function addrs(node: Node, type: string): string[] {
  return node.addresses.filter((a) => a.type === type).map((a) => a.address);
}

export function buildPeer(node: Node, selfName: string): PeerView {
  return {
    name: node.name,
    self: node.name === selfName,
    podCIDRs: node.podCIDRs,
    internalIPs: addrs(node, 'InternalIP'),
    externalIPs: addrs(node, 'ExternalIP'),
    annotations: node.annotations,
    zone: node.labels[ZONE_LABEL] ?? '',
    deleting: node.deleting,
    ...(node.networkUnavailable !== undefined ? { networkUnavailable: node.networkUnavailable } : {}),
  };
}

export function buildSelf(name: string, node: Node | undefined): SelfView {
  if (!node) return { name, known: false, zone: '', internalIPs: [], externalIPs: [], podCIDRs: [] };
  return {
    name,
    known: true,
    zone: node.labels[ZONE_LABEL] ?? '',
    internalIPs: addrs(node, 'InternalIP'),
    externalIPs: addrs(node, 'ExternalIP'),
    podCIDRs: node.podCIDRs,
    ...(node.deleting || node.toBeDeleted ? { leaving: true } : {}),
  };
}
