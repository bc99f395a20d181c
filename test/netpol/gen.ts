// Seeded random policies over the upstream model (random.test.ts, narrowing.test.ts).
import type { upstreamModel } from './world.ts';

export function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return { next, pick: <T>(l: readonly T[]): T => l[Math.floor(next() * l.length)]!, chance: (p: number) => next() < p };
}

export type R = ReturnType<typeof rng>;
export const NS = ['x', 'y', 'z'];

export function selector(r: R, key: string, values: string[]): Record<string, unknown> {
  switch (r.pick(['empty', 'label', 'in', 'notin', 'exists', 'none'])) {
    case 'empty': return {};
    case 'label': return { matchLabels: { [key]: r.pick(values) } };
    case 'in': return { matchExpressions: [{ key, operator: 'In', values: [r.pick(values), r.pick(values)] }] };
    case 'notin': return { matchExpressions: [{ key, operator: 'NotIn', values: [r.pick(values)] }] };
    case 'exists': return { matchExpressions: [{ key: r.pick([key, 'extra']), operator: 'Exists' }] };
    default: return { matchLabels: { [key]: 'nobody' } };
  }
}

export function peer(r: R, ip: (p: string) => string): Record<string, unknown> {
  switch (r.pick(['pod', 'ns', 'both', 'block', 'blockExcept'])) {
    case 'pod': return { podSelector: selector(r, 'pod', ['a', 'b', 'c']) };
    case 'ns': return { namespaceSelector: selector(r, 'kubernetes.io/metadata.name', NS) };
    case 'both': return { podSelector: selector(r, 'pod', ['a', 'b', 'c']), namespaceSelector: selector(r, 'kubernetes.io/metadata.name', NS) };
    case 'block': return { ipBlock: { cidr: r.chance(0.5) ? `${ip(`${r.pick(NS)}/${r.pick(['a', 'b', 'c'])}`)}/32` : '10.244.0.0/23' } };
    default: return { ipBlock: { cidr: '10.244.0.0/16', except: [`${ip(`${r.pick(NS)}/${r.pick(['a', 'b', 'c'])}`)}/32`, '10.244.2.0/28'] } };
  }
}

export function port(r: R): Record<string, unknown> {
  const protocol = r.pick(['TCP', 'UDP', 'SCTP', undefined]);
  switch (r.pick(['num', 'name', 'range', 'wide', 'proto'])) {
    case 'num': return { protocol, port: r.pick([80, 81, 82]) };
    case 'name': return { protocol, port: r.pick(['serve-80-tcp', 'serve-81-udp', 'serve-80-udp', 'odd', 'nope']) };
    case 'range': return { protocol, port: 79, endPort: r.pick([80, 81]) };
    case 'wide': return { protocol, port: 81, endPort: 2000 };
    default: return { protocol: protocol ?? 'TCP' };
  }
}

export function rules(r: R, ip: (p: string) => string, field: 'from' | 'to'): Record<string, unknown>[] {
  return Array.from({ length: r.pick([0, 1, 1, 2, 3]) }, () => ({
    ...(r.chance(0.7) ? { [field]: Array.from({ length: r.pick([1, 1, 2]) }, () => peer(r, ip)) } : {}),
    ...(r.chance(0.6) ? { ports: Array.from({ length: r.pick([1, 2]) }, () => port(r)) } : {}),
  }));
}

function cnpPeer(r: R, egress: boolean): Record<string, unknown> {
  switch (r.pick(egress ? ['ns', 'pods', 'networks', 'nodes'] : ['ns', 'pods', 'ns', 'pods'])) {
    case 'ns': return { namespaces: selector(r, 'kubernetes.io/metadata.name', NS) };
    case 'pods': return { pods: { namespaceSelector: selector(r, 'kubernetes.io/metadata.name', NS), podSelector: selector(r, 'pod', ['a', 'b', 'c']) } };
    case 'networks': return { networks: [r.pick(['10.244.0.0/23', '10.244.1.10/32', '0.0.0.0/0', '192.0.2.0/24'])] };
    default: return { nodes: {} }; // unsupported: fail closed
  }
}

function cnpProtocol(r: R): Record<string, unknown> {
  switch (r.pick(['tcp', 'udp', 'range', 'named', 'sctp'])) {
    case 'tcp': return { tcp: { destinationPort: { number: r.pick([80, 81]) } } };
    case 'udp': return { udp: { destinationPort: { number: r.pick([80, 81]) } } };
    case 'range': return { tcp: { destinationPort: { range: { start: 79, end: r.pick([80, 2000]) } } } };
    case 'sctp': return { sctp: {} };
    default: return { destinationNamedPort: r.pick(['serve-80-tcp', 'serve-81-udp', 'odd']) };
  }
}

export function cnps(r: R, w: ReturnType<typeof upstreamModel>['world']): void {
  for (let i = 0; i < Math.floor(r.next() * 4); i++) {
    const rules = (egress: boolean) => Array.from({ length: r.pick([0, 1, 2, 3]) }, (_, k) => ({
      name: `r${k}`,
      action: r.pick(['Accept', 'Deny', 'Pass']),
      [egress ? 'to' : 'from']: Array.from({ length: r.pick([1, 1, 2]) }, () => cnpPeer(r, egress)),
      ...(r.chance(0.5) ? { protocols: Array.from({ length: r.pick([1, 2]) }, () => cnpProtocol(r)) } : {}),
    }));
    w.cnp(`c${i}`, {
      tier: r.pick(['Admin', 'Baseline']),
      priority: r.pick([0, 10, 10, 500]),
      subject: r.chance(0.5) ? { namespaces: selector(r, 'kubernetes.io/metadata.name', NS) } : { pods: { namespaceSelector: {}, podSelector: selector(r, 'pod', ['a', 'b', 'c']) } },
      ingress: rules(false),
      egress: rules(true),
    }, () => {});
  }
}
