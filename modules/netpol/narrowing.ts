// Strict mode's trigger: may the rules about to go live deny a flow the rules live now allow?
// A conntrack sweep lists the family's whole table, so it should follow a change that can cut
// something, not every edit (group names are content hashes: any policy edit renames groups).
// The answer is sound and conservative: "no" only when, for every local pod and direction, the
// new rules allow everything the old ones did; "yes" whenever that is not shown (CNP tiers with
// Deny or Pass rules, a rule no single new rule covers), which costs one sweep too many at worst.
//
// Per pod and direction the kernel runs one group chain. A NetworkPolicy group allows the union
// of its return rules (then rejects); a rule is a conjunction of matches. Old ⊆ new is shown rule
// by rule: each old return rule lies inside one new return rule, i.e. each match of the new rule
// contains some match of the old one, judged on the old elements against the new ones.
import type { FamilyDesired, Group, Match, Rule } from './model.ts';
import { ipToBig, type Range } from './ranges.ts';

/** What is live before the sync: groups by name, the verdict maps, and any set's elements (null: unknown). */
export interface Before {
  groups: ReadonlyMap<string, Group>;
  ingress: ReadonlyMap<string, string>;
  egress: ReadonlyMap<string, string>;
  elements(set: string): Iterable<string> | null;
}

/** How a set that exists before and after changed. */
export interface SetChange {
  added: boolean;
  removed: boolean;
}

const allRules = (g: Group): Rule[] => (g.tail ? [...g.rules, ...g.tail] : g.rules);

/** No rule rejects or hands over: every flow is allowed in this direction. */
function allowsAll(g: Group): boolean {
  return !g.tail && g.rules.every((r) => r.verdict === 'return');
}

/** The return rules of a NetworkPolicy-only group (returns, then one reject-all); null for anything else. */
function allows(g: Group): Rule[] | null {
  if (g.tail) return null;
  const last = g.rules.at(-1);
  const body = last && last.verdict === 'reject' && last.match.length === 0 ? g.rules.slice(0, -1) : g.rules;
  return body.every((r) => r.verdict === 'return') ? body : null;
}

export function mayDeny(before: Before, d: FamilyDesired, changed: ReadonlyMap<string, SetChange>): boolean {
  // A set a Deny or Pass rule reads: a new element there can deny, a removed one can let a Pass through to a reject.
  const negative = new Set<string>();
  for (const groups of [before.groups.values(), d.groups.values()]) {
    for (const g of groups) for (const r of allRules(g)) if (r.verdict !== 'return') for (const m of r.match) if ('set' in m) negative.add(m.set);
  }
  for (const [set, c] of changed) if ((c.added || c.removed) && negative.has(set)) return true;
  // A group judging pods before and after: elements gone from a set it allows by.
  for (const [name, g] of d.groups) {
    if (!before.groups.has(name)) continue;
    for (const r of allRules(g)) for (const m of r.match) if ('set' in m && changed.get(m.set)?.removed) return true;
  }
  const cmp = new Compare(before, d, changed);
  const seen = new Map<string, boolean>();
  for (const [now, was] of [[d.ingress, before.ingress], [d.egress, before.egress]] as const) {
    for (const [ip, gn] of now) {
      const go = was.get(ip);
      if (go === gn) continue;
      const n = d.groups.get(gn);
      if (!n) return true;
      // Newly isolated in this direction: it allowed everything before.
      if (go === undefined) {
        if (allowsAll(n)) continue;
        return true;
      }
      const key = `${go}>${gn}`;
      let ok = seen.get(key);
      if (ok === undefined) {
        const o = before.groups.get(go);
        seen.set(key, (ok = o !== undefined && cmp.covers(o, n)));
      }
      if (!ok) return true;
    }
  }
  return false;
}

type SetRef = { name: string; interval: boolean };

class Compare {
  private readonly before: Before;
  private readonly d: FamilyDesired;
  private readonly changed: ReadonlyMap<string, SetChange>;
  private readonly ranges = new Map<string, Range[]>();

  constructor(before: Before, d: FamilyDesired, changed: ReadonlyMap<string, SetChange>) {
    this.before = before;
    this.d = d;
    this.changed = changed;
  }

  /** Group `n` (new) allows every flow group `o` (old) allowed. */
  covers(o: Group, n: Group): boolean {
    if (allowsAll(n)) return true;
    const was = allows(o);
    const now = allows(n);
    if (!was || !now) return false;
    return was.every((ro) => now.some((rn) => rn.match.every((mn) => ro.match.some((mo) => this.within(mo, o, mn, n)) || this.pairWithin(ro, o, mn, n))));
  }

