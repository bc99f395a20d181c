// One connection to the API server for every request and watch, as client-go has it: over TLS
// the server is offered HTTP/2 (ALPN) and, when it takes it, lists and watches are streams of one
// session. Five watches over HTTP/1.1 were five TCP+TLS connections per node: at 5,000 nodes,
// 25,000 held by the API servers instead of 5,000. A server that answers only HTTP/1.1 (or plain
// http://) gets a request per connection as before.
import { connect as h2connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

/** What a caller reads of a response, whichever protocol carried it. */
export interface Response {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** Per-request options as @kubernetes/client-node's applyToHTTPSOptions fills them. */
export type AuthOptions = RequestOptions & ConnectionOptions & { auth?: string };

/** After a server answered without h2, it is asked again this much later (a load balancer may change). */
const H1_RECHECK_MS = 10 * 60_000;
/** A list of 16 MiB should not wait on 64 KiB window updates (the HTTP/2 default). */
const STREAM_WINDOW = 4 * 1024 * 1024;
const SESSION_WINDOW = 16 * 1024 * 1024;
/** A TLS handshake that has not completed by then is given up (client-go's dialer: 30 s). */
const CONNECT_TIMEOUT_MS = 30_000;

export class Transport {
  private readonly server: URL;
  private session: ClientHttp2Session | undefined;
  private connecting: Promise<ClientHttp2Session | undefined> | undefined;
  private h1Until = 0;
  /** Open streams: the session holds the process open only while one is (a CLI exits when done). */
  private streams = 0;

  constructor(server: URL) {
    this.server = server;
  }

  /** The protocol the next request goes over (tests, metrics). */
  get protocol(): 'h2' | 'http/1.1' {
    return this.session && !this.session.closed && !this.session.destroyed ? 'h2' : 'http/1.1';
  }

  async open(method: string, url: URL, opts: AuthOptions, signal: AbortSignal, body?: string): Promise<Response> {
    if (url.protocol === 'https:' && Date.now() >= this.h1Until) {
      const s = await this.h2Session(opts, signal);
      if (s) return this.openH2(s, method, url, opts, signal, body);
    }
    return this.openH1(method, url, opts, signal, body);
  }

  /** Drops the session: the next request connects anew (a watch found the connection silent). */
  reset(): void {
    this.session?.destroy();
    this.session = undefined;
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private async h2Session(opts: AuthOptions, signal: AbortSignal): Promise<ClientHttp2Session | undefined> {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    this.session = undefined;
    // Requests racing at start share one connection attempt, bounded by its own timeout: each
    // caller stops waiting when its own signal says so, without failing the others.
    this.connecting ??= this.connect(opts, AbortSignal.timeout(CONNECT_TIMEOUT_MS)).finally(() => (this.connecting = undefined));
    return untilAborted(this.connecting, signal);
  }

  private async connect(opts: AuthOptions, signal: AbortSignal): Promise<ClientHttp2Session | undefined> {
    const host = this.server.hostname.replace(/^\[|\]$/g, '');
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const sock = tlsConnect({
        host,
        port: Number(this.server.port || 443),
        // SNI carries names only; the certificate is still checked against the IP.
        servername: opts.servername ?? (isIP(host) ? undefined : host),
        ca: opts.ca, cert: opts.cert, key: opts.key, pfx: opts.pfx, passphrase: opts.passphrase,
        rejectUnauthorized: opts.rejectUnauthorized,
        ALPNProtocols: ['h2', 'http/1.1'],
      });
      const fail = (err: Error) => {
        signal.removeEventListener('abort', onAbort);
        sock.destroy();
        reject(err);
      };
      const onAbort = () => fail(new Error(`${this.server.host}: no TLS connection within ${CONNECT_TIMEOUT_MS} ms`));
      signal.addEventListener('abort', onAbort, { once: true });
      sock.once('error', fail);
      sock.once('secureConnect', () => {
        signal.removeEventListener('abort', onAbort);
        sock.off('error', fail);
        resolve(sock);
      });
    });
    if (socket.alpnProtocol !== 'h2') {
      socket.destroy();
      this.h1Until = Date.now() + H1_RECHECK_MS;
      return undefined;
    }
    const session = h2connect(this.server.origin, { createConnection: () => socket, settings: { initialWindowSize: STREAM_WINDOW, enablePush: false } });
    // A session error reaches its streams (and so every caller); unheard it would be uncaught.
    session.on('error', () => {});
    session.once('close', () => {
      if (this.session === session) this.session = undefined;
    });
    // GOAWAY (an API server shutting down or rebalancing): no new streams here, the next request connects anew.
    session.once('goaway', () => {
      if (this.session === session) this.session = undefined;
    });
    session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
    this.session = session;
    return session;
  }

  private openH2(session: ClientHttp2Session, method: string, url: URL, opts: AuthOptions, signal: AbortSignal, body?: string): Promise<Response> {
    const headers: OutgoingHttpHeaders = {
      [h2.HTTP2_HEADER_METHOD]: method,
      [h2.HTTP2_HEADER_PATH]: url.pathname + url.search,
      [h2.HTTP2_HEADER_SCHEME]: 'https',
      [h2.HTTP2_HEADER_AUTHORITY]: url.host,
    };
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      const key = k.toLowerCase();
      // Connection-specific headers are forbidden in HTTP/2 (RFC 9113 §8.2.2).
      if (v !== undefined && key !== 'connection' && key !== 'host' && key !== 'transfer-encoding' && key !== 'keep-alive') headers[key] = v as string;
    }
    if (opts.auth && !headers.authorization) headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream: body === undefined, signal });
      } catch (err) {
        // The session closed between the check and the request.
        if (this.session === session) this.session = undefined;
        return reject(err);
      }
      if (this.streams++ === 0) session.ref();
      stream.on('error', reject);
      stream.once('close', () => {
        if (--this.streams === 0) session.unref();
        // A stream reset without an error code (CANCEL) ends it with no error event (a no-op after the response).
        reject(new Error(`${method} ${url.pathname}: stream closed before a response (code ${stream.rstCode})`));
      });
      stream.once('response', (h) => {
        stream.off('error', reject);
        stream.on('error', () => {}); // heard again by the body's readers
        const status = Number(h[h2.HTTP2_HEADER_STATUS] ?? 0);
        resolve({ status, statusText: '', headers: h, body: stream });
      });
      if (body !== undefined) stream.end(body);
    });
  }

  private openH1(method: string, url: URL, opts: AuthOptions, signal: AbortSignal, body?: string): Promise<Response> {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { ...opts, method, signal });
    return new Promise((resolve, reject) => {
      // A connection reset can surface on the request or the response at any time, also
      // after the caller has what it needs: a stream error must never go unheard (uncaught),
      // callers see it through their own reads and listeners.
      req.on('error', reject);
      req.once('response', (res: IncomingMessage) => {
        res.on('error', () => {});
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, body: res });
      });
      req.end(body);
    });
  }
}

/** `p`, or the caller's abort, whichever comes first; `p` itself goes on for others waiting on it. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
