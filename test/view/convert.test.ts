// Convert-on-ingest must survive anything JSON can hold: a value it cannot understand is
// dropped with a warning, an object without identity is rejected with InvalidObject, and
// nothing else is ever thrown.
import { describe, expect, it } from 'vitest';
import { converters, InvalidObject, rawKey, toEndpointSlice, toNode, toPod, toService, toServiceCIDR } from '../../src/kube/convert.ts';
import { equal } from '../../src/kube/equal.ts';
import { KINDS as ALL_KINDS, type Kind, type PolicyRule } from '../../src/kube/objects.ts';
import { canonicalIP, parseCIDR } from '../../src/net/ip.ts';
import { type Raw, rawEp, rawClusterNetworkPolicy, rawNamespace, rawNetworkPolicy, rawNode, rawPod, rawService, rawServiceCIDR, rawSlice, warnings } from './fixtures.ts';
import { seededRandom as mulberry32 } from '../support/rng.ts';

const MiB = 'x'.repeat(1 << 20);
const KINDS: readonly Kind[] = ALL_KINDS;

/** Runs a converter; returns the value, or 'invalid' for InvalidObject; anything else fails the test. */
function attempt(kind: Kind, raw: unknown, warn: (m: string) => void = () => {}): unknown {
  try {
    return converters[kind](raw as Raw, warn);
  } catch (err) {
    if (err instanceof InvalidObject) return 'invalid';
    throw new Error(`${kind} converter threw ${String(err)} (not InvalidObject)`, { cause: err });
  }
}

const templates: Record<Kind, () => Raw> = {
  services: () =>
    rawService('web', {
      type: 'LoadBalancer',
      clusterIPs: ['10.96.0.10', 'fd00:96::10'],
      ports: [{ name: 'http', port: 80, targetPort: 'web', nodePort: 30080 }, { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 }],
      externalIPs: ['203.0.113.7'],
      etp: 'Local',
      itp: 'Local',
      ingress: [{ ip: '198.51.100.1' }, { ip: '198.51.100.2', ipMode: 'Proxy' }, { hostname: 'lb.example.com' }],
      sourceRanges: ['10.0.0.0/8'],
      affinity: 'ClientIP',
      affinityTimeout: 60,
      healthCheckNodePort: 32000,
      labels: { app: 'web' },
    }),
  endpointslices: () =>
    rawSlice('web-abcde', [
      rawEp('10.0.0.1', { nodeName: 'node-a', zone: 'zone-a', hostname: 'h', hints: { forZones: [{ name: 'zone-a' }], forNodes: [{ name: 'node-a' }] } }),
      rawEp(['10.0.0.2', '10.0.0.3'], { cond: { ready: false, serving: true, terminating: true } }),
    ], { ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 53 }] }),
  nodes: () => rawNode('node-a', { zone: 'zone-a', annotations: { 'nodeway.dev/wg-key': 'abc=' } }),
  pods: () => rawPod('p', { ips: ['10.244.0.5', 'fd00:244::5'] }),
  namespaces: () => rawNamespace('default'),
  servicecidrs: () => rawServiceCIDR('kubernetes', ['10.96.0.0/12', 'fd00:96::/112']),
  networkpolicies: () => rawNetworkPolicy('np', 'default', {
    podSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { role: 'c' } }, namespaceSelector: {} }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
      ports: [{ protocol: 'TCP', port: 80, endPort: 90 }, { port: 'http' }, { protocol: 'UDP' }] }],
    egress: [{ to: [{ namespaceSelector: { matchExpressions: [{ key: 'x', operator: 'Exists' }] } }] }, {}],
  }),
  clusternetworkpolicies: () => rawClusterNetworkPolicy('cnp', {
    tier: 'Admin',
    priority: 10,
    subject: { pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: 'web' } } } },
    ingress: [{ name: 'r', action: 'Deny', from: [{ namespaces: {} }], protocols: [{ tcp: { destinationPort: { number: 80 } } }, { destinationNamedPort: 'http' }] }],
    egress: [{ action: 'Pass', to: [{ networks: ['10.0.0.0/8'] }, { pods: { namespaceSelector: {}, podSelector: {} } }], protocols: [{ udp: { destinationPort: { range: { start: 1, end: 9 } } } }] }],
  }),
};

