import { badRequest } from './errors.ts';
import type { ResourceInfo } from './resources.ts';
import { isObject, type KubeObject } from './types.ts';

type Op = 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'notexists' | 'gt' | 'lt';
interface Requirement {
  key: string;
  op: Op;
  values: string[];
}

export type Matcher = (obj: KubeObject) => boolean;

/** Splits on commas that are outside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((p) => p.trim()).filter((p) => p !== '');
}

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;
const VALUE = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?$/;

function parseRequirement(part: string, selector: string): Requirement {
  const fail = (why: string) => badRequest(`unable to parse requirement: ${why}: "${selector}"`);
  let m = /^!\s*(\S+)$/.exec(part);
  let req: Requirement;
  if (m) req = { key: m[1]!, op: 'notexists', values: [] };
  else if ((m = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part))) {
    const values = m[3]!.split(',').map((v) => v.trim());
    req = { key: m[1]!, op: m[2] as Op, values };
  } else if ((m = /^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$/.exec(part))) {
    const op: Op = m[2] === '!=' ? 'neq' : m[2] === '>' ? 'gt' : m[2] === '<' ? 'lt' : 'eq';
    req = { key: m[1]!, op, values: [m[3]!.trim()] };
  } else if (/^\S+$/.test(part)) req = { key: part, op: 'exists', values: [] };
  else throw fail('unexpected syntax');
  if (!KEY.test(req.key)) throw fail(`invalid label key "${req.key}"`);
  for (const v of req.values) {
    if (!VALUE.test(v) || v.length > 63) throw fail(`invalid label value "${v}"`);
    if ((req.op === 'gt' || req.op === 'lt') && !/^-?\d+$/.test(v)) throw fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
  }
  return req;
}

function test(req: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, req.key);
  const v = labels[req.key];
  switch (req.op) {
    case 'exists': return has;
    case 'notexists': return !has;
    case 'eq': return has && v === req.values[0];
    case 'neq': return !has || v !== req.values[0];
    case 'in': return has && req.values.includes(v!);
    case 'notin': return !has || !req.values.includes(v!);
    case 'gt': return has && /^-?\d+$/.test(v!) && Number(v) > Number(req.values[0]);
    case 'lt': return has && /^-?\d+$/.test(v!) && Number(v) < Number(req.values[0]);
  }
}

/** Label selector in the string syntax of `?labelSelector=` (the matchExpressions operators included). */
export function parseLabelSelector(selector: string | undefined): Matcher {
  if (!selector || !selector.trim()) return () => true;
  const reqs = splitTop(selector).map((p) => parseRequirement(p, selector));
  return (obj) => {
    const labels = obj.metadata?.labels ?? {};
    return reqs.every((r) => test(r, labels));
  };
}

function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const seg of path.split('.')) cur = isObject(cur) ? cur[seg] : undefined;
  if (cur === undefined || cur === null) return path === 'spec.unschedulable' || path === 'spec.hostNetwork' ? 'false' : '';
  return String(cur);
}

/** Splits on an unescaped separator; `\` escapes the next character as in the real field selector. */
function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i];
    } else if (ch === sep) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Field selector (`=`, `==`, `!=`, comma-joined) limited to the fields the real apiserver indexes for the kind. */
export function parseFieldSelector(selector: string | undefined, res: ResourceInfo): Matcher {
  if (!selector || !selector.trim()) return () => true;
  const reqs: { path: string; neg: boolean; value: string }[] = [];
  for (const part of splitEscaped(selector, ',')) {
    if (!part.trim()) continue;
    const m = /^([^=!]+?)\s*(!=|==|=)\s*(.*)$/s.exec(part.trim());
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    const path = m[1]!.trim();
    if (path !== 'metadata.name' && path !== 'metadata.namespace' && !res.fieldSelectors.includes(path)) {
      throw badRequest(`field label not supported: ${path}`);
    }
    reqs.push({ path, neg: m[2] === '!=', value: m[3]! });
  }
  return (obj) => reqs.every((r) => (fieldValue(obj, r.path) === r.value) !== r.neg);
}
