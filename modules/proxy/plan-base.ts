// The table skeleton, after kube-proxy's nftables layout (reference/kube-proxy.md §1.2, §1.3):
// one lookup per packet through verdict maps whatever the number of Services, filter checks
// only on `ct state new`, DNAT at dstnat, masquerade at srcnat.
import type { IPFamily } from '../../src/kube/objects.ts';
import type { BasePlan, ChainSpec, ElementSpec, SetDecl } from './model.ts';
import { NODE_OWNER } from './model.ts';
import type { FamilyNode } from './node.ts';

/** kube-proxy's default mark: bit 14 (--masquerade-bit, kube-proxy's --iptables-masquerade-bit). */
export const MASQ_MARK = '0x4000';

/** The mark for a masquerade bit, as nft writes it. */
export function masqMark(bit: number): string {
  return `0x${(2 ** bit).toString(16)}`;
}

/**
 * How traffic from this cluster's pods is told apart (kube-proxy's --detect-local-mode): such
 * traffic is not masqueraded to a ClusterIP, and eTP=Local short-circuits it to every endpoint.
 * ClusterCIDR and NodeCIDR match sources in a set the executor fills; the interface modes
 * match the interface the packet came in on.
 */
export type LocalDetect = { mode: 'ClusterCIDR' | 'NodeCIDR' } | { mode: 'BridgeInterface'; iface: string } | { mode: 'InterfaceNamePrefix'; prefix: string };

export interface MasqOptions {
  masqueradeAll: boolean;
  /** masqMark(bit). */
  mark: string;
  detectLocal: LocalDetect;
}

export const DEFAULT_MASQ: MasqOptions = { masqueradeAll: false, mark: MASQ_MARK, detectLocal: { mode: 'ClusterCIDR' } };

/**
 * The match for pod traffic (`local`) and for the rest (`notLocal`). With the CIDR modes the
 * second reads its own set, which holds every address while no CIDR is known: kube-proxy then
 * does no off-cluster masquerade at all (and no short-circuit: `cluster-cidrs` is empty).
 */
export function localMatch(family: IPFamily, d: LocalDetect): { local: string; notLocal: string } {
  if (d.mode === 'BridgeInterface') return { local: `iifname ${JSON.stringify(d.iface)}`, notLocal: `iifname != ${JSON.stringify(d.iface)}` };
  if (d.mode === 'InterfaceNamePrefix') return { local: `iifname "${d.prefix}*"`, notLocal: `iifname != "${d.prefix}*"` };
  const ip = ipKw(family);
  return { local: `${ip} saddr @${S.clusterCIDRs}`, notLocal: `${ip} saddr != @${S.masqueradeExempt}` };
}

/** The condition before `meta mark set …` on ClusterIP traffic: '' = always (masquerade-all). */
export function masqCondition(family: IPFamily, m: MasqOptions): string {
  return m.masqueradeAll ? '' : `${localMatch(family, m.detectLocal).notLocal} `;
}

export const C = {
  services: 'services',
  firewallCheck: 'firewall-check',
  serviceEndpointsCheck: 'service-endpoints-check',
  nodePortEndpointsCheck: 'nodeport-endpoints-check',
  clusterIPsCheck: 'cluster-ips-check',
  reject: 'reject-chain',
  masquerading: 'masquerading',
} as const;

export const S = {
  serviceIPs: 'service-ips',
  serviceNodePorts: 'service-nodeports',
  noEndpointServices: 'no-endpoint-services',
  noEndpointNodePorts: 'no-endpoint-nodeports',
  firewallIPs: 'firewall-ips',
  nodePortIPs: 'nodeport-ips',
  clusterIPs: 'cluster-ips',
  clusterCIDRs: 'cluster-cidrs',
  masqueradeExempt: 'masquerade-exempt',
  serviceCIDRs: 'service-cidrs',
  hairpin: 'hairpin',
} as const;

/** Endpoints of chain-less ClusterIP ports, one map per protocol (nft 1.0.6 cannot reload a `th dport` key). */
export function endpointPicksMap(proto: string): string {
  return `endpoint-picks-${proto}`;
}