describe('identity', () => {
  const broken: [string, (r: Raw) => void][] = [
    ['no metadata', (r) => delete r.metadata],
    ['metadata is a string', (r) => (r.metadata = 'web')],
    ['metadata is an array', (r) => (r.metadata = [{ name: 'web' }])],
    ['metadata is null', (r) => (r.metadata = null)],
    ['no name', (r) => delete (r.metadata as Raw).name],
    ['empty name', (r) => ((r.metadata as Raw).name = '')],
    ['name is a number', (r) => ((r.metadata as Raw).name = 42)],
    ['name is an array of strings', (r) => ((r.metadata as Raw).name = ['web'])],
    ['name with upper case', (r) => ((r.metadata as Raw).name = 'Web')],
    ['name longer than 253', (r) => ((r.metadata as Raw).name = 'a'.repeat(254))],
    ['name of 1 MiB', (r) => ((r.metadata as Raw).name = MiB)],
  ];
  for (const kind of KINDS) {
    it.each(broken)(`${kind}: %s → InvalidObject`, (_, mutate) => {
      const raw = templates[kind]();
      mutate(raw);
      expect(attempt(kind, raw)).toBe('invalid');
    });
  }

  it.each<[Kind, (r: Raw) => void]>([
    ['services', (r) => delete (r.metadata as Raw).namespace],
    ['endpointslices', (r) => ((r.metadata as Raw).namespace = '')],
    ['pods', (r) => ((r.metadata as Raw).namespace = 'a.b')],
    ['services', (r) => ((r.metadata as Raw).namespace = ['default'])],
  ])('%s without a valid namespace → InvalidObject', (kind, mutate) => {
    const raw = templates[kind]();
    mutate(raw);
    expect(attempt(kind, raw)).toBe('invalid');
  });

  it('cluster-scoped kinds need no namespace', () => {
    expect(attempt('nodes', templates.nodes())).not.toBe('invalid');
    expect(attempt('namespaces', templates.namespaces())).not.toBe('invalid');
    expect(attempt('servicecidrs', templates.servicecidrs())).not.toBe('invalid');
  });

  it.each([null, undefined, 'service', 42, true, [], [{ metadata: { name: 'x' } }]])('top-level %j → InvalidObject for every kind', (raw) => {
    for (const kind of KINDS) expect(attempt(kind, raw)).toBe('invalid');
  });

  it('the templates themselves convert without warnings', () => {
    for (const kind of KINDS) {
      const w = warnings();
      expect(attempt(kind, templates[kind](), w.warn)).not.toBe('invalid');
      expect(w.list, kind).toEqual([]);
    }
  });
});

