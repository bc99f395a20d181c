// WatchCache + NodeView: publication after every kind is listed, then exactly the keys whose
// meaning changed (kube-proxy §1.11: do not program before synced; topology label change →
// recompute every service).
import { beforeEach, describe, expect, it } from 'vitest';
import { WatchCache } from '../../src/kube/cache.ts';
import type { ClusterNetworkPolicy, EndpointSlice, Kind, Kinds, Namespace, NetworkPolicy, Node, Pod, Service, ServiceCIDR } from '../../src/kube/objects.ts';
import { endpointKey } from '../../src/view/categorize.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import { emptyChanges, mergeChanges, NodeView } from '../../src/view/view.ts';
import { namespace, node, pod, rawEp, SELF, SERVING_TERMINATING, slice, svc, zoneHints } from './fixtures.ts';

const keyOf = {
  services: (s: Service) => `${s.namespace}/${s.name}`,
  endpointslices: (s: EndpointSlice) => `${s.namespace}/${s.name}`,
  nodes: (n: Node) => n.name,
  pods: (p: Pod) => `${p.namespace}/${p.name}`,
  namespaces: (n: { name: string }) => n.name,
  servicecidrs: (c: ServiceCIDR) => c.name,
  networkpolicies: (p: NetworkPolicy) => `${p.namespace}/${p.name}`,
  clusternetworkpolicies: (p: ClusterNetworkPolicy) => p.name,
};

function items<K extends Kind>(kind: K, list: Kinds[K][]): Map<string, Kinds[K]> {
  return new Map(list.map((o) => [(keyOf[kind] as (o: Kinds[K]) => string)(o), o]));
}

interface World {
  services: Service[];
  endpointslices: EndpointSlice[];
  nodes: Node[];
  pods: Pod[];
  namespaces: Namespace[];
  servicecidrs: ServiceCIDR[];
}

function world(): World {
  return {
    services: [svc('web'), svc('api', { clusterIPs: ['10.96.0.11'] }), svc('zoned', { clusterIPs: ['10.96.0.12'] })],
    endpointslices: [
      slice('web-aaaaa', [rawEp('10.0.0.1', { nodeName: SELF, hostname: 'w1' }), rawEp('10.0.0.2', { zone: 'zone-b' })]),
      slice('api-aaaaa', [rawEp('10.0.1.1')], { service: 'api' }),
      slice('zoned-aaaaa', [
        rawEp('10.0.2.1', { hints: zoneHints('zone-a') }),
        rawEp('10.0.2.2', { hints: zoneHints('zone-b') }),
      ], { service: 'zoned' }),
    ],
    nodes: [node(SELF, { zone: 'zone-a', internalIP: '192.168.0.1' }), node('node-b', { zone: 'zone-b', internalIP: '192.168.0.2', podCIDR: '10.244.1.0/24' })],
    pods: [pod('p1', { ips: ['10.0.0.1'] }), pod('p2', { node: 'node-b', ips: ['10.0.0.2'] })],
    namespaces: [namespace('default'), namespace('kube-system')],
    servicecidrs: [{ name: 'kubernetes', cidrs: ['10.96.0.0/16', 'fd00:96::/112'] }],
  };
}

/** The kinds the Service view needs; policy kinds are tested in view-policy.test.ts. */
const SERVICE_KINDS: Kind[] = ['services', 'endpointslices', 'nodes', 'pods', 'namespaces', 'servicecidrs'];

class Harness {
  readonly cache = new WatchCache(SERVICE_KINDS);
  readonly view = new NodeView(this.cache, SELF);
  readonly published: ViewChanges[] = [];
  constructor() {
    this.view.subscribe((c) => this.published.push(c));
  }
  listAll(w: World): void {
    for (const kind of ['services', 'endpointslices', 'nodes', 'pods', 'namespaces', 'servicecidrs'] as const) {
      this.cache.replace(kind, items(kind, w[kind] as never[]));
    }
  }
  /** Flush and return the one change set published, or null when nothing was. */
  flush(): ViewChanges | null {
    const before = this.published.length;
    this.view.flush();
    expect(this.published.length - before).toBeLessThanOrEqual(1);
    return this.published.length > before ? this.published.at(-1)! : null;
  }
}

function started(): Harness {
  const h = new Harness();
  h.listAll(world());
  const first = h.flush();
  expect(first?.full).toBe(true);
  return h;
}

