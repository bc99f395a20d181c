import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { rmSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { ApiError, badRequest } from './errors.ts';
import { handle, type HttpContext } from './http.ts';
import { renderKubeconfig } from './kubeconfig.ts';
import { NAMESPACES, Registry } from './registry.ts';
import { resolveResource, type ResourceInfo } from './resources.ts';
import { ServiceAllocator } from './service.ts';
import { Store } from './store.ts';
import type { AuditEntry, KubeList, KubeObject, ListOptions, PatchType, WatchEvent, WatchOptions } from './types.ts';
import { openWatch } from './watch.ts';
import { RequestCounter, type FaultHook } from './faults.ts';

export interface ApiServerOptions {
  host?: string;
  port?: number;
  /** Also listen on this Unix socket: reachable from every network namespace (see testbed/lab/unix-bridge.ts). */
  socketPath?: string;
  /** When set, every request but health and /version needs `Authorization: Bearer <token>`. */
  token?: string;
  /** PEM strings; the server speaks https when set: HTTP/2 and HTTP/1.1, as the real one. */
  tls?: { cert: string; key: string };
  /** Over TLS, HTTP/1.1 only (a server or load balancer that does not offer h2). */
  http1Only?: boolean;
  /** ClusterIP ranges, at most one per family; the first is the primary family. */
  serviceCIDRs?: string[];
  nodePortRange?: [number, number];
  bookmarkIntervalMs?: number;
  /** Watch events kept for resuming; a watch from an older resourceVersion gets 410 Gone. */
  historyLimit?: number;
  /** Record every resource request (see auditLog()). */
  audit?: boolean;
  /**
   * Resource plurals not served (404 page not found), e.g. ['servicecidrs'] for a cluster before
   * Kubernetes 1.33. Discovery still lists them.
   */
  omitResources?: string[];
  /** Lists answer everything at once, whatever `limit` asks. */
  unpagedLists?: boolean;
}

export interface WriteOptions {
  dryRun?: boolean;
  subresource?: 'status';
}

const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/**
 * An in-memory Kubernetes API server, good enough for kubectl and client libraries: discovery,
 * CRUD with the real metadata and concurrency rules, patches, watches with resume and bookmarks,
 * and Service IP / NodePort allocation. The same operations are callable in-process.
 */
export class EmbeddedApiServer {
  url = '';
  readonly #opts: ApiServerOptions;
  readonly #registry: Registry;
  readonly #audit: AuditEntry[] = [];
  readonly #watches = new Set<() => void>();
  #fault: FaultHook | undefined;
  /** HTTP requests and connections served, by verb and resource. */
  readonly requests = new RequestCounter();
  #server: Server | undefined;
  #socketServer: Server | undefined;
  #sockets = new Set<Socket>();

  constructor(opts: ApiServerOptions = {}) {
    this.#opts = opts;
    const store = new Store(opts.historyLimit ?? 10_000);
    const serviceCIDRs = opts.serviceCIDRs ?? ['198.19.0.0/16', 'fd00:198:19::/112'];
    const services = new ServiceAllocator(serviceCIDRs, opts.nodePortRange ?? [30000, 32767]);
    this.#registry = new Registry(store, services);
    for (const name of INITIAL_NAMESPACES) this.#registry.create(NAMESPACES, undefined, { metadata: { name } });
    if (opts.omitResources?.includes('servicecidrs')) return;
    // The real apiserver's default ServiceCIDR, from its --service-cluster-ip-range (without the
    // finalizer: no controller here would remove it, and deleting it must be possible).
    this.#registry.create(resolveResource('networking.k8s.io/v1', 'ServiceCIDR')!, undefined, {
      metadata: { name: 'kubernetes' },
      spec: { cidrs: serviceCIDRs },
      status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), reason: '', message: 'Kubernetes default Service CIDR is ready' }] },
    });
  }

  async start(): Promise<string> {
    if (this.#server) return this.url;
    const { host = '127.0.0.1', port = 0, tls } = this.#opts;
    const ctx: HttpContext = {
      registry: this.#registry,
      token: this.#opts.token,
      bookmarkIntervalMs: this.#opts.bookmarkIntervalMs ?? 60_000,
      serverAddress: () => new URL(this.url).host,
      audit: this.#opts.audit ? (e) => this.#audit.push(e) : undefined,
      watches: this.#watches,
      omit: new Set(this.#opts.omitResources ?? []),
      unpaged: this.#opts.unpagedLists,
      fault: () => this.#fault,
      counter: this.requests,
    };
    const onRequest = (req: IncomingMessage, res: ServerResponse) => void handle(ctx, req, res);
    // As the real one: over TLS, HTTP/2 (ALPN) and HTTP/1.1 for clients that ask for it. The
    // compatibility API gives both the same request/response shape.
    const serve = (): Server =>
      !tls ? createHttpServer(onRequest)
        : this.#opts.http1Only ? createHttpsServer({ cert: tls.cert, key: tls.key }, onRequest)
        : (createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: true }, onRequest as never) as unknown as Server);
    const server = serve();
    server.on('connection', (socket: Socket) => {
      this.requests.connected(socket);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    if (this.#opts.socketPath) {
      const path = this.#opts.socketPath;
      rmSync(path, { force: true });
      const unix = serve();
      unix.on('connection', (socket: Socket) => {
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => {
        unix.once('error', reject);
        unix.listen(path, () => {
          unix.off('error', reject);
          resolve();
        });
      });
      this.#socketServer = unix;
    }
    const addr = server.address() as AddressInfo;
    const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.url = `${tls ? 'https' : 'http'}://${shownHost}:${addr.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const end of [...this.#watches]) end();
    const servers = [server, this.#socketServer].filter((x): x is Server => x !== undefined);
    this.#socketServer = undefined;
    const closed = servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve())));
    // An HTTP/2 server has no closeAllConnections.
    this.dropConnections();
    await Promise.all(closed);
    if (this.#opts.socketPath) rmSync(this.#opts.socketPath, { force: true });
  }

  /** Ends every open HTTP watch, as an apiserver restart or a watch timeout would; clients resume or relist. */
  dropWatches(): void {
    for (const end of [...this.#watches]) end();
  }

  /** Closes every client connection at once, as a crashed or restarted apiserver behind a load balancer would. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  /** From now on every HTTP resource request is first shown to `hook`; a fault it returns is the answer. */
  injectFaults(hook: FaultHook | undefined): void {
    this.#fault = hook;
  }

  /** Open HTTP watches, for tests that check none leak. */
  get openWatches(): number {
    return this.#watches.size;
  }

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.#registry.store.resourceVersion);
  }

  /** `server` points the kubeconfig elsewhere, e.g. at a lab namespace's bridge to socketPath. */
  kubeconfig(opts: { user?: string; server?: string } = {}): string {
    if (!this.url) throw new Error('start() the server before asking for a kubeconfig');
    return renderKubeconfig({ server: opts.server ?? this.url, user: opts.user, token: this.#opts.token, caPem: this.#opts.tls?.cert });
  }

  auditLog(): AuditEntry[] {
    return this.#audit.map((e) => ({ ...e }));
  }

  clearAuditLog(): void {
    this.#audit.length = 0;
  }

  /** Drops the watch history: every resourceVersion handed out so far answers 410 Gone. */
  compact(): void {
    this.#registry.store.compact();
  }

  #resource(apiVersion: string, kindOrPlural: string): ResourceInfo {
    const res = resolveResource(apiVersion, kindOrPlural);
    if (!res) throw new ApiError(404, 'NotFound', `the server doesn't have a resource type "${kindOrPlural}" in ${apiVersion}`);
    return res;
  }

  #objectResource(obj: KubeObject): ResourceInfo {
    if (!obj.apiVersion || !obj.kind) throw badRequest('the object needs apiVersion and kind');
    return this.#resource(obj.apiVersion, obj.kind);
  }

  /** Namespaced objects without metadata.namespace go to `default`, as kubectl would send them. */
  #namespaceOf(res: ResourceInfo, obj: KubeObject): string | undefined {
    return res.namespaced ? obj.metadata?.namespace ?? 'default' : undefined;
  }

  create(obj: KubeObject, opts: WriteOptions = {}): KubeObject {
    const res = this.#objectResource(obj);
    return this.#registry.create(res, this.#namespaceOf(res, obj), obj, opts);
  }

  /** PUT semantics: status changes are ignored unless `subresource: 'status'`. */
  update(obj: KubeObject, opts: WriteOptions = {}): KubeObject {
    const res = this.#objectResource(obj);
    const name = obj.metadata?.name;
    if (!name) throw badRequest('metadata.name is required for update');
    return this.#registry.update(res, this.#namespaceOf(res, obj), name, obj, opts);
  }

  updateStatus(obj: KubeObject): KubeObject {
    return this.update(obj, { subresource: 'status' });
  }

  patch(apiVersion: string, kindOrPlural: string, namespace: string | undefined, name: string, patch: unknown, type: PatchType = 'merge', opts: WriteOptions = {}): KubeObject {
    return this.#registry.patch(this.#resource(apiVersion, kindOrPlural), namespace, name, type, patch, opts);
  }

  /** Returns the deleted object (marked for deletion only, if finalizers remain). */
  delete(apiVersion: string, kindOrPlural: string, namespace: string | undefined, name: string): KubeObject {
    return this.#registry.delete(this.#resource(apiVersion, kindOrPlural), namespace, name).object;
  }

  get(apiVersion: string, kindOrPlural: string, namespace: string | undefined, name: string): KubeObject {
    return this.#registry.get(this.#resource(apiVersion, kindOrPlural), namespace, name);
  }

  /** Like get, but undefined instead of a 404. */
  find(apiVersion: string, kindOrPlural: string, namespace: string | undefined, name: string): KubeObject | undefined {
    try {
      return this.get(apiVersion, kindOrPlural, namespace, name);
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  /** A namespace of undefined lists across all namespaces. */
  list(apiVersion: string, kindOrPlural: string, namespace?: string, opts: ListOptions = {}): KubeList {
    return this.#registry.list(this.#resource(apiVersion, kindOrPlural), namespace, opts);
  }

  /** The same events an HTTP watch gets, delivered synchronously; call the result to stop. */
  watch(apiVersion: string, kindOrPlural: string, opts: WatchOptions, onEvent: (e: WatchEvent) => void): () => void {
    const handle = openWatch(this.#registry.store, this.#resource(apiVersion, kindOrPlural), opts, (e) => onEvent(structuredClone(e)));
    return () => handle.stop();
  }
}