/**
 * Where a port's replaced endpoints go first, looked up before endpointPicksMap: replacing an
 * element needs a delete, and a transaction with a delete waits a kernel grace period (~15 ms
 * here) before nft returns; adding to this map does not. The elements move to the main map in
 * a later transaction, off the path of the change (ElementStore.compact).
 */
export function endpointOverridesMap(picksMap: string): string {
  return picksMap.replace(/^endpoint-picks-/, 'endpoint-overrides-');
}

const PICK_PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;

/** The chain shared by every chain-less ClusterIP port with `n` endpoints (see pickChain). */
export function pickChainName(n: number): string {
  return `pick-${n}`;
}

/**
 * The endpoint pick of a plain ClusterIP port (Cluster policy, no affinity, no external
 * addresses), shared by all such ports with `n` endpoints: the packet's own destination names
 * the port, so one map keyed by it and a random index replaces a chain per Service. Endpoint
 * changes are then element updates only, and nft's per-run cache (which lists every chain of
 * the family) stays small. Only ClusterIP traffic comes here: masquerade off-cluster clients
 * as kube-proxy's internal chain does.
 */
export function pickChain(family: IPFamily, n: number, m: MasqOptions = DEFAULT_MASQ): ChainSpec {
  const ip = ipKw(family);
  const masq = `${masqCondition(family, m)}meta mark set meta mark | ${m.mark}`;
  // A lookup that misses ends its rule: a port without overrides falls through to the main map.
  const dnat = (map: string, p: string) => `dnat ${ip} to ${ip} daddr . ${p} dport . numgen random mod ${n} map @${map}`;
  return chain(masq, ...PICK_PROTOCOLS.flatMap((p) => [dnat(endpointOverridesMap(endpointPicksMap(p)), p), dnat(endpointPicksMap(p), p)]));
}

/** A shard map of random picks (see Pick): keys are numgen results, each chain owns a range. */
export function pickMapDecl(family: IPFamily, map: string): SetDecl {
  const proto = /^endpoints-(tcp|udp|sctp)-/.exec(map)?.[1];
  return { kind: 'map', body: proto ? `typeof numgen random mod 1 : ${ipKw(family)} daddr . ${proto} dport;` : 'typeof numgen random mod 1 : verdict;' };
}

export function addrType(f: IPFamily): string {
  return f === 4 ? 'ipv4_addr' : 'ipv6_addr';
}

export function ipKw(f: IPFamily): string {
  return f === 4 ? 'ip' : 'ip6';
}

function base(type: 'filter' | 'nat', hook: string, priority: number, rules: string[]): ChainSpec {
  return { hook: `type ${type} hook ${hook} priority ${priority};`, rules };
}

function chain(...rules: string[]): ChainSpec {
  return { hook: '', rules };
}

/** Base chains are the only ones hooked: every other object is reachable from them alone. */
export const BASE_CHAINS = [
  'filter-prerouting-pre-dnat',
  'filter-output-pre-dnat',
  'filter-input',
  'filter-forward',
  'filter-output',
  'nat-prerouting',
  'nat-output',
  'nat-postrouting',
] as const;

