// The mesh's routes in the main table, marked with their own protocol number so listing and
// removing them never touches a route anyone else made.
import { parseCIDR } from '../../src/net/ip.ts';
import type { PlannedRoute } from './plan.ts';

export const ROUTE_PROTO = 112;

export interface DeviceRoute {
  dst: string;
  dev: string;
  src: string;
}

/** `ip -j route show table main proto N` output (either family) → routes. */
export function parseRoutes(json: string): DeviceRoute[] {
  let list: unknown;
  try {
    list = JSON.parse(json || '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  const out: DeviceRoute[] = [];
  for (const r of list as Record<string, unknown>[]) {
    if (typeof r.dst !== 'string') continue;
    // A host route prints without its length.
    const dst = parseCIDR(r.dst.includes('/') ? r.dst : `${r.dst}/${r.dst.includes(':') ? 128 : 32}`)?.text;
    if (!dst) continue;
    out.push({ dst, dev: String(r.dev ?? ''), src: String(r.prefsrc ?? '') });
  }
  return out;
}

/** `ip -batch` lines making the device's mesh routes exactly the planned ones. */
export function diffRoutes(desired: PlannedRoute[], device: DeviceRoute[]): string[] {
  const have = new Map(device.map((r) => [r.dst, r]));
  const want = new Set(desired.map((r) => r.dst));
  const lines: string[] = [];
  for (const r of device) if (!want.has(r.dst)) lines.push(`route del ${r.dst} table main proto ${ROUTE_PROTO}`);
  for (const r of desired) {
    const h = have.get(r.dst);
    if (h && h.dev === r.dev && h.src === r.src) continue;
    lines.push(`route replace ${r.dst} dev ${r.dev} table main proto ${ROUTE_PROTO} scope link src ${r.src}`);
  }
  return lines;
}
