// The pure plan: node view → what the nft tables must hold (model.ts). Every local pod a
// policy isolates in a direction is mapped to a group chain; pods whose policies compile to the
// same clauses share one. A group's rules are fixed by its clauses (so its name is their hash)
// and look peers up in sets keyed by address (and protocol and port), so the cost per new flow
// is a map lookup plus a few set lookups whatever the number of policies; what changes with
// pods and namespaces is set elements only.
import { createHash } from 'node:crypto';
import { selects } from '../../src/kube/convert-policy.ts';
import type { CNPAction, ClusterNetworkPolicy, IPFamily, LabelSelector, NetworkPolicy, Pod, PolicyPeer, PolicyRule, Protocol } from '../../src/kube/objects.ts';
import { ipFamily } from '../../src/net/ip.ts';
import type { PolicyView } from '../../src/view/types.ts';
import { type Desired, type Direction, type FamilyDesired, type Group, L4, type Match, type Rule, type SetDecl } from './model.ts';
import { nodePeers } from './nodes.ts';
import { blockRanges, inRanges, ipToBig, normalize, type Range, rangeText } from './ranges.ts';

/** Port ranges up to this many ports become set elements; wider ones a rule of their own. */
export const EXPAND_RANGE = 64;

/**
 * Pod peers allowed on several ports (80 and 443; a small range): one element each in a peer set
 * whose rule lists the ports, instead of one element per port in the peer . port set (the
 * elements, and so the nft work of a full sync, shrink by that factor). Each distinct list costs
 * a group one more rule (two lookups per new flow), so a group gets at most this many; clauses
 * with other lists keep the peer . port set.
 */
export const MAX_PORT_LISTS = 4;

/** The single ports of a clause's numeric port specs (ranges under EXPAND_RANGE expanded), sorted. */
function portList(specs: PortSpec[]): [Protocol, number][] {
  const out = new Map<string, [Protocol, number]>();
  for (const s of specs) if ('from' in s && s.to - s.from < EXPAND_RANGE) for (let n = s.from; n <= s.to; n++) out.set(`${s.proto}/${n}`, [s.proto, n]);
  return [...out.values()].sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
}

export interface PlanInput {
  nodeName: string;
  policy: PolicyView;
}

/** Pods by namespace and by a selector. NetworkPolicy peers: ns = the policy's own, or a selector. */
export interface PeerSelector {
  namespace: string | null;
  namespaceSelector: LabelSelector | null;
  podSelector: LabelSelector | null;
}

export type PortSpec =
  | { proto: Protocol }
  | { proto: Protocol; from: number; to: number }
  /** A named port resolved on each destination pod (egress); a non-pod destination never matches. */
  | { proto: Protocol; name: string };

export type Peer =
  | { kind: 'all' }
  | { kind: 'pods'; selector: PeerSelector }
  | { kind: 'ipBlock'; cidr: string; except: string[] };

/** One (peer, ports) pair of a policy rule, as it applies to one pod. */
export interface Clause {
  peer: Peer;
  /** null: every port and protocol. */
  ports: PortSpec[] | null;
  /** The policy rule: "ns/name ingress[0]". */
  why: string;
}

/** A pod that can be selected or be a peer: not host-network, not finished, with an IP. */
export function eligible(p: Pod): boolean {
  return !p.hostNetwork && p.phase !== 'Succeeded' && p.phase !== 'Failed' && p.ips.length > 0;
}

const podIPs = new WeakMap<Pod, [string | undefined, string | undefined]>();

export function podIP(p: Pod, family: IPFamily): string | undefined {
  // Asked for every local pod at every plan: the address parse is done once per pod object.
  let ips = podIPs.get(p);
  if (!ips) podIPs.set(p, (ips = [p.ips.find((ip) => ipFamily(ip) === 4), p.ips.find((ip) => ipFamily(ip) === 6)]));
  return ips[family === 4 ? 0 : 1];
}

function namedPort(p: Pod, name: string, proto: Protocol): number {
  return p.ports.find((x) => x.name === name && x.protocol === proto)?.port ?? 0;
}