export function planBase(family: IPFamily, nodePortAll: boolean, mark = MASQ_MARK): BasePlan {
  const ip = ipKw(family);
  const addr = addrType(family);
  const loopback = family === 4 ? '127.0.0.0/8' : '::1';
  const toNodePort = nodePortAll ? `fib daddr type local ${ip} daddr != ${loopback}` : `${ip} daddr @${S.nodePortIPs}`;
  const newJump = (c: string) => `ct state new jump ${c}`;
  const chains = new Map<string, ChainSpec>([
    // Source ranges are checked before DNAT rewrites the LB IP.
    ['filter-prerouting-pre-dnat', base('filter', 'prerouting', -110, [newJump(C.firewallCheck)])],
    ['filter-output-pre-dnat', base('filter', 'output', -110, [newJump(C.firewallCheck)])],
    // reject is not allowed in prerouting before kernel 5.9: the no-endpoint checks run here.
    ['filter-input', base('filter', 'input', 0, [newJump(C.nodePortEndpointsCheck), newJump(C.serviceEndpointsCheck)])],
    ['filter-forward', base('filter', 'forward', 0, [newJump(C.serviceEndpointsCheck), newJump(C.clusterIPsCheck)])],
    ['filter-output', base('filter', 'output', 0, [newJump(C.serviceEndpointsCheck), newJump(C.clusterIPsCheck)])],
    ['nat-prerouting', base('nat', 'prerouting', -100, [`jump ${C.services}`])],
    ['nat-output', base('nat', 'output', -100, [`jump ${C.services}`])],
    ['nat-postrouting', base('nat', 'postrouting', 100, [`jump ${C.masquerading}`])],
    [C.services, chain(`${ip} daddr . meta l4proto . th dport vmap @${S.serviceIPs}`, `${toNodePort} meta l4proto . th dport vmap @${S.serviceNodePorts}`)],
    [C.firewallCheck, chain(`${ip} daddr . meta l4proto . th dport vmap @${S.firewallIPs}`)],
    [C.serviceEndpointsCheck, chain(`${ip} daddr . meta l4proto . th dport vmap @${S.noEndpointServices}`)],
    [C.nodePortEndpointsCheck, chain(`${toNodePort} meta l4proto . th dport vmap @${S.noEndpointNodePorts}`)],
    // Every valid port of a live ClusterIP was DNATed before forward/output: the rest is unknown.
    // An address of the Service CIDRs that no Service holds is dropped, not routed on (kube-proxy).
    [C.clusterIPsCheck, chain(`${ip} daddr @${S.clusterIPs} reject`, `${ip} daddr @${S.serviceCIDRs} drop`)],
    // reject is not a verdict a map can hold.
    [C.reject, chain('reject')],
    // The mark is cleared so a reused skb (VXLAN) is not masqueraded twice (kubernetes#92035).
    [
      C.masquerading,
      chain(
        `meta mark & ${mark} == ${mark} meta mark set meta mark ^ ${mark} masquerade fully-random`,
        `ct status dnat ${ip} saddr . ${ip} daddr @${S.hairpin} masquerade fully-random`,
      ),
    ],
  ]);
  const map = (key: string): SetDecl => ({ kind: 'map', body: `type ${key} : verdict;` });
  const set = (body: string): SetDecl => ({ kind: 'set', body });
  const sets = new Map<string, SetDecl>([
    [S.serviceIPs, map(`${addr} . inet_proto . inet_service`)],
    [S.serviceNodePorts, map('inet_proto . inet_service')],
    [S.noEndpointServices, map(`${addr} . inet_proto . inet_service`)],
    [S.noEndpointNodePorts, map('inet_proto . inet_service')],
    [S.firewallIPs, map(`${addr} . inet_proto . inet_service`)],
    [S.nodePortIPs, set(`type ${addr};`)],
    [S.clusterIPs, set(`type ${addr};`)],
    [S.clusterCIDRs, set(`type ${addr}; flags interval;`)],
    [S.masqueradeExempt, set(`type ${addr}; flags interval;`)],
    [S.serviceCIDRs, set(`type ${addr}; flags interval;`)],
    [S.hairpin, set(`type ${addr} . ${addr};`)],
    ...PICK_PROTOCOLS.flatMap((p): [string, SetDecl][] => {
      const decl: SetDecl = { kind: 'map', body: `typeof ${ip} daddr . ${p} dport . numgen random mod 1 : ${ip} daddr . ${p} dport;` };
      return [[endpointPicksMap(p), decl], [endpointOverridesMap(endpointPicksMap(p)), decl]];
    }),
  ]);
  return { chains, sets };
}

/** The node-level elements: NodePort IPs, the cluster CIDRs and the Service CIDRs. */
export function nodeElements(node: FamilyNode): ElementSpec[] {
  const out: ElementSpec[] = [];
  if (node.nodePortIPs !== 'all') for (const ip of node.nodePortIPs) out.push({ set: S.nodePortIPs, key: ip, value: '' });
  for (const c of node.clusterCIDRs) out.push({ set: S.clusterCIDRs, key: c, value: '' });
  const exempt = node.clusterCIDRs.length ? node.clusterCIDRs : [node.family === 4 ? '0.0.0.0/0' : '::/0'];
  for (const c of exempt) out.push({ set: S.masqueradeExempt, key: c, value: '' });
  for (const c of node.serviceCIDRs) out.push({ set: S.serviceCIDRs, key: c, value: '' });
  return out;
}

export { NODE_OWNER };
