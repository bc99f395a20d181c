// One differ for every module: desired objects are keyed values with a content hash; the
// tracker remembers the hash of what was applied under each key and answers what to create,
// update and delete. Appliers execute the diff and report back, so a failed apply is owed again
// (the knls change-tracker idea: check / deleted / done / failed over hashes of rendered objects).
import { createHash } from 'node:crypto';

export interface Diff<T> {
  create: [key: string, value: T][];
  update: [key: string, value: T][];
  delete: string[];
}

/** A stable hash of a plain value (key order does not matter). */
export function hashOf(value: unknown): string {
  return createHash('sha1').update(stableJSON(value)).digest('base64url');
}

export function stableJSON(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Map) return Object.fromEntries([...v.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)));
    if (v instanceof Set) return [...v].sort();
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return v;
  });
}

export class Tracker<T> {
  /** key → hash of what is live for it. */
  private readonly applied = new Map<string, string>();
  private readonly hash: (v: T) => string;

  constructor(hash: (v: T) => string = hashOf) {
    this.hash = hash;
  }

  /** What turns the applied state into `desired`. Pure: nothing is recorded until done(). */
  diff(desired: ReadonlyMap<string, T>): Diff<T> {
    const out: Diff<T> = { create: [], update: [], delete: [] };
    for (const [key, value] of desired) {
      const was = this.applied.get(key);
      if (was === undefined) out.create.push([key, value]);
      else if (was !== this.hash(value)) out.update.push([key, value]);
    }
    for (const key of this.applied.keys()) if (!desired.has(key)) out.delete.push(key);
    return out;
  }

  /** Diff restricted to `keys` (an incremental sync): keys absent from `desired` are deletes. */
  diffKeys(desired: ReadonlyMap<string, T>, keys: Iterable<string>): Diff<T> {
    const out: Diff<T> = { create: [], update: [], delete: [] };
    for (const key of keys) {
      const value = desired.get(key);
      const was = this.applied.get(key);
      if (value === undefined) {
        if (was !== undefined) out.delete.push(key);
      } else if (was === undefined) out.create.push([key, value]);
      else if (was !== this.hash(value)) out.update.push([key, value]);
    }
    return out;
  }

  /** The applier made `diff` live. */
  done(diff: Diff<T>): void {
    for (const [k, v] of diff.create) this.applied.set(k, this.hash(v));
    for (const [k, v] of diff.update) this.applied.set(k, this.hash(v));
    for (const k of diff.delete) this.applied.delete(k);
  }

  /** What is live under `key` was read from the device (undefined: nothing is). */
  observed(key: string, value: T | undefined): void {
    if (value === undefined) this.applied.delete(key);
    else this.applied.set(key, this.hash(value));
  }

  /** The applier could not tell what is live for `key`: it will be created again. */
  failed(key: string): void {
    this.applied.delete(key);
  }

  /** Forget everything (a full resync compares with the device, not with memory). */
  reset(entries: Iterable<[string, T]> = []): void {
    this.applied.clear();
    for (const [k, v] of entries) this.applied.set(k, this.hash(v));
  }

  has(key: string): boolean {
    return this.applied.has(key);
  }

  /** The keys live now (what was applied). */
  keys(): IterableIterator<string> {
    return this.applied.keys();
  }

  get size(): number {
    return this.applied.size;
  }
}

/** One key whose value differs between two states: created (no before), deleted (no after) or updated. */
export interface Change<T> {
  key: string;
  before: T | undefined;
  after: T | undefined;
}

/**
 * The same diff between two states both held as values (an applier that can re-derive what it
 * applied needs no hashes): changed keys in `after`'s order, then removed keys in `before`'s;
 * with `keys`, only those, in their order (an incremental sync).
 */
export function diffMaps<T>(
  before: ReadonlyMap<string, T> | undefined,
  after: ReadonlyMap<string, T> | undefined,
  same: (a: T, b: T) => boolean = (a, b) => a === b || stableJSON(a) === stableJSON(b),
  keys?: Iterable<string>,
): Change<T>[] {
  const out: Change<T>[] = [];
  const one = (key: string) => {
    const b = before?.get(key);
    const a = after?.get(key);
    if (b === undefined && a === undefined) return;
    if (b !== undefined && a !== undefined && same(b, a)) return;
    out.push({ key, before: b, after: a });
  };
  if (keys) {
    for (const k of keys) one(k);
    return out;
  }
  for (const k of after?.keys() ?? []) one(k);
  for (const k of before?.keys() ?? []) if (!after?.has(k)) one(k);
  return out;
}

/**
 * The creates and updates of `d` in the order of `keys` (the desired state's own order), for
 * an applier whose device cares which change comes first.
 */
export function upserts<T>(d: Diff<T>, keys: Iterable<string>): [key: string, value: T][] {
  const changed = new Map([...d.create, ...d.update]);
  const out: [string, T][] = [];
  for (const k of keys) {
    const v = changed.get(k);
    if (v !== undefined) out.push([k, v]);
  }
  return out;
}

export function isEmpty<T>(d: Diff<T>): boolean {
  return d.create.length + d.update.length + d.delete.length === 0;
}
