// The `ip -batch` lines that wire lab namespaces together, kept apart from the
// bookkeeping so the topology can be read in one place.
import { POD_GATEWAY_V4, POD_GATEWAY_V6, type Cidr } from './addresses.ts';

export const BRIDGE = 'br0';

export function switchLines(): string[] {
  return [
    'link set lo up',
    // Without snooping the bridge floods multicast, so neighbour discovery never waits on MLD.
    `link add ${BRIDGE} type bridge mcast_snooping 0`,
    `link set ${BRIDGE} up`,
  ];
}

/** In the switch: a bridge port whose peer becomes eth0 of the station. */
export function portLines(port: string, stationNs: string): string[] {
  return [`link add ${port} type veth peer name eth0 netns ${stationNs}`, `link set ${port} master ${BRIDGE}`, `link set ${port} up`];
}

export function stationLines(v4: Cidr, v6: Cidr | undefined): string[] {
  return [
    'link set lo up',
    `addr add ${v4.addr}/${v4.len} dev eth0`,
    ...(v6 ? [`addr add ${v6.addr}/${v6.len} dev eth0 nodad`] : []),
    'link set eth0 up',
  ];
}

export interface PodWiring {
  podNs: string;
  hostIface: string;
  v4: string;
  v6: string | undefined;
  nodeV4: string;
  nodeV6: string | undefined;
}

// Calico-style: the node side of every pod veth owns the same link-local
// gateway, and the node reaches the pod by a host route whose source is the
// node's real address (so pods see node traffic coming from the node IP).
export function podNodeSideLines(w: PodWiring): string[] {
  return [
    `link add ${w.hostIface} type veth peer name eth0 netns ${w.podNs}`,
    `addr add ${POD_GATEWAY_V4}/32 dev ${w.hostIface} scope link`,
    ...(w.v6 ? [`addr add ${POD_GATEWAY_V6}/64 dev ${w.hostIface} nodad`] : []),
    `link set ${w.hostIface} up`,
    `route add ${w.v4}/32 dev ${w.hostIface} src ${w.nodeV4}`,
    ...(w.v6 && w.nodeV6 ? [`route add ${w.v6}/128 dev ${w.hostIface} src ${w.nodeV6}`] : []),
  ];
}

export function podSideLines(w: PodWiring): string[] {
  return [
    'link set lo up',
    `addr add ${w.v4}/32 dev eth0`,
    ...(w.v6 ? [`addr add ${w.v6}/128 dev eth0 nodad`] : []),
    'link set eth0 up',
    `route add ${POD_GATEWAY_V4}/32 dev eth0 scope link`,
    `route add default via ${POD_GATEWAY_V4} dev eth0`,
    ...(w.v6 ? [`route add default via ${POD_GATEWAY_V6} dev eth0`] : []),
  ];
}
