import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { AllocTx } from './allocator.ts';
import { defaultAndValidate, validateName } from './defaults.ts';
import { ApiError, STALE, alreadyExists, badRequest, conflict, fieldError, gone, invalid, notFound, type StatusCause } from './errors.ts';
import { jsonPatch, mergePatch } from './patch.ts';
import { RESOURCES, apiVersionOf, type ResourceInfo } from './resources.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { ServiceAllocator } from './service.ts';
import { Store, objectKey } from './store.ts';
import { strategicMergePatch } from './strategic.ts';
import { isObject, type KubeList, type KubeObject, type ListOptions, type PatchType } from './types.ts';

export interface WriteOptions {
  dryRun?: boolean;
  subresource?: string;
}

export interface DeleteOptions {
  dryRun?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export const NAMESPACES = RESOURCES.find((r) => r.kind === 'Namespace')!;
const UNDELETABLE_NAMESPACES = ['default', 'kube-system', 'kube-public'];

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from({ length: 5 }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
}

/** Everything but metadata and status: what metadata.generation counts changes of. */
function specPart(o: KubeObject): unknown {
  const { metadata: _m, status: _s, ...rest } = o;
  return rest;
}

function encodeContinue(rv: number, key: string): string {
  return Buffer.from(JSON.stringify({ v: 'nodeway/1', rv, start: key })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString()) as { v?: string; rv?: number; start?: string };
    if (t.v === 'nodeway/1' && typeof t.rv === 'number' && typeof t.start === 'string') return { rv: t.rv, start: t.start };
  } catch {
    // answered below
  }
  throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

/**
 * The object semantics of the real registry (metadata bookkeeping, optimistic concurrency,
 * subresources, finalizers, defaulting), shared by the HTTP routes and the in-process API.
 */
export class Registry {
  readonly store: Store;
  readonly #services: ServiceAllocator;

  constructor(store: Store, services: ServiceAllocator) {
    this.store = store;
    this.#services = services;
  }

  #ns(res: ResourceInfo, namespace: string | undefined): string | undefined {
    if (!res.namespaced) return undefined;
    if (!namespace) throw badRequest(`a namespace is required for ${res.plural}`);
    return namespace;
  }

