// An interpreter of the planned chains: what the kernel does with a new flow, given what the
// plan put in the tables. Used by explain-policy, by strict mode (which flows a change
// denies) and by tests that compare the plan with a reference evaluator of the spec.
import type { Protocol } from '../../src/kube/objects.ts';
import type { Direction, FamilyDesired, Group, Match, Rule } from './model.ts';
import { L4 } from './model.ts';
import { ipToBig } from './ranges.ts';

export interface Flow {
  src: string;
  dst: string;
  /** TCP, UDP, SCTP, or another protocol name (ICMP…), which has no port. */
  proto: Protocol | string;
  port: number;
}

export interface Stage {
  direction: Direction;
  /** The local pod judged (destination for ingress, source for egress). */
  pod: string;
  group: string;
  policies: string[];
  verdict: 'allow' | 'deny';
  /** The rule that decided, with the policy rules it stands for. */
  rule: Rule;
}

export interface Verdict {
  allowed: boolean;
  /** Directions judged on this node (none: no policy isolates either end here). */
  stages: Stage[];
}

function inInterval(elements: Set<string>, ip: string): boolean {
  const v = ipToBig(ip);
  for (const e of elements) {
    const dash = e.indexOf('-');
    const lo = ipToBig(dash < 0 ? e : e.slice(0, dash));
    const hi = dash < 0 ? lo : ipToBig(e.slice(dash + 1));
    if (v >= lo && v <= hi) return true;
  }
  return false;
}

const isL4 = (p: string): p is Protocol => p === 'TCP' || p === 'UDP' || p === 'SCTP';

function matches(fd: FamilyDesired, g: Group, m: Match, f: Flow, peer: string): boolean {
  const els = (set: string) => fd.elements.get(set) ?? new Set<string>();
  switch (m.m) {
    case 'hairpin': return f.src === f.dst && fd.hairpin.has(f.src);
    case 'peer': return g.sets.get(m.set)?.interval ? inInterval(els(m.set), peer) : els(m.set).has(peer);
    case 'peerPort': return isL4(f.proto) && els(m.set).has(`${peer} . ${L4[f.proto]} . ${f.port}`);
    case 'peerProto': return isL4(f.proto) && els(m.set).has(`${peer} . ${L4[f.proto]}`);
    case 'proto': return isL4(f.proto) && m.protos.includes(f.proto);
    case 'ports': return isL4(f.proto) && m.ports.some(([p, n]) => p === f.proto && n === f.port);
    case 'range': return f.proto === m.proto && f.port >= m.from && f.port <= m.to;
  }
}

function runGroup(fd: FamilyDesired, g: Group, f: Flow, pod: string): Stage {
  const peer = g.direction === 'ingress' ? f.src : f.dst;
  let chain = g.rules;
  for (let i = 0; i < chain.length; i++) {
    const rule = chain[i]!;
    if (!rule.match.every((m) => matches(fd, g, m, f, peer))) continue;
    if (rule.verdict === 'goto') {
      // The only goto target is the group's second chain.
      chain = g.tail ?? [];
      i = -1;
      continue;
    }
    return { direction: g.direction, pod, group: g.name, policies: g.policies, verdict: rule.verdict === 'return' ? 'allow' : 'deny', rule };
  }
  // Falling off a jumped-to chain returns to the forward chain: allowed.
  return { direction: g.direction, pod, group: g.name, policies: g.policies, verdict: 'allow', rule: { match: [], verdict: 'return', why: ['end of chain'] } };
}

/** A new flow through this node's forward hook (after any DNAT): egress of the source, then ingress of the destination. */
export function evaluate(fd: FamilyDesired, f: Flow): Verdict {
  const stages: Stage[] = [];
  const eg = fd.egress.get(f.src);
  if (eg) {
    const s = runGroup(fd, fd.groups.get(eg)!, f, f.src);
    stages.push(s);
    if (s.verdict === 'deny') return { allowed: false, stages };
  }
  const ig = fd.ingress.get(f.dst);
  if (ig) {
    const s = runGroup(fd, fd.groups.get(ig)!, f, f.dst);
    stages.push(s);
    if (s.verdict === 'deny') return { allowed: false, stages };
  }
  return { allowed: true, stages };
}
