import { findResource, type ResourceInfo } from './resources.ts';
import type { Verb } from './types.ts';

export type Route =
  | { type: 'discovery'; path: string; group?: string; version?: string }
  | { type: 'resource'; res: ResourceInfo; namespace?: string; name?: string; subresource?: string; watchPrefix: boolean }
  | { type: 'unknown' };

/** Maps a request path onto the API: discovery documents, or a resource (collection, object, subresource). */
export function parseRoute(pathname: string): Route {
  let segs: string[];
  try {
    segs = pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
  } catch {
    return { type: 'unknown' };
  }
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api') {
    if (segs.length === 1) return { type: 'discovery', path: '/api' };
    if (segs[1] !== 'v1') return { type: 'unknown' };
    [group, version, rest] = ['', 'v1', segs.slice(2)];
  } else if (segs[0] === 'apis') {
    if (segs.length === 1) return { type: 'discovery', path: '/apis' };
    if (segs.length === 2) return { type: 'discovery', path: '/apis/group', group: segs[1]! };
    [group, version, rest] = [segs[1]!, segs[2]!, segs.slice(3)];
  } else return { type: 'unknown' };
  if (!rest.length) return { type: 'discovery', path: '/groupversion', group, version };

  let watchPrefix = false;
  if (rest[0] === 'watch') {
    watchPrefix = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && findResource(group, version, rest[2]!)?.namespaced) {
    namespace = rest[1]!;
    rest = rest.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  const res = findResource(group, version, plural!);
  if (!res || extra.length) return { type: 'unknown' };
  if (res.namespaced && name !== undefined && namespace === undefined) return { type: 'unknown' };
  if (subresource !== undefined && !res.subresources.includes(subresource)) return { type: 'unknown' };
  return { type: 'resource', res, namespace, name, subresource, watchPrefix };
}

/** The RBAC verb of a resource request. */
export function verbOf(method: string, hasName: boolean, watch: boolean): Verb | undefined {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return watch ? 'watch' : hasName ? 'get' : 'list';
    case 'POST':
      return hasName ? undefined : 'create';
    case 'PUT':
      return hasName ? 'update' : undefined;
    case 'PATCH':
      return hasName ? 'patch' : undefined;
    case 'DELETE':
      return hasName ? 'delete' : 'deletecollection';
    default:
      return undefined;
  }
}
