// The thin applier of one family's table: diffs the plan against what was applied (the
// generic tracker, one per kind of object: group chains, sets, each set's elements, the verdict
// maps) and writes one nft transaction per sync. Sets live apart from the chains: groups share
// peer sets (their names are their recipes), so a set is created with the first group using it
// and deleted after the last. A first
// or full sync replaces the table in one transaction (add; delete; add), so a restart has no
// window without rules and nothing stale survives.
import type { IPFamily } from '../../src/kube/objects.ts';
import { type Diff, Tracker } from '../../src/reconcile/tracker.ts';
import type { FamilyDesired, Group, SetDecl } from './model.ts';
import { groupCounters } from './counters.ts';
import { CutMemory, parseCutSet } from './cut-set.ts';
import { type Before, mayDeny, type SetChange } from './narrowing.ts';
import { EGRESS, FORWARD_HOOK, forwardRules, HAIRPIN, INGRESS, nftFamily, ruleText, setBody, STRICT_CUT, strictCutSet, tailChain } from './render.ts';

export interface Nft {
  apply(script: string): Promise<void>;
  /** Whether `family table`'s chain exists (a firewall reload removes it); absent: never checked. */
  hasChain?(family: string, table: string, chain: string): Promise<boolean>;
  /** `nft -j list counters table family table` (drops by policy); absent: no drop figures. */
  counters?(family: string, table: string): Promise<string>;
  /** `nft -j list set family table set`; null when it does not exist. Absent: a full sync keeps strict cuts from memory only. */
  listSet?(family: string, table: string, set: string): Promise<string | null>;
}

const PER_LINE = 500;
const NONE = (): string => '';

export interface ApplyResult {
  kind: 'full' | 'partial' | 'none';
  /** Lines in the transaction. */
  lines: number;
  /** Strict mode: some flow the rules live before allowed may be denied now (narrowing.ts); a full sync always says so. */
  narrowed: boolean;
}

export class FamilyApplier {
  readonly family: IPFamily;
  private readonly table: string;
  private readonly nft: Nft;
  private readonly deleteChainsNow: boolean;
  private synced = false;
  // A group's name is the hash of what its chains are built from: the name is its content.
  private readonly groups = new Tracker<Group>((g) => g.name);
  private readonly elements = new Map<string, Tracker<true>>();
  private readonly sets = new Tracker<SetDecl>((d) => `${d.shape}/${d.interval}`);
  private readonly ingress = new Tracker<string>((v) => v);
  private readonly egress = new Tracker<string>((v) => v);
  private readonly hairpin = new Tracker<true>(NONE);
  /** Chains and sets to delete in the next transaction (kernels before 6.2 keep a chain busy until the map element is gone). */
  private pendingDeletes: { groups: Group[]; sets: string[] } = { groups: [], sets: [] };
  /** The element Sets last applied, by set: an unchanged group hands back the same Set, which needs no diff. */
  private lastSets = new Map<string, Set<string>>();

  /** Strict mode: the forward chain drops the flows in the strict-cut set first. */
  private readonly strict: boolean;
  /** Strict mode: the flows cut and when each cut ends, put back by a full sync (cut-set.ts). */
  private readonly cuts = new CutMemory();
  /** The verdict maps last applied (plans hand over fresh Maps; strict mode compares with them). */
  private lastIngress: ReadonlyMap<string, string> = new Map();
  private lastEgress: ReadonlyMap<string, string> = new Map();

  constructor(family: IPFamily, table: string, nft: Nft, deleteChainsNow: boolean, strict = false) {
    this.strict = strict;
    this.family = family;
    this.table = table;
    this.nft = nft;
    this.deleteChainsNow = deleteChainsNow;
  }

  private get t(): string {
    return `${nftFamily(this.family)} ${this.table}`;
  }

