// The API client: kubeconfig and auth from @kubernetes/client-node, requests and watches over
// one HTTP/2 connection where the server takes it (transport.ts), else node:http(s). client-node's own fetch goes through undici, whose WebAssembly HTTP parser costs
// ~18 MiB of anonymous memory once compiled (measured: 16 → 34 MiB RssAnon for a few requests),
// half of the agent's whole budget; node:http parses with the built-in native llhttp instead.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import { Transport, type AuthOptions, type Response } from './transport.ts';

const SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const MAX_RESPONSE = 256 * 1024 * 1024; // a list page larger than this is refused, not buffered

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  /** The server's Retry-After (429, 503), in seconds, when it sent one in seconds. */
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, reason: string, message: string, retryAfter?: string | string[]) {
    super(message);
    this.status = status;
    this.reason = reason;
    const n = typeof retryAfter === 'string' && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : undefined;
    this.retryAfterSeconds = n;
  }
}

/**
 * kubeconfig resolution: --kubeconfig, else in-cluster service account, else $KUBECONFIG,
 * else ~/.kube/config. `server` replaces the cluster URL (bootstrap: the agent is the
 * Service proxy, so it cannot rely on the `kubernetes` ClusterIP).
 */
export function loadKubeConfig(opts: { kubeconfig?: string; server?: string }): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfig) {
    if (!existsSync(opts.kubeconfig)) throw new Error(`--kubeconfig: cannot read ${opts.kubeconfig}`);
    try {
      kc.loadFromFile(opts.kubeconfig);
    } catch (err) {
      throw new Error(`--kubeconfig: ${opts.kubeconfig} is not a valid kubeconfig: ${String((err as Error).message).split('\n')[0]}`);
    }
  } else if (process.env.KUBERNETES_SERVICE_HOST && existsSync(SA_TOKEN)) kc.loadFromCluster();
  else if (process.env.KUBECONFIG) kc.loadFromFile(process.env.KUBECONFIG.split(':')[0]!);
  else if (existsSync(join(homedir(), '.kube', 'config'))) kc.loadFromFile(join(homedir(), '.kube', 'config'));
  else throw new Error('no kubeconfig: pass --kubeconfig, run in a pod, or set $KUBECONFIG');
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  if (opts.server) {
    kc.clusters = kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: opts.server! } : c));
  }
  return kc;
}

export type WatchHandler = (type: string, object: Record<string, unknown>) => void;

export class KubeClient {
  readonly config: KubeConfig;
  private readonly server: URL;
  private readonly transport: Transport;

  constructor(config: KubeConfig) {
    this.config = config;
    this.server = new URL(config.getCurrentCluster()!.server);
    this.transport = new Transport(this.server);
  }

  /** Auth (token, client cert, CA) is applied per request: tokens rotate. */
  private async open(method: string, path: string, headers: Record<string, string>, signal: AbortSignal, body?: string): Promise<Response> {
    const url = new URL(this.server.pathname.replace(/\/$/, '') + path, this.server);
    const opts: AuthOptions = { headers: { accept: 'application/json', ...headers } };
    await this.config.applyToHTTPSOptions(opts as never);
    return this.transport.open(method, url, opts, signal, body);
  }

  /** The protocol requests go over now: h2 once a TLS server took it. */
  get protocol(): string {
    return this.transport.protocol;
  }

  /** Closes the shared connection (a CLI command done with the API server). */
  close(): void {
    this.transport.close();
  }

  async request(method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<Record<string, unknown>> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = text === undefined ? {} : { 'content-type': contentType, 'content-length': String(Buffer.byteLength(text)) };
    const res = await this.open(method.toUpperCase(), path, headers, signal ?? AbortSignal.timeout(60_000), text);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body) {
      size += (c as Buffer).length;
      if (size > MAX_RESPONSE) {
        res.body.destroy();
        throw new ApiError(res.status, 'TooLarge', `${method} ${path}: response over ${MAX_RESPONSE} bytes`);
      }
      chunks.push(c as Buffer);
    }
    const raw = Buffer.concat(chunks).toString('utf8');
    let json: Record<string, unknown> = {};
    try {
      json = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      if (res.status < 300) throw new ApiError(res.status, 'BadResponse', `${method} ${path}: response is not JSON`);
    }
    const status = res.status;
    if (status < 200 || status >= 300) {
      const msg = typeof json.message === 'string' ? json.message : raw.slice(0, 200);
      throw new ApiError(status, typeof json.reason === 'string' ? json.reason : res.statusText, `${method} ${path}: ${status} ${msg}`, res.headers['retry-after']);
    }
    return json;
  }

  /**
   * Starts a watch: one JSON event per line. Resolves to an abort handle; `done` is called
   * once, with the error if any (an HTTP error is an ApiError with its status). A stream quiet for longer
   * than `inactivityTimeoutMs` (no event, no bookmark) is treated as dead.
   */
  async watch(path: string, query: Record<string, string | number | boolean>, onEvent: WatchHandler, done: (err?: unknown) => void, inactivityTimeoutMs: number): Promise<AbortController> {
    const abort = new AbortController();
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err?: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      abort.abort();
      done(err);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        // Silent for this long while the server sends bookmarks: the connection itself is likely
        // dead, and with HTTP/2 every other watch shares it.
        this.transport.reset();
        finish(new Error(`watch ${path}: no data for ${inactivityTimeoutMs} ms`));
      }, inactivityTimeoutMs);
      timer.unref();
    };
    const q = new URLSearchParams({ watch: 'true' });
    for (const [k, v] of Object.entries(query)) if (v !== '' && v !== undefined) q.set(k, String(v));
    try {
      arm();
      const res = await this.open('GET', `${path}?${q}`, {}, abort.signal);
      if (res.status !== 200) {
        res.body.resume();
        finish(new ApiError(res.status, res.statusText, `watch ${path}: HTTP ${res.status}`, res.headers['retry-after']));
        return abort;
      }
      res.body.on('data', arm);
      res.body.on('error', (e) => finish(abort.signal.aborted ? undefined : e));
      // An HTTP/2 stream reset mid-watch closes the body without an end.
      res.body.on('close', () => finish(abort.signal.aborted || res.body.readableEnded ? undefined : new Error(`watch ${path}: stream reset`)));
      const lines = createInterface({ input: res.body, crlfDelay: Infinity });
      lines.on('line', (line) => {
        if (finished || line.trim() === '') return;
        let ev: { type?: unknown; object?: unknown };
        try {
          ev = JSON.parse(line) as typeof ev;
        } catch {
          return finish(new Error(`watch ${path}: undecodable event`));
        }
        onEvent(String(ev.type), (ev.object ?? {}) as Record<string, unknown>);
      });
      // readline re-emits its input's errors: unheard, a connection reset would be uncaught.
      lines.on('error', (e) => finish(abort.signal.aborted ? undefined : e));
      lines.on('close', () => finish());
    } catch (err) {
      finish(abort.signal.aborted && finished ? undefined : err);
    }
    return abort;
  }
}
