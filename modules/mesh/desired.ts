// The mesh's desired state: the plan (plan.ts) with the decisions taken against the device as
// last read (decide.ts: which endpoint each peer is dialled on, the MTU) and the host's facts
// (facts.ts: what the CNI plugins support), as one plain value. Each applier (apply/) takes
// its part; nothing here touches the host.
import type { CIDR } from '../../src/net/ip.ts';
import { renderConflist } from './conflist.ts';
import { join } from 'node:path';
import { renderNft } from './nft.ts';
import type { MeshConfig } from './options.ts';
import type { MeshPlan, PlannedRoute } from './plan.ts';
import type { DesiredPeer } from './wg.ts';

/**
 * full: re-check everything, device included; device: peers, routes and addresses read back;
 * peers: the WireGuard peers read back, the host trusted to what was applied (it is watched:
 * src/sys/ip-monitor.ts); memory: diff against what was applied.
 */
export type Compare = 'full' | 'device' | 'peers' | 'memory';

export interface LinkSpec {
  iface: string;
  mtu: number;
  /** The pod CIDRs' families: the forwarding sysctls they need. */
  families: (4 | 6)[];
  bridge: string;
  /** The bridge's addresses: each pod CIDR's gateway, ip/prefix. */
  gateways: string[];
}

/** What the installed CNI plugins allow (facts.ts). */
export interface CniChoice {
  version: string;
  portmap: boolean;
}

export interface MeshDesired {
  link: LinkSpec;
  /** The tunnel's own addresses. */
  addresses: string[];
  /** Endpoint null: leave the device's. */
  peers: DesiredPeer[];
  routes: PlannedRoute[];
  nft: string;
  /** The networks a dropping host firewall must let through. */
  forward: CIDR[];
  /** undefined: nothing to write (no pod CIDR, or no usable CNI plugins). */
  conflist: string | undefined;
}

export function meshDesired(cfg: MeshConfig, p: MeshPlan, peers: DesiredPeer[], mtu: number, cni: CniChoice | undefined): MeshDesired {
  return {
    link: { iface: cfg.iface, mtu, families: [...new Set(p.podCIDRs.map((c) => c.family))], bridge: cfg.bridge, gateways: p.gateways.map((g) => g.cidr) },
    addresses: p.tunnelAddrs,
    peers,
    routes: p.routes,
    nft: renderNft({ iface: cfg.iface, podCIDRs: p.podCIDRs, clusterNets: p.clusterNets }),
    forward: p.clusterNets,
    conflist: p.podCIDRs.length && cni
      ? renderConflist({ bridge: cfg.bridge, podCIDRs: p.podCIDRs, gateways: p.gateways, mtu, ipamDir: join(cfg.stateDir, 'ipam'), portmap: cni.portmap, cniVersion: cni.version })
      : undefined,
  };
}
