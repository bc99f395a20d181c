// The watch cache's slice index: a Service's slices found by key through adds, relabels and deletes.
import { describe, expect, it } from 'vitest';
import { WatchCache } from '../../src/kube/cache.ts';
import { SliceEndpoint, toEndpointSlice, toService } from '../../src/kube/convert.ts';
import { NONE } from '../../src/kube/objects.ts';

function slice(name: string, service: string, endpoint: Record<string, unknown> = {}) {
  return toEndpointSlice({
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }], endpoints: [{ addresses: ['10.0.0.1'], ...endpoint }],
  }, () => {});
}

const names = (c: WatchCache, svc: string) => c.slicesOf(`default/${svc}`).map((s) => s.name).sort();

describe('slicesOf', () => {
  it('follows slices as they are added, relabelled and deleted', () => {
    const c = new WatchCache();
    expect(names(c, 'web')).toEqual([]);
    c.put('endpointslices', 'default/web-a', slice('web-a', 'web'));
    expect(names(c, 'web')).toEqual(['web-a']);
    c.put('endpointslices', 'default/web-b', slice('web-b', 'web'));
    c.put('endpointslices', 'default/web-c', slice('web-c', 'web'));
    expect(names(c, 'web')).toEqual(['web-a', 'web-b', 'web-c']);
    c.put('endpointslices', 'default/web-b', slice('web-b', 'api'));
    expect(names(c, 'web')).toEqual(['web-a', 'web-c']);
    expect(names(c, 'api')).toEqual(['web-b']);
    c.delete('endpointslices', 'default/web-a');
    expect(names(c, 'web')).toEqual(['web-c']);
    c.put('endpointslices', 'default/web-a', slice('web-a', 'web'));
    expect(names(c, 'web')).toEqual(['web-a', 'web-c']);
    c.delete('endpointslices', 'default/web-c');
    c.delete('endpointslices', 'default/web-a');
    expect(names(c, 'web')).toEqual([]);
    c.delete('endpointslices', 'default/web-b');
    expect(names(c, 'api')).toEqual([]);
  });

  it('an update that keeps the service keeps the slice listed once', () => {
    const c = new WatchCache();
    c.put('endpointslices', 'default/web-a', slice('web-a', 'web'));
    const next = slice('web-a', 'web');
    next.endpoints = [...next.endpoints, { ...next.endpoints[0]!, ready: true, serving: true, terminating: false, zoneHints: null, nodeHints: null, ip: '10.0.0.2' }];
    c.put('endpointslices', 'default/web-a', next);
    expect(c.slicesOf('default/web')).toEqual([next]);
  });
});

describe('slice endpoints (conditions and hints packed)', () => {
  it.each<[string, Record<string, unknown>]>([
    ['ready', { conditions: { ready: false } }],
    ['serving', { conditions: { serving: false } }],
    ['terminating', { conditions: { terminating: true } }],
    ['zone hints', { hints: { forZones: [{ name: 'z1' }] } }],
    ['node hints', { hints: { forNodes: [{ name: 'n1' }] } }],
    ['empty hints', { hints: { forZones: [] } }],
    ['hostname', { hostname: 'h' }],
    ['zone', { zone: 'z1' }],
  ])('a change of %s is a cache change; the same slice again is not', (_, change) => {
    const c = new WatchCache();
    const seen: string[] = [];
    c.onChange((ch) => seen.push(ch.key));
    c.put('endpointslices', 'default/web-a', slice('web-a', 'web'));
    c.put('endpointslices', 'default/web-a', slice('web-a', 'web'));
    expect(seen).toHaveLength(1);
    c.put('endpointslices', 'default/web-a', slice('web-a', 'web', change));
    expect(seen).toHaveLength(2);
  });

  it('endpoints alike but for their IP share one frozen traits object; any difference gets its own', () => {
    const ep = (o: Record<string, unknown>) => slice('web-a', 'web', o).endpoints[0] as SliceEndpoint;
    const base = { nodeName: 'n1', zone: 'z1' };
    expect(ep(base).traits).toBe(ep(base).traits);
    expect(Object.isFrozen(ep(base).traits)).toBe(true);
    for (const other of [{ nodeName: 'n2' }, { zone: 'z2' }, { conditions: { ready: false } }, { hints: { forZones: [{ name: 'z1' }] } }]) {
      expect(ep({ ...base, ...other }).traits).not.toBe(ep(base).traits);
    }
    const hinted = { ...base, hints: { forZones: [{ name: 'z1' }], forNodes: [{ name: 'n1' }] } };
    expect(ep(hinted).traits).toBe(ep(hinted).traits);
    expect(ep({ ...hinted, hints: { forZones: [{ name: 'z1' }, { name: 'z2' }] } }).traits).not.toBe(ep(hinted).traits);
    // A hostname is one endpoint's own.
    expect(ep({ ...base, hostname: 'h' }).traits).not.toBe(ep({ ...base, hostname: 'h' }).traits);
    // Names holding separators never meet another combination's traits.
    const odd = ep({ nodeName: 'a","b', zone: 'c', hints: { forZones: [] } });
    expect([odd.nodeName, odd.zone]).toEqual(['a","b', 'c']);
    expect(ep({ nodeName: 'a', zone: 'b","c', hints: { forZones: [] } }).nodeName).toBe('a');
  });

  it('reads back what was converted', () => {
    const e = slice('web-a', 'web', { conditions: { ready: false, serving: true, terminating: true }, hints: { forNodes: [{ name: 'n1' }] }, nodeName: 'n1', hostname: 'h', zone: 'z' }).endpoints[0]!;
    expect({ ip: e.ip, ready: e.ready, serving: e.serving, terminating: e.terminating, nodeName: e.nodeName, hostname: e.hostname, zone: e.zone, zoneHints: e.zoneHints, nodeHints: e.nodeHints })
      .toEqual({ ip: '10.0.0.1', ready: false, serving: true, terminating: true, nodeName: 'n1', hostname: 'h', zone: 'z', zoneHints: null, nodeHints: ['n1'] });
  });
});

describe('converted lists', () => {
  it('empty lists are the shared frozen NONE, others are plain arrays', () => {
    const s = slice('web-a', 'web');
    expect(s.endpoints).toHaveLength(1);
    expect(Object.isFrozen(s.endpoints)).toBe(false);
    const empty = toEndpointSlice({ metadata: { name: 'e', namespace: 'default' }, addressType: 'IPv4' }, () => {});
    expect(empty.endpoints).toBe(NONE);
    expect(empty.ports).toBe(NONE);
    expect(() => empty.endpoints.push(s.endpoints[0]!)).toThrow(TypeError);
  });

  it('equal port lists are one shared frozen list; a different one is its own', () => {
    const service = (name: string, port: number) => toService({ metadata: { name, namespace: 'default' }, spec: { ports: [{ name: 'http', port, targetPort: 8080 }] } }, () => {});
    const a = service('a', 80), b = service('b', 80), c = service('c', 81);
    expect(a.ports).toBe(b.ports);
    expect(c.ports).not.toBe(a.ports);
    expect(c.ports).toEqual([{ name: 'http', protocol: 'TCP', port: 81, nodePort: 0, targetPort: 8080 }]);
    expect(() => a.ports[0]!.port = 1).toThrow(TypeError);
    expect(slice('web-a', 'web').ports).toBe(slice('web-b', 'web').ports);
  });
});
