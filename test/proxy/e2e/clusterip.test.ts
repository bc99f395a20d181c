// ClusterIP end to end: the agent in node a programs nft from the embedded API server, and
// pods, the host and outside machines reach (or are refused by) the right backends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabPod } from '../../../testbed/lab/index.ts';
import { ProxyLab, clusterIP } from './harness.ts';

describe('proxy e2e: ClusterIP', () => {
  const L = new ProxyLab();
  let client: LabPod, a1: LabPod, b1: LabPod, b2: LabPod;

  beforeAll(async () => {
    await L.start();
    [client, a1, b1, b2] = await Promise.all([L.pod(L.a, 'client'), L.pod(L.a, 'a1'), L.pod(L.b, 'b1', [8080, 9090]), L.pod(L.b, 'b2', [8080, 9090])]);
    await L.startAgent();
  }, 60_000);
  afterAll(() => L.destroy(), 30_000);

  it('TCP and UDP on the same port, named target ports resolved per slice, several slices', async () => {
    const svc = L.service('web', {
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' },
        { name: 'dns', protocol: 'UDP', port: 80, targetPort: 5353 },
      ],
    });
    const ip = clusterIP(svc);
    // Two slices; the named port "http" is 8080 on a1 and 9090 on b2.
    L.slice('web', 'web-1', 4, [{ name: 'http', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 5353 }], [{ ip: a1.ipv4, node: 'a' }]);
    L.slice('web', 'web-2', 4, [{ name: 'http', port: 9090 }, { name: 'dns', protocol: 'UDP', port: 5353 }], [{ ip: b2.ipv4, node: 'b' }]);
    await L.until('web answers', client, { proto: 'tcp', host: ip, port: 80 }, (r) => r.outcome === 'ok');
    const tcp = await L.backends(client, { proto: 'tcp', host: ip, port: 80 }, 30);
    expect([...tcp.keys()].sort()).toEqual(['a1', 'b2']);
    const udp = await L.backends(client, { proto: 'udp', host: ip, port: 80 }, 30);
    expect([...udp.keys()].sort()).toEqual(['a1', 'b2']);
    const r = await L.probe(client, { proto: 'tcp', host: ip, port: 80 });
    // Pod to ClusterIP keeps the pod's address.
    expect(r.client?.replace(/:\d+$/, '')).toBe(client.ipv4);
    // The node itself (host network, output path) reaches it too.
    expect((await L.probe(L.a, { proto: 'tcp', host: ip, port: 80 })).outcome).toBe('ok');
    // An unknown port of a live ClusterIP is rejected, not left to time out.
    expect((await L.probe(client, { proto: 'tcp', host: ip, port: 81 })).outcome).toBe('refused');
  });

  it('an endpoint replaced one for one: the new backend serves at once (overrides map), and still after the move to the main map', async () => {
    const ip = clusterIP(L.service('swap', { ports: [{ port: 80, targetPort: 8080 }] }));
    L.slice('swap', 'swap-1', 4, [{ port: 8080 }], [{ ip: a1.ipv4, node: 'a' }, { ip: b1.ipv4, node: 'b' }]);
    await L.until('swap answers', client, { proto: 'tcp', host: ip, port: 80 }, (r) => r.outcome === 'ok');
    L.slice('swap', 'swap-1', 4, [{ port: 8080 }], [{ ip: a1.ipv4, node: 'a' }, { ip: b2.ipv4, node: 'b' }]);
    await L.until('b2 serves', client, { proto: 'tcp', host: ip, port: 80 }, (r) => r.name === 'b2');
    expect([...(await L.backends(client, { proto: 'tcp', host: ip, port: 80 }, 20)).keys()].sort()).toEqual(['a1', 'b2']);
    // The agent moves overridden endpoints a second after the change.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await L.nft('list', 'map', 'ip', 'nodeway', 'endpoint-overrides-tcp')).not.toContain(b2.ipv4);
    expect(await L.nft('list', 'map', 'ip', 'nodeway', 'endpoint-picks-tcp')).toContain(b2.ipv4);
    expect([...(await L.backends(client, { proto: 'tcp', host: ip, port: 80 }, 20)).keys()].sort()).toEqual(['a1', 'b2']);
  });

  it('no endpoints: TCP and UDP are rejected at once, from pods and from the node', async () => {
    const ip = clusterIP(L.service('empty', { ports: [{ name: 'tcp', port: 80, targetPort: 8080 }, { name: 'udp', protocol: 'UDP', port: 53, targetPort: 5353 }] }));
    const r = await L.until('empty refused', client, { proto: 'tcp', host: ip, port: 80 }, (x) => x.outcome === 'refused');
    expect(r.outcome).toBe('refused');
    expect((await L.probe(client, { proto: 'udp', host: ip, port: 53 })).outcome).toBe('refused');
    expect((await L.probe(L.a, { proto: 'tcp', host: ip, port: 80 })).outcome).toBe('refused');
    // An endpoint appears: traffic flows.
    L.slice('empty', 'empty-1', 4, [{ name: 'tcp', port: 8080 }, { name: 'udp', protocol: 'UDP', port: 5353 }], [{ ip: b1.ipv4, node: 'b' }]);
    await L.until('empty answers', client, { proto: 'udp', host: ip, port: 53 }, (x) => x.outcome === 'ok' && x.name === 'b1');
  });

  it('internalTrafficPolicy Local: drop without local endpoints, only local ones otherwise', async () => {
    const ip = clusterIP(L.service('itp', { internalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080 }] }));
    L.slice('itp', 'itp-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    // DROP, not REJECT: the client times out.
    await L.until('itp dropped', client, { proto: 'tcp', host: ip, port: 80 }, (x) => x.outcome === 'timeout');
    L.slice('itp', 'itp-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }, { ip: a1.ipv4, node: 'a' }]);
    await L.until('itp local', client, { proto: 'tcp', host: ip, port: 80 }, (x) => x.outcome === 'ok');
    expect([...(await L.backends(client, { proto: 'tcp', host: ip, port: 80 }, 15)).keys()]).toEqual(['a1']);
  });

  it('topology hints for this zone, and the serving-terminating fallback', async () => {
    const ip = clusterIP(L.service('topo', { ports: [{ port: 80, targetPort: 8080 }] }));
    L.slice('topo', 'topo-1', 4, [{ port: 8080 }], [
      { ip: b1.ipv4, node: 'b', zones: ['zone-a'] },
      { ip: b2.ipv4, node: 'b', zones: ['zone-b'] },
    ]);
    await L.until('topo', client, { proto: 'tcp', host: ip, port: 80 }, (x) => x.outcome === 'ok');
    expect([...(await L.backends(client, { proto: 'tcp', host: ip, port: 80 }, 15)).keys()]).toEqual(['b1']);
    // Every endpoint terminating: the serving ones still take traffic, the others never.
    L.slice('topo', 'topo-1', 4, [{ port: 8080 }], [
      { ip: b1.ipv4, node: 'b', ready: false, serving: false, terminating: true },
      { ip: b2.ipv4, node: 'b', ready: false, serving: true, terminating: true },
    ]);
    await L.until('fallback', client, { proto: 'tcp', host: ip, port: 80 }, (x) => x.name === 'b2');
    expect([...(await L.backends(client, { proto: 'tcp', host: ip, port: 80 }, 15)).keys()]).toEqual(['b2']);
  });

  it('hairpin and off-cluster sources are masqueraded; pod sources are not', async () => {
    const ip = clusterIP(L.service('self', { ports: [{ port: 80, targetPort: 8080 }] }));
    L.slice('self', 'self-1', 4, [{ port: 8080 }], [{ ip: a1.ipv4, node: 'a' }]);
    const r = await L.until('hairpin', a1, { proto: 'tcp', host: ip, port: 80 }, (x) => x.outcome === 'ok');
    expect(r.name).toBe('a1');
    expect(r.client?.replace(/:\d+$/, '')).not.toBe(a1.ipv4);
    // From outside the cluster CIDRs to an off-node endpoint: SNAT to the node, or the reply would bypass it.
    const far = clusterIP(L.service('far', { ports: [{ port: 80, targetPort: 8080 }] }));
    L.slice('far', 'far-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    const o = await L.until('outside to ClusterIP', L.out, { proto: 'tcp', host: far, port: 80 }, (x) => x.outcome === 'ok');
    expect(o.client?.replace(/:\d+$/, '')).toBe(L.a.ipv4);
  });

  it('Services for another proxy, or headless, get no rules', async () => {
    const other = L.service('other', { ports: [{ port: 80, targetPort: 8080 }] }, { 'service.kubernetes.io/service-proxy-name': 'someone-else' });
    L.slice('other', 'other-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    L.service('headless', { clusterIP: 'None', ports: [{ port: 80, targetPort: 8080 }] });
    L.slice('headless', 'headless-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    // A later Service shows the earlier events were processed.
    const mark = clusterIP(L.service('marker', { ports: [{ port: 80, targetPort: 8080 }] }));
    await L.until('marker refused', client, { proto: 'tcp', host: mark, port: 80 }, (x) => x.outcome === 'refused');
    const table = await L.nft('list', 'table', 'ip', 'nodeway');
    expect(table).not.toContain(clusterIP(other));
    expect(table).not.toContain('headless');
    expect((await L.probe(client, { proto: 'tcp', host: clusterIP(other), port: 80 })).outcome).toBe('timeout');
  });

  it('dual-stack: the IPv6 ClusterIP works on its own table', async () => {
    const svc = L.service('web6', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], ports: [{ port: 80, targetPort: 8080 }] });
    L.slice('web6', 'web6-v4', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    L.slice('web6', 'web6-v6', 6, [{ port: 8080 }], [{ ip: b2.ipv6!, node: 'b' }]);
    const r6 = await L.until('v6', client, { proto: 'tcp', host: clusterIP(svc, 6), port: 80 }, (x) => x.outcome === 'ok');
    expect(r6.name).toBe('b2');
    expect(r6.client).toContain(client.ipv6!);
    const r4 = await L.until('v4', client, { proto: 'tcp', host: clusterIP(svc, 4), port: 80 }, (x) => x.outcome === 'ok');
    expect(r4.name).toBe('b1');
    expect(await L.nft('list', 'map', 'ip6', 'nodeway', 'service-ips')).toContain(clusterIP(svc, 6));
  });

  it('session affinity ClientIP sticks for its timeout', async () => {
    const svc = L.service('sticky', {
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 2 } },
      ports: [{ port: 80, targetPort: 8080 }],
    });
    const ip = clusterIP(svc);
    L.slice('sticky', 'sticky-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }, { ip: b2.ipv4, node: 'b' }, { ip: a1.ipv4, node: 'a' }]);
    await L.until('sticky', client, { proto: 'tcp', host: ip, port: 80 }, (x) => x.outcome === 'ok');
    const seen = await L.backends(client, { proto: 'tcp', host: ip, port: 80 }, 20);
    expect(seen.size).toBe(1);
    const sets = await L.nft('-t', 'list', 'sets', 'ip');
    expect(sets).toMatch(/affinity-\S+default\/sticky\/tcp\/__/);
    expect(sets).toContain('timeout 2s');
    // The client is remembered, then forgotten after the timeout.
    const [name] = [...seen.keys()];
    const ep = { a1: a1.ipv4, b1: b1.ipv4, b2: b2.ipv4 }[name as 'a1'];
    const table = await L.nft('list', 'table', 'ip', 'nodeway');
    expect(table).toMatch(new RegExp(`sticky/tcp/__${ep!.replaceAll('.', '\\.')}/8080 \\{[^}]*elements = \\{ ${client.ipv4.replaceAll('.', '\\.')}`));
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await L.nft('list', 'table', 'ip', 'nodeway')).not.toContain(`elements = { ${client.ipv4}`);
  });

  it('stale UDP flows are cleaned when endpoints change, including scale to zero', async () => {
    const ip = clusterIP(L.service('udp', { ports: [{ protocol: 'UDP', port: 53, targetPort: 5353 }] }));
    L.slice('udp', 'udp-1', 4, [{ protocol: 'UDP', port: 5353 }], [{ ip: b1.ipv4, node: 'b' }]);
    const t = { proto: 'udp' as const, host: ip, port: 53, sport: 40053 };
    await L.until('udp b1', client, t, (x) => x.name === 'b1');
    // Scale to zero while b1 still runs: without cleanup the flow would keep reaching b1 (kubernetes#139628).
    L.slice('udp', 'udp-1', 4, [{ protocol: 'UDP', port: 5353 }], []);
    await L.until('udp refused', client, t, (x) => x.outcome === 'refused');
    L.slice('udp', 'udp-1', 4, [{ protocol: 'UDP', port: 5353 }], [{ ip: b2.ipv4, node: 'b' }]);
    await L.until('udp b2', client, t, (x) => x.name === 'b2');
    // And endpoint replaced while the old one lives on: the flow moves.
    L.slice('udp', 'udp-1', 4, [{ protocol: 'UDP', port: 5353 }], [{ ip: b1.ipv4, node: 'b' }]);
    await L.until('udp back to b1', client, t, (x) => x.name === 'b1');
  });
});
