// One list+watch loop per kind for the whole process. Errors never flush the cache: a 410
// relists and diffs, anything else backs off and resumes the watch from the last version. Every
// cycle, whatever ended the last one (an error, a 410, a watch that ended at once with 200),
// waits for the kind's backoff: no kind can loop against a misbehaving API server.
import type { Logger } from 'pino';
import { ApiError, type KubeClient } from './client.ts';
import type { WatchCache } from './cache.ts';
import { converters, InvalidObject, rawKey } from './convert.ts';
import type { Kind, Kinds } from './objects.ts';
import type { Registry } from '../runtime/metrics.ts';

export interface KindSpec {
  path: string;
  /**
   * The agent works without it (a newer API, or one an older ClusterRole does not grant): a 404
   * or 403 lists as none, so the cache gets ready, and it is asked for again slowly.
   */
  optional?: boolean;
  /** Asked of the server, so objects nodeway never uses are not sent to every node. */
  fieldSelector?: string;
}

/**
 * What the agent may watch, one line per kind (a module adds its kinds here and names them in
 * its `inputs.kinds`). ServiceCIDR is served from Kubernetes 1.33 on.
 */
export const KIND_SPECS: Record<Kind, KindSpec> = {
  services: { path: '/api/v1/services' },
  endpointslices: { path: '/apis/discovery.k8s.io/v1/endpointslices' },
  nodes: { path: '/api/v1/nodes' },
  // A finished Pod holds no IP anyone routes to; the watch sends DELETED when one finishes.
  // Optional: the ClusterRole grants Pods only where dnsPods: verified asks for them; without
  // the grant DNS answers no verified pod names (logged once), rather than never being ready.
  pods: { path: '/api/v1/pods', fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed', optional: true },
  namespaces: { path: '/api/v1/namespaces' },
  servicecidrs: { path: '/apis/networking.k8s.io/v1/servicecidrs', optional: true },
  networkpolicies: { path: '/apis/networking.k8s.io/v1/networkpolicies' },
  // Only where the network-policy-api CRD is installed.
  clusternetworkpolicies: { path: '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies', optional: true },
};

export class Gone extends Error {}

/**
 * 410: our resourceVersion is compacted away. 504 is how the watch cache refuses a version it
 * has not reached ("Too large resource version"), e.g. after the API server's storage was reset:
 * resuming cannot work in either case, only a fresh list can.
 */
function mustRelist(code: unknown): boolean {
  return code === 410 || code === 504;
}

export interface InformerOptions {
  pageSize?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * A watch that lasted this long was healthy: the backoff starts over, and its normal end (or a
   * 410) reconnects at once. Anything shorter, even a clean 200 end, waits out the backoff.
   */
  healthyWatchMs?: number;
  /** The longest Retry-After honoured (a bigger one waits this long). */
  maxRetryAfterMs?: number;
  /** Server-side watch length, randomised between this and twice it, so watches don't renew in step. */
  watchSeconds?: number;
  /** How often an optional kind the server does not serve (or lets us read) is asked for again. */
  absentRetryMs?: number;
}

export class InformerMetrics {
  readonly events;
  readonly relists;
  readonly errors;
  readonly invalid;
  readonly warnings;
  constructor(reg: Registry) {
    this.events = reg.counter('nodeway_watch_events_total', 'Watch events received, by kind and event type.');
    this.relists = reg.counter('nodeway_watch_lists_total', 'Full lists done, by kind (1 at start, more after 410 Gone).');
    this.errors = reg.counter('nodeway_watch_errors_total', 'List or watch failures, by kind.');
    this.invalid = reg.counter('nodeway_invalid_objects_total', 'Objects skipped because they could not be understood, by kind.');
    this.warnings = reg.counter('nodeway_object_warnings_total', 'Values dropped from otherwise valid objects, by kind.');
    this.reconnects = reg.counter('nodeway_watch_reconnects_total', 'List/watch cycles started after the first, by kind (each paced by the backoff).');
  }
  readonly reconnects;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

export class Informer<K extends Kind> {
  private readonly stop = new AbortController();
  private watchHandle: AbortController | undefined;
  private resourceVersion = '';
  /** An optional kind found unavailable; its next success is logged. */
  private absent = false;
  private backoff: number;
  /** No list or watch starts before this time (ms since the epoch). */
  private nextAt = 0;
  private readonly opts: Required<InformerOptions>;
  readonly kind: K;
  private readonly client: KubeClient;
  private readonly cache: WatchCache;
  private readonly log: Logger;
  private readonly metrics: InformerMetrics;

  constructor(kind: K, client: KubeClient, cache: WatchCache, log: Logger, metrics: InformerMetrics, opts: InformerOptions = {}) {
    this.kind = kind;
    this.client = client;
    this.cache = cache;
    this.log = log;
    this.metrics = metrics;
    // Small pages: each page's body passes through malloc'd buffers that glibc keeps after
    // use; 500-item pages left ~10 MiB more resident than 100-item ones (bench/cache-memory.ts).
    this.opts = { pageSize: 100, minBackoffMs: 500, maxBackoffMs: 30_000, watchSeconds: 240, absentRetryMs: 600_000, healthyWatchMs: 10_000, maxRetryAfterMs: 600_000, ...opts };
    this.backoff = this.opts.minBackoffMs;
  }

  /** Runs until close(); never rejects. */
  async run(): Promise<void> {
    let needList = true;
    let first = true;
    while (!this.stop.signal.aborted) {
      // The one guard every path goes through: no list or watch starts before the backoff allows.
      const wait = this.nextAt - Date.now();
      if (wait > 0) await sleep(wait, this.stop.signal);
      if (this.stop.signal.aborted) break;
      if (!first) this.metrics.reconnects.inc({ kind: this.kind });
      first = false;
      let watchStart = Date.now();
      try {
        if (needList) {
          await this.list();
          needList = false;
          watchStart = Date.now();
        }
        await this.watchOnce();
        this.pace(Date.now() - watchStart, true);
      } catch (err) {
        if (this.stop.signal.aborted) break;
        const ran = Date.now() - watchStart;
        if (err instanceof Gone) {
          this.log.info({ kind: this.kind }, 'watch expired (410 Gone); relisting');
          needList = true;
          this.pace(ran, true);
          continue;
        }
        if (this.unavailable(err)) {
          this.nextAt = Date.now() + this.opts.absentRetryMs;
          needList = true;
          continue;
        }
        this.metrics.errors.inc({ kind: this.kind });
        this.pace(ran, false, err instanceof ApiError ? err.retryAfterSeconds : undefined);
        this.log.warn({ kind: this.kind, err: String((err as Error)?.message ?? err), retryMs: Math.max(0, this.nextAt - Date.now()) }, 'list/watch failed; retrying');
      }
    }
  }

  /**
   * When the next cycle may start. A healthy watch (long enough) resets the backoff, and a clean
   * end or 410 after one reconnects at once; anything else waits the backoff, which doubles.
   */
  private pace(ranMs: number, clean: boolean, retryAfterSeconds?: number): void {
    const now = Date.now();
    if (ranMs >= this.opts.healthyWatchMs) {
      this.backoff = this.opts.minBackoffMs;
      if (clean) {
        this.nextAt = now;
        return;
      }
    }
    this.nextAt = now + this.backoff * (0.75 + Math.random() * 0.5);
    this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs);
    if (retryAfterSeconds !== undefined) this.nextAt = Math.max(this.nextAt, now + Math.min(retryAfterSeconds * 1000, this.opts.maxRetryAfterMs));
  }

  /** An optional kind answered 404 or 403: the cache holds none of it, which counts as listed. */
  private unavailable(err: unknown): boolean {
    if (!KIND_SPECS[this.kind].optional || !(err instanceof ApiError) || (err.status !== 404 && err.status !== 403)) return false;
    const forbidden = err.status === 403;
    if (forbidden) this.metrics.errors.inc({ kind: this.kind });
    const fields = { kind: this.kind, status: err.status, retryMs: this.opts.absentRetryMs };
    const msg = forbidden ? 'forbidden (the ClusterRole lacks list/watch on it); treated as none' : 'not served by this API server; treated as none';
    if (this.absent) this.log.debug(fields, msg);
    else if (forbidden) this.log.warn(fields, msg);
    else this.log.info(fields, msg);
    this.absent = true;
    this.cache.replace(this.kind, new Map());
    return true;
  }

  close(): void {
    this.stop.abort();
    this.watchHandle?.abort();
  }

  private async list(): Promise<void> {
    const items = new Map<string, Kinds[K]>();
    let cont = '';
    let rv = '';
    let restarts = 0;
    const spec = KIND_SPECS[this.kind];
    for (;;) {
      const q = new URLSearchParams({ limit: String(this.opts.pageSize) });
      if (spec.fieldSelector) q.set('fieldSelector', spec.fieldSelector);
      if (cont) q.set('continue', cont);
      let page: Record<string, unknown>;
      try {
        page = await this.client.request('GET', `${spec.path}?${q}`, undefined, undefined, AbortSignal.any([this.stop.signal, AbortSignal.timeout(60_000)]));
      } catch (err) {
        // An expired continue token: start the list again from the top (a `continue` in a
        // do…while would test `cont`, now empty, and end the list with what it had cleared).
        // A few times only: a server that always expires the token goes through the backoff.
        if (err instanceof ApiError && err.status === 410 && cont && restarts++ < 3) {
          items.clear();
          cont = '';
          continue;
        }
        throw err;
      }
      const meta = (page.metadata ?? {}) as Record<string, unknown>;
      rv = typeof meta.resourceVersion === 'string' ? meta.resourceVersion : rv;
      cont = typeof meta.continue === 'string' ? meta.continue : '';
      for (const raw of Array.isArray(page.items) ? page.items : []) {
        const obj = this.convert(raw as Record<string, unknown>);
        if (obj) items.set(rawKey(raw), obj);
        else {
          // Unreadable now but present before: keep the last good version rather than lose it.
          const prev = this.cache.get(this.kind, rawKey(raw));
          if (prev) items.set(rawKey(raw), prev);
        }
      }
      if (!cont) break;
    }
    this.metrics.relists.inc({ kind: this.kind });
    this.resourceVersion = rv;
    this.cache.replace(this.kind, items);
    if (this.absent) {
      this.absent = false;
      this.log.info({ kind: this.kind }, 'now served; watching it');
    }
    this.log.debug({ kind: this.kind, count: items.size, resourceVersion: rv }, 'listed');
  }

  private watchOnce(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let failure: unknown;
      const seconds = Math.round(this.opts.watchSeconds * (1 + Math.random()));
      const spec = KIND_SPECS[this.kind];
      const query: Record<string, string | number | boolean> = { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: seconds };
      if (spec.fieldSelector) query.fieldSelector = spec.fieldSelector;
      const onEvent = (type: string, obj: Record<string, unknown>) => {
        if (failure) return;
        try {
          this.handle(type, obj);
        } catch (err) {
          failure = err;
          this.watchHandle?.abort();
        }
      };
      const done = (err?: unknown) => {
        const e = failure ?? err;
        if (!e || this.stop.signal.aborted) resolve();
        else if (e instanceof Gone || (e instanceof ApiError && mustRelist(e.status))) reject(new Gone());
        else reject(e);
      };
      this.client
        .watch(spec.path, query, onEvent, done, (seconds + 60) * 1000)
        .then((h) => {
          this.watchHandle = h;
          if (this.stop.signal.aborted) h.abort();
        }, reject);
    });
  }

  private handle(type: string, raw: Record<string, unknown>): void {
    this.metrics.events.inc({ kind: this.kind, type });
    const meta = (raw?.metadata ?? {}) as Record<string, unknown>;
    if (type === 'ERROR') {
      if (mustRelist(raw?.code)) throw new Gone();
      throw new Error(`watch error: ${String(raw?.message ?? JSON.stringify(raw).slice(0, 200))}`);
    }
    if (typeof meta.resourceVersion === 'string') this.resourceVersion = meta.resourceVersion;
    if (type === 'BOOKMARK') return;
    const key = rawKey(raw);
    if (type === 'DELETED') {
      this.cache.delete(this.kind, key);
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED') return;
    const obj = this.convert(raw);
    if (obj) this.cache.put(this.kind, key, obj);
  }

  private convert(raw: Record<string, unknown>): Kinds[K] | undefined {
    const warn = (msg: string) => {
      this.metrics.warnings.inc({ kind: this.kind });
      this.log.warn({ kind: this.kind }, msg);
    };
    try {
      return converters[this.kind](raw, warn) as Kinds[K];
    } catch (err) {
      // Anything a converter throws, expected (InvalidObject) or not, skips this one object only.
      this.metrics.invalid.inc({ kind: this.kind });
      const reason = err instanceof InvalidObject ? err.message : `converter failed: ${String(err)}`;
      this.log.warn({ kind: this.kind, key: rawKey(raw).slice(0, 300) }, `object skipped: ${reason}`);
      return undefined;
    }
  }
}
