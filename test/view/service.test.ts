// Raw Service + EndpointSlice JSON → converters → buildServiceView, checked against
// kube-proxy.md §2.1 (what is processed), §2.2 (endpoint conditions, dedup), §2.3 (policies)
// and §2.4 (other fields).
import { describe, expect, it } from 'vitest';
import { toEndpointSlice, toService } from '../../src/kube/convert.ts';
import { endpointKey } from '../../src/view/categorize.ts';
import { buildServiceView, sameServiceView } from '../../src/view/service.ts';
import type { EndpointView, FamilyEndpoints, ServiceView } from '../../src/view/types.ts';
import {
  NOT_READY, NOT_SERVING_TERMINATING, type Raw, rawEp, rawService, rawSlice, SELF, SERVING_TERMINATING, type ServiceOpts,
  warnings, zoneHints,
} from './fixtures.ts';

const PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
const HEADLESS = 'service.kubernetes.io/headless';

function build(service: Raw, slices: Raw[], zone = 'zone-a'): { view: ServiceView; warns: string[] } {
  const w = warnings();
  const s = toService(service, w.warn);
  const sl = slices.map((r) => toEndpointSlice(r, w.warn));
  return { view: buildServiceView(s, sl, { name: SELF, zone }), warns: w.list };
}

function port(view: ServiceView, name: string, protocol = 'TCP') {
  const p = view.ports.find((q) => q.name === name && q.protocol === protocol);
  if (!p) throw new Error(`no port ${name}/${protocol} in ${view.key}`);
  return p;
}

const keys = (list: EndpointView[]) => list.map(endpointKey);
const v4 = (view: ServiceView, name = 'http', protocol = 'TCP'): FamilyEndpoints => port(view, name, protocol).v4;
const v6 = (view: ServiceView, name = 'http', protocol = 'TCP'): FamilyEndpoints => port(view, name, protocol).v6;

