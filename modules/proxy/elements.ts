// Map and set elements with owners. Several Services may claim one key (the same externalIP
// and port, or a shared hairpin endpoint): the kernel holds one value, the one of the
// smallest owner name, so the outcome never depends on event order, and when that owner
// leaves the next one takes over in the same transaction.
import type { ElementSpec } from './model.ts';
import type { Tx } from './tx.ts';

interface Claim {
  value: string;
  comment: string | undefined;
}

interface Entry {
  /** What the kernel holds. */
  installed: Claim;
  owners: Map<string, Claim>;
}

export interface OwnerChange {
  owner: string;
  before: readonly ElementSpec[];
  after: readonly ElementSpec[];
}

export interface StageResult {
  commit(): void;
  /** Keys claimed with different values by several owners, after this change. */
  conflicts: string[];
}

function sameClaim(a: Claim, b: Claim): boolean {
  return a.value === b.value && a.comment === b.comment;
}

function winner(owners: Map<string, Claim>): Claim | undefined {
  let best: string | undefined;
  for (const o of owners.keys()) if (best === undefined || o < best) best = o;
  return best === undefined ? undefined : owners.get(best);
}

export class ElementStore {
  private readonly sets = new Map<string, Map<string, Entry>>();

  /** Adds to `tx` what turns the installed elements into the changed owners' ones; commit() after the kernel took it. */
  stage(changes: readonly OwnerChange[], tx: Tx): StageResult {
    const touched = new Map<string, Map<string, Map<string, Claim>>>();
    const ownersOf = (set: string, key: string): Map<string, Claim> => {
      let keys = touched.get(set);
      if (!keys) touched.set(set, (keys = new Map()));
      let owners = keys.get(key);
      if (!owners) keys.set(key, (owners = new Map(this.sets.get(set)?.get(key)?.owners)));
      return owners;
    };
    for (const c of changes) {
      for (const e of c.before) ownersOf(e.set, e.key).delete(c.owner);
      for (const e of c.after) ownersOf(e.set, e.key).set(c.owner, { value: e.value, comment: e.comment });
    }
    const conflicts: string[] = [];
    const next: { set: string; key: string; entry: Entry | undefined }[] = [];
    for (const [set, keys] of touched) {
      for (const [key, owners] of keys) {
        const old = this.sets.get(set)?.get(key)?.installed;
        const win = winner(owners);
        if (old && (!win || !sameClaim(old, win))) tx.deleteElement(set, key);
        if (win && (!old || !sameClaim(old, win))) tx.addElement(set, key, win.value, win.comment);
        if (new Set([...owners.values()].map((c) => c.value)).size > 1) conflicts.push(`${set} ${key} (${[...owners.keys()].join(', ')})`);
        next.push({ set, key, entry: win ? { installed: win, owners } : undefined });
      }
    }
    return {
      conflicts,
      commit: () => {
        for (const { set, key, entry } of next) {
          let keys = this.sets.get(set);
          if (entry) {
            if (!keys) this.sets.set(set, (keys = new Map()));
            keys.set(key, entry);
          } else if (keys) {
            keys.delete(key);
            if (keys.size === 0) this.sets.delete(set);
          }
        }
      },
    };
  }

  clear(): void {
    this.sets.clear();
  }

  size(set: string): number {
    return this.sets.get(set)?.size ?? 0;
  }
}
