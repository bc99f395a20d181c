// Drops by policy, cheaply: every reject of a group chain counts in a named nft counter of
// that group and tier (Admin tier Deny, NetworkPolicy's final reject, Baseline tier Deny), so
// the cost is one counter update per rejected new flow and no rule list grows with policies.
// The counters are read when /metrics is scraped (one terse `nft -j list table` per family, at
// most once a second), not on a timer, and exposed as nodeway_netpol_dropped_packets with the
// group's direction and policies.
import type { IPFamily } from '../../src/kube/objects.ts';
import type { Group, Rule } from './model.ts';

export type Tier = 'admin' | 'networkpolicy' | 'baseline';
const SUFFIX: Record<Tier, string> = { networkpolicy: 'd', admin: 'da', baseline: 'db' };

/**
 * The tier a reject rule of `g` belongs to: the first chain of a group with an Admin tier is
 * that tier; after it (or without it) a ClusterNetworkPolicy Deny is the Baseline tier's and
 * anything else NetworkPolicy's "no rule allows it".
 */
export function rejectTier(r: Rule, g: Group): Tier {
  if (g.tail && g.rules.includes(r)) return 'admin';
  return r.why[0]?.startsWith('cnp/') ? 'baseline' : 'networkpolicy';
}

export function dropCounterName(group: string, tier: Tier): string {
  return `${group}-${SUFFIX[tier]}`;
}

/** The counters a group's rules use, by name. */
export function groupCounters(g: Group): Map<string, Tier> {
  const out = new Map<string, Tier>();
  for (const r of [...g.rules, ...(g.tail ?? [])]) {
    if (r.verdict !== 'reject') continue;
    const tier = rejectTier(r, g);
    out.set(dropCounterName(g.name, tier), tier);
  }
  return out;
}

/** `nft -j list counters table …` → packets by counter name. */
export function parseCounters(json: string): Map<string, number> {
  const out = new Map<string, number>();
  const items = (JSON.parse(json) as { nftables?: { counter?: { name: string; packets: number } }[] }).nftables ?? [];
  for (const it of items) if (it.counter) out.set(it.counter.name, it.counter.packets);
  return out;
}

export interface DropSeries {
  labels: { ip_family: string; direction: string; tier: Tier; policies: string };
  packets: number;
}

/** The series for the groups live in one family, from the counters read. Pure. */
export function dropSeries(family: IPFamily, groups: Iterable<Group>, packets: ReadonlyMap<string, number>): DropSeries[] {
  const out: DropSeries[] = [];
  const ip_family = family === 4 ? 'IPv4' : 'IPv6';
  for (const g of groups) {
    for (const [name, tier] of groupCounters(g)) {
      const n = packets.get(name);
      if (n === undefined) continue;
      out.push({ labels: { ip_family, direction: g.direction, tier, policies: g.policies.join(',') }, packets: n });
    }
  }
  return out;
}

/**
 * Reads the counters at most once per `ttlMs`: scrapes closer together get the cached figures,
 * and scrapes at the same time share one read.
 */
export class DropReader {
  private readonly read: (family: IPFamily) => Promise<Map<string, number>>;
  private readonly ttlMs: number;
  private at = -Infinity;
  private cached = new Map<IPFamily, Map<string, number>>();
  private pending: Promise<void> | undefined;

  constructor(read: (family: IPFamily) => Promise<Map<string, number>>, ttlMs = 1_000) {
    this.read = read;
    this.ttlMs = ttlMs;
  }

  async counters(): Promise<Map<IPFamily, Map<string, number>>> {
    if (performance.now() - this.at >= this.ttlMs) {
      this.pending ??= (async () => {
        try {
          const next = new Map<IPFamily, Map<string, number>>();
          for (const f of [4, 6] as const) next.set(f, await this.read(f).catch(() => new Map<string, number>()));
          this.cached = next;
          this.at = performance.now();
        } finally {
          this.pending = undefined;
        }
      })();
      await this.pending;
    }
    return this.cached;
  }
}
