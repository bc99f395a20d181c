// A reference evaluator written from the NetworkPolicy spec (the cyclonus algorithm in the
// research notes §2.2), independent of the plan: used to check the plan's chains and sets.
import type { LabelSelector, NetworkPolicy, Pod, PolicyPeer, PolicyPort, Protocol } from '../../src/kube/objects.ts';
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

function direction(view: PolicyView, target: End, other: End, dir: 'ingress' | 'egress', proto: string, port: number): boolean {
  const t = target.pod;
  if (!t) return true;
  const dest = dir === 'ingress' ? target : other;
  const policies = [...view.networkPolicies.values()].filter(
    (np) => np.namespace === t.namespace && (dir === 'ingress' ? np.ingressIsolation : np.egressIsolation) && labelsMatch(np.podSelector, t.labels),
  );
  if (policies.length === 0) return true;
  return policies.some((np) => (dir === 'ingress' ? np.ingress : np.egress).some((rule) => {
    const portOk = rule.ports === null || rule.ports.some((pp) => portMatches(pp, proto, port, dest));
    const peerOk = rule.peers === null || rule.peers.some((peer) => peerMatches(view, np, peer, other));
    return portOk && peerOk;
  }));
}

/** Is a new flow src → dst (after DNAT) allowed? A pod reaching itself always is. */
export function referenceAllowed(view: PolicyView, src: End, dst: End, proto: Protocol | string, port: number): boolean {
  if (src.pod && dst.pod && src.ip === dst.ip) return true;
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
