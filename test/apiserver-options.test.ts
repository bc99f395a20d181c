// The embedded API server's knobs for harnesses: an older cluster (a kind not served), lists
// served unpaged, injected faults, and the count of requests and connections it served.
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedApiServer } from '../testbed/apiserver/index.ts';

const servers: EmbeddedApiServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

async function start(opts: ConstructorParameters<typeof EmbeddedApiServer>[0]) {
  const api = new EmbeddedApiServer(opts);
  servers.push(api);
  await api.start();
  return api;
}

describe('EmbeddedApiServer options', () => {
  it('omitResources: answered as a real server without the API (404 page not found, text/plain)', async () => {
    const api = await start({ omitResources: ['servicecidrs'] });
    for (const q of ['', '?watch=true']) {
      const res = await fetch(`${api.url}/apis/networking.k8s.io/v1/servicecidrs${q}`);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toBe('404 page not found\n');
    }
    // Nor is the default ServiceCIDR created behind it.
    expect(api.list('networking.k8s.io/v1', 'servicecidrs').items).toEqual([]);
    expect(api.requests.snapshot().byRequest).toEqual({ 'list servicecidrs': 1, 'watch servicecidrs': 1 });
  });

  it('unpagedLists: limit is ignored, no continue token', async () => {
    const api = await start({ unpagedLists: true });
    for (const n of ['a', 'b', 'c']) api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: n, namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
    const list = (await (await fetch(`${api.url}/api/v1/services?limit=1`)).json()) as { items: unknown[]; metadata: { continue?: string } };
    expect(list.items).toHaveLength(3);
    expect(list.metadata.continue).toBeUndefined();
  });

  it('injectFaults: a status with Retry-After, a reset, then back to normal; connections counted', async () => {
    const api = await start({});
    api.injectFaults((r) => (r.verb === 'list' ? { status: 429, retryAfterSeconds: 3 } : undefined));
    const res = await fetch(`${api.url}/api/v1/pods`);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    api.injectFaults(() => ({ reset: true }));
    await expect(fetch(`${api.url}/api/v1/pods`)).rejects.toThrow();
    api.injectFaults(undefined);
    expect((await fetch(`${api.url}/api/v1/pods`)).status).toBe(200);
    const s = api.requests.snapshot();
    expect(s.byRequest['list pods']).toBe(3);
    expect(s.connections).toBeGreaterThanOrEqual(2);
  });
});
