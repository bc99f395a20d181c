// What each difference between two states of a table means in nft, as operations on a Tx. The
// comparing is the generic differ's (diffMaps); this file only says how a created, updated or
// deleted chain, set or shard element is written, and what a full load writes over a live table.
import { diffMaps } from '../../src/reconcile/tracker.ts';
import type { ChainSpec, ElementSpec, ServicePlan, SetDecl } from './model.ts';
import { isServiceObject } from './names.ts';
import type { TableNames } from './nft.ts';
import { BASE_CHAINS } from './plan-base.ts';
import { sharedObjects, type TableContext, type TableObjects } from './table.ts';
import type { Tx } from './tx.ts';

/** Objects Services share, created on first use and kept until the table is rewritten. */
export interface Shared {
  shards: Set<string>;
  pickChains: Set<string>;
}

export interface ChangeOptions {
  /** Shared objects that exist; `added` collects those this transaction creates. */
  have: Shared;
  added: Shared;
  /** Kernels before 6.2: a removed chain is flushed now and its name goes to `gone`, deleted later. */
  deleteChainsNow: boolean;
  gone: string[];
}

/** Chains and set declarations are compared field by field (cheaper than hashing, at every sync). */
export function sameChain(a: ChainSpec, b: ChainSpec): boolean {
  return a.hook === b.hook && a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}

export function sameSet(a: SetDecl, b: SetDecl): boolean {
  return a.kind === b.kind && a.body === b.body;
}

function byKey(elements: readonly ElementSpec[] | undefined): Map<string, ElementSpec> {
  return new Map((elements ?? []).map((e) => [`${e.set} ${e.key}`, e]));
}

/** Adds to `tx` what turns one Service's placed plan `old` into `next` (owned elements aside: ElementStore). */
export function serviceChanges(old: ServicePlan | undefined, next: ServicePlan | undefined, tx: Tx, ctx: TableContext, o: ChangeOptions): void {
  const shared = sharedObjects(next, ctx);
  for (const [name, decl] of shared.maps) {
    if (o.have.shards.has(name) || o.added.shards.has(name)) continue;
    o.added.shards.add(name);
    tx.addSet(name, decl);
  }
  for (const c of diffMaps(old?.chains, next?.chains, sameChain)) {
    if (!c.before) tx.addChain(c.key, c.after!.hook, c.after!.rules);
    else if (c.after) {
      tx.flushChain(c.key);
      tx.addRules(c.key, c.after.rules);
    } else {
      tx.flushChain(c.key);
      if (o.deleteChainsNow) tx.deleteChain(c.key);
      else o.gone.push(c.key);
    }
  }
  // A set's name carries its declaration (the affinity timeout is hashed in): presence is all.
  for (const c of diffMaps(old?.sets, next?.sets, () => true)) {
    if (c.after) tx.addSet(c.key, c.after);
    else tx.deleteSet(c.key, c.before!.kind);
  }
  // Shard map elements have one owner each (their key range is the chain's).
  for (const c of diffMaps(byKey(old?.picked), byKey(next?.picked), (a, b) => a.value === b.value)) {
    if (c.before) tx.deleteElement(c.before.set, c.before.key);
    if (c.after) tx.addElement(c.after.set, c.after.key, c.after.value);
  }
  for (const [name, spec] of shared.chains) {
    if (o.have.pickChains.has(name) || o.added.pickChains.has(name)) continue;
    o.added.pickChains.add(name);
    tx.addChain(name, spec.hook, spec.rules);
  }
}

/**
 * A full load of `objs` (owned elements aside): over a live table, flush every rule and map,
 * delete what is not wanted any more, declare and fill everything. Affinity sets still wanted
 * keep their clients. Returns chains left to delete later (kernels before 6.2).
 */
export function loadTable(tx: Tx, objs: TableObjects, names: TableNames, deleteChainsNow: boolean): string[] {
  const stale: string[] = [];
  if (names.exists) {
    tx.flushTable();
    for (const [name, kind] of names.sets) {
      if (isServiceObject(name) && objs.sets.has(name)) continue;
      if (!isServiceObject(name)) tx.header.push(`flush ${kind} ${tx.family} ${tx.table} ${name}`);
      tx.deleteSet(name, kind);
    }
    for (const name of names.chains) {
      // Base chains are re-created so a changed hook or priority takes effect.
      if ((BASE_CHAINS as readonly string[]).includes(name) || (!objs.chains.has(name) && deleteChainsNow)) tx.deleteChain(name);
      else if (!objs.chains.has(name)) stale.push(name);
    }
  }
  for (const [name, decl] of objs.sets) if (!(names.exists && isServiceObject(name) && names.sets.has(name))) tx.addSet(name, decl);
  for (const [name, spec] of objs.chains) tx.addChain(name, spec.hook, spec.rules);
  for (const e of objs.picked) tx.addElement(e.set, e.key, e.value);
  return stale;
}