describe('values that cannot be understood are dropped with a warning', () => {
  it('invalid IPs in every IP field', () => {
    const w = warnings();
    const s = toService(
      rawService('web', {
        clusterIPs: ['10.96.0.10', '10.96.0.256'],
        externalIPs: ['1.2.3', '203.0.113.7', 'fe80::1%eth0', '::ffff:1.2.3.4'],
        ingress: [{ ip: 'lb.example.com' }, { ip: '198.51.100.1' }],
      }),
      w.warn,
    );
    expect(s.clusterIPs).toEqual(['10.96.0.10']);
    expect(s.externalIPs).toEqual(['203.0.113.7']);
    expect(s.loadBalancerIPs).toEqual(['198.51.100.1']);
    expect(w.list).toHaveLength(5);

    const w2 = warnings();
    const sl = toEndpointSlice(rawSlice('web-a', [rawEp('10.0.0.999'), rawEp(''), rawEp('10.0.0.1'), { addresses: [42 as never] }]), w2.warn);
    expect(sl.endpoints.map((e) => e.ip)).toEqual(['10.0.0.1']);
    expect(w2.list).toHaveLength(3);

    const w3 = warnings();
    const raw = rawNode('n');
    ((raw.status as Raw).addresses as Raw[]).push({ type: 'InternalIP', address: 'nope' }, { type: 'ExternalIP', address: '2001:DB8::1' });
    (raw.spec as Raw).podCIDRs = ['10.244.0.0/24', '10.244.1.0', 'fd00::/129'];
    const n = toNode(raw, w3.warn);
    expect(n.addresses).toEqual([{ type: 'InternalIP', address: '192.168.0.1' }, { type: 'ExternalIP', address: '2001:db8::1' }]);
    expect(n.podCIDRs).toEqual(['10.244.0.0/24']);
    expect(w3.list).toHaveLength(3);

    const w4 = warnings();
    expect(toPod(rawPod('p', { ips: ['10.244.0.5', 'x', '10.244.0.5'] }), w4.warn).ips).toEqual(['10.244.0.5']);
    expect(w4.list).toHaveLength(1);
  });

  it('Node: deletion, the autoscaler\'s ToBeDeleted taint and the NetworkUnavailable condition are kept', () => {
    const raw = rawNode('n') as Record<string, any>;
    expect(toNode(raw, () => {})).not.toHaveProperty('toBeDeleted');
    raw.spec = { ...raw.spec, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }, { key: 'ToBeDeletedByClusterAutoscaler', value: '1700000000', effect: 'NoSchedule' }] };
    raw.status = { ...raw.status, conditions: [{ type: 'Ready', status: 'True' }, { type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated' }] };
    raw.metadata = { ...raw.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' };
    expect(toNode(raw, () => {})).toMatchObject({ deleting: true, toBeDeleted: true, networkUnavailable: 'True' });
  });

  it('an unknown protocol drops the port', () => {
    const w = warnings();
    const s = toService(rawService('web', { ports: [{ name: 'a', protocol: 'ICMP', port: 1 }, { name: 'b', protocol: 'udp', port: 2 }, { name: 'c', protocol: 'SCTP', port: 3 }] }), w.warn);
    expect(s.ports.map((p) => `${p.name}/${p.protocol}`)).toEqual(['c/SCTP']);
    expect(w.list).toHaveLength(2);
    const w2 = warnings();
    const sl = toEndpointSlice(rawSlice('web-a', [], { ports: [{ name: 'a', protocol: 42, port: 1 }, { name: 'b', protocol: 'UDP', port: 2 }] }), w2.warn);
    expect(sl.ports).toEqual([{ name: 'b', protocol: 'UDP', port: 2 }]);
    expect(w2.list).toHaveLength(1);
  });

  it.each([0, -1, 65536, 80.5, '80', null, 2 ** 53, Number.MAX_VALUE])('service port %j is dropped', (bad) => {
    const w = warnings();
    const s = toService(rawService('web', { ports: [{ name: 'bad', port: bad as number }, { name: 'ok', port: 65535 }] }), w.warn);
    expect(s.ports.map((p) => p.name)).toEqual(['ok']);
    expect(w.list).toHaveLength(1);
  });

  it('out-of-range nodePort, targetPort and healthCheckNodePort become 0 / the port', () => {
    const s = toService(
      rawService('web', { type: 'NodePort', ports: [{ name: 'a', port: 80, nodePort: 70000, targetPort: -5 }], healthCheckNodePort: 99999 }),
      () => {},
    );
    expect(s.ports[0]).toMatchObject({ port: 80, nodePort: 0, targetPort: 80 });
    expect(s.healthCheckNodePort).toBe(0);
  });

  it.each([0, 65536, -80, '8080'])('slice port %j is dropped', (bad) => {
    const sl = toEndpointSlice(rawSlice('web-a', [], { ports: [{ name: 'a', protocol: 'TCP', port: bad }, { name: 'b', protocol: 'TCP', port: 1 }] }), () => {});
    expect(sl.ports.map((p) => p.name)).toEqual(['b']);
  });

  it('unknown type, traffic policies and addressType fall back with a warning', () => {
    const w = warnings();
    const s = toService(rawService('web', { type: 'Magic', etp: 'Nearby', itp: 'local', externalIPs: [] }), w.warn);
    expect(s.type).toBe('ClusterIP');
    expect(s.externalTrafficPolicy).toBe('Cluster');
    expect(s.internalTrafficPolicy).toBe('Cluster');
    expect(w.list).toHaveLength(3);
    const w2 = warnings();
    const sl = toEndpointSlice(rawSlice('web-a', [rawEp('10.0.0.1')], { addressType: 'IPv5' }), w2.warn);
    expect(sl.family).toBe(0);
    expect(sl.endpoints).toEqual([]);
    expect(w2.list).toHaveLength(1);
  });

  it('ServiceCIDR ranges that are not CIDRs are dropped; the rest are kept canonical, once', () => {
    const w = warnings();
    const c = toServiceCIDR(rawServiceCIDR('extra', ['10.96.0.0/33', 'fd00:96::', 'nope', 42 as never, '10.97.1.2/16', 'FD00:97::/112', '10.97.0.0/16']), w.warn);
    expect(c).toEqual({ name: 'extra', cidrs: ['10.97.0.0/16', 'fd00:97::/112'] });
    expect(w.list).toHaveLength(4);
    expect(w.list[0]).toMatch(/^servicecidr extra: "10\.96\.0\.0\/33" is not a CIDR; ignored$/);
    // No spec at all, or cidrs of the wrong type: a ServiceCIDR of nothing, not an invalid object.
    expect(toServiceCIDR({ metadata: { name: 'empty' } }, w.warn)).toEqual({ name: 'empty', cidrs: [] });
    expect(toServiceCIDR({ metadata: { name: 'odd' }, spec: { cidrs: '10.96.0.0/12' } }, w.warn)).toEqual({ name: 'odd', cidrs: [] });
  });
});

describe('huge values', () => {
  it('a 1 MiB service-proxy-name label: refused, and the Service still counts as another proxy\'s', () => {
    const w = warnings();
    const s = toService(rawService('web', { labels: { 'service.kubernetes.io/service-proxy-name': MiB } }), w.warn);
    expect(s.proxyName).not.toBe('');
    expect(s.proxyName.length).toBeLessThan(4096);
    expect(w.list).toHaveLength(1);
  });

  it('a 1 MiB service-name label on a slice is refused: the slice belongs to no service', () => {
    const w = warnings();
    const raw = rawSlice('web-a', [rawEp('10.0.0.1')]);
    ((raw.metadata as Raw).labels as Raw)['kubernetes.io/service-name'] = MiB;
    expect(toEndpointSlice(raw, w.warn).serviceName).toBe('');
    expect(w.list).toHaveLength(1);
  });

  it('1 MiB labels and nodeway annotation on a node are refused; other huge annotations are just not kept', () => {
    const w = warnings();
    const n = toNode(rawNode('n', { zone: MiB, labels: { 'example.com/big': MiB }, annotations: { 'nodeway.dev/wg-key': MiB, 'other/big': MiB } }), w.warn);
    expect(n.labels['topology.kubernetes.io/zone']).toBeUndefined();
    expect(n.labels['example.com/big']).toBeUndefined();
    expect(n.annotations['nodeway.dev/wg-key']).toBeUndefined();
    expect(w.list).toHaveLength(3);
    expect(JSON.stringify(n).length).toBeLessThan(1000);
  });

  it('warnings stay short even when the offending value is 1 MiB', () => {
    const w = warnings();
    toService(rawService('web', { externalIPs: [MiB], ports: [{ name: 'a', protocol: MiB, port: 1 }] }), w.warn);
    expect(w.list).toHaveLength(2);
    for (const m of w.list) expect(m.length).toBeLessThan(1000);
  });

  it('a value nested 100 000 arrays deep does not blow the stack', () => {
    let deep: unknown = '10.0.0.1';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const raw = rawService('web');
    (raw.spec as Raw).externalIPs = [deep];
    (raw.spec as Raw).ports = [{ name: 'a', port: deep, protocol: deep }];
    expect(attempt('services', raw)).not.toBe('invalid');
  });
});

describe('wrong JSON types', () => {
  it.each<[string, Kind, (r: Raw) => void]>([
    ['spec is a string', 'services', (r) => (r.spec = 'x')],
    ['spec is an array', 'services', (r) => (r.spec = [r.spec])],
    ['status is a number', 'services', (r) => (r.status = 5)],
    ['labels is an array', 'services', (r) => ((r.metadata as Raw).labels = ['service.kubernetes.io/service-proxy-name'])],
    ['ports is an object', 'services', (r) => ((r.spec as Raw).ports = { name: 'http', port: 80 })],
    ['a port is a number', 'services', (r) => ((r.spec as Raw).ports = [80])],
    ['type is an array', 'services', (r) => ((r.spec as Raw).type = ['LoadBalancer'])],
    ['clusterIPs is a string', 'services', (r) => ((r.spec as Raw).clusterIPs = '10.96.0.10')],
    ['clusterIP is an object', 'services', (r) => { delete (r.spec as Raw).clusterIPs; (r.spec as Raw).clusterIP = { ip: '10.96.0.10' }; }],
    ['sessionAffinityConfig is a string', 'services', (r) => ((r.spec as Raw).sessionAffinityConfig = '60')],
    ['ingress is an object', 'services', (r) => ((r.status as Raw).loadBalancer = { ingress: { ip: '1.2.3.4' } })],
    ['externalName is an array', 'services', (r) => ((r.spec as Raw).externalName = ['a.example.com'])],
    ['endpoints is a string', 'endpointslices', (r) => (r.endpoints = '10.0.0.1')],
    ['an endpoint is null', 'endpointslices', (r) => (r.endpoints = [null, 7, 'x'])],
    ['addresses is a string', 'endpointslices', (r) => ((r.endpoints as Raw[])[0]!.addresses = '10.0.0.1')],
    ['conditions is a number', 'endpointslices', (r) => ((r.endpoints as Raw[])[0]!.conditions = 5)],
    ['ready is a string', 'endpointslices', (r) => ((r.endpoints as Raw[])[0]!.conditions = { ready: 'false' })],
    ['hints is a string', 'endpointslices', (r) => ((r.endpoints as Raw[])[0]!.hints = 'zone-a')],
    ['forZones holds junk', 'endpointslices', (r) => ((r.endpoints as Raw[])[0]!.hints = { forZones: [null, 5, { name: 3 }, 'zone-a'], forNodes: 'node-a' })],
    ['nodeName is an array', 'endpointslices', (r) => ((r.endpoints as Raw[])[0]!.nodeName = ['node-a'])],
    ['addressType is an array', 'endpointslices', (r) => (r.addressType = ['IPv4'])],
    ['slice ports is a number', 'endpointslices', (r) => (r.ports = 8080)],
    ['slice port name is a number', 'endpointslices', (r) => (r.ports = [{ name: 1, port: 8080 }])],
    ['node addresses is an object', 'nodes', (r) => ((r.status as Raw).addresses = { type: 'InternalIP' })],
    ['node labels values are numbers', 'nodes', (r) => ((r.metadata as Raw).labels = { 'topology.kubernetes.io/zone': 1 })],
    ['podCIDRs is a string', 'nodes', (r) => ((r.spec as Raw).podCIDRs = '10.244.0.0/24')],
    ['podIPs holds strings', 'pods', (r) => ((r.status as Raw).podIPs = ['10.244.0.5'])],
    ['pod spec is null', 'pods', (r) => (r.spec = null)],
  ])('%s (%s): converted, not thrown', (_, kind, mutate) => {
    const raw = templates[kind]();
    mutate(raw);
    expect(attempt(kind, raw)).not.toBe('invalid');
  });

  it('junk hints become no hints rather than hints for ""', () => {
    const raw = templates.endpointslices();
    (raw.endpoints as Raw[])[0]!.hints = { forZones: [null, 5, { name: 3 }], forNodes: 'node-a' };
    const e = toEndpointSlice(raw, () => {}).endpoints[0]!;
    expect(e.zoneHints ?? []).toEqual([]);
    expect(e.nodeHints).toBeNull();
  });

  it('an empty hint name is kept, as kube-proxy keeps it: the endpoint is hinted, for no zone', () => {
    const raw = templates.endpointslices();
    (raw.endpoints as Raw[])[0]!.hints = { forZones: [{ name: '' }, { name: 'zone-b' }] };
    expect(toEndpointSlice(raw, () => {}).endpoints[0]!.zoneHints).toEqual(['', 'zone-b']);
  });

  it('ready given as the string "false" is not a boolean: the nil default (ready) applies', () => {
    const raw = templates.endpointslices();
    (raw.endpoints as Raw[])[0]!.conditions = { ready: 'false' };
    expect(toEndpointSlice(raw, () => {}).endpoints[0]!.ready).toBe(true);
  });

  it('rawKey never throws', () => {
    for (const v of [null, undefined, 5, 'x', [], { metadata: 5 }, { metadata: { name: ['a'], namespace: {} } }]) expect(typeof rawKey(v)).toBe('string');
  });
});

// ---- fuzz ------------------------------------------------------------------------------


const STRINGS = [
  '', ' ', 'None', 'TCP', 'UDP', 'SCTP', 'tcp', 'Local', 'Cluster', 'IPv4', 'IPv6', 'FQDN', 'Proxy', 'VIP', 'ClientIP',
  'LoadBalancer', 'NodePort', 'ExternalName', 'ClusterIP', 'InternalIP', 'ExternalIP', 'Hostname', 'http', 'web', 'default',
  'node-a', 'zone-a', '10.0.0.1', ' 10.0.0.1 ', '10.0.0.256', '0.0.0.0', '255.255.255.255', '::', '::1', 'fd00::1', 'FD00::1',
  '::ffff:10.0.0.1', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', '10.0.0.0/8', '10.0.0.1/33', 'fd00::/64', '/24',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', '\u0000', 'ü', '🙂', 'a'.repeat(300), 'nodeway.dev/wg-key',
  'topology.kubernetes.io/zone', 'kubernetes.io/service-name', 'service.kubernetes.io/service-proxy-name', 'service.kubernetes.io/headless',
];
const NUMBERS = [0, 1, -1, 53, 80, 65535, 65536, 30080, 86400, 86401, 10800, 1.5, -0, 2 ** 31, 2 ** 53 + 2, 1e308, Number.EPSILON];
const KEYS = [
  'metadata', 'name', 'namespace', 'labels', 'annotations', 'deletionTimestamp', 'spec', 'status', 'type', 'clusterIP', 'clusterIPs',
  'ports', 'port', 'protocol', 'targetPort', 'nodePort', 'externalIPs', 'externalName', 'externalTrafficPolicy', 'internalTrafficPolicy',
  'loadBalancerSourceRanges', 'loadBalancer', 'ingress', 'ip', 'ipMode', 'hostname', 'sessionAffinity', 'sessionAffinityConfig',
  'clientIP', 'timeoutSeconds', 'healthCheckNodePort', 'publishNotReadyAddresses', 'addressType', 'endpoints', 'addresses',
  'conditions', 'ready', 'serving', 'terminating', 'nodeName', 'zone', 'hints', 'forZones', 'forNodes', 'podCIDR', 'podCIDRs',
  'unschedulable', 'podIP', 'podIPs', 'hostNetwork', 'address', '__proto__', 'constructor',
];

/** Sets an own property the way JSON.parse does, even for "__proto__". */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function fuzzer(seed: number) {
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

  function value(depth: number): unknown {
    const r = int(depth > 3 ? 6 : 9);
    switch (r) {
      case 0: return null;
      case 1: return rnd() < 0.5;
      case 2: return pick(NUMBERS);
      case 3: case 4: return pick(STRINGS);
      case 5: return int(70000) - 100;
      case 6: case 7: {
        const o: Record<string, unknown> = {};
        for (let i = int(5); i > 0; i--) setOwn(o, pick(KEYS), value(depth + 1));
        return o;
      }
      default: return Array.from({ length: int(4) }, () => value(depth + 1));
    }
  }

  function mutate(v: unknown, depth: number): unknown {
    if (depth > 0 && rnd() < 0.08) return value(depth);
    if (Array.isArray(v)) {
      const out = v.map((x) => (rnd() < 0.3 ? mutate(x, depth + 1) : x));
      if (rnd() < 0.1) out.push(value(depth + 1));
      if (rnd() < 0.1 && out.length) out.splice(int(out.length), 1);
      return out;
    }
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const r = rnd();
        if (r < 0.05) continue; // drop the key
        if (r < 0.1) setOwn(out, k, [x]); // wrap in an array
        else setOwn(out, k, rnd() < 0.35 ? mutate(x, depth + 1) : x);
      }
      if (rnd() < 0.1) setOwn(out, pick(KEYS), value(depth + 1));
      return out;
    }
    return rnd() < 0.2 ? value(depth) : v;
  }

  return { rnd, value, mutate, pick };
}

