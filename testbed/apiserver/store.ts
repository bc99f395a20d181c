import type { ResourceInfo } from './resources.ts';
import type { KubeObject } from './types.ts';

export interface StoreEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  res: ResourceInfo;
  object: KubeObject;
  /** The object before a MODIFIED, so selector watches can turn "stopped matching" into DELETED. */
  prev?: KubeObject;
}

export type Subscriber = (e: StoreEvent) => void;

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/**
 * Objects of every kind under one resourceVersion counter, like etcd's revision, plus a bounded
 * history of events for resuming watches. Stored objects are never handed out: callers clone.
 */
export class Store {
  #rv = 0;
  #compactedRv = 0;
  #history: StoreEvent[] = [];
  #historyStart = 0; // index of the oldest live entry; the array is trimmed in chunks
  readonly #limit: number;
  readonly #data = new Map<ResourceInfo, Map<string, KubeObject>>();
  readonly #subs = new Set<Subscriber>();

  constructor(historyLimit: number) {
    this.#limit = Math.max(1, historyLimit);
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  #table(res: ResourceInfo): Map<string, KubeObject> {
    let t = this.#data.get(res);
    if (!t) this.#data.set(res, (t = new Map()));
    return t;
  }

  get(res: ResourceInfo, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#data.get(res)?.get(objectKey(namespace, name));
  }

  /** Objects in key order (namespace, then name), as etcd lists them. */
  items(res: ResourceInfo, namespace?: string): KubeObject[] {
    const t = this.#data.get(res);
    if (!t) return [];
    const prefix = namespace ? `${namespace}/` : '';
    const keys = [...t.keys()].filter((k) => k.startsWith(prefix)).sort();
    return keys.map((k) => t.get(k)!);
  }

  count(res: ResourceInfo, namespace?: string): number {
    return this.items(res, namespace).length;
  }

  /** Stores `obj` (taking ownership) under a new resourceVersion and tells the subscribers. */
  put(res: ResourceInfo, obj: KubeObject): KubeObject {
    const meta = obj.metadata!;
    const key = objectKey(meta.namespace, meta.name!);
    const t = this.#table(res);
    const prev = t.get(key);
    meta.resourceVersion = String(++this.#rv);
    t.set(key, obj);
    this.#emit(prev ? { rv: this.#rv, type: 'MODIFIED', res, object: obj, prev } : { rv: this.#rv, type: 'ADDED', res, object: obj });
    return obj;
  }

  /** Removes the object; the DELETED event carries it with the deletion's resourceVersion. */
  remove(res: ResourceInfo, namespace: string | undefined, name: string): KubeObject | undefined {
    const t = this.#data.get(res);
    const key = objectKey(namespace, name);
    const old = t?.get(key);
    if (!t || !old) return undefined;
    t.delete(key);
    const gone: KubeObject = { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.#rv) } };
    this.#emit({ rv: this.#rv, type: 'DELETED', res, object: gone });
    return gone;
  }

  #emit(e: StoreEvent): void {
    this.#history.push(e);
    if (this.#history.length - this.#historyStart > this.#limit) {
      this.#compactedRv = this.#history[this.#historyStart]!.rv;
      this.#historyStart++;
      if (this.#historyStart > 1024 && this.#historyStart * 2 > this.#history.length) {
        this.#history = this.#history.slice(this.#historyStart);
        this.#historyStart = 0;
      }
    }
    for (const s of [...this.#subs]) {
      // One failing subscriber must not keep the event from the others or fail the write.
      try {
        s(e);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  subscribe(fn: Subscriber): () => void {
    this.#subs.add(fn);
    return () => this.#subs.delete(fn);
  }

  get subscriberCount(): number {
    return this.#subs.size;
  }

  /** Events after `rv`, or undefined when some of them were already dropped (the caller answers 410). */
  eventsSince(rv: number): StoreEvent[] | undefined {
    if (rv < this.#compactedRv) return undefined;
    const out: StoreEvent[] = [];
    for (let i = this.#history.length - 1; i >= this.#historyStart; i--) {
      const e = this.#history[i]!;
      if (e.rv <= rv) break;
      out.push(e);
    }
    return out.reverse();
  }

  /** Drops the history and moves the counter on, so every resourceVersion handed out so far is too old. */
  compact(): void {
    this.#history = [];
    this.#historyStart = 0;
    this.#compactedRv = ++this.#rv;
  }

  /** The oldest resourceVersion a watch can still resume from. */
  get oldestResumable(): number {
    return this.#compactedRv;
  }
}