describe('endpoints of a service port (§2.1 port identity, §2.2)', () => {
  it('named target ports are resolved per slice: each slice brings its own port number', () => {
    const { view } = build(rawService('web', { ports: [{ name: 'http', port: 80, targetPort: 'web' }] }), [
      rawSlice('web-aaaaa', [rawEp('10.0.0.1')], { ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }),
      rawSlice('web-bbbbb', [rawEp('10.0.0.2')], { ports: [{ name: 'http', protocol: 'TCP', port: 9090 }] }),
    ]);
    expect(keys(v4(view).all)).toEqual(['10.0.0.1:8080', '10.0.0.2:9090']);
    expect(keys(v4(view).cluster).sort()).toEqual(['10.0.0.1:8080', '10.0.0.2:9090']);
  });

  it("the Service's own targetPort is not used: the slice port is what traffic is sent to", () => {
    const { view } = build(rawService('web', { ports: [{ name: 'http', port: 80, targetPort: 1234 }] }), [
      rawSlice('web-aaaaa', [rawEp('10.0.0.1')], { ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }),
    ]);
    expect(keys(v4(view).all)).toEqual(['10.0.0.1:8080']);
  });

  it.each([
    ['remote first, local second', 'node-b', SELF],
    ['local first, remote second', SELF, 'node-b'],
  ])('the same ip:port in two slices is one endpoint, and local wins (%s)', (_, n1, n2) => {
    const { view } = build(rawService('web', { itp: 'Local' }), [
      rawSlice('web-aaaaa', [rawEp('10.0.0.1', { nodeName: n1 })]),
      rawSlice('web-bbbbb', [rawEp('10.0.0.1', { nodeName: n2 }), rawEp('10.0.0.2')]),
    ]);
    const f = v4(view);
    expect(keys(f.all)).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
    expect(f.all[0]!.local).toBe(true);
    expect(keys(f.local)).toEqual(['10.0.0.1:8080']);
    expect(view.localReadyIPs.v4).toBe(1);
  });

  it('the same IP with different ports in two slices stays two endpoints', () => {
    const { view } = build(rawService('web'), [
      rawSlice('web-aaaaa', [rawEp('10.0.0.1')], { ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }),
      rawSlice('web-bbbbb', [rawEp('10.0.0.1')], { ports: [{ name: 'http', protocol: 'TCP', port: 8081 }] }),
    ]);
    expect(keys(v4(view).all)).toEqual(['10.0.0.1:8080', '10.0.0.1:8081']);
  });

  it('IPs are compared in canonical form when deduplicating', () => {
    const { view } = build(rawService('web', { clusterIPs: ['fd00:96::a'] }), [
      rawSlice('web-aaaaa', [rawEp('FD00:0:0:0:0:0:0:1')], { addressType: 'IPv6' }),
      rawSlice('web-bbbbb', [rawEp('fd00::1', { nodeName: SELF })], { addressType: 'IPv6' }),
    ]);
    expect(keys(v6(view).all)).toEqual(['[fd00::1]:8080']);
    expect(v6(view).all[0]!.local).toBe(true);
  });

  it('only addresses[0] of an endpoint is used', () => {
    const { view } = build(rawService('web'), [rawSlice('web-aaaaa', [rawEp(['10.0.0.1', '10.0.0.2', '10.0.0.3'])])]);
    expect(keys(v4(view).all)).toEqual(['10.0.0.1:8080']);
    expect(view.dnsEndpoints.map((d) => d.ip)).toEqual(['10.0.0.1']);
  });

  it('an endpoint with no addresses is skipped', () => {
    const { view } = build(rawService('web'), [rawSlice('web-aaaaa', [{ addresses: [] }, rawEp('10.0.0.2')])]);
    expect(keys(v4(view).all)).toEqual(['10.0.0.2:8080']);
  });

  it.each<[string, Raw | undefined, { ready: boolean; serving: boolean; terminating: boolean }]>([
    ['no conditions object', undefined, { ready: true, serving: true, terminating: false }],
    ['empty conditions', {}, { ready: true, serving: true, terminating: false }],
    ['explicit nulls', { ready: null, serving: null, terminating: null }, { ready: true, serving: true, terminating: false }],
    ['ready=false only (serving defaults to true, terminating to false)', { ready: false }, { ready: false, serving: true, terminating: false }],
    ['terminating=true only (ready and serving default to true)', { terminating: true }, { ready: true, serving: true, terminating: true }],
    ['serving terminating', SERVING_TERMINATING, { ready: false, serving: true, terminating: true }],
  ])('condition defaults: %s', (_, conditions, want) => {
    const e: Raw = { addresses: ['10.0.0.1'], nodeName: 'node-b' };
    if (conditions !== undefined) e.conditions = conditions;
    const { view } = build(rawService('web'), [rawSlice('web-aaaaa', [e as never])]);
    const got = v4(view).all[0]!;
    expect({ ready: got.ready, serving: got.serving, terminating: got.terminating }).toEqual(want);
  });

  it('each service port gets its own endpoints, joined by port name', () => {
    const { view } = build(
      rawService('web', { ports: [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'metrics', port: 9100, targetPort: 9100 }, { name: 'admin', port: 9000 }] }),
      [rawSlice('web-aaaaa', [rawEp('10.0.0.1'), rawEp('10.0.0.2', { nodeName: SELF })], {
        ports: [{ name: 'metrics', protocol: 'TCP', port: 9100 }, { name: 'http', protocol: 'TCP', port: 8080 }],
      })],
    );
    expect(view.ports.map((p) => `${p.name}/${p.protocol}:${p.port}`)).toEqual(['http/TCP:80', 'metrics/TCP:9100', 'admin/TCP:9000']);
    expect(keys(v4(view, 'http').cluster)).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
    expect(keys(v4(view, 'metrics').cluster)).toEqual(['10.0.0.1:9100', '10.0.0.2:9100']);
    // A port no slice carries has no endpoints: its traffic is rejected.
    expect(v4(view, 'admin').all).toEqual([]);
    expect(v4(view, 'admin').hasAny).toBe(false);
    // The same local IP on two ports is one local ready IP for the health check.
    expect(view.localReadyIPs.v4).toBe(1);
  });

  it('the same port number on TCP and UDP are two service ports, each joined by name + protocol', () => {
    const { view } = build(
      rawService('dns', { ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 }] }),
      [rawSlice('dns-aaaaa', [rawEp('10.0.0.1')], { service: 'dns', ports: [{ name: 'dns', protocol: 'UDP', port: 5353 }, { name: 'dns-tcp', protocol: 'TCP', port: 5354 }] })],
    );
    expect(view.ports.map((p) => `${p.name}/${p.protocol}:${p.port}`)).toEqual(['dns/UDP:53', 'dns-tcp/TCP:53']);
    expect(keys(v4(view, 'dns', 'UDP').cluster)).toEqual(['10.0.0.1:5353']);
    expect(keys(v4(view, 'dns-tcp', 'TCP').cluster)).toEqual(['10.0.0.1:5354']);
  });

  it('a slice port with the right name but another protocol is not joined', () => {
    const { view } = build(rawService('dns', { ports: [{ name: 'dns', protocol: 'UDP', port: 53 }] }), [
      rawSlice('dns-aaaaa', [rawEp('10.0.0.1')], { service: 'dns', ports: [{ name: 'dns', protocol: 'TCP', port: 53 }] }),
    ]);
    expect(v4(view, 'dns', 'UDP').all).toEqual([]);
  });

  it('an unnamed service port joins a slice port whose name is ""; slice ports without a name field or port are ignored', () => {
    const service = rawService('web', { ports: [{ port: 80, targetPort: 8080 }] });
    const ok = build(service, [rawSlice('web-aaaaa', [rawEp('10.0.0.1')], { ports: [{ name: '', protocol: 'TCP', port: 8080 }] })]);
    expect(keys(ok.view.ports[0]!.v4.all)).toEqual(['10.0.0.1:8080']);
    const noName = build(service, [rawSlice('web-aaaaa', [rawEp('10.0.0.1')], { ports: [{ protocol: 'TCP', port: 8080 }] })]);
    expect(noName.view.ports[0]!.v4.all).toEqual([]);
    const noPort = build(service, [rawSlice('web-aaaaa', [rawEp('10.0.0.1')], { ports: [{ name: '', protocol: 'TCP' }] })]);
    expect(noPort.view.ports[0]!.v4.all).toEqual([]);
    const zeroPort = build(service, [rawSlice('web-aaaaa', [rawEp('10.0.0.1')], { ports: [{ name: '', protocol: 'TCP', port: 0 }] })]);
    expect(zeroPort.view.ports[0]!.v4.all).toEqual([]);
  });

  it('a slice port without protocol means TCP (the API default)', () => {
    const { view } = build(rawService('web'), [rawSlice('web-aaaaa', [rawEp('10.0.0.1')], { ports: [{ name: 'http', port: 8080 }] })]);
    expect(keys(v4(view).all)).toEqual(['10.0.0.1:8080']);
  });

  it('endpoints come out sorted by ip:port string, whatever the slice order', () => {
    const { view } = build(rawService('web'), [
      rawSlice('web-zzzzz', [rawEp('10.0.0.9'), rawEp('10.0.0.10')]),
      rawSlice('web-aaaaa', [rawEp('10.0.0.2')]),
    ]);
    expect(keys(v4(view).all)).toEqual(['10.0.0.10:8080', '10.0.0.2:8080', '10.0.0.9:8080']);
    expect(keys(v4(view).reachable)).toEqual(['10.0.0.10:8080', '10.0.0.2:8080', '10.0.0.9:8080']);
  });

  it('FQDN slices are ignored', () => {
    const { view, warns } = build(rawService('web'), [
      rawSlice('web-fqdn', [{ addresses: ['backend.example.com'], conditions: { ready: true } }], { addressType: 'FQDN' }),
    ]);
    expect(v4(view).all).toEqual([]);
    expect(v6(view).all).toEqual([]);
    expect(view.dnsEndpoints).toEqual([]);
    expect(warns).toEqual([]);
  });

  it('an endpoint of the wrong family inside a slice is dropped with a warning', () => {
    const { view, warns } = build(rawService('web'), [rawSlice('web-aaaaa', [rawEp('fd00::1'), rawEp('10.0.0.1')])]);
    expect(keys(v4(view).all)).toEqual(['10.0.0.1:8080']);
    expect(v6(view).all).toEqual([]);
    expect(warns.some((w) => w.includes('fd00::1'))).toBe(true);
  });

  it('a slice of another service is never mixed in by buildServiceView callers (slices carry their service name)', () => {
    const s = toEndpointSlice(rawSlice('other-aaaaa', [rawEp('10.0.0.1')], { service: 'other' }), () => {});
    expect(s.serviceName).toBe('other');
  });
});