/** A policy port list as it applies with `dest` the destination pod (ingress), or per peer (egress: dest null). */
function portSpecs(rule: PolicyRule, dest: Pod | null): PortSpec[] | null {
  if (rule.ports === null) return null;
  const out: PortSpec[] = [];
  for (const pp of rule.ports) {
    if (pp.port === undefined) out.push({ proto: pp.protocol });
    else if (typeof pp.port === 'number') out.push({ proto: pp.protocol, from: pp.port, to: pp.endPort ?? pp.port });
    else if (dest === null) out.push({ proto: pp.protocol, name: pp.port });
    else {
      const n = namedPort(dest, pp.port, pp.protocol);
      if (n) out.push({ proto: pp.protocol, from: n, to: n });
    }
  }
  return out;
}

function peerOf(p: PolicyPeer, policyNs: string): Peer {
  if (p.kind === 'ipBlock') return { kind: 'ipBlock', cidr: p.cidr, except: p.except };
  return {
    kind: 'pods',
    selector: { namespace: p.namespaceSelector ? null : policyNs, namespaceSelector: p.namespaceSelector, podSelector: p.podSelector },
  };
}

/** The clauses of one policy's rules in `dir` for pod `pod`. A rule whose ports or peers could all not be read adds none. */
export function policyClauses(np: NetworkPolicy, dir: Direction, pod: Pod): Clause[] {
  const out: Clause[] = [];
  const rules = dir === 'ingress' ? np.ingress : np.egress;
  rules.forEach((rule, i) => {
    const ports = portSpecs(rule, dir === 'ingress' ? pod : null);
    if (ports !== null && ports.length === 0) return;
    const why = `${np.namespace}/${np.name} ${dir}[${i}]`;
    if (rule.peers === null) out.push({ peer: { kind: 'all' }, ports, why });
    else for (const p of rule.peers) out.push({ peer: peerOf(p, np.namespace), ports, why });
  });
  return out;
}

/** Policies (in the pod's namespace) that select `pod` and isolate it in `dir`. */
export function selectingPolicies(byNs: Map<string, NetworkPolicy[]>, pod: Pod, dir: Direction): NetworkPolicy[] {
  return (byNs.get(pod.namespace) ?? []).filter(
    (np) => (dir === 'ingress' ? np.ingressIsolation : np.egressIsolation) && selects(np.podSelector, pod.labels),
  );
}

export function hashName(prefix: string, key: string): string {
  return `${prefix}-${createHash('sha1').update(key).digest('hex').slice(0, 12)}`;
}

/** Where a group's builder finds its peers: the whole view (PlanIndex) or a few pods (an incremental update). */
export interface PeerSource {
  /** Eligible pods a pod peer selects. */
  selected(sel: PeerSelector): Iterable<Pod>;
  /** Every eligible pod (a named port with any peer). */
  allPods(): Iterable<Pod>;
}

/** The eligible pods a selector matches, by pod key: the index from selectors to pods. */
export interface SelectorMembers {
  sel: PeerSelector;
  pods: Map<string, Pod>;
}

export const podKey = (p: Pod): string => `${p.namespace}/${p.name}`;

/** Whether a pod peer selects `p` (an eligible pod), with the view's namespace labels. */
export function selectorMatches(view: PolicyView, sel: PeerSelector, p: Pod): boolean {
  if (sel.namespace !== null) {
    if (p.namespace !== sel.namespace) return false;
  } else {
    const ns = view.namespaces.get(p.namespace);
    if (!ns || !selects(sel.namespaceSelector!, ns.labels)) return false;
  }
  return sel.podSelector === null || selects(sel.podSelector, p.labels);
}
export const selectorKey = (sel: PeerSelector): string => JSON.stringify(sel);

/** The indexes a plan reads: eligible pods by namespace, policies by namespace, selector results. */
export class PlanIndex implements PeerSource {
  private byNs: Map<string, Pod[]> | undefined;
  private npByNs: Map<string, NetworkPolicy[]> | undefined;
  private eligibleList: Pod[] | undefined;
  private readonly members: Map<string, SelectorMembers>;
  private readonly input: PlanInput;
  /** While a group is built: the selectors it read, and whether it scanned every pod. */
  reads: { selectors: Set<string>; allPods: boolean } | null = null;