  /**
   * A new peer-and-port match containing an old rule's peer match AND its port match together
   * (pods on a range or a protocol before, the same pods on the protocol now): each old
   * address with each protocol (and port) the old rule admits is an element of the new set.
   */
  private pairWithin(ro: Rule, go: Group, mn: Match, gn: Group): boolean {
    if (mn.m !== 'peerProto' && mn.m !== 'peerPort') return false;
    const peer = ro.match.find((m) => m.m === 'peer' && !go.sets.get(m.set)?.interval);
    if (!peer || !('set' in peer)) return false;
    const ports: [string, number | null][] = [];
    for (const m of ro.match) {
      if (m.m === 'proto') for (const p of m.protos) ports.push([p.toLowerCase(), null]);
      else if (m.m === 'ports') for (const [p, n] of m.ports) ports.push([p.toLowerCase(), n]);
      else if (m.m === 'range') {
        if (mn.m === 'peerProto') ports.push([m.proto.toLowerCase(), null]);
        else if (m.to - m.from < 64) for (let n = m.from; n <= m.to; n++) ports.push([m.proto.toLowerCase(), n]);
        else return false;
      } else if (m.m !== 'peer') return false;
    }
    // Only a protocol or a port can be listed; none: every protocol (a peer set alone).
    if (ports.length === 0 || (mn.m === 'peerPort' && ports.some(([, n]) => n === null))) return false;
    const n = this.newElements(this.ref(mn, gn)!.name);
    return this.everyOld(peer.set, (ip) => ports.every(([p, x]) => n.has(x === null || mn.m === 'peerProto' ? `${ip} . ${p}` : `${ip} . ${p} . ${x}`)));
  }

  private ref(m: Match, g: Group): SetRef | null {
    return 'set' in m ? { name: m.set, interval: g.sets.get(m.set)?.interval ?? false } : null;
  }

  private newElements(set: string): Set<string> {
    return this.d.elements.get(set) ?? new Set();
  }

  private newRanges(set: string): Range[] {
    let r = this.ranges.get(set);
    if (!r) this.ranges.set(set, (r = [...this.newElements(set)].map(parseRange)));
    return r;
  }

  /** An address (or "lo-hi" range) of an old element is in the new peer set `s`. */
  private peerIn(addr: string, s: SetRef): boolean {
    if (!s.interval) return !addr.includes('-') && this.newElements(s.name).has(addr);
    const [lo, hi] = parseRange(addr);
    return this.newRanges(s.name).some(([a, b]) => a <= lo && hi <= b);
  }

  /** Every old element of `set` passes `test` (false when the old elements are unknown). */
  private everyOld(set: string, test: (e: string) => boolean): boolean {
    const els = this.before.elements(set);
    if (els === null) return false;
    for (const e of els) if (!test(e)) return false;
    return true;
  }

  /** Every flow old match `mo` (of group `go`) admits, new match `mn` (of group `gn`) admits too. */
  private within(mo: Match, go: Group, mn: Match, gn: Group): boolean {
    const so = this.ref(mo, go);
    const sn = this.ref(mn, gn);
    // The same set (its name is its recipe) with nothing removed.
    if (so && sn && mo.m === mn.m && so.name === sn.name && so.interval === sn.interval && !this.changed.get(so.name)?.removed) return true;
    switch (mo.m) {
      case 'hairpin': return mn.m === 'hairpin';
      case 'peer':
        // Any protocol: only a peer set contains it.
        return mn.m === 'peer' && this.everyOld(so!.name, (e) => this.peerIn(e, sn!));
      case 'peerPort':
      case 'peerProto': {
        const n = this.newElements(sn?.name ?? '');
        return this.everyOld(so!.name, (e) => {
          const [ip, proto, port] = e.split(' . ') as [string, string, string | undefined];
          switch (mn.m) {
            case 'peer': return this.peerIn(ip, sn!);
            case 'peerProto': return n.has(`${ip} . ${proto}`);
            case 'peerPort': return port !== undefined && n.has(e);
            case 'proto': return mn.protos.some((p) => p.toLowerCase() === proto);
            case 'ports': return port !== undefined && mn.ports.some(([p, x]) => p.toLowerCase() === proto && x === Number(port));
            case 'range': return port !== undefined && mn.proto.toLowerCase() === proto && Number(port) >= mn.from && Number(port) <= mn.to;
            default: return false;
          }
        });
      }
      case 'proto': return mn.m === 'proto' && mo.protos.every((p) => mn.protos.includes(p));
      case 'ports':
        return mo.ports.every(([p, x]) => (mn.m === 'proto' && mn.protos.includes(p))
          || (mn.m === 'ports' && mn.ports.some(([q, y]) => q === p && y === x))
          || (mn.m === 'range' && mn.proto === p && x >= mn.from && x <= mn.to));
      case 'range':
        if (mn.m === 'proto') return mn.protos.includes(mo.proto);
        if (mn.m === 'range') return mn.proto === mo.proto && mn.from <= mo.from && mo.to <= mn.to;
        if (mn.m === 'ports' && mo.to - mo.from < 64) {
          for (let x = mo.from; x <= mo.to; x++) if (!mn.ports.some(([q, y]) => q === mo.proto && y === x)) return false;
          return true;
        }
        return false;
    }
  }
}

function parseRange(e: string): Range {
  const dash = e.indexOf('-');
  const lo = ipToBig(dash < 0 ? e : e.slice(0, dash));
  return [lo, dash < 0 ? lo : ipToBig(e.slice(dash + 1))];
}
