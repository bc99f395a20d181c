// view → desired mesh: peers, routes, what this node publishes. Pure and deterministic: the
// same nodes give the same plan whatever order they come in, and bad input from any Node only
// removes that Node (or that value) from the mesh, with a reason.
import { type CIDR, cidrContains, ipFamily } from '../../src/net/ip.ts';
import type { PeerView } from '../../src/view/types.ts';
import { ANN, type Endpoint, formatEndpoint, readAnnotations } from './annotations.ts';
import { CidrSet, collapse, gatewayOf, isPrivateIP, parseCIDRs } from './cidr.ts';

export const DEFAULT_KEEPALIVE = 25;

export interface PlanConfig {
  iface: string;
  port: number;
  clusterCIDRs: CIDR[];
}

export interface PlanInput {
  config: PlanConfig;
  nodeName: string;
  /** Every Node in the view, this one included. */
  nodes: Iterable<PeerView>;
  /** This node's public key, as the device will carry it. */
  publicKey: string;
}

export interface PlannedPeer {
  node: string;
  publicKey: string;
  /** Endpoints to try, best first; empty = wait for the peer to reach us (it is behind NAT). */
  candidates: Endpoint[];
  /** Set by the operator: used as is, never cycled or replaced by a roamed endpoint. */
  forced: boolean;
  allowedIPs: string[];
  keepalive: number;
}

export interface PlannedRoute {
  dst: string;
  family: 4 | 6;
  dev: string;
  /** The local pod gateway: host-originated packets must carry a source the far end's allowed IPs accept. */
  src: string;
}

export interface Gateway {
  family: 4 | 6;
  ip: string;
  /** ip/prefix of the pod CIDR, as the bridge carries it. */
  cidr: string;
}

export interface Issue {
  node: string;
  reason: string;
}

export interface MeshPlan {
  selfKnown: boolean;
  podCIDRs: CIDR[];
  gateways: Gateway[];
  peers: PlannedPeer[];
  /** Nodes with no key published yet. */
  pending: string[];
  /** Nodes left out of the mesh, and why. */
  rejected: Issue[];
  /** Values ignored, the node otherwise meshed. */
  warnings: Issue[];
  routes: PlannedRoute[];
  /**
   * The tunnel's own addresses: each pod gateway as a host address. Masquerade picks the source
   * from the outgoing interface, so traffic the proxy masquerades into the tunnel (NodePorts,
   * host-network clients) leaves from an address the peers' allowed IPs accept, and replies
   * come back to it; without one the kernel takes any other address of the host (the node's,
   * the cluster DNS address), which the peer drops.
   */
  tunnelAddrs: string[];
  /** The mesh annotations this node should carry ('' = absent). */
  publish: Record<string, string>;
  /** Destinations pods reach without masquerade: cluster and every node's pod CIDRs. */
  clusterNets: CIDR[];
}

// View objects are immutable and unchanged nodes keep theirs across syncs, so what is parsed
// from one is cached by identity: a sync over thousands of nodes re-parses only the changed.
const parsedCIDRs = new WeakMap<string[], CIDR[]>();
const parsedAnnotations = new WeakMap<Record<string, string>, Map<number, ReturnType<typeof readAnnotations>>>();

function cidrsOf(list: string[]): CIDR[] {
  let v = parsedCIDRs.get(list);
  if (!v) parsedCIDRs.set(list, (v = parseCIDRs(list)));
  return v;
}

function annotationsOf(ann: Record<string, string>, port: number): ReturnType<typeof readAnnotations> {
  let byPort = parsedAnnotations.get(ann);
  if (!byPort) parsedAnnotations.set(ann, (byPort = new Map()));
  let v = byPort.get(port);
  if (!v) byPort.set(port, (v = readAnnotations(ann, port)));
  return v;
}

function addressFamilies(p: PeerView): Set<number> {
  return new Set([...p.internalIPs, ...p.externalIPs].map(ipFamily).filter((f) => f !== 0));
}

