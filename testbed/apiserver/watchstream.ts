import type { ServerResponse } from 'node:http';
import { ApiError } from './errors.ts';
import type { ResourceInfo } from './resources.ts';
import { asTable, type IncludeObject } from './table.ts';
import type { Store } from './store.ts';
import type { WatchEvent, WatchOptions } from './types.ts';
import { bookmark, openWatch, type WatchHandle } from './watch.ts';

// A client that reads this far behind is dropped (the real apiserver drops slow watchers too);
// it relists and resumes, and the server's memory stays bounded.
const MAX_BUFFERED = 16 * 1024 * 1024;

export interface StreamOptions extends WatchOptions {
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
  bookmarkIntervalMs: number;
  /** Send each object as a one-row Table (kubectl get -w asks for that). */
  table?: IncludeObject;
}

/**
 * Serves one watch as a chunked JSON stream, one event per line. Returns a function that ends it;
 * it also ends by itself on timeout, on a 410, or when the client goes away.
 */
export function streamWatch(store: Store, res: ResourceInfo, http: ServerResponse, opts: StreamOptions, onEnd: () => void): () => void {
  let handle: WatchHandle | undefined;
  let ended = false;
  const timers: NodeJS.Timeout[] = [];
  const end = () => {
    if (ended) return;
    ended = true;
    handle?.stop();
    for (const t of timers) clearTimeout(t);
    if (!http.writableEnded) http.end();
    onEnd();
  };
  const write = (e: WatchEvent) => {
    if (ended) return;
    const out = opts.table && (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED')
      ? { type: e.type, object: asTable(res, [e.object], e.object.metadata?.resourceVersion ?? '', {}, opts.table) }
      : e;
    http.write(`${JSON.stringify(out)}\n`);
    if (http.writableLength > MAX_BUFFERED) {
      end();
      http.destroy();
    }
  };
  // No transfer-encoding header: HTTP/1.1 chunks a body without a length anyway, and HTTP/2 forbids it.
  http.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
  http.flushHeaders();
  http.on('close', end);
  http.on('error', end);
  try {
    handle = openWatch(store, res, opts, write);
  } catch (err) {
    // Past the headers, a failed start is reported the way the real one does it: an ERROR event.
    if (err instanceof ApiError) write({ type: 'ERROR', object: err.status as unknown as WatchEvent['object'] });
    end();
    return end;
  }
  if (opts.allowWatchBookmarks) {
    const t = setInterval(() => write(bookmark(res, store.resourceVersion)), opts.bookmarkIntervalMs);
    t.unref();
    timers.push(t);
  }
  if (opts.timeoutSeconds && opts.timeoutSeconds > 0) {
    const t = setTimeout(end, opts.timeoutSeconds * 1000);
    t.unref();
    timers.push(t);
  }
  return end;
}