const isIP = (s: unknown) => typeof s === 'string' && s !== '' && canonicalIP(s) === s;
const isPort = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
const isPortOr0 = (n: unknown) => n === 0 || isPort(n);
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

/** Shape invariants the rest of nodeway relies on, whatever the input was. */
function checkShape(kind: Kind, out: unknown): void {
  expect(equal(structuredClone(out), out), 'plain JSON-like data').toBe(true);
  const o = out as Record<string, unknown>;
  expect(typeof o.name).toBe('string');
  if (kind === 'services') {
    const s = out as ReturnType<typeof toService>;
    expect(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).toContain(s.type);
    for (const ip of [...s.clusterIPs, ...s.externalIPs, ...s.loadBalancerIPs]) expect(isIP(ip), ip).toBe(true);
    for (const c of s.loadBalancerSourceRanges) expect(parseCIDR(c)?.text).toBe(c);
    for (const p of s.ports) {
      expect(PROTOCOLS).toContain(p.protocol);
      expect(isPort(p.port)).toBe(true);
      expect(isPortOr0(p.nodePort)).toBe(true);
      expect(typeof p.targetPort === 'string' ? p.targetPort !== '' : isPort(p.targetPort)).toBe(true);
      expect(typeof p.name).toBe('string');
    }
    expect(s.affinityTimeout >= 0 && s.affinityTimeout <= 86400).toBe(true);
    expect(isPortOr0(s.healthCheckNodePort)).toBe(true);
    expect(['Cluster', 'Local']).toContain(s.externalTrafficPolicy);
    expect(['Cluster', 'Local']).toContain(s.internalTrafficPolicy);
    expect(typeof s.proxyName).toBe('string');
    expect(typeof s.headless).toBe('boolean');
    if (s.headless) expect(s.clusterIPs).toEqual([]);
  } else if (kind === 'endpointslices') {
    const sl = out as ReturnType<typeof toEndpointSlice>;
    expect([0, 4, 6]).toContain(sl.family);
    for (const p of sl.ports) {
      expect(PROTOCOLS).toContain(p.protocol);
      expect(isPort(p.port)).toBe(true);
      expect(typeof p.name).toBe('string');
    }
    if (sl.family === 0) expect(sl.endpoints).toEqual([]);
    for (const e of sl.endpoints) {
      expect(isIP(e.ip)).toBe(true);
      expect(e.ip.includes(':') ? 6 : 4).toBe(sl.family);
      for (const b of [e.ready, e.serving, e.terminating]) expect(typeof b).toBe('boolean');
      for (const h of [e.zoneHints, e.nodeHints]) {
        if (h !== null) for (const n of h) expect(typeof n === 'string' && n !== '').toBe(true);
      }
      for (const s of [e.nodeName, e.hostname, e.zone]) expect(typeof s).toBe('string');
    }
  } else if (kind === 'nodes') {
    const n = out as ReturnType<typeof toNode>;
    for (const a of n.addresses) expect(isIP(a.address)).toBe(true);
    for (const c of n.podCIDRs) expect(parseCIDR(c)?.text).toBe(c);
    // Every label is kept (ClusterNetworkPolicy nodes peers select by any), each readable.
    for (const v of Object.values(n.labels)) expect(typeof v === 'string' && v.length <= 4096).toBe(true);
    for (const [k, v] of Object.entries(n.annotations)) expect(k.startsWith('nodeway.dev/') && typeof v === 'string' && v.length <= 4096).toBe(true);
  } else if (kind === 'servicecidrs') {
    const c = out as ReturnType<typeof toServiceCIDR>;
    for (const t of c.cidrs) expect(parseCIDR(t)?.text).toBe(t);
    expect(new Set(c.cidrs).size).toBe(c.cidrs.length);
  } else if (kind === 'pods') {
    const p = out as ReturnType<typeof toPod>;
    for (const ip of p.ips) expect(isIP(ip)).toBe(true);
    expect(new Set(p.ips).size).toBe(p.ips.length);
    for (const v of Object.values(p.labels)) expect(typeof v).toBe('string');
    for (const np of p.ports) expect(np.port >= 1 && np.port <= 65535 && ['TCP', 'UDP', 'SCTP'].includes(np.protocol) && np.name !== '').toBe(true);
  } else if (kind === 'networkpolicies' || kind === 'clusternetworkpolicies') {
    const rules = [...(out as { ingress: PolicyRule[] }).ingress, ...(out as { egress: PolicyRule[] }).egress];
    for (const r of rules) {
      for (const pp of r.ports ?? []) {
        expect(['TCP', 'UDP', 'SCTP']).toContain(pp.protocol);
        if (pp.endPort !== undefined) expect(typeof pp.port === 'number' && pp.endPort > pp.port && pp.endPort <= 65535).toBe(true);
      }
      for (const peer of r.peers ?? []) if (peer.kind === 'ipBlock') expect(parseCIDR(peer.cidr)?.text).toBe(peer.cidr);
    }
  }
}