describe('traffic policy flags (§2.3 definitions)', () => {
  interface PolicyCase {
    name: string;
    opts: ServiceOpts;
    externallyAccessible: boolean;
    usesCluster: boolean;
    usesLocal: boolean;
  }
  const cases: PolicyCase[] = [
    { name: 'ClusterIP, iTP=Cluster', opts: {}, externallyAccessible: false, usesCluster: true, usesLocal: false },
    { name: 'ClusterIP, iTP=Local', opts: { itp: 'Local' }, externallyAccessible: false, usesCluster: false, usesLocal: true },
    { name: 'NodePort, eTP=Cluster', opts: { type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }, externallyAccessible: true, usesCluster: true, usesLocal: false },
    { name: 'NodePort, eTP=Local', opts: { type: 'NodePort', etp: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }, externallyAccessible: true, usesCluster: true, usesLocal: true },
    {
      name: 'NodePort, iTP=Local, eTP=Cluster (cluster endpoints still needed for external traffic)',
      opts: { type: 'NodePort', itp: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
      externallyAccessible: true, usesCluster: true, usesLocal: true,
    },
    {
      name: 'NodePort, both Local',
      opts: { type: 'NodePort', itp: 'Local', etp: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
      externallyAccessible: true, usesCluster: true, usesLocal: true,
    },
    {
      name: 'ClusterIP with an externalIP, eTP=Local',
      opts: { externalIPs: ['203.0.113.7'], etp: 'Local' },
      externallyAccessible: true, usesCluster: true, usesLocal: true,
    },
    {
      name: 'LoadBalancer without node ports and only a VIP ingress, eTP=Local',
      opts: { type: 'LoadBalancer', etp: 'Local', ports: [{ name: 'http', port: 80 }], spec: { allocateLoadBalancerNodePorts: false }, ingress: [{ ip: '198.51.100.1' }] },
      externallyAccessible: true, usesCluster: true, usesLocal: true,
    },
    {
      name: 'LoadBalancer without node ports or ingress yet: eTP=Local does not apply',
      opts: { type: 'LoadBalancer', etp: 'Local', ports: [{ name: 'http', port: 80 }], spec: { allocateLoadBalancerNodePorts: false } },
      externallyAccessible: false, usesCluster: true, usesLocal: false,
    },
    {
      name: 'LoadBalancer without node ports whose only ingress is ipMode Proxy: not externally accessible',
      opts: { type: 'LoadBalancer', etp: 'Local', ports: [{ name: 'http', port: 80 }], spec: { allocateLoadBalancerNodePorts: false }, ingress: [{ ip: '198.51.100.1', ipMode: 'Proxy' }] },
      externallyAccessible: false, usesCluster: true, usesLocal: false,
    },
    {
      name: 'LoadBalancer without node ports whose only ingress is a hostname: not externally accessible',
      opts: { type: 'LoadBalancer', etp: 'Local', ports: [{ name: 'http', port: 80 }], spec: { allocateLoadBalancerNodePorts: false }, ingress: [{ hostname: 'lb.example.com' }] },
      externallyAccessible: false, usesCluster: true, usesLocal: false,
    },
    {
      name: 'iTP=Local with an externalIP: cluster endpoints for external traffic too',
      opts: { itp: 'Local', externalIPs: ['203.0.113.7'] },
      externallyAccessible: true, usesCluster: true, usesLocal: true,
    },
  ];

  it.each(cases)('$name', (c) => {
    const { view } = build(rawService('web', c.opts), []);
    const f = v4(view);
    expect({ externallyAccessible: f.externallyAccessible, usesCluster: f.usesCluster, usesLocal: f.usesLocal }).toEqual({
      externallyAccessible: c.externallyAccessible, usesCluster: c.usesCluster, usesLocal: c.usesLocal,
    });
  });

  it('eTP=Local on a port that is not externally accessible behaves exactly like Cluster', () => {
    const { view } = build(
      rawService('web', { type: 'LoadBalancer', etp: 'Local', ports: [{ name: 'http', port: 80 }], spec: { allocateLoadBalancerNodePorts: false } }),
      [rawSlice('web-aaaaa', [rawEp('10.0.0.1'), rawEp('10.0.0.2', { nodeName: SELF })])],
    );
    expect(keys(v4(view).cluster)).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
    expect(v4(view).local).toEqual([]);
  });

  it('externally accessible is per port: a NodePort on one port only', () => {
    const { view } = build(
      rawService('web', { type: 'NodePort', etp: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'other', port: 81 }] }),
      [],
    );
    expect(v4(view, 'http').usesLocal).toBe(true);
    expect(v4(view, 'other').externallyAccessible).toBe(false);
    expect(v4(view, 'other').usesLocal).toBe(false);
  });
});