  constructor(input: PlanInput, members = new Map<string, SelectorMembers>()) {
    this.input = input;
    this.members = members;
  }

  // Each index is built on first use: an incremental plan often needs none of them.
  get eligiblePods(): Pod[] {
    if (!this.eligibleList) {
      this.eligibleList = [];
      for (const p of this.input.policy.pods.values()) if (eligible(p)) this.eligibleList.push(p);
    }
    return this.eligibleList;
  }

  get podsByNs(): Map<string, Pod[]> {
    if (!this.byNs) {
      this.byNs = new Map();
      for (const p of this.eligiblePods) {
        let l = this.byNs.get(p.namespace);
        if (!l) this.byNs.set(p.namespace, (l = []));
        l.push(p);
      }
    }
    return this.byNs;
  }

  get policiesByNs(): Map<string, NetworkPolicy[]> {
    if (!this.npByNs) {
      this.npByNs = new Map();
      for (const np of this.input.policy.networkPolicies.values()) {
        let l = this.npByNs.get(np.namespace);
        if (!l) this.npByNs.set(np.namespace, (l = []));
        l.push(np);
      }
    }
    return this.npByNs;
  }

  /** Every eligible pod (a named port with any peer, or inside an ipBlock). */
  allPods(): Pod[] {
    if (this.reads) this.reads.allPods = true;
    return this.eligiblePods;
  }

  /** Eligible pods a pod peer selects, cluster-wide. */
  selected(sel: PeerSelector): Iterable<Pod> {
    const key = selectorKey(sel);
    this.reads?.selectors.add(key);
    const known = this.members.get(key);
    if (known) return known.pods.values();
    const out = new Map<string, Pod>();
    const namespaces: string[] = [];
    if (sel.namespace !== null) namespaces.push(sel.namespace);
    else for (const ns of this.input.policy.namespaces.values()) if (selects(sel.namespaceSelector!, ns.labels)) namespaces.push(ns.name);
    for (const ns of namespaces) {
      for (const p of this.podsByNs.get(ns) ?? []) if (sel.podSelector === null || selects(sel.podSelector, p.labels)) out.set(podKey(p), p);
    }
    this.members.set(key, { sel, pods: out });
    return out.values();
  }
}

