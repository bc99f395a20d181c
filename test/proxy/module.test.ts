// The module around the families: what it observes for kube-proxy's dashboards.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ProxyModule } from '../../modules/proxy/module.ts';
import { WatchCache } from '../../src/kube/cache.ts';
import { toEndpointSlice, toNode, toService } from '../../src/kube/convert.ts';
import { KINDS } from '../../src/kube/objects.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import { NodeView, emptyChanges, mergeChanges } from '../../src/view/view.ts';
import { FakeNft, noConntrack } from './fake-nft.ts';

const warn = () => {};

function slice(ip: string, trigger?: Date) {
  return toEndpointSlice(
    {
      metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' }, ...(trigger ? { annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': trigger.toISOString() } } : {}) },
      addressType: 'IPv4',
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints: [{ addresses: [ip], conditions: { ready: true } }],
    },
    warn,
  );
}

function programming(reg: Registry): { count: number; sum: number } {
  const text = reg.render();
  const num = (name: string) => Number(new RegExp(`^kubeproxy_network_programming_duration_seconds_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { count: num('count'), sum: num('sum') };
}

describe('proxy module', () => {
  it('network programming latency starts at the EndpointSlice trigger time, else when the view changed', async () => {
    const cache = new WatchCache(KINDS);
    const view = new NodeView(cache, 'n1');
    for (const k of KINDS) cache.replace(k, new Map());
    cache.put('nodes', 'n1', toNode({ metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.2' }] } }, warn));
    cache.put('services', 'default/web', toService({ metadata: { name: 'web', namespace: 'default' }, spec: { clusterIPs: ['198.19.0.10'], ports: [{ name: 'http', port: 80 }] } }, warn));
    view.flush();
    const reg = new Registry();
    const mod = new ProxyModule({ config: {}, nodeName: 'n1', log: pino({ level: 'silent' }), registry: reg }, { nft: new FakeNft(), conntrack: noConntrack, healthChecks: false, localAddresses: () => [{ address: '198.18.0.2', internal: false }] });
    await mod.sync(view, emptyChanges(true));
    let pending: ViewChanges = emptyChanges();
    // What the runner does: fold each publish into the module's pending changes.
    view.subscribe((c) => mergeChanges(pending, c));
    const step = async (s: ReturnType<typeof slice>) => {
      cache.put('endpointslices', 'default/web-1', s);
      view.flush();
      const c = pending;
      pending = emptyChanges();
      await mod.sync(view, c);
    };
    // The pod changed 3 s before the slice reached us (on the API server's clock).
    await step(slice('198.19.2.1', new Date(Date.now() - 3000)));
    expect(programming(reg).count).toBe(1);
    expect(programming(reg).sum).toBeGreaterThanOrEqual(3);
    expect(programming(reg).sum).toBeLessThan(10);
    // No annotation: from the view change, a few milliseconds.
    await step(slice('198.19.2.2'));
    expect(programming(reg).count).toBe(2);
    expect(programming(reg).sum).toBeLessThan(10);
  });
});

describe('proxy health (kube-proxy rules)', () => {
  class StallingNft extends FakeNft {
    stall: Promise<void> | undefined;
    release: (() => void) | undefined;
    hang(): void {
      this.stall = new Promise((r) => (this.release = r));
    }
    override async apply(script: string): Promise<void> {
      if (this.stall) await this.stall;
      return super.apply(script);
    }
  }

  async function setup(timeoutMs: number) {
    const cache = new WatchCache(KINDS);
    const view = new NodeView(cache, 'n1');
    for (const k of KINDS) cache.replace(k, new Map());
    cache.put('nodes', 'n1', toNode({ metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.2' }] } }, warn));
    // An eTP=Local LoadBalancer with one local endpoint: its health-check node port answers 200.
    const hcPort = 40_000 + (process.pid % 10_000);
    cache.put('services', 'default/web', toService({ metadata: { name: 'web', namespace: 'default' }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: hcPort, clusterIPs: ['198.19.0.10'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] } }, warn));
    cache.put('endpointslices', 'default/web-1', toEndpointSlice({ metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }], endpoints: [{ addresses: ['198.19.1.5'], nodeName: 'n1', conditions: { ready: true } }] }, warn));
    view.flush();
    const nft = new StallingNft();
    const mod = new ProxyModule(
      { config: { nodePortAddresses: ['127.0.0.0/8', '0.0.0.0/0'] }, nodeName: 'n1', log: pino({ level: 'silent' }), registry: new Registry() },
      { nft, conntrack: noConntrack, healthTimeoutMs: timeoutMs, localAddresses: () => [{ address: '198.18.0.2', internal: false }] },
    );
    const hc = async () => {
      const r = await fetch(`http://127.0.0.1:${hcPort}/`);
      return { status: r.status, body: (await r.json()) as { serviceProxyHealthy: boolean } };
    };
    return { cache, view, nft, mod, hc };
  }

  it('one failed transaction keeps the health-check node port at 200; a change waiting past the timeout turns it 503', async () => {
    const { cache, view, nft, mod, hc } = await setup(300);
    try {
      await mod.sync(view, emptyChanges(true));
      expect((await hc()).status).toBe(200);
      // A change, so the sync has a transaction to fail (an unchanged table sends none).
      cache.put('endpointslices', 'default/web-1', toEndpointSlice({ metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }], endpoints: [{ addresses: ['198.19.1.7'], nodeName: 'n1', conditions: { ready: true } }] }, warn));
      view.flush();
      nft.failNext = true;
      await expect(mod.sync(view, { ...emptyChanges(), services: new Set(['default/web']) })).rejects.toThrow(/injected/);
      // kube-proxy: not unhealthy until a queued update is older than the timeout.
      expect((await hc()).status).toBe(200);
      expect(mod.health().healthy).toBe(true);
      await mod.sync(view, emptyChanges(true));
      // A sync that hangs: the queued change ages past the timeout.
      nft.hang();
      cache.put('endpointslices', 'default/web-1', toEndpointSlice({ metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }], endpoints: [{ addresses: ['198.19.1.6'], nodeName: 'n1', conditions: { ready: true } }] }, warn));
      view.flush();
      const hung = mod.sync(view, { ...emptyChanges(), services: new Set(['default/web']) });
      await new Promise((r) => setTimeout(r, 400));
      const h = await hc();
      expect(h.status).toBe(503);
      expect(h.body.serviceProxyHealthy).toBe(false);
      const own = mod.health();
      expect(own.healthy).toBe(false);
      expect(Object.keys(own.body).sort()).toEqual(['currentTime', 'lastUpdated', 'nodeEligible']);
      nft.release!();
      nft.stall = undefined;
      await hung;
      expect(mod.health().healthy).toBe(true);
      expect((await hc()).status).toBe(200);
    } finally {
      await mod.close();
    }
  });

  it('incremental syncs keep the health-check node ports right: an unrelated change leaves them, a Service gaining, changing or losing one is followed', async () => {
    const { cache, view, mod } = await setup(60_000);
    const port2 = 30_000 + (process.pid % 10_000);
    const other = (spec: Record<string, unknown>) => cache.put('services', 'default/other', toService({ metadata: { name: 'other', namespace: 'default' }, spec: { clusterIPs: ['198.19.0.11'], ports: [{ name: 'http', port: 80 }], ...spec } }, warn));
    const sync = async (key: string) => (view.flush(), mod.sync(view, { ...emptyChanges(), services: new Set([key]) }));
    const get = async (port: number) => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/`);
        return { status: r.status, local: ((await r.json()) as { localEndpoints: number }).localEndpoints };
      } catch {
        return undefined;
      }
    };
    const localSlice = (ips: string[]) => toEndpointSlice({ metadata: { name: 'other-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'other' } }, addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }], endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: 'n1', conditions: { ready: true } })) }, warn);
    try {
      await mod.sync(view, emptyChanges(true));
      other({});
      await sync('default/other');
      expect(await get(port2)).toBeUndefined();
      // The Service turns Local with a health check port: served at once, from an incremental sync.
      other({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: port2, ports: [{ name: 'http', port: 80, nodePort: 30081 }] });
      cache.put('endpointslices', 'default/other-1', localSlice(['198.19.2.1']));
      await sync('default/other');
      expect(await get(port2)).toEqual({ status: 200, local: 1 });
      // Its local endpoints change: the count follows.
      cache.put('endpointslices', 'default/other-1', localSlice(['198.19.2.1', '198.19.2.2']));
      await sync('default/other');
      expect(await get(port2)).toEqual({ status: 200, local: 2 });
      // Back to Cluster: the port closes.
      other({ type: 'LoadBalancer', ports: [{ name: 'http', port: 80, nodePort: 30081 }] });
      await sync('default/other');
      expect(await get(port2)).toBeUndefined();
    } finally {
      await mod.close();
    }
  });

  it('a node being deleted or tainted ToBeDeletedByClusterAutoscaler: /healthz unhealthy (nodeEligible false), /livez not', async () => {
    const { cache, view, mod } = await setup(60_000);
    try {
      await mod.sync(view, emptyChanges(true));
      expect(mod.health()).toMatchObject({ healthy: true, live: true, body: { nodeEligible: true } });
      cache.put('nodes', 'n1', toNode({ metadata: { name: 'n1' }, spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.2' }] } }, warn));
      view.flush();
      expect(mod.health()).toMatchObject({ healthy: false, live: true, body: { nodeEligible: false } });
      cache.put('nodes', 'n1', toNode({ metadata: { name: 'n1', deletionTimestamp: '2026-01-01T00:00:00Z' }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.2' }] } }, warn));
      view.flush();
      expect(mod.health().healthy).toBe(false);
      cache.put('nodes', 'n1', toNode({ metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.2' }] } }, warn));
      view.flush();
      expect(mod.health().healthy).toBe(true);
    } finally {
      await mod.close();
    }
  });
});

describe('conntrack cleanup retries', () => {
  it('a failed cleanup is retried on a timer, without another change of its Service, against what serves now', async () => {
    const cache = new WatchCache(KINDS);
    const view = new NodeView(cache, 'n1');
    for (const k of KINDS) cache.replace(k, new Map());
    cache.put('nodes', 'n1', toNode({ metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.2' }] } }, warn));
    cache.put('services', 'default/dns', toService({ metadata: { name: 'dns', namespace: 'default' }, spec: { clusterIPs: ['198.19.0.53'], ports: [{ name: 'dns', protocol: 'UDP', port: 53 }] } }, warn));
    const udpSlice = (ip: string) =>
      toEndpointSlice({ metadata: { name: 'dns-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'dns' } }, addressType: 'IPv4', ports: [{ name: 'dns', protocol: 'UDP', port: 5353 }], endpoints: [{ addresses: [ip], conditions: { ready: true } }] }, warn);
    cache.put('endpointslices', 'default/dns-1', udpSlice('198.19.2.1'));
    view.flush();
    let failures = 1;
    const deleted: string[] = [];
    const ct = {
      list: async (family: 4 | 6) => {
        if (family === 4 && failures-- > 0) throw new Error('conntrack -L: injected');
        return family === 4 ? [{ proto: 'udp', origDst: '198.19.0.53', origDport: 53, replySrc: '198.19.2.1' }] : [];
      },
      delete: async (_f: 4 | 6, e: { replySrc: string }) => (deleted.push(e.replySrc), 1),
    };
    const reg = new Registry();
    const mod = new ProxyModule(
      { config: {}, nodeName: 'n1', log: pino({ level: 'silent' }), registry: reg },
      { nft: new FakeNft(), conntrack: ct, healthChecks: false, conntrackRetryMs: 30, localAddresses: () => [{ address: '198.18.0.2', internal: false }] },
    );
    try {
      failures = 0;
      await mod.sync(view, emptyChanges(true));
      // The endpoint is replaced: flows to the old one are stale, but listing them fails once.
      cache.put('endpointslices', 'default/dns-1', udpSlice('198.19.2.2'));
      view.flush();
      failures = 1;
      await mod.sync(view, { ...emptyChanges(), services: new Set(['default/dns']) });
      expect(deleted).toEqual([]);
      expect(reg.render()).toMatch(/nodeway_proxy_conntrack_failures_total\{ip_family="IPv4"\} 1/);
      await new Promise((r) => setTimeout(r, 100));
      expect(deleted).toEqual(['198.19.2.1']);
    } finally {
      await mod.close();
    }
  });
});
