// The mesh's routes in the main table, marked with their own protocol number so listing and
// removing them never touches a route anyone else made.
import { parseCIDR } from '../../src/net/ip.ts';
import { type Diff, upserts } from '../../src/reconcile/tracker.ts';
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

/** What the tracker keeps per destination. */
export interface RouteSpec {
  dev: string;
  src: string;
}

export function routeSpecs(routes: readonly (DeviceRoute | PlannedRoute)[]): Map<string, RouteSpec> {
  return new Map(routes.map((r) => [r.dst, { dev: r.dev, src: r.src }]));
}

/** The tracker's diff as `ip -batch` lines: removals first, then the routes to (re)place. */
export function routeLines(diff: Diff<RouteSpec>, order: Iterable<string>): string[] {
  return [
    ...diff.delete.map((dst) => `route del ${dst} table main proto ${ROUTE_PROTO}`),
    ...upserts(diff, order).map(([dst, r]) => `route replace ${dst} dev ${r.dev} table main proto ${ROUTE_PROTO} scope link src ${r.src}`),
  ];
}