const ALL_L4: Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** Builds one group's rules, sets and elements for one family. */
/** The NetworkPolicy stage of a pod isolated in this direction: the union of its allows, then reject. */
function npStage(name: string, policies: string[], clauses: Clause[], family: IPFamily, idx: PeerSource, elements: Map<string, Set<string>>, sets: Map<string, SetDecl>): Rule[] {
  const rules: Rule[] = [{ match: [{ m: 'hairpin' }], verdict: 'return', why: ['a pod reaching itself'] }];
  const allowAll = clauses.find((c) => c.peer.kind === 'all' && c.ports === null);
  if (allowAll) return [...rules, { match: [], verdict: 'return', why: [allowAll.why] }];
  const whys = new Map<string, Set<string>>();
  const use = (set: string, decl: SetDecl, why: string): Set<string> => {
    if (!sets.has(set)) {
      sets.set(set, decl);
      elements.set(set, new Set());
      whys.set(set, new Set());
    }
    whys.get(set)!.add(why);
    return elements.get(set)!;
  };
  const any = (why: string) => use(`${name}-a`, { shape: 'peer', interval: false }, why);
  const port = (why: string) => use(`${name}-p`, { shape: 'peerPort', interval: false }, why);
  const proto = (why: string) => use(`${name}-t`, { shape: 'peerProto', interval: false }, why);
  const openProtos = new Map<Protocol, Set<string>>();
  const openPorts = new Map<string, [Protocol, number, Set<string>]>();
  const rangeRules = new Map<string, { match: Match[]; why: Set<string> }>();
  const cidrs = new Map<string, { ranges: Range[]; ports: PortSpec[] | null; why: Set<string> }>();
  const addRangeRule = (key: string, match: Match[], why: string) => {
    let r = rangeRules.get(key);
    if (!r) rangeRules.set(key, (r = { match, why: new Set() }));
    r.why.add(why);
  };

  // A named port at a destination pod `p` (egress): an element for that pod's number.
  const named = (p: Pod, spec: { proto: Protocol; name: string }, ip: string, why: string) => {
    const n = namedPort(p, spec.name, spec.proto);
    if (n) port(why).add(`${ip} . ${L4[spec.proto]} . ${n}`);
  };

  // Which sets and rules a group has depends on its clauses only, never on which peers exist
  // now: a group's chain is written once, and pods coming and going change elements only.
  // What each peer set's elements are made of (selectors, protocols, ports; never the policy
  // names): sets with the same recipe hold the same elements, so groups share them (below).
  const feeds = new Map<string, Set<string>>();
  const feed = (set: string, entry: unknown[]) => {
    let f = feeds.get(set);
    if (!f) feeds.set(set, (f = new Set()));
    f.add(JSON.stringify(entry));
  };
  // Pod-peer clauses on two or more single ports: the peer set of their port list (MAX_PORT_LISTS).
  const listOf = new Map<Clause, string>();
  {
    const lists = new Map<string, Clause[]>();
    for (const c of clauses) {
      if (c.peer.kind !== 'pods' || c.ports === null) continue;
      const l = portList(c.ports);
      if (l.length < 2) continue;
      const k = JSON.stringify(l);
      (lists.get(k) ?? lists.set(k, []).get(k)!).push(c);
    }
    [...lists.keys()].sort().slice(0, MAX_PORT_LISTS).forEach((k, i) => {
      const set = `${name}-l${i}`;
      for (const c of lists.get(k)!) {
        listOf.set(c, set);
        use(set, { shape: 'peer', interval: false }, c.why);
        feed(set, [selectorKey((c.peer as Extract<Peer, { kind: 'pods' }>).selector)]);
        addRangeRule(set, [{ m: 'peer', set }, { m: 'ports', ports: JSON.parse(k) as [Protocol, number][] }], c.why);
      }
    });
  }
  for (const c of clauses) {
    const specs = c.ports ?? [];
    const sel = c.peer.kind === 'pods' ? selectorKey(c.peer.selector) : null;
    if (sel !== null && c.ports === null) {
      any(c.why);
      feed(`${name}-a`, [sel]);
    }
    if (sel !== null) for (const s of specs) if (!('name' in s) && !('from' in s)) {
      proto(c.why);
      feed(`${name}-t`, [sel, s.proto]);
    }
    if (sel !== null && !listOf.has(c)) for (const s of specs) if ('from' in s && s.to - s.from < EXPAND_RANGE) {
      port(c.why);
      feed(`${name}-p`, [sel, s.proto, s.from, s.to]);
    }
    for (const s of specs) if ('name' in s) {
      port(c.why);
      feed(`${name}-p`, [sel, s.proto, s.name]);
    }
    if (sel !== null) for (const s of specs) if ('from' in s && s.to - s.from >= EXPAND_RANGE) {
      const set = `${name}-r${s.proto[0]}${s.from}-${s.to}`;
      use(set, { shape: 'peer', interval: false }, c.why);
      feed(set, [sel, s.proto, s.from, s.to]);
      addRangeRule(set, [{ m: 'peer', set }, { m: 'range', proto: s.proto, from: s.from, to: s.to }], c.why);
    }
  }
  for (const c of clauses) {
    if (c.peer.kind === 'pods') {
      // The sets this clause adds to, found once (not per element).
      const anySet = c.ports === null ? any(c.why) : undefined;
      const list = listOf.has(c) ? elements.get(listOf.get(c)!)! : undefined;
      // The single ports of a clause with a port list are in its rule: not elements here.
      const specs = (c.ports ?? []).filter((s) => !list || !('from' in s) || s.to - s.from >= EXPAND_RANGE).map((s) => ({
        s,
        set: 'name' in s ? undefined : !('from' in s) ? proto(c.why) : s.to - s.from < EXPAND_RANGE ? port(c.why) : use(`${name}-r${s.proto[0]}${s.from}-${s.to}`, { shape: 'peer', interval: false }, c.why),
      }));
      for (const p of idx.selected(c.peer.selector)) {
        const ip = podIP(p, family);
        if (!ip) continue;
        list?.add(ip);
        if (anySet) anySet.add(ip);
        else for (const { s, set } of specs) {
          if ('name' in s) named(p, s, ip, c.why);
          else if (!('from' in s)) set!.add(`${ip} . ${L4[s.proto]}`);
          else if (s.to - s.from < EXPAND_RANGE) for (let n = s.from; n <= s.to; n++) set!.add(`${ip} . ${L4[s.proto]} . ${n}`);
          else set!.add(ip);
        }
      }
      continue;
    }
    if (c.peer.kind === 'all') {
      for (const s of c.ports!) {
        if ('name' in s) {
          for (const p of idx.allPods()) {
            const ip = podIP(p, family);
            if (ip) named(p, s, ip, c.why);
          }
        } else if (!('from' in s)) {
          let w = openProtos.get(s.proto);
          if (!w) openProtos.set(s.proto, (w = new Set()));
          w.add(c.why);
        } else if (s.to - s.from < EXPAND_RANGE) {
          for (let n = s.from; n <= s.to; n++) {
            const k = `${s.proto}/${n}`;
            let e = openPorts.get(k);
            if (!e) openPorts.set(k, (e = [s.proto, n, new Set()]));
            e[2].add(c.why);
          }
        } else addRangeRule(`open/${s.proto}/${s.from}-${s.to}`, [{ m: 'range', proto: s.proto, from: s.from, to: s.to }], c.why);
      }
      continue;
    }
    // ipBlock: its addresses, pods or not. A named port can only match a pod inside it.
    const ranges = blockRanges(c.peer.cidr, c.peer.except, family);
    if (ranges.length === 0) continue;
    const numeric = c.ports?.filter((s) => !('name' in s)) ?? null;
    for (const s of c.ports ?? []) {
      if (!('name' in s)) continue;
      for (const p of idx.allPods()) {
        const ip = podIP(p, family);
        if (ip && inRanges(ipToBig(ip), ranges)) named(p, s, ip, c.why);
      }
    }
    if (numeric !== null && numeric.length === 0) continue;
    const key = JSON.stringify(numeric);
    let e = cidrs.get(key);
    if (!e) cidrs.set(key, (e = { ranges: [], ports: numeric, why: new Set() }));
    e.ranges.push(...ranges);
    e.why.add(c.why);
  }

  const list = (s: Set<string>) => [...s].sort();
  if (sets.has(`${name}-a`)) rules.push({ match: [{ m: 'peer', set: `${name}-a` }], verdict: 'return', why: list(whys.get(`${name}-a`)!) });
  if (sets.has(`${name}-p`)) rules.push({ match: [{ m: 'peerPort', set: `${name}-p` }], verdict: 'return', why: list(whys.get(`${name}-p`)!) });
  if (sets.has(`${name}-t`)) rules.push({ match: [{ m: 'peerProto', set: `${name}-t` }], verdict: 'return', why: list(whys.get(`${name}-t`)!) });
  if (openProtos.size) {
    rules.push({ match: [{ m: 'proto', protos: ALL_L4.filter((p) => openProtos.has(p)) }], verdict: 'return', why: list(new Set([...openProtos.values()].flatMap((s) => [...s]))) });
  }
  if (openPorts.size) {
    const ports = [...openPorts.values()].sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
    rules.push({ match: [{ m: 'ports', ports: ports.map(([p, n]) => [p, n]) }], verdict: 'return', why: list(new Set(ports.flatMap((e) => [...e[2]]))) });
  }
  for (const r of rangeRules.values()) rules.push({ match: r.match, verdict: 'return', why: list(r.why) });
  let k = 0;
  for (const c of cidrs.values()) {
    const set = `${name}-c${k++}`;
    sets.set(set, { shape: 'peer', interval: true });
    elements.set(set, new Set(normalize(c.ranges).map((r) => rangeText(r, family))));
    const why = list(c.why);
    if (c.ports === null) rules.push({ match: [{ m: 'peer', set }], verdict: 'return', why });
    else for (const s of c.ports) {
      if ('name' in s) continue;
      const m: Match = 'from' in s ? { m: 'range', proto: s.proto, from: s.from, to: s.to } : { m: 'proto', protos: [s.proto] };
      rules.push({ match: [{ m: 'peer', set }, m], verdict: 'return', why });
    }
  }
  rules.push({ match: [], verdict: 'reject', why: ['no rule of ' + policies.join(', ') + ' allows it'] });
  // The peer sets take names from their recipes: groups whose policies allow the same peers on
  // the same ports (a policy per namespace, pods selected by different policies) share them.
  const rename = new Map<string, string>();
  for (const [set, f] of feeds) {
    const shared = hashName(`s${set.slice(name.length + 1, name.length + 2)}`, `${set.slice(name.length + 1)}|${[...f].sort().join('|')}`);
    rename.set(set, shared);
    sets.set(shared, sets.get(set)!);
    elements.set(shared, elements.get(set)!);
    sets.delete(set);
    elements.delete(set);
  }
  for (const r of rules) for (const m of r.match) if ('set' in m && rename.has(m.set)) m.set = rename.get(m.set)!;
  return rules;
}


