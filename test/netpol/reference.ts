// A reference evaluator written from the NetworkPolicy spec (the cyclonus algorithm in the
// research notes §2.2), independent of the plan: used to check the plan's chains and sets.
import type { CNPAction, LabelSelector, NetworkPolicy, Pod, PolicyPeer, PolicyPort, Protocol } from '../../src/kube/objects.ts';
import { cidrContains, parseCIDR } from '../../src/net/ip.ts';
import type { PolicyView } from '../../src/view/types.ts';

export interface End {
  ip: string;
  /** The pod holding the IP, when it is one that policies may select. */
  pod?: Pod;
}

function labelsMatch(sel: LabelSelector, labels: Record<string, string>): boolean {
  if (sel.never) return false;
  const ok = Object.entries(sel.matchLabels).every(([k, v]) => labels[k] === v);
  return ok && sel.matchExpressions.every((e) => {
    const v = labels[e.key];
    if (e.operator === 'Exists') return v !== undefined;
    if (e.operator === 'DoesNotExist') return v === undefined;
    if (e.operator === 'In') return v !== undefined && e.values.includes(v);
    return v === undefined || !e.values.includes(v);
  });
}

function peerMatches(view: PolicyView, np: NetworkPolicy, peer: PolicyPeer, other: End): boolean {
  if (peer.kind === 'ipBlock') {
    const c = parseCIDR(peer.cidr)!;
    return cidrContains(c, other.ip) && !peer.except.some((e) => cidrContains(parseCIDR(e)!, other.ip));
  }
  const p = other.pod;
  if (!p) return false;
  if (peer.namespaceSelector === null) {
    if (p.namespace !== np.namespace) return false;
  } else {
    const ns = view.namespaces.get(p.namespace);
    if (!ns || !labelsMatch(peer.namespaceSelector, ns.labels)) return false;
  }
  return peer.podSelector === null || labelsMatch(peer.podSelector, p.labels);
}

function portMatches(pp: PolicyPort, proto: string, port: number, dest: End): boolean {
  if (pp.protocol !== proto) return false;
  if (pp.port === undefined) return true;
  if (typeof pp.port === 'number') return port >= pp.port && port <= (pp.endPort ?? pp.port);
  return !!dest.pod && dest.pod.ports.some((c) => c.name === pp.port && c.protocol === proto && c.port === port);
}

/** A ClusterNetworkPolicy tier's verdict: the first matching rule's action in priority and rule order, or none. */
function tier(view: PolicyView, name: 'Admin' | 'Baseline', t: Pod, other: End, dest: End, dir: 'ingress' | 'egress', proto: string, port: number): CNPAction | undefined {
  const ns = view.namespaces.get(t.namespace);
  if (!ns) return undefined;
  const cnps = [...view.clusterNetworkPolicies.values()]
    .filter((c) => c.tier === name && labelsMatch(c.subject.namespaceSelector, ns.labels) && (!c.subject.podSelector || labelsMatch(c.subject.podSelector, t.labels)))
    .sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : 1));
  for (const c of cnps) {
    for (const rule of dir === 'ingress' ? c.ingress : c.egress) {
      const peerOk = rule.unknownPeer ? rule.action !== 'Accept' : rule.peers.some((peer) => {
        if (peer.kind === 'ipBlock') return cidrContains(parseCIDR(peer.cidr)!, other.ip);
        // nodes: any address in status.addresses of a node the selector picks.
        if (peer.kind === 'nodes') return [...(view.nodes?.values() ?? [])].some((n) => labelsMatch(peer.nodeSelector, n.labels) && n.addresses.some((a) => a.address === other.ip));
        const p = other.pod;
        const pns = p && view.namespaces.get(p.namespace);
        return !!p && !!pns && labelsMatch(peer.namespaceSelector!, pns.labels) && (peer.podSelector === null || labelsMatch(peer.podSelector, p.labels));
      });
      const portOk = rule.ports === null || rule.ports.some((pp) => portMatches(pp, proto, port, dest));
      if (peerOk && portOk) return rule.action;
    }
  }
  return undefined;
}

function direction(view: PolicyView, target: End, other: End, dir: 'ingress' | 'egress', proto: string, port: number): boolean {
  const t = target.pod;
  if (!t) return true;
  const dest = dir === 'ingress' ? target : other;
  const admin = tier(view, 'Admin', t, other, dest, dir, proto, port);
  if (admin === 'Accept') return true;
  if (admin === 'Deny') return false;
  // "A pod cannot block access to itself" holds for NetworkPolicy only; ClusterNetworkPolicy judges hairpin too.
  const np = npVerdict(view, t, target, other, dir, proto, port, dest);
  if (np !== undefined) return np;
  const base = tier(view, 'Baseline', t, other, dest, dir, proto, port);
  return base !== 'Deny';
}

function npVerdict(view: PolicyView, t: Pod, target: End, other: End, dir: 'ingress' | 'egress', proto: string, port: number, dest: End): boolean | undefined {
  const policies = [...view.networkPolicies.values()].filter(
    (np) => np.namespace === t.namespace && (dir === 'ingress' ? np.ingressIsolation : np.egressIsolation) && labelsMatch(np.podSelector, t.labels),
  );
  if (policies.length === 0) return undefined;
  if (target.ip === other.ip) return true;
  return policies.some((np) => (dir === 'ingress' ? np.ingress : np.egress).some((rule) => {
    const portOk = rule.ports === null || rule.ports.some((pp) => portMatches(pp, proto, port, dest));
    const peerOk = rule.peers === null || rule.peers.some((peer) => peerMatches(view, np, peer, other));
    return portOk && peerOk;
  }));
}

/** Is a new flow src → dst (after DNAT) allowed? */
export function referenceAllowed(view: PolicyView, src: End, dst: End, proto: Protocol | string, port: number): boolean {
  return direction(view, src, dst, 'egress', proto, port) && direction(view, dst, src, 'ingress', proto, port);
}

/** The End for an IP: the eligible pod holding it, if any. */
export function endOf(view: PolicyView, ip: string): End {
  for (const p of view.pods.values()) {
    if (p.hostNetwork || p.phase === 'Succeeded' || p.phase === 'Failed') continue;
    if (p.ips.includes(ip)) return { ip, pod: p };
  }
  return { ip };
}
