// The desired nftables state, as plain data: what plan produces, diff compares and render
// writes. Rules are nft text without the `add rule <family> <table> <chain>` prefix.
import type { IPFamily } from '../../src/kube/objects.ts';

export type NftFamily = 'ip' | 'ip6';

export function nftFamily(f: IPFamily): NftFamily {
  return f === 4 ? 'ip' : 'ip6';
}

/**
 * A random pick among several targets, through maps shared by many chains instead of an
 * anonymous set per chain: the kernel scans every set of the table to name an anonymous one
 * (10,000 of them: 12 s to load), and checks each element of a map against every chain bound
 * to it (one map for all: 16 s). The executor spreads chains over shard maps by protocol and
 * the first two characters of their name's hash, and gives each a range of keys there.
 */
export interface Pick {
  kind: 'dnat' | 'goto';
  /** tcp, udp or sctp for dnat picks: a shard map holds one protocol (nft 1.0.6 insists). */
  proto: string;
  /** Rule text before `numgen …`, e.g. `meta l4proto tcp dnat to `. */
  prefix: string;
  /** One element value per target: `10.0.0.1 . 8080` or `goto endpoint-…`. */
  values: string[];
}

export interface ChainSpec {
  /** `type nat hook prerouting priority -100;` for base chains, '' for regular ones. */
  hook: string;
  rules: string[];
  /** Appended as the last rule once the executor placed it (plans only; applied chains have none). */
  pick?: Pick;
}

/** A set or map: its keyword and declaration body, e.g. `type ipv4_addr; flags interval;`. */
export interface SetDecl {
  kind: 'set' | 'map';
  body: string;
}

/** One element of a set or map: the key, and for maps the value (`goto x`, `drop`); '' for sets. */
export interface ElementSpec {
  set: string;
  key: string;
  value: string;
  /** Only for elements whose value does not say whose they are (no-endpoint verdicts). */
  comment?: string;
  /** A ClusterIP port picked without a chain of its own (value `goto pick-N`): its endpoints. */
  picks?: PickList;
}

/** Endpoint i of a chain-less port is the element `<key> . i` of `set`; they follow whoever wins the port's element. */
export interface PickList {
  set: string;
  key: string;
  values: readonly string[];
}

/** Everything one Service adds to one family's table. */
export interface ServicePlan {
  chains: Map<string, ChainSpec>;
  sets: Map<string, SetDecl>;
  elements: ElementSpec[];
  /** Local endpoints missing for a Local policy that has endpoints elsewhere, for the kube-proxy gauge. */
  noLocal: { internal: boolean; external: boolean };
  /** Placed plans only: where each picking chain's keys are (chain name → range). */
  slots?: Map<string, Slot>;
  /** Placed plans only: the shard map elements of those ranges (one owner each, diffed directly). */
  picked?: ElementSpec[];
}

export interface Slot {
  map: string;
  offset: number;
  size: number;
}

/** The table skeleton: base chains, dispatch chains, the shared maps and sets. */
export interface BasePlan {
  chains: Map<string, ChainSpec>;
  sets: Map<string, SetDecl>;
}

export function emptyServicePlan(): ServicePlan {
  return { chains: new Map(), sets: new Map(), elements: [], noLocal: { internal: false, external: false } };
}

/** Owner name of the node-level elements (node port IPs, cluster CIDRs). */
export const NODE_OWNER = '<node>';