  #requireNamespace(ns: string | undefined): void {
    if (ns !== undefined && !this.store.get(NAMESPACES, undefined, ns)) throw notFound(NAMESPACES, ns);
  }

  #checkBody(res: ResourceInfo, body: unknown): KubeObject {
    if (!isObject(body)) throw badRequest(`the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
    const { kind, apiVersion } = body;
    if ((kind !== undefined && kind !== res.kind) || (apiVersion !== undefined && apiVersion !== apiVersionOf(res))) {
      throw badRequest(`the object provided is unrecognized (must be of type ${res.kind}): ${String(apiVersion)}, Kind=${String(kind)}`);
    }
    if (body.metadata !== undefined && !isObject(body.metadata)) throw badRequest('metadata must be an object');
    const o = structuredClone(body) as KubeObject;
    o.apiVersion = apiVersionOf(res);
    o.kind = res.kind;
    o.metadata ??= {};
    return o;
  }

  get(res: ResourceInfo, namespace: string | undefined, name: string): KubeObject {
    const o = this.store.get(res, this.#ns(res, namespace), name);
    if (!o) throw notFound(res, name);
    return structuredClone(o);
  }

  list(res: ResourceInfo, namespace: string | undefined, opts: ListOptions = {}): KubeList {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector, res);
    let rv = this.store.resourceVersion;
    let start = '';
    if (opts.continue) {
      ({ rv, start } = decodeContinue(opts.continue));
      if (rv < this.store.oldestResumable) {
        throw gone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      }
    }
    const all = this.store.items(res, res.namespaced ? namespace || undefined : undefined)
      .filter((o) => objectKey(o.metadata!.namespace, o.metadata!.name!) > start && labels(o) && fields(o));
    const limit = opts.limit && opts.limit > 0 ? opts.limit : all.length;
    const page = all.slice(0, limit);
    const metadata: KubeList['metadata'] = { resourceVersion: String(rv) };
    if (page.length < all.length) {
      const last = page[page.length - 1]!.metadata!;
      metadata.continue = encodeContinue(rv, objectKey(last.namespace, last.name!));
      metadata.remainingItemCount = all.length - page.length;
    }
    // Items of a typed list carry no kind/apiVersion, as the real apiserver encodes them.
    const items = page.map((o) => {
      const { kind: _k, apiVersion: _a, ...rest } = structuredClone(o);
      return rest;
    });
    return { kind: `${res.kind}List`, apiVersion: apiVersionOf(res), metadata, items };
  }

  create(res: ResourceInfo, namespace: string | undefined, body: unknown, opts: WriteOptions = {}): KubeObject {
    const o = this.#checkBody(res, body);
    const meta = o.metadata!;
    const ns = res.namespaced ? this.#ns(res, namespace ?? meta.namespace) : undefined;
    if (res.namespaced) {
      if (meta.namespace && meta.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = ns;
    } else delete meta.namespace;
    if (!meta.name && meta.generateName) {
      for (let i = 0; i < 8 && !meta.name; i++) {
        const candidate = `${meta.generateName}${randomSuffix()}`;
        if (!this.store.get(res, ns, candidate)) meta.name = candidate;
      }
    }
    if (!meta.name) throw invalid(res, '', [fieldError('metadata.name', 'Required', 'name or generateName is required')]);
    const nameErrs = validateName(res, String(meta.name));
    if (nameErrs.length) throw invalid(res, String(meta.name), nameErrs);
    this.#requireNamespace(ns);
    if (this.store.get(res, ns, meta.name)) throw alreadyExists(res, meta.name);
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    delete meta.selfLink;
    if (res.generation) meta.generation = 1;
    else delete meta.generation;
    return this.#write(res, o, undefined, opts);
  }

  /** Defaults, validates and allocates, then stores unless it is a dry run. */
  #write(res: ResourceInfo, input: KubeObject, old: KubeObject | undefined, opts: WriteOptions): KubeObject {
    // Through JSON once, so `undefined` members cannot make equal objects look different.
    const o = JSON.parse(JSON.stringify(input)) as KubeObject;
    const errs: StatusCause[] = defaultAndValidate(res, o);
    const tx = new AllocTx();
    if (res.kind === 'Service' && !errs.length) errs.push(...this.#services.prepare(o, old, tx));
    if (errs.length) {
      tx.rollback();
      throw invalid(res, o.metadata!.name!, errs);
    }
    if (old) {
      o.metadata!.resourceVersion = old.metadata!.resourceVersion;
      if (res.generation && !isDeepStrictEqual(specPart(o), specPart(old))) o.metadata!.generation = (old.metadata!.generation ?? 0) + 1;
      // A write that changes nothing is not a write: same resourceVersion, no event.
      if (isDeepStrictEqual(o, old)) {
        tx.rollback();
        return structuredClone(old);
      }
    }
    if (opts.dryRun) {
      tx.rollback();
      return o;
    }
    const m = o.metadata!;
    if (m.deletionTimestamp && !(m.finalizers ?? []).length) {
      tx.commit();
      return this.#remove(res, o);
    }
    this.store.put(res, o);
    tx.commit();
    return structuredClone(o);
  }

  update(res: ResourceInfo, namespace: string | undefined, name: string, body: unknown, opts: WriteOptions = {}): KubeObject {
    const ns = this.#ns(res, namespace);
    const o = this.#checkBody(res, body);
    const meta = o.metadata!;
    if (meta.name !== undefined && meta.name !== name) throw badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
    if (res.namespaced && meta.namespace !== undefined && meta.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    meta.name = name;
    const old = this.store.get(res, ns, name);
    if (!old) {
      if (res.createOnUpdate && !opts.subresource) return this.create(res, ns, o, opts);
      throw notFound(res, name);
    }
    if (meta.resourceVersion && meta.resourceVersion !== old.metadata!.resourceVersion) throw conflict(res, name, STALE);
    if (meta.uid && meta.uid !== old.metadata!.uid) throw conflict(res, name, `Precondition failed: UID in precondition: ${String(meta.uid)}, UID in object meta: ${String(old.metadata!.uid)}`);
    return this.#write(res, this.#merged(res, o, old, opts.subresource), old, opts);
  }

  /** The object an update stores: the subresource's part from the request, the rest from `old`. */
  #merged(res: ResourceInfo, o: KubeObject, old: KubeObject, subresource: string | undefined): KubeObject {
    if (subresource === 'status') {
      const next = structuredClone(old);
      if (o.status === undefined) delete next.status;
      else next.status = structuredClone(o.status);
      // A Node's status strategy resets only the spec (pkg/registry/core/node/strategy.go):
      // labels and annotations written through nodes/status stay, which is how flannel and
      // nodeway's mesh publish their annotations with only the nodes/status permission.
      if (res.group === '' && res.plural === 'nodes') {
        for (const f of ['labels', 'annotations'] as const) {
          if (o.metadata?.[f] === undefined) delete next.metadata![f];
          else next.metadata![f] = structuredClone(o.metadata[f]);
        }
      }
      return next;
    }
    if (subresource === 'finalize') {
      const next = structuredClone(old);
      next.spec = { ...(isObject(old.spec) ? old.spec : {}), finalizers: isObject(o.spec) ? o.spec.finalizers : undefined };
      return next;
    }
    if (subresource) throw new ApiError(404, 'NotFound', `the server could not find the requested resource`);
    const meta = o.metadata!;
    const oldMeta = old.metadata!;
    meta.namespace = oldMeta.namespace;
    meta.uid = oldMeta.uid;
    meta.creationTimestamp = oldMeta.creationTimestamp;
    if (oldMeta.generation !== undefined) meta.generation = oldMeta.generation;
    else delete meta.generation;
    if (oldMeta.deletionTimestamp) {
      meta.deletionTimestamp = oldMeta.deletionTimestamp;
      meta.deletionGracePeriodSeconds = oldMeta.deletionGracePeriodSeconds;
    } else {
      delete meta.deletionTimestamp;
      delete meta.deletionGracePeriodSeconds;
    }
    delete meta.managedFields;
    // Status belongs to the status subresource; writes to the main resource cannot change it.
    if (res.subresources.includes('status')) {
      if (old.status === undefined) delete o.status;
      else o.status = structuredClone(old.status);
    }
    return o;
  }

  patch(res: ResourceInfo, namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts: WriteOptions = {}): KubeObject {
    const ns = this.#ns(res, namespace);
    const old = this.store.get(res, ns, name);
    if (!old) {
      if (type !== 'apply' || opts.subresource) throw notFound(res, name);
      if (isObject(patch) && isObject(patch.metadata) && patch.metadata.name !== undefined && patch.metadata.name !== name) {
        throw badRequest(`the name of the object (${String(patch.metadata.name)}) does not match the name on the URL (${name})`);
      }
      const body = isObject(patch) ? { ...patch, metadata: { ...(isObject(patch.metadata) ? patch.metadata : {}), name } } : patch;
      return this.create(res, ns, body, opts);
    }
    if (type === 'json') {
      if (!Array.isArray(patch)) throw badRequest('json patch must be an array of operations');
    } else if (!isObject(patch)) throw badRequest(`the body of the request was in an unknown format - a patch must be a JSON object`);
    const base = structuredClone(old);
    let next: unknown;
    switch (type) {
      case 'json': next = jsonPatch(base, patch); break;
      case 'merge': next = mergePatch(base, patch); break;
      default: next = strategicMergePatch(res.kind, base, patch);
    }
    if (!isObject(next)) throw new ApiError(422, 'Invalid', 'the patched object is not a JSON object');
    const meta = isObject(next.metadata) ? next.metadata : undefined;
    // A resourceVersion carried in the patch is a precondition, as with update.
    if (meta && meta.resourceVersion !== old.metadata!.resourceVersion) {
      if (meta.resourceVersion !== undefined) throw conflict(res, name, STALE);
      meta.resourceVersion = old.metadata!.resourceVersion;
    }
    return this.update(res, ns, name, next, opts);
  }

  /** Deletes, or only marks for deletion when finalizers remain. `finished` tells which. */
  delete(res: ResourceInfo, namespace: string | undefined, name: string, opts: DeleteOptions = {}): { object: KubeObject; finished: boolean } {
    const ns = this.#ns(res, namespace);
    const old = this.store.get(res, ns, name);
    if (!old) throw notFound(res, name);
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata!.uid) throw conflict(res, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(old.metadata!.uid)}`);
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata!.resourceVersion) {
      throw conflict(res, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(old.metadata!.resourceVersion)}`);
    }
    if (res === NAMESPACES && UNDELETABLE_NAMESPACES.includes(name)) {
      throw new ApiError(403, 'Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' });
    }
    if (opts.dryRun) return { object: structuredClone(old), finished: true };
    if ((old.metadata!.finalizers ?? []).length) {
      if (old.metadata!.deletionTimestamp) return { object: structuredClone(old), finished: false };
      const marked = structuredClone(old);
      marked.metadata!.deletionTimestamp = now();
      marked.metadata!.deletionGracePeriodSeconds = 0;
      this.store.put(res, marked);
      return { object: structuredClone(marked), finished: false };
    }
    return { object: this.#remove(res, old), finished: true };
  }

  #remove(res: ResourceInfo, o: KubeObject): KubeObject {
    const meta = o.metadata!;
    // No namespace controller runs here: a namespace takes its contents with it at once.
    if (res === NAMESPACES) {
      for (const r of RESOURCES) {
        if (!r.namespaced) continue;
        for (const child of this.store.items(r, meta.name)) this.#remove(r, child);
      }
    }
    if (res.kind === 'Service') this.#services.release(o);
    return structuredClone(this.store.remove(res, meta.namespace, meta.name!)!);
  }

  deleteCollection(res: ResourceInfo, namespace: string | undefined, opts: ListOptions & DeleteOptions = {}): KubeList {
    const list = this.list(res, namespace, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector });
    const items: KubeObject[] = [];
    for (const item of list.items) {
      const m = item.metadata!;
      if (res === NAMESPACES && UNDELETABLE_NAMESPACES.includes(m.name!)) continue;
      const { object } = this.delete(res, m.namespace, m.name!, { dryRun: opts.dryRun });
      const { kind: _k, apiVersion: _a, ...rest } = object;
      items.push(rest);
    }
    return { ...list, metadata: { resourceVersion: String(this.store.resourceVersion) }, items };
  }
}