  /** Applied once and since removed underneath us (`nft flush ruleset`, a deleted table). */
  async gone(): Promise<boolean> {
    if (!this.synced || !this.nft.hasChain) return false;
    return !(await this.nft.hasChain(nftFamily(this.family), this.table, 'forward'));
  }

  /**
   * `touched`: the elements the planner changed in place in sets it handed over before (the
   * same Set objects). With it, such a set is diffed on those elements only and a set handed
   * over again unchanged is skipped; without it, every set is diffed whole.
   */
  async sync(d: FamilyDesired, full: boolean, touched?: ReadonlyMap<string, ReadonlySet<string>>): Promise<ApplyResult> {
    if (full || !this.synced) return this.full(d);
    return this.partial(d, touched);
  }

  /** Strict mode: drops these flows (strict-cut elements, one orientation each) for 10 minutes, across full syncs too. */
  async cut(elements: string[]): Promise<void> {
    if (elements.length === 0) return;
    // Remembered first: a full sync running meanwhile writes them too.
    this.cuts.add(elements);
    const out: string[] = [];
    this.elementLines('add', STRICT_CUT, elements, out);
    await this.nft.apply(`${out.join('\n')}\n`);
  }

  /** The cut flows to write into a rebuilt table: remembered, and read from the live set (a restarted agent's). */
  private async cutsDue(): Promise<string[]> {
    if (this.nft.listSet) {
      try {
        const live = await this.nft.listSet(nftFamily(this.family), this.table, STRICT_CUT);
        const now = Date.now();
        if (live) for (const [e, secs] of parseCutSet(live)) this.cuts.add([e], now, secs);
      } catch {
        // Unreadable: what this agent cut is still remembered.
      }
    }
    return this.cuts.due().map(([e, secs]) => `${e} timeout ${secs}s`);
  }

  private elementLines(verb: 'add' | 'delete', set: string, items: string[], out: string[]): void {
    for (let i = 0; i < items.length; i += PER_LINE) out.push(`${verb} element ${this.t} ${set} { ${items.slice(i, i + PER_LINE).join(', ')} }`);
  }

  private groupLines(g: Group, out: string[]): void {
    for (const c of groupCounters(g).keys()) out.push(`add counter ${this.t} ${c}`);
    if (g.tail) {
      out.push(`add chain ${this.t} ${tailChain(g.name)}`);
      for (const r of g.tail) out.push(`add rule ${this.t} ${tailChain(g.name)} ${ruleText(r, g, this.family)}`);
    }
    out.push(`add chain ${this.t} ${g.name}`);
    for (const r of g.rules) out.push(`add rule ${this.t} ${g.name} ${ruleText(r, g, this.family)}`);
  }

  private deleteGroupLines(g: Group, out: string[]): void {
    out.push(`delete chain ${this.t} ${g.name}`);
    if (g.tail) out.push(`delete chain ${this.t} ${tailChain(g.name)}`);
    for (const c of groupCounters(g).keys()) out.push(`delete counter ${this.t} ${c}`);
  }

  /** Every set the groups use, once. */
  private static setsOf(d: FamilyDesired): Map<string, SetDecl> {
    const out = new Map<string, SetDecl>();
    for (const g of d.groups.values()) for (const [name, decl] of g.sets) out.set(name, decl);
    return out;
  }

