// The API client: kubeconfig, auth and watch from @kubernetes/client-node; requests as raw
// JSON through its authenticated fetch, so no generated model is built for objects nodeway
// only slims down.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { HttpMethod, KubeConfig, RequestContext, Watch } from '@kubernetes/client-node';
import { fetch } from 'undici';

const SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
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
  }
  else if (process.env.KUBERNETES_SERVICE_HOST && existsSync(SA_TOKEN)) kc.loadFromCluster();
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
  private readonly server: string;

  constructor(config: KubeConfig) {
    this.config = config;
    this.server = config.getCurrentCluster()!.server.replace(/\/$/, '');
  }

  async request(method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<Record<string, unknown>> {
    const url = this.server + path;
    const ctx = new RequestContext(url, method.toUpperCase() as HttpMethod);
    await this.config.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = contentType;
    const res = await fetch(url, {
      method: method.toUpperCase(),
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: ctx.getDispatcher() as never,
      signal: signal ?? AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      if (res.ok) throw new ApiError(res.status, 'BadResponse', `${method} ${path}: response is not JSON`);
    }
    if (!res.ok) {
      const msg = typeof json.message === 'string' ? json.message : text.slice(0, 200);
      throw new ApiError(res.status, typeof json.reason === 'string' ? json.reason : res.statusText, `${method} ${path}: ${res.status} ${msg}`);
    }
    return json;
  }

  /** Starts a watch; resolves to an abort handle. `done` is called once, with the error if any. */
  async watch(path: string, query: Record<string, string | number | boolean>, onEvent: WatchHandler, done: (err?: unknown) => void, inactivityTimeoutMs: number): Promise<AbortController> {
    const w = new Watch(this.config);
    // The default 30 s inactivity limit would cut quiet watches between bookmarks.
    (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = inactivityTimeoutMs;
    return w.watch(path, query, (type: string, obj: unknown) => onEvent(type, obj as Record<string, unknown>), (err: unknown) => done(err ?? undefined));
  }
}
