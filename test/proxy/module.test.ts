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
