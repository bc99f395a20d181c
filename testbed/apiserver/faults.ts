// Test and benchmark knobs that make the embedded server misbehave the ways a real one can:
// a kind it does not serve, an error answer, a reset connection, a watch that ends at once.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface RequestInfo {
  verb: string;
  /** The resource's plural, e.g. `servicecidrs`. */
  resource: string;
  group: string;
}

export type Fault =
  /** Answer with this status: a JSON Status, or `text` as text/plain (the real one's "404 page not found"). */
  | { status: number; retryAfterSeconds?: number; text?: string }
  /** Destroy the connection without an answer. */
  | { reset: true }
  /** A watch answered 200 that ends at once, with no event. */
  | { endWatch: true };

export type FaultHook = (req: RequestInfo) => Fault | undefined;

/** Requests and TCP connections seen, by `verb resource`: what an idle client costs the server. */
export class RequestCounter {
  readonly byRequest = new Map<string, number>();
  connections = 0;
  total = 0;
  private readonly live = new Set<Socket>();
  private closedBytes = 0;
  /** A new TCP connection: counted, and the bytes sent on it summed (TLS records included). */
  connected(socket: Socket): void {
    this.connections++;
    this.live.add(socket);
    socket.once('close', () => {
      this.live.delete(socket);
      this.closedBytes += socket.bytesWritten;
    });
  }
  /** Bytes the server has sent, over every connection so far. */
  get bytesSent(): number {
    let n = this.closedBytes;
    for (const s of this.live) n += s.bytesWritten;
    return n;
  }
  count(req: RequestInfo): void {
    const k = `${req.verb} ${req.resource}`;
    this.byRequest.set(k, (this.byRequest.get(k) ?? 0) + 1);
    this.total++;
  }
  snapshot(): { total: number; connections: number; bytesSent: number; byRequest: Record<string, number> } {
    return { total: this.total, connections: this.connections, bytesSent: this.bytesSent, byRequest: Object.fromEntries(this.byRequest) };
  }
}

/** The real apiserver's answer for a path no group serves. */
export function pageNotFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
  res.end('404 page not found\n');
}

/** Applies a fault; true when the request was answered (or dropped) by it. */
export function applyFault(fault: Fault, req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  if ('reset' in fault) {
    res.socket?.destroy();
    return;
  }
  if ('endWatch' in fault) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end();
    return;
  }
  const headers: Record<string, string | number> = {};
  if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = fault.retryAfterSeconds;
  if (fault.text !== undefined) {
    res.writeHead(fault.status, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
    res.end(fault.text);
    return;
  }
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `injected ${fault.status}`, reason: fault.status === 429 ? 'TooManyRequests' : 'InternalError', code: fault.status });
  res.writeHead(fault.status, { ...headers, 'content-type': 'application/json' });
  res.end(body);
}
