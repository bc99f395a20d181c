import { isDeepStrictEqual } from 'node:util';
import { ApiError, badRequest } from './errors.ts';
import { isObject } from './types.ts';

/** JSON merge patch, RFC 7386. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function unprocessable(message: string): ApiError {
  return new ApiError(422, 'UnprocessableEntity', message);
}

function parsePointer(ptr: string): string[] {
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw unprocessable(`invalid JSON pointer "${ptr}"`);
  return ptr.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function arrayIndex(arr: unknown[], seg: string, forInsert: boolean): number {
  if (forInsert && seg === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(seg)) throw unprocessable(`invalid array index "${seg}"`);
  const i = Number(seg);
  if (i > arr.length || (!forInsert && i === arr.length)) throw unprocessable(`array index ${i} out of bounds`);
  return i;
}

function parentOf(doc: unknown, path: string[], op: string): [unknown, string] {
  let cur = doc;
  for (const seg of path.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, seg, false)];
    else if (isObject(cur) && Object.hasOwn(cur, seg)) cur = cur[seg];
    else throw unprocessable(`${op} operation does not apply: doc is missing path: "/${path.join('/')}": missing value`);
  }
  return [cur, path[path.length - 1]!];
}

function getAt(doc: unknown, ptr: string, op: string): unknown {
  const path = parsePointer(ptr);
  if (!path.length) return doc;
  const [parent, last] = parentOf(doc, path, op);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, false)];
  if (isObject(parent) && Object.hasOwn(parent, last)) return parent[last];
  throw unprocessable(`${op} operation does not apply: doc is missing path: "${ptr}": missing value`);
}

function removeAt(doc: unknown, ptr: string, op: string): unknown {
  const path = parsePointer(ptr);
  if (!path.length) throw unprocessable('cannot remove the document root');
  const [parent, last] = parentOf(doc, path, op);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, false), 1)[0];
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const v = parent[last];
    delete parent[last];
    return v;
  }
  throw unprocessable(`${op} operation does not apply: doc is missing path: "${ptr}": missing value`);
}

function addAt(doc: unknown, ptr: string, value: unknown, replace: boolean): unknown {
  const path = parsePointer(ptr);
  if (!path.length) return value;
  const op = replace ? 'replace' : 'add';
  const [parent, last] = parentOf(doc, path, op);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, last, !replace);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else if (isObject(parent)) {
    if (replace && !Object.hasOwn(parent, last)) throw unprocessable(`replace operation does not apply: doc is missing key: ${ptr}: missing value`);
    parent[last] = value;
  } else throw unprocessable(`${op} operation does not apply: doc is missing path: "${ptr}": missing value`);
  return doc;
}

/** JSON patch, RFC 6902. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  let doc = structuredClone(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw badRequest(`invalid json patch operation: ${JSON.stringify(raw)}`);
    const { op, path } = raw;
    const from = typeof raw.from === 'string' ? raw.from : undefined;
    const needsValue = op === 'add' || op === 'replace' || op === 'test';
    if (needsValue && !Object.hasOwn(raw, 'value')) throw badRequest(`json patch ${op} operation is missing "value"`);
    if ((op === 'move' || op === 'copy') && from === undefined) throw badRequest(`json patch ${op} operation is missing "from"`);
    switch (op) {
      case 'add': doc = addAt(doc, path, structuredClone(raw.value), false); break;
      case 'replace': doc = addAt(doc, path, structuredClone(raw.value), true); break;
      case 'remove': removeAt(doc, path, 'remove'); break;
      case 'move': doc = addAt(doc, path, removeAt(doc, from!, 'move'), false); break;
      case 'copy': doc = addAt(doc, path, structuredClone(getAt(doc, from!, 'copy')), false); break;
      case 'test':
        if (!isDeepStrictEqual(getAt(doc, path, 'test'), raw.value)) throw unprocessable(`testing value ${path} failed: test failed`);
        break;
      default: throw badRequest(`unexpected json patch operation "${op}"`);
    }
  }
  return doc;
}