describe('dual-stack (§2.1 per family)', () => {
  const dual = (opts: ServiceOpts = {}) => rawService('web', { clusterIPs: ['10.96.0.10', 'fd00:96::10'], ...opts });

  it('IPv4 and IPv6 slices are categorised independently', () => {
    const { view } = build(dual({ type: 'NodePort', etp: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }), [
      rawSlice('web-v4', [rawEp('10.0.0.1', { nodeName: SELF }), rawEp('10.0.0.2')]),
      rawSlice('web-v6', [rawEp('fd00::1', { nodeName: SELF, cond: SERVING_TERMINATING }), rawEp('fd00::2')], { addressType: 'IPv6' }),
    ]);
    expect(keys(v4(view).local)).toEqual(['10.0.0.1:8080']);
    expect(keys(v4(view).cluster)).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
    // v6: no local Ready, so the local serving-terminating endpoint; cluster has the remote Ready one.
    expect(keys(v6(view).local)).toEqual(['[fd00::1]:8080']);
    expect(keys(v6(view).cluster)).toEqual(['[fd00::2]:8080']);
    expect(keys(v6(view).reachable)).toEqual(['[fd00::1]:8080', '[fd00::2]:8080']);
    expect(view.localReadyIPs).toEqual({ v4: 1, v6: 0 });
  });

  it('an IPv4-only externalIP makes only IPv4 externally accessible', () => {
    const { view } = build(dual({ externalIPs: ['203.0.113.7'], etp: 'Local' }), []);
    expect(v4(view).externallyAccessible).toBe(true);
    expect(v4(view).usesLocal).toBe(true);
    expect(v6(view).externallyAccessible).toBe(false);
    expect(v6(view).usesLocal).toBe(false);
    expect(v6(view).usesCluster).toBe(true);
  });

  it('an IPv6-only LoadBalancer VIP makes only IPv6 externally accessible', () => {
    const { view } = build(
      dual({ type: 'LoadBalancer', etp: 'Local', ports: [{ name: 'http', port: 80 }], spec: { allocateLoadBalancerNodePorts: false }, ingress: [{ ip: '2001:db8::1' }] }),
      [],
    );
    expect(v4(view).externallyAccessible).toBe(false);
    expect(v6(view).externallyAccessible).toBe(true);
  });

  it('with iTP=Local and an IPv4-only externalIP, IPv6 uses no cluster endpoints', () => {
    const { view } = build(dual({ itp: 'Local', externalIPs: ['203.0.113.7'] }), [
      rawSlice('web-v6', [rawEp('fd00::2')], { addressType: 'IPv6' }),
    ]);
    expect(v4(view).usesCluster).toBe(true);
    expect(v6(view).usesCluster).toBe(false);
    expect(v6(view).cluster).toEqual([]);
    expect(v6(view).hasAny).toBe(true); // a remote Ready endpoint exists: drop, not reject
  });

  it('a NodePort makes both families externally accessible', () => {
    const { view } = build(dual({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }), []);
    expect(v4(view).externallyAccessible).toBe(true);
    expect(v6(view).externallyAccessible).toBe(true);
  });
});

