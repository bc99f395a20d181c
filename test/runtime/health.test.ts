// What /healthz, /livez and /readyz answer, with and without a module's own rule.
import { describe, expect, it } from 'vitest';
import { healthAnswer, type HealthSource } from '../../src/runtime/health.ts';
import type { OwnHealth } from '../../src/runtime/module.ts';
import type { ModuleHealth } from '../../src/runtime/runner.ts';

const NOW = 1_800_000_000_000;
const mod = (name: string, o: Partial<ModuleHealth> = {}): ModuleHealth => ({ name, synced: true, lastSuccess: NOW - 1000, lastError: '', failures: 0, pendingSince: 0, missing: [], ...o });
const proxyOwn = (healthy: boolean, eligible = true): OwnHealth => ({ healthy: healthy && eligible, live: healthy, body: { lastUpdated: 'x', currentTime: 'y', nodeEligible: eligible } });

function source(modules: ModuleHealth[], own: Record<string, OwnHealth> = {}): HealthSource {
  return { cacheReady: () => true, modules: () => modules, ownHealth: (n) => own[n] };
}

describe('health endpoints', () => {
  it('a failing dns or mesh never fails the proxy\'s /healthz; it shows on /readyz and its own endpoints', () => {
    const dnsFailing = mod('dns', { failures: 4, lastError: 'bind: address in use', pendingSince: NOW - 300_000 });
    const src = source([mod('proxy'), dnsFailing, mod('mesh')], { proxy: proxyOwn(true) });
    const at = (p: string) => healthAnswer(p, src, 120_000, NOW);
    expect(at('/healthz')).toEqual({ code: 200, body: { lastUpdated: 'x', currentTime: 'y', nodeEligible: true } });
    expect(at('/livez')!.code).toBe(200);
    expect(at('/readyz')!.code).toBe(503);
    expect(at('/readyz/dns')!.code).toBe(503);
    expect(at('/healthz/dns')!.code).toBe(503);
    expect(at('/readyz/proxy')!.code).toBe(200);
    expect(at('/healthz/proxy')!.code).toBe(200);
    expect(at('/readyz/mesh')!.code).toBe(200);
    expect(at('/healthz/nope')).toBeNull();
    expect(at('/healthzz')).toBeNull();
  });

  it('the proxy\'s own rule: its /healthz and /livez follow it; a leaving node fails /healthz only', () => {
    const src = source([mod('proxy')], { proxy: proxyOwn(true, false) });
    expect(healthAnswer('/healthz', src, 120_000, NOW)!.code).toBe(503);
    expect(healthAnswer('/livez', src, 120_000, NOW)!.code).toBe(200);
    expect(healthAnswer('/readyz', src, 120_000, NOW)!.code).toBe(200);
    const late = source([mod('proxy')], { proxy: proxyOwn(false) });
    expect(healthAnswer('/healthz', late, 120_000, NOW)!.code).toBe(503);
    expect(healthAnswer('/readyz', late, 120_000, NOW)!.code).toBe(503);
  });

  it('without the proxy: /healthz is every module\'s "no change owed too long"; one failure is not unhealthy, only not ready', () => {
    const once = source([mod('dns', { failures: 1, pendingSince: NOW - 2000 })]);
    expect(healthAnswer('/healthz', once, 120_000, NOW)!.code).toBe(200);
    expect(healthAnswer('/readyz', once, 120_000, NOW)!.code).toBe(503);
    const stuck = source([mod('dns', { pendingSince: NOW - 130_000 })]);
    expect(healthAnswer('/healthz', stuck, 120_000, NOW)!.code).toBe(503);
  });
});
