import { isDeepStrictEqual } from 'node:util';
import { badRequest } from './errors.ts';
import { isObject } from './types.ts';

type ListStrategy = { key: string } | 'primitive-merge' | undefined;

interface Rule {
  path: string; // field path without list indices; matched as a suffix unless `exact`
  key: string | 'primitive-merge';
  kind?: string;
  exact?: boolean;
}

// The patchMergeKey / patchStrategy=merge lists of the built-in types this server stores. Lists not
// named here (tolerations, taints, subsets, endpoints, rules, ...) are atomic and get replaced.
const RULES: readonly Rule[] = [
  { path: 'containers.ports', key: 'containerPort' },
  { path: 'initContainers.ports', key: 'containerPort' },
  { path: 'ephemeralContainers.ports', key: 'containerPort' },
  { path: 'containers', key: 'name' },
  { path: 'initContainers', key: 'name' },
  { path: 'ephemeralContainers', key: 'name' },
  { path: 'env', key: 'name' },
  { path: 'volumeMounts', key: 'mountPath' },
  { path: 'volumeDevices', key: 'devicePath' },
  { path: 'volumes', key: 'name' },
  { path: 'imagePullSecrets', key: 'name' },
  { path: 'hostAliases', key: 'ip' },
  { path: 'topologySpreadConstraints', key: 'topologyKey' },
  { path: 'resourceClaims', key: 'name' },
  { path: 'conditions', key: 'type' },
  { path: 'podIPs', key: 'ip' },
  { path: 'hostIPs', key: 'ip' },
  { path: 'metadata.ownerReferences', key: 'uid', exact: true },
  { path: 'metadata.finalizers', key: 'primitive-merge', exact: true },
  { kind: 'Service', path: 'spec.ports', key: 'port', exact: true },
  { kind: 'Node', path: 'status.addresses', key: 'type', exact: true },
  { kind: 'Node', path: 'spec.podCIDRs', key: 'primitive-merge', exact: true },
  { kind: 'ServiceAccount', path: 'secrets', key: 'name', exact: true },
];

function strategyFor(kind: string, path: string[]): ListStrategy {
  const joined = path.join('.');
  for (const r of RULES) {
    if (r.kind && r.kind !== kind) continue;
    if (joined === r.path || (!r.exact && joined.endsWith(`.${r.path}`))) return r.key === 'primitive-merge' ? r.key : { key: r.key };
  }
  return undefined;
}

const DELETE = Symbol('delete');

/** Removes directives and nulls from a value that has nothing to merge into. */
function fresh(kind: string, v: unknown, path: string[]): unknown {
  const r = merge(kind, undefined, v, path);
  return r === DELETE ? undefined : r;
}

function mergeKeyed(kind: string, orig: unknown[], patch: unknown[], key: string, path: string[]): unknown[] {
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace')).map((p) => fresh(kind, p, path));
  }
  const out = orig.map((o) => structuredClone(o));
  for (const item of patch) {
    if (!isObject(item)) {
      out.push(structuredClone(item));
      continue;
    }
    const idx = out.findIndex((o) => isObject(o) && Object.hasOwn(item, key) && isDeepStrictEqual(o[key], item[key]));
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) {
      const merged = merge(kind, out[idx], item, path);
      if (merged === DELETE) out.splice(idx, 1);
      else out[idx] = merged;
    } else out.push(fresh(kind, item, path));
  }
  return out;
}

function reorder(list: unknown[], order: unknown[], key: string | undefined): unknown[] {
  const id = (v: unknown) => (key && isObject(v) ? v[key] : v);
  const pos = (v: unknown) => order.findIndex((o) => isDeepStrictEqual(id(o), id(v)));
  const listed = list.filter((v) => pos(v) >= 0).sort((a, b) => pos(a) - pos(b));
  return [...listed, ...list.filter((v) => pos(v) < 0)];
}

function merge(kind: string, orig: unknown, patch: unknown, path: string[]): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'delete') return DELETE;
  const replace = patch.$patch === 'replace';
  const out: Record<string, unknown> = isObject(orig) && !replace ? { ...orig } : {};
  const orders: [string, unknown[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders.push([k.slice('$setElementOrder/'.length), v]);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = (out[field] as unknown[]).filter((x) => !v.some((d) => isDeepStrictEqual(d, x)));
      continue;
    }
    if (k.startsWith('$')) throw badRequest(`unknown patch directive "${k}"`);
    if (v === null) {
      delete out[k];
      continue;
    }
    const sub = [...path, k];
    if (Array.isArray(v)) {
      const strategy = strategyFor(kind, sub);
      const cur = Array.isArray(out[k]) ? (out[k] as unknown[]) : [];
      if (strategy === 'primitive-merge') out[k] = [...cur, ...v.filter((x) => !cur.some((c) => isDeepStrictEqual(c, x)))];
      else if (strategy) out[k] = mergeKeyed(kind, cur, v, strategy.key, sub);
      else out[k] = v.map((x) => fresh(kind, x, sub));
      continue;
    }
    const merged = merge(kind, out[k], v, sub);
    if (merged === DELETE) delete out[k];
    else out[k] = merged;
  }
  for (const [field, order] of orders) {
    if (!Array.isArray(out[field])) continue;
    const s = strategyFor(kind, [...path, field]);
    out[field] = reorder(out[field] as unknown[], order, s && s !== 'primitive-merge' ? s.key : undefined);
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.map(String));
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
  }
  return out;
}

/**
 * Strategic merge patch: JSON merge patch, except that the well-known lists of the built-in types
 * merge item by item on their key, and the `$patch`, `$retainKeys`, `$setElementOrder/` and
 * `$deleteFromPrimitiveList/` directives that kubectl sends are honoured.
 */
export function strategicMergePatch(kind: string, target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) throw badRequest('strategic merge patch must be a JSON object');
  const r = merge(kind, target, patch, []);
  return r === DELETE ? {} : r;
}