describe('which services are proxied (§2.1, §2.4)', () => {
  it('a ClusterIP service is proxied', () => {
    expect(build(rawService('web'), []).view.proxied).toBe(true);
  });

  it('a headless service is not proxied, but its ready endpoints are published for DNS', () => {
    const { view } = build(rawService('db', { clusterIPs: ['None'] }), [
      rawSlice('db-aaaaa', [rawEp('10.0.0.1', { hostname: 'db-0' }), rawEp('10.0.0.2', { hostname: 'db-1', cond: NOT_READY })], {
        service: 'db', labels: { [HEADLESS]: '' },
      }),
    ]);
    expect(view.proxied).toBe(false);
    expect(view.headless).toBe(true);
    expect(view.clusterIPs).toEqual([]);
    expect(view.dnsEndpoints).toEqual([{ ip: '10.0.0.1', hostname: 'db-0', nodeName: 'node-b', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }]);
  });

  it('headless via spec.clusterIP only (no clusterIPs list)', () => {
    const { view } = build(rawService('db', { spec: { clusterIP: 'None', clusterIPs: undefined } }), []);
    expect(view.headless).toBe(true);
    expect(view.proxied).toBe(false);
  });

  it('an ExternalName service is not proxied, even if it has a ClusterIP', () => {
    const { view } = build(rawService('ext', { type: 'ExternalName', externalName: 'db.example.com.', clusterIPs: ['10.96.0.20'] }), []);
    expect(view.proxied).toBe(false);
    expect(view.externalName).toBe('db.example.com');
  });

  it('a Service labelled service-proxy-name belongs to another proxy; DNS still answers for it', () => {
    const { view } = build(rawService('web', { labels: { [PROXY_NAME]: 'other-proxy' } }), [rawSlice('web-aaaaa', [rawEp('10.0.0.1')])]);
    expect(view.proxied).toBe(false);
    expect(view.dnsEndpoints.map((d) => d.ip)).toEqual(['10.0.0.1']);
  });

  it('a Service labelled service.kubernetes.io/headless is hidden from the proxy (kube-proxy selects it out); DNS still answers', () => {
    const { view } = build(rawService('web', { labels: { [HEADLESS]: '' } }), [rawSlice('web-aaaaa', [rawEp('10.0.0.1')])]);
    expect(view.proxied).toBe(false);
    expect(view.clusterIPs.length).toBeGreaterThan(0);
    expect(view.dnsEndpoints.map((d) => d.ip)).toEqual(['10.0.0.1']);
  });

  it("the latest last-change-trigger-time of the Service's slices, and only a change of endpoints is a change", () => {
    const at = (t: string | undefined, ip = '10.0.0.1') => {
      const s = rawSlice('web-aaaaa', [rawEp(ip)]);
      if (t !== undefined) (s.metadata as Record<string, unknown>).annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': t };
      return s;
    };
    const two = build(rawService('web'), [at('2026-11-22T06:00:00Z'), { ...at('2026-11-22T06:00:05Z', '10.0.0.2'), metadata: { ...(at('2026-11-22T06:00:05Z').metadata as object), name: 'web-bbbbb' } }]).view;
    expect(two.triggerTime).toBe(Date.parse('2026-11-22T06:00:05Z'));
    expect(build(rawService('web'), [at(undefined)]).view.triggerTime).toBe(0);
    expect(build(rawService('web'), [at('not a time')]).view.triggerTime).toBe(0);
    expect(sameServiceView(build(rawService('web'), [at('2026-11-22T06:00:00Z')]).view, build(rawService('web'), [at('2026-11-22T07:00:00Z')]).view)).toBe(true);
    expect(sameServiceView(build(rawService('web'), [at('2026-11-22T06:00:00Z')]).view, build(rawService('web'), [at('2026-11-22T07:00:00Z', '10.0.0.9')]).view)).toBe(false);
  });

  it('service-proxy-name excludes the Service whatever its value, even empty', () => {
    const { view } = build(rawService('web', { labels: { [PROXY_NAME]: '' } }), []);
    expect(view.proxied).toBe(false);
  });

  it('a slice labelled service-proxy-name is ignored by the proxy but kept for DNS', () => {
    const { view } = build(rawService('web'), [
      rawSlice('web-aaaaa', [rawEp('10.0.0.1')]),
      rawSlice('web-bbbbb', [rawEp('10.0.0.2', { hostname: 'b' })], { labels: { [PROXY_NAME]: 'other-proxy' } }),
      rawSlice('web-ccccc', [rawEp('10.0.0.3')], { labels: { [PROXY_NAME]: '' } }),
    ]);
    expect(keys(v4(view).all)).toEqual(['10.0.0.1:8080']);
    expect(view.dnsEndpoints.map((d) => d.ip)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  });

  it('a slice labelled service.kubernetes.io/headless is ignored by the proxy (kube-proxy selector) but kept for DNS', () => {
    const { view } = build(rawService('web'), [
      rawSlice('web-aaaaa', [rawEp('10.0.0.1')]),
      rawSlice('web-bbbbb', [rawEp('10.0.0.2')], { labels: { [HEADLESS]: '' } }),
    ]);
    expect(keys(v4(view).all)).toEqual(['10.0.0.1:8080']);
    expect(view.dnsEndpoints.map((d) => d.ip)).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('a service without any valid ClusterIP is not proxied', () => {
    const { view, warns } = build(rawService('web', { clusterIPs: ['not-an-ip'] }), []);
    expect(view.clusterIPs).toEqual([]);
    expect(view.proxied).toBe(false);
    expect(warns.length).toBeGreaterThan(0);
  });

  it('invalid ClusterIPs are dropped, valid ones kept in spec order', () => {
    const { view, warns } = build(rawService('web', { clusterIPs: ['fd00:96::10', '10.96.0.300', '10.96.0.10'] }), []);
    expect(view.clusterIPs).toEqual(['fd00:96::10', '10.96.0.10']);
    expect(warns).toHaveLength(1);
  });
});

describe('other Service fields (§2.4)', () => {
  it('LoadBalancer ingress: VIP-mode IPs only; ipMode Proxy and hostname-only entries are left out', () => {
    const { view } = build(
      rawService('lb', {
        type: 'LoadBalancer',
        ports: [{ name: 'http', port: 80, nodePort: 30080 }],
        ingress: [
          { ip: '198.51.100.1' },
          { ip: '198.51.100.2', ipMode: 'Proxy' },
          { hostname: 'lb.example.com' },
          { ip: '198.51.100.3', ipMode: 'VIP', hostname: 'also-has-a-name.example.com' },
          { ip: '2001:db8::7', ipMode: 'VIP' },
        ],
      }),
      [],
    );
    expect(view.loadBalancerIPs).toEqual(['198.51.100.1', '198.51.100.3', '2001:db8::7']);
  });

  it('loadBalancerSourceRanges are whitespace-trimmed; invalid ones are dropped with a warning', () => {
    const { view, warns } = build(
      rawService('lb', {
        type: 'LoadBalancer',
        ports: [{ name: 'http', port: 80, nodePort: 30080 }],
        sourceRanges: [' 10.0.0.0/8 ', '192.168.1.0/24\n', 'bogus', '2001:db8::/32', '10.1.0.0/33', '\t172.16.0.0/12'],
      }),
      [],
    );
    expect(view.loadBalancerSourceRanges).toEqual(['10.0.0.0/8', '192.168.1.0/24', '2001:db8::/32', '172.16.0.0/12']);
    expect(warns).toHaveLength(2);
    expect(warns.join('\n')).toContain('bogus');
    expect(warns.join('\n')).toContain('10.1.0.0/33');
  });

  it.each<[string, ServiceOpts, number]>([
    ['sessionAffinity None → no affinity', { affinity: 'None' }, 0],
    ['ClientIP without a config → the default 10800 s', { affinity: 'ClientIP' }, 10800],
    ['ClientIP with timeoutSeconds 60', { affinity: 'ClientIP', affinityTimeout: 60 }, 60],
    ['ClientIP with the maximum, 86400', { affinity: 'ClientIP', affinityTimeout: 86400 }, 86400],
  ])('%s', (_, opts, timeout) => {
    expect(build(rawService('web', opts), []).view.affinityTimeout).toBe(timeout);
  });

  it('externalIPs and healthCheckNodePort are carried through', () => {
    const { view } = build(
      rawService('lb', { type: 'LoadBalancer', etp: 'Local', healthCheckNodePort: 32000, externalIPs: ['203.0.113.7', '2001:db8::9'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] }),
      [],
    );
    expect(view.externalIPs).toEqual(['203.0.113.7', '2001:db8::9']);
    expect(view.healthCheckNodePort).toBe(32000);
    expect(view.externalTrafficPolicy).toBe('Local');
  });
});

describe('health check and conntrack inputs', () => {
  it('localReadyIPs counts distinct local Ready IPs; terminating, not-ready and remote ones do not count', () => {
    const { view } = build(
      rawService('web', { type: 'LoadBalancer', etp: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'https', port: 443, nodePort: 30443 }] }),
      [
        rawSlice('web-aaaaa', [
          rawEp('10.0.0.1', { nodeName: SELF }),
          rawEp('10.0.0.2', { nodeName: SELF, cond: SERVING_TERMINATING }),
          rawEp('10.0.0.3', { nodeName: SELF, cond: NOT_READY }),
          rawEp('10.0.0.4'),
          rawEp('10.0.0.5', { nodeName: SELF }),
        ], { ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'https', protocol: 'TCP', port: 8443 }] }),
      ],
    );
    expect(view.localReadyIPs).toEqual({ v4: 2, v6: 0 });
  });

  it('only terminating local endpoints → 0 for the health check, though local traffic still goes to them', () => {
    const { view } = build(rawService('web', { type: 'NodePort', etp: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }), [
      rawSlice('web-aaaaa', [rawEp('10.0.0.1', { nodeName: SELF, cond: SERVING_TERMINATING }), rawEp('10.0.0.2')]),
    ]);
    expect(view.localReadyIPs.v4).toBe(0);
    expect(keys(v4(view).local)).toEqual(['10.0.0.1:8080']);
  });

  it('servingIPs holds every serving endpoint IP, terminating included, whatever the policy and topology', () => {
    const { view } = build(rawService('dns', { itp: 'Local', ports: [{ name: 'dns', protocol: 'UDP', port: 53 }] }), [
      rawSlice('dns-aaaaa', [
        rawEp('10.0.0.1', { nodeName: SELF, hints: zoneHints('zone-b') }),
        rawEp('10.0.0.2', { cond: SERVING_TERMINATING }),
        rawEp('10.0.0.3', { cond: NOT_SERVING_TERMINATING }),
        rawEp('10.0.0.4', { cond: NOT_READY }),
        rawEp('10.0.0.5', { hints: zoneHints('zone-c') }),
      ], { service: 'dns', ports: [{ name: 'dns', protocol: 'UDP', port: 53 }] }),
    ]);
    const f = v4(view, 'dns', 'UDP');
    expect(f.servingIPs).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.5']);
    expect(keys(f.local)).toEqual(['10.0.0.1:53']);
  });
});