/** What peers should dial for a node: external addresses first (they cross networks). */
export function ownEndpoints(p: PeerView, port: number): Endpoint[] {
  const seen = new Set<string>();
  const out: Endpoint[] = [];
  for (const ip of [...p.externalIPs, ...p.internalIPs]) {
    if (ipFamily(ip) === 0 || seen.has(ip)) continue;
    seen.add(ip);
    out.push({ ip, port });
  }
  return out;
}

/**
 * Endpoints to reach `peer` from `self`: the operator's forced one alone, else the peer's
 * published and address-derived candidates. Same zone → internal addresses first (no hairpin
 * through NAT); different zone → external first. Families this node has no address of go last.
 */
export function candidatesFor(self: PeerView, peer: PeerView, port: number, published: Endpoint[], forced: Endpoint | null): Endpoint[] {
  if (forced) return [forced];
  const sameZone = self.zone === peer.zone;
  const fams = addressFamilies(self);
  const internal = new Set(peer.internalIPs);
  const all = new Map<string, Endpoint>();
  for (const e of [...published, ...peer.externalIPs.map((ip) => ({ ip, port })), ...peer.internalIPs.map((ip) => ({ ip, port }))]) {
    if (ipFamily(e.ip) !== 0 && !all.has(formatEndpoint(e))) all.set(formatEndpoint(e), e);
  }
  const rank = (e: Endpoint) => {
    const famMiss = fams.size > 0 && !fams.has(ipFamily(e.ip)) ? 4 : 0;
    const isInternal = internal.has(e.ip);
    return famMiss + (sameZone ? (isInternal ? 0 : 1) : isInternal ? 1 : 0);
  };
  // Stable: equal ranks keep the published order, then external, then internal.
  return [...all.values()].map((e, i) => ({ e, i })).sort((a, b) => rank(a.e) - rank(b.e) || a.i - b.i).map((x) => x.e);
}

function looksNATed(endpoint: Endpoint | undefined): boolean {
  return endpoint === undefined || isPrivateIP(endpoint.ip);
}

