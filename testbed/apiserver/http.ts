import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import {
  AGGREGATED_V2, AGGREGATED_V2BETA1, aggregatedDiscovery, apiGroup, apiGroupList, apiVersions, resourceList, versionInfo,
} from './discovery.ts';
import { ApiError, badRequest, methodNotAllowed, notFoundPath } from './errors.ts';
import type { Registry } from './registry.ts';
import { decodeKubeProtobuf } from './protobuf.ts';
import { parseRoute, verbOf } from './route.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { asTable, wantsTable, type IncludeObject } from './table.ts';
import { isObject, type AuditEntry, type PatchType } from './types.ts';
import { streamWatch } from './watchstream.ts';
import { applyFault, pageNotFound, type FaultHook, type RequestCounter } from './faults.ts';

export const MAX_BODY = 3 * 1024 * 1024;

export interface HttpContext {
  registry: Registry;
  token?: string;
  bookmarkIntervalMs: number;
  serverAddress(): string;
  audit?: (e: AuditEntry) => void;
  /** Open watches, so stop() can end them. */
  watches: Set<() => void>;
  /** Resource plurals this server does not serve: 404 page not found, as an older cluster answers. */
  omit?: ReadonlySet<string>;
  /** Lists ignore `limit` (as a server answering from its watch cache without pagination). */
  unpaged?: boolean;
  fault?: () => FaultHook | undefined;
  counter?: RequestCounter;
}

const PATCH_TYPES: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/json-patch+json': 'json',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+cbor': 'apply',
};

function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache, private' });
  res.end(text);
}