/** One ClusterNetworkPolicy rule as it applies to one pod, in evaluation order within its tier. */
export interface CnpClause {
  action: CNPAction;
  /** null: every peer (an unreadable peer in a Deny or Pass rule: fail closed). */
  peers: Peer[] | null;
  ports: PortSpec[] | null;
  why: string;
}

/** ClusterNetworkPolicies of `tier` whose subject selects `pod`, by priority (then name). */
export function selectingCNPs(view: PolicyView, pod: Pod, tier: 'Admin' | 'Baseline'): ClusterNetworkPolicy[] {
  const ns = view.namespaces.get(pod.namespace);
  if (!ns) return [];
  return [...view.clusterNetworkPolicies.values()]
    .filter((c) => c.tier === tier && selects(c.subject.namespaceSelector, ns.labels) && (c.subject.podSelector === null || selects(c.subject.podSelector, pod.labels)))
    .sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : 1));
}

export function cnpClauses(cnps: ClusterNetworkPolicy[], dir: Direction, pod: Pod, nodes?: PolicyView['nodes']): CnpClause[] {
  const out: CnpClause[] = [];
  for (const c of cnps) {
    (dir === 'ingress' ? c.ingress : c.egress).forEach((rule, i) => {
      // Fail closed: an Accept with a peer nodeway cannot read matches nothing.
      if (rule.unknownPeer && rule.action === 'Accept') return;
      const ports = portSpecs({ ports: rule.ports, peers: null }, dir === 'ingress' ? pod : null);
      if (ports !== null && ports.length === 0) return;
      const peers = rule.unknownPeer ? null : rule.peers.flatMap((p) => (p.kind === 'nodes' ? nodePeers(p.nodeSelector, nodes) : [peerOf(p, '')]));
      out.push({ action: rule.action, peers, ports, why: `cnp/${c.name} ${dir}[${i}]${rule.name ? ` (${rule.name})` : ''} ${rule.action}` });
    });
  }
  return out;
}

