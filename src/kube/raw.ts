// Reading untrusted API JSON: accessors that never throw, and an object's identity checked
// once. Shared by the converters of every kind (convert.ts, convert-policy.ts).
import { NONE, type Protocol } from './objects.ts';

export class InvalidObject extends Error {}

/** Where a conversion reports what it dropped. */
export type Warn = (msg: string) => void;

export type Raw = Record<string, unknown>;

export const MAX_VALUE = 4096; // longer label/annotation values nodeway keeps are refused, not stored

export function obj(v: unknown): Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {};
}
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
export function bool(v: unknown, dflt: boolean): boolean {
  return typeof v === 'boolean' ? v : dflt;
}
/**
 * A list as kept: NONE when empty, else a copy of exactly its length. Lists built by push()
 * hold 17 slots from the first element on (one endpoint, port or IP: 152 B instead of 24).
 */
export function fit<T>(list: T[]): T[] {
  return list.length === 0 ? NONE : list.slice();
}

/** A value for a warning: short, and never throws (JSON.stringify does on deeply nested values). */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? `[array of ${v.length}]` : '{object}';
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function meta(raw: Raw, namespaced: boolean): { namespace: string; name: string; labels: Raw; annotations: Raw } {
  const m = obj(obj(raw).metadata); // raw itself may be null or not an object
  const name = str(m.name);
  if (!DNS1123_SUBDOMAIN.test(name)) throw new InvalidObject(`metadata.name ${JSON.stringify(name.slice(0, 80))} is not a valid name`);
  const namespace = namespaced ? str(m.namespace) : '';
  if (namespaced && !DNS1123_LABEL.test(namespace)) throw new InvalidObject(`metadata.namespace of ${name} is missing or invalid`);
  return { namespace, name, labels: obj(m.labels), annotations: obj(m.annotations) };
}

export function label(labels: Raw, key: string, warn: Warn): string {
  const v = str(labels[key]);
  if (v.length > MAX_VALUE) {
    warn(`label ${key} is ${v.length} bytes; ignored`);
    return '';
  }
  return v;
}

/** Every label, as strings; a non-string or oversized value is dropped with a warning. */
export function allLabels(labels: Raw, warn: Warn): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string' || v.length > MAX_VALUE || k.length > 317) warn(`label ${show(k)} has an unreadable value; ignored`);
    else out[k] = v;
  }
  return out;
}

export function port(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535 ? v : 0;
}

export function protocol(v: unknown, where: string, warn: Warn): Protocol | null {
  const p = v === undefined || v === null ? 'TCP' : v;
  if (p === 'TCP' || p === 'UDP' || p === 'SCTP') return p;
  warn(`${where}: unknown protocol ${show(p)}; port ignored`);
  return null;
}
