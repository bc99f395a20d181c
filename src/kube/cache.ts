// The one watch cache: slim objects per kind, kept by informers, read by the node view.
import { KINDS, type Kind, type Kinds } from './objects.ts';
import { objectKey } from './convert.ts';
import { equal } from './equal.ts';

export interface CacheChange<K extends Kind = Kind> {
  kind: K;
  key: string;
  prev: Kinds[K] | undefined;
  next: Kinds[K] | undefined;
}

const NOTHING: ReadonlyMap<string, unknown> = new Map();

export type CacheListener = (change: CacheChange) => void;

export class WatchCache {
  private readonly stores = new Map<Kind, Map<string, unknown>>();
  private readonly listed = new Set<Kind>();
  private readonly listeners: CacheListener[] = [];
  private readonly readyWaiters: (() => void)[] = [];
  /**
   * service key (ns/name) → slice keys, so a Service's slices are found without a scan. Most
   * Services have one slice: a lone key is kept as is, not in a Set (232 B each).
   */
  private readonly slicesByService = new Map<string, string | Set<string>>();
  readonly kinds: readonly Kind[];

  constructor(kinds: readonly Kind[] = KINDS) {
    this.kinds = kinds;
    for (const k of kinds) this.stores.set(k, new Map());
  }

  onChange(listener: CacheListener): void {
    this.listeners.push(listener);
  }

  get<K extends Kind>(kind: K, key: string): Kinds[K] | undefined {
    return this.read(kind).get(key) as Kinds[K] | undefined;
  }

  all<K extends Kind>(kind: K): IterableIterator<Kinds[K]> {
    return this.read(kind).values() as IterableIterator<Kinds[K]>;
  }

  /** [key, object] pairs: the keys are the cache's own strings, for a reader that keeps them. */
  entries<K extends Kind>(kind: K): IterableIterator<[string, Kinds[K]]> {
    return this.read(kind).entries() as IterableIterator<[string, Kinds[K]]>;
  }

  size(kind: Kind): number {
    return this.read(kind).size;
  }

  /** True when this cache keeps `kind` (the agent watches only what its modules read). */
  has(kind: Kind): boolean {
    return this.stores.has(kind);
  }

  slicesOf(serviceKey: string): Kinds['endpointslices'][] {
    const keys = this.slicesByService.get(serviceKey);
    if (!keys) return [];
    const out: Kinds['endpointslices'][] = [];
    for (const k of typeof keys === 'string' ? [keys] : keys) {
      const s = this.get('endpointslices', k);
      if (s) out.push(s);
    }
    return out;
  }

  /** Every kind has been listed once: the cache reflects the cluster. */
  get ready(): boolean {
    return this.kinds.every((k) => this.listed.has(k));
  }

  isListed(kind: Kind): boolean {
    return this.listed.has(kind);
  }

  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Apply one object; a no-op update (nothing nodeway keeps changed) emits nothing. */
  put<K extends Kind>(kind: K, key: string, next: Kinds[K]): void {
    const store = this.store(kind);
    const prev = store.get(key) as Kinds[K] | undefined;
    if (prev !== undefined && equal(prev, next)) return;
    store.set(key, next);
    this.index(kind, key, prev, next);
    this.emit({ kind, key, prev, next });
  }

  delete(kind: Kind, key: string): void {
    const store = this.store(kind);
    const prev = store.get(key);
    if (prev === undefined) return;
    store.delete(key);
    this.index(kind, key, prev, undefined);
    this.emit({ kind, key, prev: prev as never, next: undefined });
  }

  /**
   * A full list (first list or relist after 410): objects missing from it are deleted,
   * changed ones updated, unchanged ones left alone — so a relist never flushes state.
   */
  replace<K extends Kind>(kind: K, items: Map<string, Kinds[K]>): void {
    const store = this.store(kind);
    for (const key of [...store.keys()]) if (!items.has(key)) this.delete(kind, key);
    for (const [key, obj] of items) this.put(kind, key, obj);
    if (!this.listed.has(kind)) {
      this.listed.add(kind);
      if (this.ready) for (const w of this.readyWaiters.splice(0)) w();
    }
  }

  /** A kind not watched reads as none (the view reads every kind, whatever the modules need). */
  private read(kind: Kind): ReadonlyMap<string, unknown> {
    return this.stores.get(kind) ?? NOTHING;
  }

  private store(kind: Kind): Map<string, unknown> {
    const s = this.stores.get(kind);
    if (!s) throw new Error(`kind ${kind} is not watched by this cache`);
    return s;
  }

  private index(kind: Kind, key: string, prev: unknown, next: unknown): void {
    if (kind !== 'endpointslices') return;
    const svcOf = (s: unknown) => {
      const slice = s as Kinds['endpointslices'] | undefined;
      return slice && slice.serviceName ? objectKey(slice.namespace, slice.serviceName) : '';
    };
    const before = svcOf(prev);
    const after = svcOf(next);
    if (before === after) return;
    if (before) {
      const keys = this.slicesByService.get(before);
      if (keys === key) this.slicesByService.delete(before);
      else if (typeof keys === 'object') {
        keys.delete(key);
        if (keys.size === 1) this.slicesByService.set(before, keys.values().next().value!);
      }
    }
    if (after) {
      const keys = this.slicesByService.get(after);
      if (keys === undefined) this.slicesByService.set(after, key);
      else if (typeof keys === 'string') this.slicesByService.set(after, new Set([keys, key]));
      else keys.add(key);
    }
  }

  private emit(change: CacheChange): void {
    for (const l of this.listeners) l(change);
  }
}
