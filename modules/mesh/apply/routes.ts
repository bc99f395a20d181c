// The mesh's routes in the main table (their own protocol number): one tracked entry per
// destination. A full or device sync reads them back first; a partial one diffs against what
// the last one left.
import { isEmpty, Tracker } from '../../../src/reconcile/tracker.ts';
import { run } from '../../../src/sys/exec.ts';
import { ipv6Off } from '../../../src/sys/ipv6.ts';
import type { PlannedRoute } from '../plan.ts';
import { type DeviceRoute, parseRoutes, ROUTE_PROTO, routeLines, routeSpecs, type RouteSpec } from '../routes.ts';
import type { Compare } from '../desired.ts';

export class RoutesApplier {
  private readonly applied = new Tracker<RouteSpec>();
  private known = false;
  private hadV6 = false;

  /** The routes as the kernel has them now. */
  async read(full: boolean, wantV6: boolean): Promise<void> {
    const current = parseRoutes(await run('ip', ['-j', '-4', 'route', 'show', 'table', 'main', 'proto', String(ROUTE_PROTO)]));
    // With IPv6 off there is no IPv6 routing table to read (ipv6.disable=1 refuses the request).
    if ((full || wantV6 || this.hadV6) && !ipv6Off()) {
      current.push(...parseRoutes(await run('ip', ['-j', '-6', 'route', 'show', 'table', 'main', 'proto', String(ROUTE_PROTO)])));
    }
    this.observe(current);
  }

  observe(routes: readonly DeviceRoute[]): void {
    this.applied.reset(routeSpecs(routes));
    this.known = true;
  }

  /** `ip -batch` lines turning what is live into `routes`; nothing is recorded. */
  changes(routes: readonly PlannedRoute[]): { diff: ReturnType<Tracker<RouteSpec>['diff']>; lines: string[] } {
    const want = routeSpecs(routes);
    const diff = this.applied.diff(want);
    return { diff, lines: routeLines(diff, want.keys()) };
  }

  /** Returns how many lines it ran. */
  async apply(routes: readonly PlannedRoute[], compare: Compare): Promise<number> {
    const wantV6 = routes.some((r) => r.family === 6);
    // 'peers': the host is watched (src/sys/ip-monitor.ts); what was applied stands.
    if (compare === 'full' || compare === 'device' || !this.known) await this.read(compare === 'full', wantV6);
    this.hadV6 = wantV6;
    const { diff, lines } = this.changes(routes);
    if (lines.length) {
      try {
        await run('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n` });
      } catch (err) {
        this.forget();
        throw err;
      }
    }
    this.applied.done(diff);
    return lines.length;
  }

  forget(): void {
    this.known = false;
  }

  /** Whether the route to `dst` is live as `spec` (undefined: none); undefined when not known (host-events.ts). */
  held(): ((dst: string, spec: RouteSpec | undefined) => boolean) | undefined {
    if (!this.known) return undefined;
    return (dst, spec) => (spec ? isEmpty(this.applied.diffKeys(new Map([[dst, spec]]), [dst])) : !this.applied.has(dst));
  }
}