/** A tier's rules in order: Accept returns (allowed in this direction), Deny rejects, Pass goes to `pass`. */
function cnpStage(name: string, tag: string, clauses: CnpClause[], family: IPFamily, idx: PeerSource, elements: Map<string, Set<string>>, sets: Map<string, SetDecl>, pass: Rule['verdict'], passTo?: string): Rule[] {
  const rules: Rule[] = [];
  clauses.forEach((c, i) => {
    const verdict: Pick<Rule, 'verdict' | 'target'> = c.action === 'Accept' ? { verdict: 'return' } : c.action === 'Deny' ? { verdict: 'reject' } : { verdict: pass, ...(passTo ? { target: passTo } : {}) };
    const peerMatches: (Match | null)[] = [];
    const named = (c.ports ?? []).filter((s): s is { proto: Protocol; name: string } => 'name' in s);
    if (c.peers === null) peerMatches.push(null);
    else {
      const podPeers = c.peers.filter((p): p is Extract<Peer, { kind: 'pods' }> => p.kind === 'pods');
      const blocks = c.peers.filter((p): p is Extract<Peer, { kind: 'ipBlock' }> => p.kind === 'ipBlock');
      if (podPeers.length) {
        const set = `${name}-${tag}${i}`;
        sets.set(set, { shape: 'peer', interval: false });
        const els = new Set<string>();
        const portEls = new Set<string>();
        for (const peer of podPeers) for (const p of idx.selected(peer.selector)) {
          const ip = podIP(p, family);
          if (!ip) continue;
          els.add(ip);
          for (const s of named) {
            const n = namedPort(p, s.name, s.proto);
            if (n) portEls.add(`${ip} . ${L4[s.proto]} . ${n}`);
          }
        }
        elements.set(set, els);
        peerMatches.push({ m: 'peer', set });
        if (named.length) {
          sets.set(`${set}p`, { shape: 'peerPort', interval: false });
          elements.set(`${set}p`, portEls);
          rules.push({ match: [{ m: 'peerPort', set: `${set}p` }], ...verdict, why: [c.why] });
        }
      }
      const ranges = normalize(blocks.flatMap((b) => blockRanges(b.cidr, b.except, family)));
      if (ranges.length) {
        const set = `${name}-${tag}${i}n`;
        sets.set(set, { shape: 'peer', interval: true });
        elements.set(set, new Set(ranges.map((r) => rangeText(r, family))));
        peerMatches.push({ m: 'peer', set });
      }
    }
    const numeric = c.ports === null ? null : c.ports.filter((s) => !('name' in s));
    if (numeric !== null && numeric.length === 0) return; // named ports only: the peerPort rule above
    const portMatches: (Match | null)[] = numeric === null ? [null]
      : numeric.map((s) => ('from' in s ? { m: 'range', proto: s.proto, from: s.from, to: s.to } : { m: 'proto', protos: [s.proto] }));
    for (const pm of peerMatches) for (const po of portMatches) {
      rules.push({ match: [pm, po].filter((m): m is Match => m !== null), ...verdict, why: [c.why] });
    }
  });
  return rules;
}

