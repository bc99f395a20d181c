// Strict mode's cut flows outlive a full sync. A full sync rebuilds the table (add; delete; add)
// and a firewall reload or a deleted table takes the strict-cut set with it, which would let a
// cut connection resume (conntrack picks a TCP flow up mid-stream). So the applier remembers
// each element it cut with its expiry and a full sync adds back those still due, with what is
// left of their 10 minutes, merged with the ones read from the live set (an agent restarting
// finds them there, its memory empty).

/** How long a cut flow stays dropped (the set's timeout). */
export const CUT_SECONDS = 600;

export class CutMemory {
  /** Element → when it expires (Date.now() clock, ms). */
  private readonly until = new Map<string, number>();

  /** Cut now (or `seconds` left, read from a live set). */
  add(elements: Iterable<string>, now = Date.now(), seconds = CUT_SECONDS): void {
    for (const e of elements) {
      const t = now + seconds * 1000;
      if ((this.until.get(e) ?? 0) < t) this.until.set(e, t);
    }
    // Bounded by what was cut in the last 10 minutes: expired ones go whenever it grows.
    if (this.until.size > 1024) this.prune(now);
  }

  /** The elements still cut, each with its whole seconds left (at least 1). */
  due(now = Date.now()): [element: string, seconds: number][] {
    this.prune(now);
    return [...this.until].map(([e, t]) => [e, Math.max(1, Math.ceil((t - now) / 1000))]);
  }

  get size(): number {
    return this.until.size;
  }

  private prune(now: number): void {
    for (const [e, t] of this.until) if (t <= now) this.until.delete(e);
  }
}

const PROTO_NUM: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** `nft -j list set` of a strict-cut set → its elements (as nft writes them) with the seconds left. */
export function parseCutSet(json: string): [element: string, seconds: number][] {
  const out: [string, number][] = [];
  let doc: { nftables?: { set?: { elem?: unknown[] } }[] };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    return out;
  }
  for (const item of doc.nftables ?? []) {
    for (const el of item.set?.elem ?? []) {
      const e = (el as { elem?: { val?: { concat?: unknown[] }; expires?: number } }).elem;
      const parts = e?.val?.concat;
      if (!Array.isArray(parts) || parts.length !== 5 || typeof e?.expires !== 'number' || e.expires <= 0) continue;
      const proto = typeof parts[2] === 'number' ? PROTO_NUM[parts[2]] : parts[2];
      if (typeof proto !== 'string') continue;
      out.push([`${parts[0]} . ${parts[1]} . ${proto} . ${parts[3]} . ${parts[4]}`, e.expires]);
    }
  }
  return out;
}