  private async full(d: FamilyDesired): Promise<ApplyResult> {
    const a = this.family === 4 ? 'ipv4_addr' : 'ipv6_addr';
    const out = [
      `add table ${this.t}`,
      `delete table ${this.t}`,
      `add table ${this.t} { comment "nodeway netpol: NetworkPolicy enforcement (do not edit)"; }`,
      `add set ${this.t} ${HAIRPIN} { type ${a} . ${a}; }`,
      `add map ${this.t} ${INGRESS} { type ${a} : verdict; }`,
      `add map ${this.t} ${EGRESS} { type ${a} : verdict; }`,
    ];
    if (this.strict) {
      out.push(`add set ${this.t} ${STRICT_CUT} { ${strictCutSet(this.family)} }`);
      this.elementLines('add', STRICT_CUT, await this.cutsDue(), out);
    }
    const sets = FamilyApplier.setsOf(d);
    for (const [name, decl] of sets) out.push(`add set ${this.t} ${name} { ${setBody(decl, this.family)} }`);
    for (const g of d.groups.values()) this.groupLines(g, out);
    for (const [set, els] of d.elements) this.elementLines('add', set, [...els], out);
    this.elementLines('add', HAIRPIN, [...d.hairpin].map((ip) => `${ip} . ${ip}`), out);
    this.elementLines('add', INGRESS, [...d.ingress].map(([ip, g]) => `${ip} : jump ${g}`), out);
    this.elementLines('add', EGRESS, [...d.egress].map(([ip, g]) => `${ip} : jump ${g}`), out);
    out.push(`add chain ${this.t} forward { ${FORWARD_HOOK} }`);
    for (const r of forwardRules(this.family, this.strict)) out.push(`add rule ${this.t} forward ${r}`);
    await this.nft.apply(`${out.join('\n')}\n`);
    this.groups.reset(d.groups);
    this.sets.reset(sets);
    this.applied.clear();
    for (const [name, g] of d.groups) this.applied.set(name, g);
    this.elements.clear();
    for (const [set, els] of d.elements) {
      const tr = new Tracker<true>(NONE);
      tr.reset([...els].map((e) => [e, true]));
      this.elements.set(set, tr);
    }
    this.hairpin.reset([...d.hairpin].map((ip) => [ip, true]));
    this.ingress.reset(d.ingress);
    this.egress.reset(d.egress);
    this.pendingDeletes = { groups: [], sets: [] };
    this.lastSets = new Map(d.elements);
    this.lastIngress = d.ingress;
    this.lastEgress = d.egress;
    this.synced = true;
    return { kind: 'full', lines: out.length, narrowed: true };
  }

