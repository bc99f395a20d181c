// Map and set elements with owners. Several Services may claim one key (the same externalIP
// and port, or a shared hairpin endpoint): the kernel holds one value, the one of the
// smallest owner name, so the outcome never depends on event order, and when that owner
// leaves the next one takes over in the same transaction.
//
// Only owner names are kept, not claims: a claim is recomputed from its owner's applied plan
// when needed (ClaimLookup). Most keys have one owner, stored as the owner's name itself,
// which is the view's own key string, so a key costs little more than its map slot.
import { diffMaps } from '../../src/reconcile/tracker.ts';
import type { ElementSpec, PickList } from './model.ts';
import { endpointOverridesMap } from './plan-base.ts';
import type { Tx } from './tx.ts';

export interface Claim {
  value: string;
  comment?: string | undefined;
  picks?: PickList | undefined;
}

export interface OwnerChange {
  owner: string;
  before: readonly ElementSpec[];
  after: readonly ElementSpec[];
}

/** The claim an owner that is not changing holds on a key, from what was applied. */
export type ClaimLookup = (owner: string, set: string, key: string) => Claim | undefined;

export interface StageResult {
  commit(): void;
  /** Keys claimed with different values by several owners, after this change. */
  conflicts: string[];
}

type Owners = string | Set<string>;

/** A port whose endpoints live in the overrides map until compacted: all of them, at `<key> . i`. */
interface Override {
  set: string;
  key: string;
  values: readonly string[];
}

interface Touched {
  before: Map<string, Claim>;
  after: Map<string, Claim>;
}

function smallest(names: Iterable<string>): string | undefined {
  let best: string | undefined;
  for (const o of names) if (best === undefined || o < best) best = o;
  return best;
}

function sameItem(a: Claim, b: Claim): boolean {
  return a.value === b.value && a.comment === b.comment;
}

function samePicks(a: PickList | undefined, b: PickList | undefined): boolean {
  if (!a || !b) return a === b;
  return a.set === b.set && a.key === b.key && a.values.length === b.values.length && a.values.every((v, i) => v === b.values[i]);
}

function sameClaim(a: Claim, b: Claim): boolean {
  return a === b || (sameItem(a, b) && samePicks(a.picks, b.picks));
}

export class ElementStore {
  private readonly sets = new Map<string, Map<string, Owners>>();
  /** By picks map and key: ports whose endpoints the overrides map holds. */
  private readonly overrides = new Map<string, Override>();

  get pendingOverrides(): number {
    return this.overrides.size;
  }

  /**
   * What turns `old` into `next` under one key, picks included (deletes go first in a Tx).
   * Endpoints replaced one for one (same port, same count) are added to the overrides map
   * instead: no delete, so no grace period before the change is live.
   */
  private emit(tx: Tx, set: string, key: string, old: Claim | undefined, next: Claim | undefined, staged: Map<string, Override | null>): void {
    const same = old && next && sameItem(old, next);
    if (old && !same) tx.deleteElement(set, key);
    if (next && !same) tx.addElement(set, key, next.value, next.comment);
    const a = old?.picks;
    const b = next?.picks;
    if (samePicks(a, b)) return;
    const over = a && this.overrides.get(`${a.set} ${a.key}`);
    const samePort = !!a && !!b && a.set === b.set && a.key === b.key;
    if (same && samePort && !over && a.values.length === b.values.length) {
      const m = endpointOverridesMap(b.set);
      b.values.forEach((v, i) => tx.addElement(m, `${b.key} . ${i}`, v));
      staged.set(`${b.set} ${b.key}`, { set: b.set, key: b.key, values: b.values });
      return;
    }
    if (over) {
      for (let i = 0; i < over.values.length; i++) tx.deleteElement(endpointOverridesMap(over.set), `${over.key} . ${i}`);
      staged.set(`${over.set} ${over.key}`, null);
    }
    // Under an override the main map still holds older values than `a`: rewrite all of it.
    const moved = !samePort || !!over;
    for (let i = 0; i < Math.max(a?.values.length ?? 0, b?.values.length ?? 0); i++) {
      const x = a?.values[i];
      const y = b?.values[i];
      if (x === y && !moved) continue;
      if (a && x !== undefined) tx.deleteElement(a.set, `${a.key} . ${i}`);
      if (b && y !== undefined) tx.addElement(b.set, `${b.key} . ${i}`, y);
    }
  }

