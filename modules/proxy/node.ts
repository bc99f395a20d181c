// What the proxy needs to know about this node, per family: where NodePorts answer, the node's
// primary IP, the pod CIDRs that count as "inside the cluster", and the Service CIDRs. Pure
// given the view and the local interface addresses (read by the caller).
import { networkInterfaces } from 'node:os';
import type { IPFamily } from '../../src/kube/objects.ts';
import { canonicalIP, disjointCIDRs, familyIP, inAnyCIDR, ipFamily } from '../../src/net/ip.ts';
import type { NodeView } from '../../src/view/view.ts';
import type { ProxyConfig } from './options.ts';


export interface LocalAddress {
  address: string;
  internal: boolean;
}

export interface FamilyNode {
  family: IPFamily;
  /** NodePort destination IPs, or 'all' for every local non-loopback address (fib). */
  nodePortIPs: string[] | 'all';
  /** The node's primary IP of this family, '' when it has none. */
  nodeIP: string;
  /** Sources inside the cluster: not masqueraded to ClusterIPs, short-circuited by eTP=Local. */
  clusterCIDRs: string[];
  /** The cluster's ServiceCIDRs: traffic to an IP there that no Service holds is dropped. */
  serviceCIDRs: string[];
}

export function localAddresses(): LocalAddress[] {
  const out: LocalAddress[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = canonicalIP(a.address);
      // Link-local addresses are not node addresses anyone connects to.
      if (ip && !/^fe[89ab]/i.test(ip) && !ip.startsWith('169.254.')) out.push({ address: ip, internal: a.internal });
    }
  }
  return out;
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

/** The node's own IP of the family as its Node object lists it, '' when it lists none. */
function listedIP(view: Pick<NodeView, 'self'>, family: IPFamily): string {
  for (const ip of [...view.self.internalIPs, ...view.self.externalIPs]) {
    const c = familyIP(ip, family);
    if (c) return c;
  }
  return '';
}

export function primaryIP(view: Pick<NodeView, 'self'>, family: IPFamily, local: LocalAddress[]): string {
  // Before the Node object is known, or on a node that lists no address of this family.
  return listedIP(view, family) || (local.find((a) => !a.internal && !isLoopback(a.address) && ipFamily(a.address) === family)?.address ?? '');
}

export function familyNode(view: Pick<NodeView, 'self' | 'peers' | 'serviceCIDRs'>, cfg: ProxyConfig, family: IPFamily, local: LocalAddress[]): FamilyNode {
  const nodeIP = primaryIP(view, family, local);
  // As kube-proxy: a family with no node IP ("primary") or no CIDR of its own matches every
  // local address of that family, never a guessed one.
  let nodePortIPs: string[] | 'all';
  if (cfg.nodePortAddresses === 'primary') {
    const ip = listedIP(view, family);
    nodePortIPs = ip ? [ip] : 'all';
  } else {
    const cidrs = cfg.nodePortAddresses.filter((c) => c.family === family).map((c) => c.cidr);
    if (cidrs.length === 0 || cidrs.some((c) => c.endsWith('/0'))) nodePortIPs = 'all';
    else {
      const ips = local.filter((a) => ipFamily(a.address) === family && !isLoopback(a.address) && inAnyCIDR(a.address, cidrs)).map((a) => a.address);
      nodePortIPs = [...new Set(ips)].sort();
    }
  }
  // Pod sources by address, for the CIDR modes of --detect-local-mode (none for the others).
  const given = cfg.clusterCIDRs.filter((c) => c.family === family).map((c) => c.cidr);
  const mode = cfg.detectLocal.mode;
  const fromNodes = mode === 'NodeCIDR' ? view.self.podCIDRs : mode !== 'ClusterCIDR' ? [] : given.length ? given : [...view.peers.values()].flatMap((p) => p.podCIDRs);
  // Disjoint: an interval set refuses overlapping elements, and ServiceCIDRs may overlap.
  const serviceCIDRs = disjointCIDRs([...view.serviceCIDRs], family).cidrs;
  return { family, nodePortIPs, nodeIP, clusterCIDRs: disjointCIDRs(fromNodes, family).cidrs, serviceCIDRs };
}

/** --nodeport-addresses entries that can never match (loopback), to warn about once. */
export function loopbackNodePortCIDRs(cfg: ProxyConfig): string[] {
  return cfg.nodePortAddresses === 'primary' ? [] : cfg.nodePortAddresses.filter((c) => /^(127\.|::1\/128)/.test(c.cidr)).map((c) => c.cidr);
}
