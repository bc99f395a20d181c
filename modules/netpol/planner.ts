// plan() with memory between syncs, so that a sync costs what changed. Built groups are kept
// (a group's chain and sets are a function of its name), and an index from each peer selector
// to the eligible pods it matches is kept up to date pod by pod. A pod change (labels, IPs,
// ports, phase) touches only the groups reading a selector whose answer for that pod changed:
// each such group's elements for the pod's IPs are computed before and after (the same builder
// as a full plan, over just those pods) and the difference is applied to its sets in place.
// The sets changed in place are reported to the applier (touched()), which diffs just those
// elements through the tracker instead of whole sets. Namespace and policy changes rebuild the
// groups they can affect. The value returned is always equal to plan() of the same view
// (tested after random sequences of changes).
import type { IPFamily, Pod } from '../../src/kube/objects.ts';
import type { PolicyView } from '../../src/view/types.ts';
import type { Desired, Group } from './model.ts';
import { usesNodePeers } from '../../src/kube/convert-policy.ts';
import {
  buildGroup, eligible, type GroupSpec, type PeerSelector, type PeerSource, PlanIndex, type PlanInput, type PlanMemo, planWith, podKey,
  type SelectorMembers, selectorMatches,
} from './plan.ts';

interface BuiltGroup {
  spec: GroupSpec;
  family: IPFamily;
  group: Group;
  elements: Map<string, Set<string>>;
  /** Selector keys the group's elements were read from, and whether it read every pod. */
  selectors: Set<string>;
  allPods: boolean;
}

/** Set name → elements changed in place since the applier last took them. */
export type Touched = Map<string, Set<string>>;

/** A few pods standing in for the view: a group built over them holds just their elements. */
class FewPods implements PeerSource {
  private readonly view: PolicyView;
  private readonly pods: Pod[];
  constructor(view: PolicyView, pods: Pod[]) {
    this.view = view;
    this.pods = pods;
  }
  selected(sel: PeerSelector): Pod[] {
    return this.pods.filter((p) => selectorMatches(this.view, sel, p));
  }
  allPods(): Pod[] {
    return this.pods;
  }
}

/** Addresses and ports: what a peer's elements are made of (labels only decide membership). */
function sameElements(a: Pod, b: Pod): boolean {
  if (a.ips.length !== b.ips.length || a.ips.some((ip, i) => ip !== b.ips[i])) return false;
  if (a.ports.length !== b.ports.length) return false;
  return a.ports.every((p, i) => p.name === b.ports[i]!.name && p.port === b.ports[i]!.port && p.protocol === b.ports[i]!.protocol);
}

export class Planner {
  private readonly members = new Map<string, SelectorMembers>();
  private built = new Map<string, BuiltGroup>();
  /** Eligible pods as the built groups hold them, by key, and their keys by IP (two pods may share one briefly). */
  private readonly pods = new Map<string, Pod>();
  private readonly byIP = new Map<string, Set<string>>();
  /** The eligible pods of the node planned for, by key. */
  private readonly local = new Map<string, Pod>();
  private nodeName = '';
  /** pods/byIP are to be read afresh from the view at the next plan (first plan, full). */
  private snapshot = true;
  private readonly memo: PlanMemo = { gen: 0, pods: new Map(), names: new Map() };
  private readonly changed: Record<IPFamily, Touched> = { 4: new Map(), 6: new Map() };
  /** One element Set per set name and family, handed to every group sharing that set. */
  private readonly shared = new Map<string, Set<string>>();

  /** Takes what was changed in place in `family`'s sets since the last call. */
  touched(family: IPFamily): Touched {
    const t = this.changed[family];
    this.changed[family] = new Map();
    return t;
  }

  /** Forgets or updates what `changes` (ViewChanges.policies keys) affect; call before plan(). */
  invalidate(view: PolicyView, changes: Iterable<string>, full = false): void {
    if (full) {
      this.members.clear();
      this.built.clear();
      this.shared.clear();
      this.memo.gen++;
      this.snapshot = true;
      this.changed[4].clear();
      this.changed[6].clear();
      return;
    }
    const stale = new Set<string>();
    const podChanges: [string, Pod | undefined, Pod | undefined][] = [];
    let nodePeers: boolean | undefined;
    for (const c of changes) {
      // A node matters only to `nodes` peers: without any, its changes (addresses, conditions,
      // annotations) cannot change the plan.
      if (c.startsWith('node:') && !(nodePeers ??= usesNodePeers(view.clusterNetworkPolicies.values()))) continue;
      if (!c.startsWith('pod:')) this.memo.gen++;
      if (c.startsWith('ns:')) {
        for (const [k, m] of this.members) if (m.sel.namespace === null || m.sel.namespace === c.slice(3)) stale.add(k);
      } else if (c.startsWith('pod:') && !this.snapshot) {
        const key = c.slice(4);
        const after = view.pods.get(key);
        podChanges.push([key, this.pods.get(key), after && eligible(after) ? after : undefined]);
      }
    }
    for (const k of stale) this.members.delete(k);
    if (stale.size) {
      for (const [name, b] of this.built) {
        if (![...b.selectors].some((k) => stale.has(k))) continue;
        this.built.delete(name);
        for (const set of b.elements.keys()) this.shared.delete(`${b.family}/${set}`);
      }
    }
    if (podChanges.length) this.podsChanged(view, podChanges);
  }