export interface GroupSpec {
  name: string;
  dir: Direction;
  policies: string[];
  admin: CnpClause[];
  /** null: no NetworkPolicy isolates the pods in this direction (the Baseline tier judges). */
  np: Clause[] | null;
  baseline: CnpClause[];
}

/** Builds one group's chains, sets and elements for one family: Admin tier → NetworkPolicy → Baseline tier. */
export function buildGroup(g: GroupSpec, family: IPFamily, idx: PeerSource, elements: Map<string, Set<string>>): Group {
  const sets = new Map<string, SetDecl>();
  const tail = `${g.name}-n`;
  const second = g.np !== null
    ? npStage(g.name, g.policies.filter((p) => !p.startsWith('cnp/')), g.np, family, idx, elements, sets)
    // Pass in the Baseline tier, like falling off it, leaves the default: allowed.
    : cnpStage(g.name, 'b', g.baseline, family, idx, elements, sets, 'return');
  if (g.admin.length === 0) return { name: g.name, direction: g.dir, policies: g.policies, rules: second, sets };
  const first = cnpStage(g.name, 'k', g.admin, family, idx, elements, sets, 'goto', tail);
  first.push({ match: [], verdict: 'goto', target: tail, why: ['no Admin tier rule matched'] });
  return { name: g.name, direction: g.dir, policies: g.policies, rules: first, tail: second, sets };
}

function emptyFamily(family: IPFamily): FamilyDesired {
  return { family, ingress: new Map(), egress: new Map(), hairpin: new Set(), groups: new Map(), elements: new Map() };
}

/** The whole desired state for this node. Pure: the same view gives an equal value. */
export function plan(input: PlanInput): Desired {
  const idx = new PlanIndex(input);
  return planWith(input, idx, (g, family) => {
    const elements = new Map<string, Set<string>>();
    return { group: buildGroup(g, family, idx, elements), elements };
  });
}