  private async partial(d: FamilyDesired, touched?: ReadonlyMap<string, ReadonlySet<string>>): Promise<ApplyResult> {
    const out: string[] = [];
    const later: { groups: Group[]; sets: string[] } = { groups: [], sets: [] };
    // Chains and sets the previous transaction could not delete yet (chains first: their rules use the sets).
    for (const g of this.pendingDeletes.groups) this.deleteGroupLines(g, out);
    for (const name of this.pendingDeletes.sets) out.push(`delete set ${this.t} ${name}`);

    const sd = this.sets.diff(FamilyApplier.setsOf(d));
    // A set's name fixes its type: an update cannot happen, and would be a create that fails loudly.
    for (const [name, decl] of [...sd.create, ...sd.update]) out.push(`add set ${this.t} ${name} { ${setBody(decl, this.family)} }`);
    const gd = this.groups.diff(d.groups);
    for (const [, g] of gd.create) this.groupLines(g, out);
    for (const [name, g] of gd.update) {
      // Rules are a function of the group's name; a change means a new rendering of them.
      out.push(`flush chain ${this.t} ${name}`);
      for (const c of groupCounters(g).keys()) out.push(`add counter ${this.t} ${c}`);
      if (g.tail) {
        out.push(`add chain ${this.t} ${tailChain(name)}`, `flush chain ${this.t} ${tailChain(name)}`);
        for (const r of g.tail) out.push(`add rule ${this.t} ${tailChain(name)} ${ruleText(r, g, this.family)}`);
      }
      for (const r of g.rules) out.push(`add rule ${this.t} ${name} ${ruleText(r, g, this.family)}`);
    }
    const newTrackers = new Map<string, Tracker<true>>();
    const elementDiffs: [string, Diff<true>][] = [];
    for (const [set, els] of d.elements) {
      const tr = this.elements.get(set) ?? new Tracker<true>(NONE);
      let diff: Diff<true>;
      if (touched && this.lastSets.get(set) === els && this.elements.has(set)) {
        const keys = touched.get(set);
        if (!keys) continue;
        const want = new Map<string, true>();
        for (const e of keys) if (els.has(e)) want.set(e, true);
        diff = tr.diffKeys(want, keys);
      } else {
        if (!this.elements.has(set)) newTrackers.set(set, tr);
        const want = new Map<string, true>();
        for (const e of els) want.set(e, true);
        diff = tr.diff(want);
      }
      this.elementLines('add', set, diff.create.map(([e]) => e), out);
      this.elementLines('delete', set, diff.delete, out);
      elementDiffs.push([set, diff]);
    }
    const hp = this.hairpin.diff(new Map([...d.hairpin].map((ip) => [ip, true as const])));
    this.elementLines('add', HAIRPIN, hp.create.map(([ip]) => `${ip} . ${ip}`), out);
    this.elementLines('delete', HAIRPIN, hp.delete.map((ip) => `${ip} . ${ip}`), out);
    const vmaps: [string, Tracker<string>, Map<string, string>][] = [[INGRESS, this.ingress, d.ingress], [EGRESS, this.egress, d.egress]];
    const vdiffs: [Tracker<string>, Diff<string>][] = [];
    for (const [map, tr, want] of vmaps) {
      const diff = tr.diff(want);
      this.elementLines('delete', map, [...diff.delete, ...diff.update.map(([ip]) => ip)], out);
      this.elementLines('add', map, [...diff.create, ...diff.update].map(([ip, g]) => `${ip} : jump ${g}`), out);
      vdiffs.push([tr, diff]);
    }
    const gone = gd.delete.map((name) => this.applied.get(name)!).filter((g) => g !== undefined);
    if (this.deleteChainsNow) {
      for (const g of gone) this.deleteGroupLines(g, out);
      for (const name of sd.delete) out.push(`delete set ${this.t} ${name}`);
    } else {
      later.groups.push(...gone);
      later.sets.push(...sd.delete);
    }
    if (out.length === 0) {
      this.lastSets = new Map(d.elements);
      this.lastIngress = d.ingress;
      this.lastEgress = d.egress;
      return { kind: 'none', lines: 0, narrowed: false };
    }
    // Judged on what is live before this transaction (the trackers are moved on below).
    const narrowed = this.strict && (gd.update.length > 0 || mayDeny(this.before(), d, changes(elementDiffs)));
    await this.nft.apply(`${out.join('\n')}\n`);
    this.groups.done(gd);
    for (const [name, g] of [...gd.create, ...gd.update]) this.applied.set(name, g);
    for (const name of gd.delete) this.applied.delete(name);
    this.sets.done(sd);
    for (const name of sd.delete) this.elements.delete(name);
    for (const [set, tr] of newTrackers) this.elements.set(set, tr);
    for (const [set, diff] of elementDiffs) this.elements.get(set)?.done(diff);
    this.hairpin.done(hp);
    for (const [tr, diff] of vdiffs) tr.done(diff);
    this.pendingDeletes = later;
    this.lastSets = new Map(d.elements);
    this.lastIngress = d.ingress;
    this.lastEgress = d.egress;
    return { kind: 'partial', lines: out.length, narrowed };
  }

  /** What is live now, for strict mode's comparison: the trackers' state (moved on only after the transaction). */
  private before(): Before {
    return {
      groups: this.applied,
      ingress: this.lastIngress,
      egress: this.lastEgress,
      elements: (set) => this.elements.get(set)?.keys() ?? null,
    };
  }

  /** Groups as applied (for deleting their sets and counters later). */
  private readonly applied = new Map<string, Group>();
}

function changes(diffs: [string, Diff<true>][]): Map<string, SetChange> {
  const out = new Map<string, SetChange>();
  for (const [set, d] of diffs) if (d.create.length || d.delete.length) out.set(set, { added: d.create.length > 0, removed: d.delete.length > 0 });
  return out;
}