  /** Pod changes (before/after: eligible pods, or undefined) applied to the index and to the built groups' sets. */
  private podsChanged(view: PolicyView, changes: [string, Pod | undefined, Pod | undefined][]): void {
    const dirty = new Set<string>();
    const ips = new Set<string>();
    let addrs = false;
    for (const [key, before, after] of changes) {
      if (!before && !after) continue;
      const same = before !== undefined && after !== undefined && sameElements(before, after);
      if (!same) addrs = true;
      for (const ip of [...(before?.ips ?? []), ...(after?.ips ?? [])]) ips.add(ip);
      for (const [k, m] of this.members) {
        const was = m.pods.has(key);
        const now = after !== undefined && selectorMatches(view, m.sel, after);
        if (was !== now || (now && !same)) dirty.add(k);
      }
    }
    if (ips.size === 0) return;
    // Groups sharing all their sets with a group already taken would patch the same Sets alike.
    const covered = new Set<Set<string>>();
    const affected = [...this.built.values()].filter((b) => {
      if (!((addrs && b.allPods) || [...b.selectors].some((k) => dirty.has(k)))) return false;
      if ([...b.elements.values()].every((els) => covered.has(els))) return false;
      for (const els of b.elements.values()) covered.add(els);
      return true;
    });
    const holders = () => {
      const out: Pod[] = [];
      for (const ip of ips) for (const k of this.byIP.get(ip) ?? []) out.push(this.pods.get(k)!);
      return [...new Set(out)];
    };
    const old = affected.map((b) => this.contribution(b, view, holders()));
    // The index moves to the new state.
    for (const [key, before, after] of changes) {
      for (const [, m] of this.members) {
        if (after !== undefined && selectorMatches(view, m.sel, after)) m.pods.set(key, after);
        else m.pods.delete(key);
      }
      if (before) this.unindex(key, before);
      if (after) this.index(key, after);
    }
    const pods = holders();
    affected.forEach((b, i) => this.apply(b, old[i]!, this.contribution(b, view, pods)));
  }

  /** The elements `pods` put in group `b`'s sets (with its static ones, ipBlock ranges, which never differ). */
  private contribution(b: BuiltGroup, view: PolicyView, pods: Pod[]): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    buildGroup(b.spec, b.family, new FewPods(view, pods), out);
    return out;
  }

  private apply(b: BuiltGroup, before: Map<string, Set<string>>, after: Map<string, Set<string>>): void {
    const touched = this.changed[b.family];
    for (const set of new Set([...before.keys(), ...after.keys()])) {
      const was = before.get(set) ?? new Set<string>();
      const now = after.get(set) ?? new Set<string>();
      const live = b.elements.get(set);
      if (!live) {
        // A set the group was built without: cannot happen (a group's sets follow from its clauses); rebuild it.
        this.built.delete(`${b.family}/${b.group.name}`);
        return;
      }
      let t = touched.get(set);
      for (const e of was) if (!now.has(e)) {
        live.delete(e);
        if (!t) touched.set(set, (t = new Set()));
        t.add(e);
      }
      for (const e of now) if (!was.has(e)) {
        live.add(e);
        if (!t) touched.set(set, (t = new Set()));
        t.add(e);
      }
    }
  }

  private index(key: string, p: Pod): void {
    this.pods.set(key, p);
    if (p.nodeName === this.nodeName) this.local.set(key, p);
    for (const ip of p.ips) {
      let s = this.byIP.get(ip);
      if (!s) this.byIP.set(ip, (s = new Set()));
      s.add(key);
    }
  }

  private unindex(key: string, p: Pod): void {
    this.pods.delete(key);
    this.local.delete(key);
    for (const ip of p.ips) {
      const s = this.byIP.get(ip);
      s?.delete(key);
      if (s?.size === 0) this.byIP.delete(ip);
    }
  }

  plan(input: PlanInput): Desired {
    if (this.snapshot || input.nodeName !== this.nodeName) {
      this.nodeName = input.nodeName;
      this.pods.clear();
      this.byIP.clear();
      this.local.clear();
      for (const [k, p] of input.policy.pods) if (eligible(p)) this.index(k, p);
      this.snapshot = false;
    }
    const idx = new PlanIndex(input, this.members);
    const out = planWith(input, idx, (g, family) => {
      const key = `${family}/${g.name}`;
      const known = this.built.get(key);
      if (known) return known;
      const elements = new Map<string, Set<string>>();
      idx.reads = { selectors: new Set(), allPods: false };
      const group = buildGroup(g, family, idx, elements);
      for (const [set, els] of elements) {
        const known = this.shared.get(`${family}/${set}`);
        if (known) elements.set(set, known);
        else this.shared.set(`${family}/${set}`, els);
      }
      const b: BuiltGroup = { spec: g, family, group, elements, selectors: idx.reads.selectors, allPods: idx.reads.allPods };
      idx.reads = null;
      this.built.set(key, b);
      return b;
    }, this.memo, this.local.values());
    // Groups no pod uses any more are forgotten, and so are selectors no group reads.
    if (this.built.size === out.v4.groups.size + out.v6.groups.size) return out;
    const live = new Set([...out.v4.groups.keys()].map((n) => `4/${n}`).concat([...out.v6.groups.keys()].map((n) => `6/${n}`)));
    for (const k of this.built.keys()) if (!live.has(k)) this.built.delete(k);
    const read = new Set<string>();
    for (const b of this.built.values()) for (const s of b.selectors) read.add(s);
    for (const k of this.members.keys()) if (!read.has(k)) this.members.delete(k);
    const used = new Set<string>();
    for (const b of this.built.values()) for (const set of b.elements.keys()) used.add(`${b.family}/${set}`);
    for (const k of this.shared.keys()) if (!used.has(k)) this.shared.delete(k);
    return out;
  }
}