describe('topology through the service view', () => {
  const hinted = [
    rawSlice('web-aaaaa', [
      rawEp('10.0.0.1', { zone: 'zone-a', hints: zoneHints('zone-a') }),
      rawEp('10.0.0.2', { zone: 'zone-b', hints: zoneHints('zone-b') }),
      rawEp('10.0.0.3', { zone: 'zone-b', hints: zoneHints('zone-b'), cond: NOT_READY }),
    ]),
  ];

  it('zone hints filter cluster endpoints for a node in a hinted zone', () => {
    expect(keys(v4(build(rawService('web'), hinted).view).cluster)).toEqual(['10.0.0.1:8080']);
  });

  it('a node without a zone uses every Ready endpoint', () => {
    expect(keys(v4(build(rawService('web'), hinted, '').view).cluster)).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
  });

  it('spec.trafficDistribution alone changes nothing: kube-proxy only reads hints', () => {
    const plain = [rawSlice('web-aaaaa', [rawEp('10.0.0.1', { zone: 'zone-a' }), rawEp('10.0.0.2', { zone: 'zone-b' })])];
    const { view } = build(rawService('web', { trafficDistribution: 'PreferSameZone' }), plain);
    expect(keys(v4(view).cluster)).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
  });

  it('node hints from the slice select this node', () => {
    const { view } = build(rawService('web'), [
      rawSlice('web-aaaaa', [
        rawEp('10.0.0.1', { nodeName: SELF, hints: { forNodes: [{ name: SELF }], forZones: [{ name: 'zone-a' }] } }),
        rawEp('10.0.0.2', { nodeName: 'node-b', hints: { forNodes: [{ name: 'node-b' }], forZones: [{ name: 'zone-a' }] } }),
      ]),
    ]);
    expect(keys(v4(view).cluster)).toEqual(['10.0.0.1:8080']);
  });
});

