// What the netpol plan produces: per IP family, plain values a person can read and a test can
// compare — maps from local pod IPs to the chain that judges them, chains as rule lists (a
// small AST rendered to nft text in render.ts and interpreted in evaluate.ts), sets and their
// elements. Nothing here refers to nft syntax but the type names of sets.
import type { IPFamily, Protocol } from '../../src/kube/objects.ts';

export type Direction = 'ingress' | 'egress';

/** One match of a rule; a rule matches when all its matches do. */
export type Match =
  /** Source and destination are one local pod (a pod reaching itself through a Service). */
  | { m: 'hairpin' }
  /** The peer address is in an IP set (hash or interval). */
  | { m: 'peer'; set: string }
  /** peer . l4proto . dport is in a set (TCP, UDP and SCTP only). */
  | { m: 'peerPort'; set: string }
  /** peer . l4proto is in a set. */
  | { m: 'peerProto'; set: string }
  /** The L4 protocol is one of these. */
  | { m: 'proto'; protos: Protocol[] }
  /** l4proto . dport is one of these (TCP, UDP and SCTP only). */
  | { m: 'ports'; ports: [Protocol, number][] }
  /** The protocol is `proto` and the destination port is within [from, to]. */
  | { m: 'range'; proto: Protocol; from: number; to: number };

/**
 * return: allowed in this direction (evaluation goes on with the other direction); reject:
 * denied; goto: on to `target` (an Admin tier Pass, or the end of the Admin tier).
 */
export interface Rule {
  match: Match[];
  verdict: 'return' | 'reject' | 'goto';
  target?: string;
  /** The policy rules this nft rule stands for ("ns/name ingress[0]"), for explain-policy. */
  why: string[];
}

export interface SetDecl {
  /** peer: one address; peerPort: address . inet_proto . inet_service; peerProto: address . inet_proto. */
  shape: 'peer' | 'peerPort' | 'peerProto';
  /** An interval set of address ranges (ipBlocks); only with the peer shape. */
  interval: boolean;
}

/** A chain that judges one direction for every local pod mapped to it. */
export interface Group {
  name: string;
  direction: Direction;
  /** Policies selecting the member pods in this direction ("ns/name"), sorted. */
  policies: string[];
  rules: Rule[];
  /** The chain after the Admin tier (`<name>-n`: NetworkPolicy or Baseline tier), when an Admin tier policy applies. */
  tail?: Rule[];
  /** Sets the rules use, declared with the chain; elements are in FamilyDesired.elements. */
  sets: Map<string, SetDecl>;
}

export interface FamilyDesired {
  family: IPFamily;
  /** Local isolated pod IP → the group chain judging traffic to it (ingress) / from it (egress). */
  ingress: Map<string, string>;
  egress: Map<string, string>;
  /** Local pod IPs (hairpin = src and dst both this IP). */
  hairpin: Set<string>;
  groups: Map<string, Group>;
  /** Set name → its elements (as nft writes them: "10.0.0.1 . tcp . 80", "10.0.0.0-10.0.255.255"). */
  elements: Map<string, Set<string>>;
}

export interface Desired {
  v4: FamilyDesired;
  v6: FamilyDesired;
  /** Local pods with the groups judging them, for `nodeway view`. */
  pods: Map<string, { ingress: string[]; egress: string[] }>;
}

export const L4: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