/** What a pod's groups were computed from last time: reused while the pod and every policy are the same. */
export interface PodSpecs {
  pod: Pod;
  gen: number;
  specs: ([key: string, spec: GroupSpec] | null)[];
}

export interface PlanMemo {
  /** Bumped whenever a policy or namespace changed: every pod's groups are computed again. */
  gen: number;
  pods: Map<string, PodSpecs>;
  names: Map<string, string>;
}

/** `local`: the eligible pods on this node, when the caller keeps them (else found in the view). */
export function planWith(input: PlanInput, idx: PlanIndex, build: (g: GroupSpec, family: IPFamily) => { group: Group; elements: Map<string, Set<string>> }, memo?: PlanMemo, localPods?: Iterable<Pod>): Desired {
  const out: Desired = { v4: emptyFamily(4), v6: emptyFamily(6), pods: new Map() };
  // Group key → its name, policies and clauses (family-independent); built once, used per family.
  const groups = new Map<string, GroupSpec>();
  const local = localPods ? [...localPods] : idx.eligiblePods.filter((p) => p.nodeName === input.nodeName);
  const assignments: [Pod, Direction, string][] = [];
  const specOf = (pod: Pod, dir: Direction): [string, GroupSpec] | null => {
      const policies = selectingPolicies(idx.policiesByNs, pod, dir);
      const admins = selectingCNPs(input.policy, pod, 'Admin');
      const baselines = policies.length ? [] : selectingCNPs(input.policy, pod, 'Baseline');
      const admin = cnpClauses(admins, dir, pod, input.policy.nodes);
      const baseline = cnpClauses(baselines, dir, pod, input.policy.nodes);
      if (policies.length === 0 && admin.length === 0 && baseline.length === 0) return null;
      const np = policies.length ? policies.flatMap((p) => policyClauses(p, dir, pod)) : null;
      const names = [...policies.map((p) => `${p.namespace}/${p.name}`).sort(), ...[...admins, ...baselines].map((c) => `cnp/${c.name}`)];
      const key = JSON.stringify([dir, names, admin, np, baseline]);
      let name = memo?.names.get(key);
      if (name === undefined) {
        name = hashName(dir === 'ingress' ? 'i' : 'e', key);
        if (memo && memo.names.size > 50_000) memo.names.clear();
        memo?.names.set(key, name);
      }
      return [key, { name, dir, policies: names, admin, np, baseline }];
  };
  const seen = new Set<string>();
  for (const pod of local) {
    const mine = { ingress: [] as string[], egress: [] as string[] };
    const podKey = `${pod.namespace}/${pod.name}`;
    seen.add(podKey);
    let known = memo?.pods.get(podKey);
    if (!known || known.pod !== pod || known.gen !== memo!.gen) {
      known = { pod, gen: memo?.gen ?? 0, specs: [specOf(pod, 'ingress'), specOf(pod, 'egress')] };
      memo?.pods.set(podKey, known);
    }
    for (const spec of known.specs) {
      if (!spec) continue;
      let g = groups.get(spec[0]);
      if (!g) groups.set(spec[0], (g = spec[1]));
      assignments.push([pod, g.dir, g.name]);
      mine[g.dir].push(g.name);
    }
    out.pods.set(podKey, mine);
  }
  if (memo) for (const k of memo.pods.keys()) if (!seen.has(k)) memo.pods.delete(k);
  for (const fd of [out.v4, out.v6]) {
    const used = new Set<string>();
    for (const [pod, dir, name] of assignments) {
      const ip = podIP(pod, fd.family);
      if (!ip) continue;
      (dir === 'ingress' ? fd.ingress : fd.egress).set(ip, name);
      used.add(name);
    }
    for (const pod of local) {
      const ip = podIP(pod, fd.family);
      if (ip) fd.hairpin.add(ip);
    }
    for (const g of groups.values()) {
      if (!used.has(g.name)) continue;
      const b = build(g, fd.family);
      fd.groups.set(g.name, b.group);
      for (const [set, els] of b.elements) fd.elements.set(set, els);
    }
  }
  return out;
}