function sendError(res: ServerResponse, err: unknown): void {
  const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`);
  if (!res.headersSent) sendJson(res, e.code, e.status);
  else res.destroy();
}

class TooLarge extends ApiError {
  constructor() {
    super(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${MAX_BODY}`);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) return reject(new TooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.removeAllListeners('data');
        req.resume();
        reject(new TooLarge());
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function decode(buf: Buffer, contentType: string): unknown {
  if (contentType === 'application/vnd.kubernetes.protobuf') return decodeKubeProtobuf(buf);
  const text = buf.toString('utf8');
  if (!text.trim()) throw badRequest('the body of the request was empty');
  try {
    if (contentType.includes('yaml')) return parseYaml(text) as unknown;
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`the body of the request could not be decoded: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** DeleteOptions from a DELETE body; protobuf ones (typed clients) only carry defaults we ignore anyway. */
function deleteOptions(req: IncomingMessage, body: Buffer): unknown {
  if (!body.length || String(req.headers['content-type'] ?? '').includes('protobuf')) return {};
  return decode(body, 'application/json');
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw badRequest(`invalid value for ${name}: ${v}`);
  return n;
}

function boolParam(q: URLSearchParams, name: string): boolean | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  return v === 'true' || v === '1' || v === '';
}

function authorized(ctx: HttpContext, req: IncomingMessage, path: string): boolean {
  if (!ctx.token) return true;
  if (['/healthz', '/livez', '/readyz', '/version'].includes(path)) return true;
  return req.headers.authorization === `Bearer ${ctx.token}`;
}

function serveNonResource(ctx: HttpContext, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const accept = String(req.headers.accept ?? '');
  const aggregated = accept.includes('as=APIGroupDiscoveryList') ? (accept.includes('v=v2;') || accept.includes('v=v2,') || accept.endsWith('v=v2') || accept.includes(AGGREGATED_V2) ? 'v2' : 'v2beta1') : undefined;
  switch (path) {
    case '/healthz':
    case '/livez':
    case '/readyz':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return true;
    case '/version':
      sendJson(res, 200, versionInfo());
      return true;
    case '/api':
    case '/apis':
      if (aggregated) {
        const ct = aggregated === 'v2' ? AGGREGATED_V2 : AGGREGATED_V2BETA1;
        sendJson(res, 200, aggregatedDiscovery(path === '/api', `apidiscovery.k8s.io/${aggregated}`), ct);
      } else sendJson(res, 200, path === '/api' ? apiVersions(ctx.serverAddress()) : apiGroupList());
      return true;
    case '/openapi/v2':
      // kubectl's client-side validation needs a v2 document that parses; an empty protobuf
      // Document does, and holds no schemas, so nothing is rejected client-side.
      res.writeHead(200, { 'content-type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf', 'content-length': 0 });
      res.end();
      return true;
  }
  return false;
}

/** Handles one HTTP request against the registry. Never throws. */
export async function handle(ctx: HttpContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let audit: Omit<AuditEntry, 'code'> | undefined;
  const record = (code: number) => {
    if (audit && ctx.audit) ctx.audit({ ...audit, code });
    audit = undefined;
  };
  try {
    const url = new URL(req.url ?? '/', 'http://apiserver');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    if (!authorized(ctx, req, path)) {
      req.resume();
      sendJson(res, 401, new ApiError(401, 'Unauthorized', 'Unauthorized').status);
      return;
    }
    const method = req.method ?? 'GET';
    if (method === 'GET' && serveNonResource(ctx, req, res, path)) return;
    const route = parseRoute(path);
    if (route.type === 'discovery') {
      if (method !== 'GET') throw methodNotAllowed();
      const doc = route.path === '/groupversion' ? resourceList(route.group!, route.version!) : route.path === '/apis/group' ? apiGroup(route.group!) : undefined;
      if (!doc) throw notFoundPath();
      sendJson(res, 200, doc);
      return;
    }
    if (route.type !== 'resource') throw notFoundPath();
    const q = url.searchParams;
    const { res: info, namespace, name, subresource } = route;
    const watch = route.watchPrefix || boolParam(q, 'watch') === true;
    const verb = verbOf(method, name !== undefined, watch);
    if (!verb) throw methodNotAllowed();
    const entry: Omit<AuditEntry, 'code'> = { verb, apiGroup: info.group, resource: info.plural };
    if (subresource) entry.subresource = subresource;
    if (namespace) entry.namespace = namespace;
    if (name) entry.name = name;
    const rinfo = { verb, resource: info.plural, group: info.group };
    ctx.counter?.count(rinfo);
    if (ctx.omit?.has(info.plural)) {
      req.resume();
      pageNotFound(res);
      return;
    }
    const fault = ctx.fault?.()?.(rinfo);
    if (fault) {
      applyFault(fault, req, res);
      return;
    }
    audit = entry;
    if (subresource && !['get', 'update', 'patch'].includes(verb)) throw methodNotAllowed();
    const dryRun = q.getAll('dryRun').includes('All');
    const reg = ctx.registry;
    const table = wantsTable(req.headers.accept);
    const includeParam = q.get('includeObject');
    const include: IncludeObject = includeParam === 'None' || includeParam === 'Object' ? includeParam : 'Metadata';

    switch (verb) {
      case 'get': {
        const obj = reg.get(info, namespace, name!);
        record(200);
        sendJson(res, 200, table ? asTable(info, [obj], obj.metadata!.resourceVersion!, {}, include) : obj);
        return;
      }
      case 'list': {
        const list = reg.list(info, namespace, {
          labelSelector: q.get('labelSelector') ?? undefined, fieldSelector: q.get('fieldSelector') ?? undefined,
          limit: ctx.unpaged ? undefined : intParam(q, 'limit'), continue: q.get('continue') ?? undefined,
        });
        record(200);
        sendJson(res, 200, table ? asTable(info, list.items, list.metadata.resourceVersion, list.metadata, include) : list);
        return;
      }
      case 'watch': {
        let fieldSelector = q.get('fieldSelector') ?? undefined;
        if (name) fieldSelector = [fieldSelector, `metadata.name=${name}`].filter(Boolean).join(',');
        const labelSelector = q.get('labelSelector') ?? undefined;
        parseLabelSelector(labelSelector);
        parseFieldSelector(fieldSelector, info);
        const rv = q.get('resourceVersion') ?? undefined;
        if (rv && !/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`);
        record(200);
        const end = streamWatch(reg.store, info, res, {
          namespace, resourceVersion: rv, labelSelector, fieldSelector,
          sendInitialEvents: boolParam(q, 'sendInitialEvents'),
          timeoutSeconds: intParam(q, 'timeoutSeconds'), allowWatchBookmarks: boolParam(q, 'allowWatchBookmarks'),
          bookmarkIntervalMs: ctx.bookmarkIntervalMs,
          table: table ? include : undefined,
        }, () => ctx.watches.delete(end));
        if (!res.writableEnded) ctx.watches.add(end);
        return;
      }
      case 'deletecollection': {
        const opts = deleteOptions(req, await readBody(req));
        const list = reg.deleteCollection(info, namespace, {
          labelSelector: q.get('labelSelector') ?? undefined, fieldSelector: q.get('fieldSelector') ?? undefined,
          dryRun: dryRun || (isObject(opts) && Array.isArray(opts.dryRun) && opts.dryRun.includes('All')),
        });
        record(200);
        sendJson(res, 200, list);
        return;
      }
      case 'delete': {
        const opts = deleteOptions(req, await readBody(req));
        const pre = isObject(opts) && isObject(opts.preconditions) ? opts.preconditions : {};
        const { object, finished } = reg.delete(info, namespace, name!, {
          dryRun: dryRun || (isObject(opts) && Array.isArray(opts.dryRun) && opts.dryRun.includes('All')),
          preconditions: { uid: pre.uid as string | undefined, resourceVersion: pre.resourceVersion as string | undefined },
        });
        record(finished ? 200 : 202);
        sendJson(res, finished ? 200 : 202, object);
        return;
      }
    }

    const contentType = String(req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    if (contentType.includes('cbor')) {
      req.resume();
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
    }
    const body = decode(await readBody(req), contentType);
    const opts = { dryRun, subresource };
    if (verb === 'create') {
      const obj = reg.create(info, namespace, body, opts);
      record(201);
      sendJson(res, 201, obj);
    } else if (verb === 'update') {
      const existed = subresource !== undefined || reg.store.get(info, namespace, name!) !== undefined;
      const obj = reg.update(info, namespace, name!, body, opts);
      record(existed ? 200 : 201);
      sendJson(res, existed ? 200 : 201, obj);
    } else {
      const type = PATCH_TYPES[contentType];
      if (!type) throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${Object.keys(PATCH_TYPES).join(', ')}`);
      const existed = reg.store.get(info, namespace, name!) !== undefined;
      const obj = reg.patch(info, namespace, name!, type, body, opts);
      record(existed ? 200 : 201);
      sendJson(res, existed ? 200 : 201, obj);
    }
  } catch (err) {
    const code = err instanceof ApiError ? err.code : 500;
    record(code);
    // HTTP/2 has no connection header (the stream is reset instead).
    if (err instanceof TooLarge && req.httpVersionMajor === 1) res.setHeader('connection', 'close');
    sendError(res, err);
  }
}