  /** Moves overridden endpoints into the main picks maps; commit() after the kernel took it. */
  compact(tx: Tx): { commit(): void } {
    const done = [...this.overrides];
    for (const [, o] of done) {
      o.values.forEach((v, i) => {
        tx.deleteElement(o.set, `${o.key} . ${i}`);
        tx.addElement(o.set, `${o.key} . ${i}`, v);
        tx.deleteElement(endpointOverridesMap(o.set), `${o.key} . ${i}`);
      });
    }
    return { commit: () => done.forEach(([k, o]) => this.overrides.get(k) === o && this.overrides.delete(k)) };
  }

  /** Adds to `tx` what turns the installed elements into the changed owners' ones; commit() after the kernel took it. */
  stage(changes: readonly OwnerChange[], tx: Tx, lookup: ClaimLookup): StageResult {
    const changing = new Set(changes.map((c) => c.owner));
    const touched = new Map<string, Map<string, Touched>>();
    const at = (set: string, key: string): Touched => {
      let keys = touched.get(set);
      if (!keys) touched.set(set, (keys = new Map()));
      let t = keys.get(key);
      if (!t) keys.set(key, (t = { before: new Map(), after: new Map() }));
      return t;
    };
    for (const c of changes) {
      for (const e of c.before) at(e.set, e.key).before.set(c.owner, e);
      for (const e of c.after) at(e.set, e.key).after.set(c.owner, e);
    }
    const conflicts: string[] = [];
    const next: { set: string; key: string; owners: string[] }[] = [];
    const overrides = new Map<string, Override | null>();
    for (const [set, keys] of touched) {
      const stored = this.sets.get(set);
      // The winning claim under each touched key, before and after: the generic differ says which changed.
      const was = new Map<string, Claim>();
      const win = new Map<string, Claim>();
      for (const [key, t] of keys) {
        const held = stored?.get(key);
        const owners = held === undefined ? [] : typeof held === 'string' ? [held] : [...held];
        const after = owners.filter((o) => !changing.has(o)).concat([...t.after.keys()]);
        const claim = (o: string | undefined, side: 'before' | 'after') =>
          o === undefined ? undefined : changing.has(o) ? t[side].get(o) : lookup(o, set, key);
        const w = claim(smallest(owners), 'before');
        const a = claim(smallest(after), 'after');
        if (w) was.set(key, w);
        if (a) win.set(key, a);
        if (after.length > 1) {
          const values = new Set(after.map((o) => claim(o, 'after')?.value));
          if (values.size > 1) conflicts.push(`${set} ${key} (${after.join(', ')})`);
        }
        next.push({ set, key, owners: after });
      }
      for (const c of diffMaps(was, win, sameClaim, keys.keys())) this.emit(tx, set, c.key, c.before, c.after, overrides);
    }
    return {
      conflicts,
      commit: () => {
        for (const [k, o] of overrides) {
          if (o) this.overrides.set(k, o);
          else this.overrides.delete(k);
        }
        for (const { set, key, owners } of next) {
          let keys = this.sets.get(set);
          if (owners.length > 0) {
            if (!keys) this.sets.set(set, (keys = new Map()));
            keys.set(key, owners.length === 1 ? owners[0]! : new Set(owners));
          } else if (keys) {
            keys.delete(key);
            if (keys.size === 0) this.sets.delete(set);
          }
        }
      },
    };
  }
}
