import { badRequest, gone, tooLargeResourceVersion } from './errors.ts';
import { apiVersionOf, type ResourceInfo } from './resources.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { Store, StoreEvent } from './store.ts';
import type { KubeObject, WatchEvent, WatchOptions } from './types.ts';

export interface WatchHandle {
  stop(): void;
}

export function bookmark(res: ResourceInfo, rv: number, initialEventsEnd = false): WatchEvent {
  const metadata: KubeObject['metadata'] = { resourceVersion: String(rv) };
  if (initialEventsEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
  return { type: 'BOOKMARK', object: { kind: res.kind, apiVersion: apiVersionOf(res), metadata } };
}

/**
 * Starts a watch: the initial events (synthetic ADDED for the current state, or the history after
 * `resourceVersion`), then live events, filtered by namespace and selectors. An object that stops
 * matching is sent as DELETED (its previous state, at the event's resourceVersion), one that starts
 * matching as ADDED, as the real watch cache does. Throws 410 Expired when the history is gone.
 * `send` is called synchronously; objects passed to it are shared and must not be mutated.
 */
export function openWatch(store: Store, res: ResourceInfo, opts: WatchOptions, send: (e: WatchEvent) => void): WatchHandle {
  const labels = parseLabelSelector(opts.labelSelector);
  const fields = parseFieldSelector(opts.fieldSelector, res);
  const ns = res.namespaced ? opts.namespace || undefined : undefined;
  const matches = (o: KubeObject | undefined) => !!o && (ns === undefined || o.metadata?.namespace === ns) && labels(o) && fields(o);

  const translate = (e: StoreEvent): WatchEvent | undefined => {
    if (e.res !== res) return undefined;
    const now = matches(e.object);
    if (e.type !== 'MODIFIED') return now ? { type: e.type, object: e.object } : undefined;
    const before = matches(e.prev);
    if (now) return { type: before ? 'MODIFIED' : 'ADDED', object: e.object };
    if (before) return { type: 'DELETED', object: { ...e.prev!, metadata: { ...e.prev!.metadata, resourceVersion: String(e.rv) } } };
    return undefined;
  };

  const rvText = opts.resourceVersion ?? '';
  const initial: WatchEvent[] = [];
  const fromState = rvText === '' || rvText === '0' || opts.sendInitialEvents === true;
  if (fromState) {
    if (opts.sendInitialEvents !== false) {
      for (const o of store.items(res, ns)) if (matches(o)) initial.push({ type: 'ADDED', object: o });
    }
    if (opts.sendInitialEvents === true) initial.push(bookmark(res, store.resourceVersion, true));
  } else {
    const rv = Number(rvText);
    if (!Number.isSafeInteger(rv) || rv < 0) throw badRequest(`invalid resource version: ${rvText}`);
    if (rv > store.resourceVersion) throw tooLargeResourceVersion(rv, store.resourceVersion);
    const events = store.eventsSince(rv);
    if (!events) throw gone(`too old resource version: ${rvText} (${store.oldestResumable})`);
    for (const e of events) {
      const w = translate(e);
      if (w) initial.push(w);
    }
  }

  let open = true;
  const unsubscribe = store.subscribe((e) => {
    const w = translate(e);
    if (w && open) send(w);
  });
  for (const e of initial) if (open) send(e);
  return {
    stop() {
      open = false;
      unsubscribe();
    },
  };
}