export function plan(input: PlanInput): MeshPlan {
  const { config, nodeName, publicKey } = input;
  const nodes = [...input.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const self = nodes.find((n) => n.name === nodeName);
  const out: MeshPlan = {
    selfKnown: self !== undefined,
    podCIDRs: [], gateways: [], peers: [], pending: [], rejected: [], warnings: [], routes: [], tunnelAddrs: [], publish: {}, clusterNets: [],
  };
  const selfView: PeerView = self ?? { name: nodeName, self: true, podCIDRs: [], internalIPs: [], externalIPs: [], annotations: {}, zone: '', deleting: false };
  const selfAnn = annotationsOf(selfView.annotations, config.port);
  for (const p of selfAnn.problems) out.warnings.push({ node: nodeName, reason: p });

  // One CIDR per family: host-local gets one range set per family, and the bridge one gateway.
  for (const c of cidrsOf(selfView.podCIDRs)) {
    if (out.podCIDRs.some((o) => o.family === c.family)) {
      out.warnings.push({ node: nodeName, reason: `second IPv${c.family} pod CIDR ${c.text} ignored` });
      continue;
    }
    out.podCIDRs.push(c);
    const ip = gatewayOf(c);
    out.gateways.push({ family: c.family, ip, cidr: `${ip}/${c.prefix}` });
    out.tunnelAddrs.push(`${ip}/${c.family === 4 ? 32 : 128}`);
  }

  const own = ownEndpoints(selfView, config.port);
  out.publish = {
    [ANN.publicKey]: publicKey,
    [ANN.port]: String(config.port),
    [ANN.endpoints]: own.map(formatEndpoint).join(','),
  };
  const selfNATed = looksNATed(selfAnn.forced ?? own[0]);

  // Keys: ours must be unique, and a key two nodes claim belongs to neither (a copied state
  // dir, or a node trying to take another's traffic).
  const holders = new Map<string, string[]>();
  for (const n of nodes) {
    if (n.name === nodeName) continue;
    const k = (n.annotations[ANN.publicKey] ?? '').trim();
    if (k) holders.set(k, [...(holders.get(k) ?? []), n.name]);
  }

  const claimed = new CidrSet();
  for (const c of out.podCIDRs) claimed.add(c);
  const everyPodCIDR: CIDR[] = [...out.podCIDRs];
  const peerCIDRs = new Map<string, CIDR[]>();
  for (const n of nodes) {
    if (n.name === nodeName) continue;
    const cidrs = cidrsOf(n.podCIDRs);
    everyPodCIDR.push(...cidrs);
    const accepted: CIDR[] = [];
    for (const c of cidrs) {
      const clash = claimed.overlap(c);
      if (clash) out.warnings.push({ node: n.name, reason: `pod CIDR ${c.text} overlaps ${clash.text}, already routed elsewhere; ignored` });
      else {
        accepted.push(c);
        claimed.add(c);
      }
    }
    peerCIDRs.set(n.name, accepted);
  }
  out.clusterNets = collapse([...config.clusterCIDRs, ...everyPodCIDR]);
  // The cluster CIDR into the tunnel too: traffic for a node without a key yet is dropped by
  // WireGuard rather than leaving unencrypted through the default route.
  const nodeIPs = [...selfView.internalIPs, ...selfView.externalIPs];
  const tunnelledCluster = config.clusterCIDRs.filter((c) => {
    const hit = nodeIPs.find((ip) => cidrContains(c, ip));
    if (hit) out.warnings.push({ node: nodeName, reason: `cluster CIDR ${c.text} contains this node's address ${hit}; not routed into the mesh` });
    return !hit;
  });
  const routedNets = new CidrSet();
  for (const c of [...tunnelledCluster, ...everyPodCIDR]) routedNets.add(c);

  for (const n of nodes) {
    if (n.name === nodeName) continue;
    const a = annotationsOf(n.annotations, config.port);
    for (const p of a.problems) out.warnings.push({ node: n.name, reason: p });
    if (a.publicKey === '') {
      out.pending.push(n.name);
      continue;
    }
    if (a.keyProblem) {
      out.rejected.push({ node: n.name, reason: a.keyProblem });
      continue;
    }
    if (a.publicKey === publicKey) {
      out.rejected.push({ node: n.name, reason: 'publishes this node\'s own public key' });
      continue;
    }
    const others = holders.get(a.publicKey)!.filter((h) => h !== n.name);
    if (others.length > 0) {
      out.rejected.push({ node: n.name, reason: `public key also published by ${others.join(', ')}` });
      continue;
    }
    const port = a.port || config.port;
    // An endpoint inside a pod or cluster network would be routed into the tunnel itself.
    const candidates = candidatesFor(selfView, n, port, a.endpoints, a.forced).filter((e) => {
      const loop = routedNets.containing(e.ip) !== undefined;
      if (loop) out.warnings.push({ node: n.name, reason: `endpoint ${formatEndpoint(e)} lies in a pod network; ignored` });
      return !loop;
    });
    // "0" is a value (keepalive off), not "unset": null alone falls through to the default.
    const keepalive = selfAnn.keepalive ?? a.keepalive ?? (selfNATed || looksNATed(candidates[0]) ? DEFAULT_KEEPALIVE : 0);
    const allowed = peerCIDRs.get(n.name)!;
    out.peers.push({ node: n.name, publicKey: a.publicKey, candidates, forced: a.forced !== null, allowedIPs: allowed.map((c) => c.text), keepalive });
  }

  const gw = new Map(out.gateways.map((g) => [g.family, g.ip]));
  const routes = new Map<string, PlannedRoute>();
  const addRoute = (c: CIDR) => {
    const src = gw.get(c.family);
    if (src && !routes.has(c.text)) routes.set(c.text, { dst: c.text, family: c.family, dev: config.iface, src });
  };
  for (const p of out.peers) for (const c of peerCIDRs.get(p.node)!) addRoute(c);
  for (const c of tunnelledCluster) addRoute(c);
  out.routes = [...routes.values()].sort((a, b) => a.family - b.family || (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
  return out;
}