describe('DNS endpoints', () => {
  it('Ready endpoints of every slice, deduplicated by IP, sorted, with ports of all their slices', () => {
    const { view } = build(rawService('web', { ports: [{ name: 'http', port: 80 }, { name: 'grpc', port: 90 }] }), [
      rawSlice('web-bbbbb', [rawEp('10.0.0.2', { hostname: 'two' }), rawEp('10.0.0.1')], { ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }),
      rawSlice('web-aaaaa', [rawEp('10.0.0.1', { hostname: 'one' }), rawEp('10.0.0.3', { cond: SERVING_TERMINATING })], {
        ports: [{ name: 'grpc', protocol: 'TCP', port: 9090 }],
      }),
    ]);
    expect(view.dnsEndpoints).toEqual([
      { ip: '10.0.0.1', hostname: 'one', nodeName: 'node-b', ports: [{ name: 'grpc', protocol: 'TCP', port: 9090 }, { name: 'http', protocol: 'TCP', port: 8080 }] },
      { ip: '10.0.0.2', hostname: 'two', nodeName: 'node-b', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] },
    ]);
    // Not kept on a Service with a cluster IP (read to index it, then only by rare questions):
    // each read gives a fresh, equal list.
    expect(view.dnsEndpoints).not.toBe(view.dnsEndpoints);
    expect(view.dnsEndpoints).toEqual(view.dnsEndpoints);
  });

  it("a headless Service's are computed once, on first read, then kept (its A answers are them)", () => {
    const { view } = build(rawService('db', { clusterIPs: ['None'] }), [rawSlice('db-aaaaa', [rawEp('10.0.0.2'), rawEp('10.0.0.1')])]);
    expect(view.dnsEndpoints.map((d) => d.ip)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(view.dnsEndpoints).toBe(view.dnsEndpoints);
  });
});