describe('fuzz: converters return a well-formed value or throw InvalidObject', () => {
  it('mutated real objects (seeded, deterministic)', () => {
    const f = fuzzer(0x5eed);
    let converted = 0, rejected = 0;
    for (let i = 0; i < 4000; i++) {
      const kind = KINDS[i % KINDS.length]!;
      const raw = f.mutate(templates[kind](), 0);
      const w = warnings();
      const out = attempt(kind, raw, w.warn);
      if (out === 'invalid') {
        rejected++;
        continue;
      }
      converted++;
      checkShape(kind, out);
      for (const m of w.list) expect(typeof m).toBe('string');
      // Same input, same output: the cache's no-op detection depends on it.
      expect(equal(attempt(kind, raw), out)).toBe(true);
    }
    // The mutations must exercise both paths, or this test proves little.
    expect(converted).toBeGreaterThan(1000);
    expect(rejected).toBeGreaterThan(50);
  });

  it('random JSON values with a valid identity (seeded, deterministic)', () => {
    const f = fuzzer(20250101);
    for (let i = 0; i < 3000; i++) {
      const kind = KINDS[i % KINDS.length]!;
      const raw = f.value(0);
      const obj = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Raw) : {};
      setOwn(obj, 'metadata', { ...(obj.metadata as object), name: 'x', namespace: 'y' });
      for (const k of ['spec', 'status']) if (f.rnd() < 0.7) setOwn(obj, k, f.value(1));
      const out = attempt(kind, obj);
      // Policies refuse a spec whose subject cannot be read (a tier, a selector): selecting
      // nothing instead would silently lift the policy.
      if (out === 'invalid' && (kind === 'networkpolicies' || kind === 'clusternetworkpolicies')) continue;
      expect(out).not.toBe('invalid');
      checkShape(kind, out);
    }
  });

  it('random JSON values at the top level', () => {
    const f = fuzzer(7);
    for (let i = 0; i < 2000; i++) {
      const kind = KINDS[i % KINDS.length]!;
      const out = attempt(kind, f.value(0));
      if (out !== 'invalid') checkShape(kind, out);
    }
  });
});
