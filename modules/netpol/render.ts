// The plan's values as nft text: set declarations, rules, and the fixed frame (the forward
// base chain, the verdict maps, the hairpin set). Only this table is ever written, so another
// writer's tables are never touched (research §6.5 trap 6).
import type { IPFamily } from '../../src/kube/objects.ts';
import { dropCounterName, rejectTier } from './counters.ts';
import { type Direction, type Group, L4, type Match, type Rule, type SetDecl } from './model.ts';

export const HAIRPIN = 'hairpin';
export const INGRESS = 'ingress';
export const EGRESS = 'egress';

export function nftFamily(f: IPFamily): 'ip' | 'ip6' {
  return f === 4 ? 'ip' : 'ip6';
}

export function setBody(d: SetDecl, f: IPFamily): string {
  const a = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
  switch (d.shape) {
    case 'peer': return d.interval ? `type ${a}; flags interval;` : `type ${a};`;
    case 'peerPort': return `type ${a} . inet_proto . inet_service;`;
    case 'peerProto': return `type ${a} . inet_proto;`;
  }
}

const L4_ALL = 'meta l4proto { tcp, udp, sctp }';

export function matchText(m: Match, dir: Direction, f: IPFamily): string {
  const A = nftFamily(f);
  const P = dir === 'ingress' ? 'saddr' : 'daddr';
  switch (m.m) {
    case 'hairpin': return `${A} saddr . ${A} daddr @${HAIRPIN}`;
    case 'peer': return `${A} ${P} @${m.set}`;
    // th dport reads garbage on protocols without ports: guard it.
    case 'peerPort': return `${L4_ALL} ${A} ${P} . meta l4proto . th dport @${m.set}`;
    case 'peerProto': return `${A} ${P} . meta l4proto @${m.set}`;
    case 'proto': return `meta l4proto { ${m.protos.map((p) => L4[p]).join(', ')} }`;
    case 'ports': return `${L4_ALL} meta l4proto . th dport { ${m.ports.map(([p, n]) => `${L4[p]} . ${n}`).join(', ')} }`;
    case 'range': return `meta l4proto ${L4[m.proto]} th dport ${m.from === m.to ? m.from : `${m.from}-${m.to}`}`;
  }
}

export function ruleText(r: Rule, g: Group, f: IPFamily): string {
  const matches = r.match.map((m) => matchText(m, g.direction, f));
  const verdict = r.verdict === 'return'
    ? 'return'
    : r.verdict === 'goto'
      ? `goto ${r.target}`
      : `counter name "${dropCounterName(g.name, rejectTier(r, g))}" reject with ${f === 4 ? 'icmp type' : 'icmpv6 type'} admin-prohibited`;
  return [...matches, verdict].join(' ');
}

/** The name of a group's second chain (after the Admin tier). */
export function tailChain(group: string): string {
  return `${group}-n`;
}

export const STRICT_CUT = 'strict-cut';

/** Strict mode's set of cut flows (both orientations of each), dropped before conntrack's accept (strict.ts). */
export function strictCutSet(f: IPFamily): string {
  const a = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
  return `type ${a} . ${a} . inet_proto . inet_service . inet_service; flags timeout; timeout 10m;`;
}

/** The forward base chain: established flows first, IPv6 ND, then egress of the source and ingress of the destination, each a jump. */
export function forwardRules(f: IPFamily, strict = false): string[] {
  const A = nftFamily(f);
  return [
    ...(strict ? [`${L4_ALL} ${A} saddr . ${A} daddr . meta l4proto . th sport . th dport @${STRICT_CUT} drop`] : []),
    'ct state established,related accept',
    ...(f === 6 ? ['meta l4proto ipv6-icmp icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } accept'] : []),
    `${A} saddr vmap @${EGRESS}`,
    `${A} daddr vmap @${INGRESS}`,
  ];
}

/** Priority filter - 5: after every prerouting DNAT (the proxy's), before postrouting masquerade. */
export const FORWARD_HOOK = 'type filter hook forward priority filter - 5; policy accept;';