describe('memory layout', () => {
  it('empty lists are one shared frozen array: writing to one throws instead of changing every view', () => {
    const { view } = build(rawService('web'), [rawSlice('web-aaaaa', [rawEp('10.0.0.1')])]);
    const f = v6(view);
    expect(f.all).toBe(v4(view).local);
    expect(f.servingIPs).toBe(f.all);
    expect(() => f.all.push(v4(view).all[0]!)).toThrow(TypeError);
    expect(f.all).toEqual([]);
  });

  it('endpoints are read through to the slice endpoint, with the port and locality of the service port', () => {
    const { view } = build(rawService('web', { ports: [{ name: 'http', port: 80 }, { name: 'grpc', port: 90 }] }), [
      rawSlice('web-aaaaa', [rawEp('10.0.0.1', { nodeName: SELF, hints: { forZones: [{ name: 'zone-a' }], forNodes: [{ name: SELF }] } })], {
        ports: [{ name: 'http', protocol: 'TCP', port: 65535 }, { name: 'grpc', protocol: 'TCP', port: 1 }],
      }),
    ]);
    const pick = (e: EndpointView) => ({ ip: e.ip, port: e.port, local: e.local, ready: e.ready, serving: e.serving, terminating: e.terminating, nodeName: e.nodeName, zoneHints: e.zoneHints, nodeHints: e.nodeHints });
    const want = { ip: '10.0.0.1', local: true, ready: true, serving: true, terminating: false, nodeName: SELF, zoneHints: ['zone-a'], nodeHints: [SELF] };
    expect(pick(v4(view).all[0]!)).toEqual({ ...want, port: 65535 });
    expect(pick(v4(view, 'grpc').all[0]!)).toEqual({ ...want, port: 1 });
  });
});