const serviceKeys = (c: ViewChanges | null) => [...(c?.services ?? [])].sort();
const clusterOf = (h: Harness, key: string) => h.view.services.get(key)!.ports[0]!.v4.cluster.map(endpointKey);

describe('start-up', () => {
  it('publishes nothing until every kind is listed, then exactly one full change set', () => {
    const h = new Harness();
    const w = world();
    for (const kind of ['services', 'endpointslices', 'nodes', 'pods', 'servicecidrs'] as const) {
      h.cache.replace(kind, items(kind, w[kind] as never[]));
      expect(h.flush()).toBeNull();
      expect(h.view.ready).toBe(false);
      expect(h.view.services.size).toBe(0);
    }
    h.cache.replace('namespaces', items('namespaces', w.namespaces));
    const first = h.flush();
    expect(first?.full).toBe(true);
    expect(first?.self).toBe(true);
    expect(h.view.ready).toBe(true);
    expect([...h.view.services.keys()].sort()).toEqual(['default/api', 'default/web', 'default/zoned']);
    expect([...h.view.peers.keys()].sort()).toEqual(['node-a', 'node-b']);
    expect(h.view.self).toMatchObject({ name: SELF, known: true, zone: 'zone-a', internalIPs: ['192.168.0.1'] });
    expect(h.view.generation).toBe(1);
    // Nothing changed since: a second flush publishes nothing.
    expect(h.flush()).toBeNull();
    expect(h.view.generation).toBe(1);
  });

  it('an empty cluster is still published once listed', () => {
    const h = new Harness();
    for (const kind of ['services', 'endpointslices', 'nodes', 'pods', 'namespaces', 'servicecidrs'] as const) h.cache.replace(kind, new Map());
    expect(h.flush()?.full).toBe(true);
    expect(h.view.self.known).toBe(false);
  });

  it('events that arrive before the last list are all in the first view', () => {
    const h = new Harness();
    const w = world();
    h.cache.replace('services', items('services', w.services));
    h.cache.replace('endpointslices', items('endpointslices', w.endpointslices));
    h.cache.put('endpointslices', 'default/web-bbbbb', slice('web-bbbbb', [rawEp('10.0.0.3')]));
    h.cache.delete('services', 'default/api');
    for (const kind of ['nodes', 'pods', 'namespaces', 'servicecidrs'] as const) h.cache.replace(kind, items(kind, w[kind] as never[]));
    h.flush();
    expect(h.view.services.has('default/api')).toBe(false);
    expect(clusterOf(h, 'default/web')).toEqual(['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
  });

  it('the topology of the first view uses this node\'s zone', () => {
    const h = started();
    expect(clusterOf(h, 'default/zoned')).toEqual(['10.0.2.1:8080']);
  });
});

describe('incremental changes', () => {
  let h: Harness;
  beforeEach(() => {
    h = started();
  });

  it('a slice update reports exactly its service', () => {
    h.cache.put('endpointslices', 'default/api-aaaaa', slice('api-aaaaa', [rawEp('10.0.1.1'), rawEp('10.0.1.2')], { service: 'api' }));
    const c = h.flush();
    expect(serviceKeys(c)).toEqual(['default/api']);
    expect(c?.full).toBe(false);
    expect(c?.self).toBe(false);
    expect(c?.peers.size).toBe(0);
    expect(clusterOf(h, 'default/api')).toEqual(['10.0.1.1:8080', '10.0.1.2:8080']);
    expect(h.view.generation).toBe(2);
  });

  it('a new slice for a service reports it; a slice for a service that does not exist reports nothing', () => {
    h.cache.put('endpointslices', 'default/web-bbbbb', slice('web-bbbbb', [rawEp('10.0.0.9')]));
    h.cache.put('endpointslices', 'default/ghost-aaaaa', slice('ghost-aaaaa', [rawEp('10.9.9.9')], { service: 'ghost' }));
    expect(serviceKeys(h.flush())).toEqual(['default/web']);
    expect(h.view.services.has('default/ghost')).toBe(false);
  });

  it('a no-op update (an equal slim object) reports nothing', () => {
    const w = world();
    h.cache.put('endpointslices', 'default/web-aaaaa', w.endpointslices[0]!);
    h.cache.put('services', 'default/web', w.services[0]!);
    h.cache.put('nodes', 'node-b', w.nodes[1]!);
    expect(h.flush()).toBeNull();
    expect(h.view.generation).toBe(1);
  });

  it('a change the ServiceView does not carry reports nothing: an endpoint\'s zone field (not its hints)', () => {
    const before = h.view.services.get('default/web');
    h.cache.put('endpointslices', 'default/web-aaaaa', slice('web-aaaaa', [rawEp('10.0.0.1', { nodeName: SELF, hostname: 'w1' }), rawEp('10.0.0.2', { zone: 'zone-c' })]));
    expect(h.flush()).toBeNull();
    expect(h.view.services.get('default/web')).toBe(before);
  });

  it('a change the ServiceView does not carry reports nothing: targetPort and trafficDistribution', () => {
    h.cache.put('services', 'default/web', svc('web', { ports: [{ name: 'http', port: 80, targetPort: 'other' }], trafficDistribution: 'PreferSameZone' }));
    expect(h.flush()).toBeNull();
  });

  it('a hostname change does matter (DNS) and is reported', () => {
    h.cache.put('endpointslices', 'default/web-aaaaa', slice('web-aaaaa', [rawEp('10.0.0.1', { nodeName: SELF, hostname: 'renamed' }), rawEp('10.0.0.2', { zone: 'zone-b' })]));
    expect(serviceKeys(h.flush())).toEqual(['default/web']);
  });

  it.each<[string, Parameters<typeof rawEp>[1], Parameters<typeof slice>[2]]>([
    ['ready', { cond: { ready: false } }, undefined],
    ['serving', { cond: { ready: false, serving: false } }, undefined],
    ['terminating', { cond: { terminating: true } }, undefined],
    ['nodeName', { nodeName: 'node-c' }, undefined],
    ['zone hints', { hints: zoneHints('zone-b') }, undefined],
    ['node hints', { hints: { forNodes: [{ name: 'node-b' }] } }, undefined],
    ['slice port', {}, { service: 'api', ports: [{ name: 'http', protocol: 'TCP', port: 8081 }] }],
  ])('an endpoint change the proxy sees is reported: %s', (_, ep, o) => {
    h.cache.put('endpointslices', 'default/api-aaaaa', slice('api-aaaaa', [rawEp('10.0.1.1', ep)], o ?? { service: 'api' }));
    expect(serviceKeys(h.flush())).toEqual(['default/api']);
  });

  // dnsEndpoints are computed on first read: a change must be seen whether or not anyone read them.
  it.each([['never read', false], ['read before', true]])('DNS-only changes are reported, and DNS-neutral ones are not (dnsEndpoints %s)', (_, read) => {
    const dns = () => h.view.services.get('default/web')!.dnsEndpoints;
    const put = (eps: ReturnType<typeof rawEp>[], o?: Parameters<typeof slice>[2]) => {
      if (read) dns();
      h.cache.put('endpointslices', 'default/web-aaaaa', slice('web-aaaaa', eps, o));
      return h.flush();
    };
    const w1 = rawEp('10.0.0.1', { nodeName: SELF, hostname: 'w1' });
    const w2 = rawEp('10.0.0.2', { zone: 'zone-b' });
    // The same endpoints in another order within the slice: the proxy and DNS see the same.
    expect(put([w2, w1])).toBeNull();
    expect(serviceKeys(put([w1, { ...w2, hostname: 'w2' }]))).toEqual(['default/web']);
    expect(dns().map((d) => d.hostname)).toEqual(['w1', 'w2']);
    // A slice no port joins (another port name): only DNS lists its endpoints, with their ports.
    expect(serviceKeys(put([w1, w2], { ports: [{ name: 'metrics', protocol: 'TCP', port: 9100 }] }))).toEqual(['default/web']);
    expect(h.view.services.get('default/web')!.ports[0]!.v4.all).toEqual([]);
    expect(dns().map((d) => d.ports.map((p) => p.name))).toEqual([['metrics'], ['metrics']]);
    expect(serviceKeys(put([w1, rawEp('10.0.0.2', { cond: SERVING_TERMINATING })], { ports: [{ name: 'metrics', protocol: 'TCP', port: 9100 }] }))).toEqual(['default/web']);
    expect(dns().map((d) => d.ip)).toEqual(['10.0.0.1']);
  });

  it('a slice another proxy owns is still in DNS: its changes are reported though the proxy view is the same', () => {
    const other = { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } };
    h.cache.put('endpointslices', 'default/web-zzzzz', slice('web-zzzzz', [rawEp('10.0.0.9')], other));
    expect(serviceKeys(h.flush())).toEqual(['default/web']);
    const web = h.view.services.get('default/web')!;
    expect(web.dnsEndpoints.map((d) => d.ip)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.9']);
    expect(clusterOf(h, 'default/web')).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
    h.cache.put('endpointslices', 'default/web-zzzzz', slice('web-zzzzz', [rawEp('10.0.0.9', { cond: { ready: false } })], other));
    expect(serviceKeys(h.flush())).toEqual(['default/web']);
    expect(h.view.services.get('default/web')!.dnsEndpoints.map((d) => d.ip)).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('an endpoint moving between two slices of one service within a burst reports nothing', () => {
    h.cache.put('endpointslices', 'default/web-aaaaa', slice('web-aaaaa', [rawEp('10.0.0.1', { nodeName: SELF, hostname: 'w1' })]));
    h.cache.put('endpointslices', 'default/web-bbbbb', slice('web-bbbbb', [rawEp('10.0.0.2', { zone: 'zone-b' })]));
    expect(h.flush()).toBeNull();
  });

  it('a condition change (ready → serving terminating) is reported', () => {
    h.cache.put('endpointslices', 'default/api-aaaaa', slice('api-aaaaa', [rawEp('10.0.1.1', { cond: SERVING_TERMINATING })], { service: 'api' }));
    expect(serviceKeys(h.flush())).toEqual(['default/api']);
    expect(h.view.services.get('default/api')!.ports[0]!.v4.cluster[0]!.terminating).toBe(true);
  });

  it('deleting a service removes it and reports it; deleting its slices afterwards reports nothing', () => {
    h.cache.delete('services', 'default/api');
    expect(serviceKeys(h.flush())).toEqual(['default/api']);
    expect(h.view.services.has('default/api')).toBe(false);
    h.cache.delete('endpointslices', 'default/api-aaaaa');
    expect(h.flush()).toBeNull();
  });

  it('deleting a slice empties the service and reports it', () => {
    h.cache.delete('endpointslices', 'default/api-aaaaa');
    expect(serviceKeys(h.flush())).toEqual(['default/api']);
    expect(h.view.services.get('default/api')!.ports[0]!.v4.hasAny).toBe(false);
  });

  it('a service re-created later picks up the slices already in the cache', () => {
    h.cache.delete('services', 'default/api');
    h.flush();
    h.cache.put('services', 'default/api', svc('api', { clusterIPs: ['10.96.0.11'] }));
    expect(serviceKeys(h.flush())).toEqual(['default/api']);
    expect(clusterOf(h, 'default/api')).toEqual(['10.0.1.1:8080']);
  });

  it('a slice relabelled to another service reports both services', () => {
    h.cache.put('endpointslices', 'default/api-aaaaa', slice('api-aaaaa', [rawEp('10.0.1.1')], { service: 'web' }));
    expect(serviceKeys(h.flush())).toEqual(['default/api', 'default/web']);
    expect(clusterOf(h, 'default/web')).toContain('10.0.1.1:8080');
    expect(h.view.services.get('default/api')!.ports[0]!.v4.all).toEqual([]);
  });

  it('a change of this node\'s zone label recomputes topology for every service; only changed ones are reported', () => {
    h.cache.put('nodes', SELF, node(SELF, { zone: 'zone-b', internalIP: '192.168.0.1' }));
    const c = h.flush();
    expect(c?.self).toBe(true);
    expect(h.view.self.zone).toBe('zone-b');
    expect(serviceKeys(c)).toEqual(['default/zoned']);
    expect(clusterOf(h, 'default/zoned')).toEqual(['10.0.2.2:8080']);
    expect([...c!.peers]).toEqual([SELF]);
  });

  it('losing the zone label turns topology off', () => {
    h.cache.put('nodes', SELF, node(SELF, { internalIP: '192.168.0.1' }));
    expect(serviceKeys(h.flush())).toEqual(['default/zoned']);
    expect(clusterOf(h, 'default/zoned')).toEqual(['10.0.2.1:8080', '10.0.2.2:8080']);
  });

  it('another node\'s zone change is a peer change only', () => {
    h.cache.put('nodes', 'node-b', node('node-b', { zone: 'zone-a', internalIP: '192.168.0.2', podCIDR: '10.244.1.0/24' }));
    const c = h.flush();
    expect(c?.self).toBe(false);
    expect(serviceKeys(c)).toEqual([]);
    expect([...c!.peers]).toEqual(['node-b']);
    expect(h.view.peers.get('node-b')!.zone).toBe('zone-a');
  });

  it('a node field the view does not carry (unschedulable) reports nothing', () => {
    h.cache.put('nodes', 'node-b', node('node-b', { zone: 'zone-b', internalIP: '192.168.0.2', podCIDR: '10.244.1.0/24', unschedulable: true }));
    expect(h.flush()).toBeNull();
  });

  it('peers appear and disappear with nodes', () => {
    h.cache.put('nodes', 'node-c', node('node-c', { internalIP: '192.168.0.3', podCIDR: '10.244.2.0/24' }));
    let c = h.flush();
    expect([...c!.peers]).toEqual(['node-c']);
    expect(h.view.peers.get('node-c')).toMatchObject({ name: 'node-c', self: false, internalIPs: ['192.168.0.3'], podCIDRs: ['10.244.2.0/24'] });
    expect(h.view.peers.get(SELF)!.self).toBe(true);
    h.cache.delete('nodes', 'node-c');
    c = h.flush();
    expect([...c!.peers]).toEqual(['node-c']);
    expect(h.view.peers.has('node-c')).toBe(false);
  });

  it('podsByIP follows pod IP changes and deletions', () => {
    expect(h.view.podsByIP.get('10.0.0.1')).toEqual([{ namespace: 'default', name: 'p1', nodeName: SELF, hostNetwork: false }]);
    h.cache.put('pods', 'default/p1', pod('p1', { ips: ['10.0.0.7', 'fd00::7'] }));
    let c = h.flush();
    expect([...c!.pods]).toEqual(['default/p1']);
    expect(h.view.podsByIP.has('10.0.0.1')).toBe(false);
    expect(h.view.podsByIP.get('10.0.0.7')?.map((p) => p.name)).toEqual(['p1']);
    expect(h.view.podsByIP.get('fd00::7')?.map((p) => p.name)).toEqual(['p1']);
    h.cache.delete('pods', 'default/p1');
    c = h.flush();
    expect([...c!.pods]).toEqual(['default/p1']);
    expect(h.view.podsByIP.has('10.0.0.7')).toBe(false);
    expect(h.view.podsByIP.has('fd00::7')).toBe(false);
  });

  it('namespaces and podsByIP change at the publish that reports them, not before', () => {
    h.cache.put('pods', 'default/p1', pod('p1', { ips: ['10.0.0.8'] }));
    h.cache.put('namespaces', 'extra', namespace('extra'));
    h.cache.delete('namespaces', 'kube-system');
    expect(h.view.podsByIP.has('10.0.0.1')).toBe(true);
    expect(h.view.podsByIP.has('10.0.0.8')).toBe(false);
    expect([...h.view.namespaces].sort()).toEqual(['default', 'kube-system']);
    const c = h.flush();
    expect([...c!.pods]).toEqual(['default/p1']);
    expect([...c!.namespaces].sort()).toEqual(['extra', 'kube-system']);
    expect(h.view.podsByIP.has('10.0.0.1')).toBe(false);
    expect(h.view.podsByIP.get('10.0.0.8')?.map((p) => p.name)).toEqual(['p1']);
    expect([...h.view.namespaces].sort()).toEqual(['default', 'extra']);
  });

  it('each changed Service carries when it reached the view; the first time is kept while it is pending', () => {
    h.cache.put('services', 'default/web', { ...h.cache.get('services', 'default/web')!, clusterIPs: ['10.96.0.99'] });
    const c = h.flush()!;
    const t = c.servicesAt.get('default/web')!;
    expect(t).toBeGreaterThan(0);
    expect(t).toBeLessThanOrEqual(performance.now());
    const pending = emptyChanges();
    mergeChanges(pending, c);
    mergeChanges(pending, { ...emptyChanges(), services: new Set(['default/web']), servicesAt: new Map([['default/web', t + 5]]) });
    expect(pending.servicesAt.get('default/web')).toBe(t);
  });

  it('host-network pods share the node IP; removing one keeps the others', () => {
    h.cache.put('pods', 'kube-system/h1', pod('h1', { ns: 'kube-system', ips: ['192.168.0.1'], hostNetwork: true }));
    h.cache.put('pods', 'kube-system/h2', pod('h2', { ns: 'kube-system', ips: ['192.168.0.1'], hostNetwork: true }));
    h.flush();
    expect(h.view.podsByIP.get('192.168.0.1')?.map((p) => p.name).sort()).toEqual(['h1', 'h2']);
    h.cache.delete('pods', 'kube-system/h1');
    h.flush();
    expect(h.view.podsByIP.get('192.168.0.1')?.map((p) => p.name)).toEqual(['h2']);
  });

  it('namespaces are tracked', () => {
    h.cache.put('namespaces', 'team-a', namespace('team-a'));
    h.cache.delete('namespaces', 'kube-system');
    const c = h.flush();
    expect([...c!.namespaces].sort()).toEqual(['kube-system', 'team-a']);
    expect([...h.view.namespaces].sort()).toEqual(['default', 'team-a']);
  });

  it('ServiceCIDRs: the union of every object, each range once, IPv4 first; a change is reported as such', () => {
    expect(h.view.serviceCIDRs).toEqual(['10.96.0.0/16', 'fd00:96::/112']);
    h.cache.put('servicecidrs', 'extra', { name: 'extra', cidrs: ['fd00:97::/112', '10.97.0.0/16'] });
    h.cache.put('servicecidrs', 'again', { name: 'again', cidrs: ['10.96.0.0/16'] });
    const c = h.flush();
    expect(c?.serviceCIDRs).toBe(true);
    expect(serviceKeys(c)).toEqual([]);
    expect(h.view.serviceCIDRs).toEqual(['10.96.0.0/16', '10.97.0.0/16', 'fd00:96::/112', 'fd00:97::/112']);
    // A range another object still holds stays: nothing to report.
    h.cache.delete('servicecidrs', 'again');
    expect(h.flush()).toBeNull();
    h.cache.delete('servicecidrs', 'kubernetes');
    expect(h.flush()?.serviceCIDRs).toBe(true);
    expect(h.view.serviceCIDRs).toEqual(['10.97.0.0/16', 'fd00:97::/112']);
  });

  it('several changes in one burst are one change set', () => {
    h.cache.put('endpointslices', 'default/api-aaaaa', slice('api-aaaaa', [rawEp('10.0.1.5')], { service: 'api' }));
    h.cache.put('services', 'default/web', svc('web', { itp: 'Local' }));
    h.cache.put('pods', 'default/p3', pod('p3', { ips: ['10.0.0.3'] }));
    const c = h.flush();
    expect(serviceKeys(c)).toEqual(['default/api', 'default/web']);
    expect([...c!.pods]).toEqual(['default/p3']);
    expect(h.published).toHaveLength(2);
  });
});

describe('relist', () => {
  it('a relist that drops objects deletes them; unchanged objects are not reported', () => {
    const h = started();
    const w = world();
    // The relist lost the api service and its slice, and node-b; web's slice changed.
    w.services = w.services.filter((s) => s.name !== 'api');
    w.endpointslices = w.endpointslices.filter((s) => s.serviceName !== 'api');
    w.endpointslices[0] = slice('web-aaaaa', [rawEp('10.0.0.1', { nodeName: SELF, hostname: 'w1' })]);
    w.nodes = w.nodes.filter((n) => n.name !== 'node-b');
    w.pods = w.pods.filter((p) => p.name !== 'p2');
    h.listAll(w);
    const c = h.flush();
    expect(c?.full).toBe(false);
    expect(serviceKeys(c)).toEqual(['default/api', 'default/web']);
    expect([...c!.peers]).toEqual(['node-b']);
    expect([...c!.pods]).toEqual(['default/p2']);
    expect(c!.namespaces.size).toBe(0);
    expect(c!.self).toBe(false);
    expect(h.view.services.has('default/api')).toBe(false);
    expect(h.view.peers.has('node-b')).toBe(false);
    expect(h.view.podsByIP.has('10.0.0.2')).toBe(false);
    expect(clusterOf(h, 'default/web')).toEqual(['10.0.0.1:8080']);
  });

  it('an identical relist (fresh objects, same content) reports nothing', () => {
    const h = started();
    h.listAll(world());
    expect(h.flush()).toBeNull();
  });
});
