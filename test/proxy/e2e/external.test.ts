// NodePorts, LoadBalancer IPs, externalIPs and externalTrafficPolicy end to end: outside hosts
// on the node's segment are the off-node clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabPod } from '../../../testbed/lab/index.ts';
import { ProxyLab, clusterIP, nodePort } from './harness.ts';

const LB_IP = '198.18.10.1';
const EXT_IP = '198.18.10.2';
const FW_IP = '198.18.10.4';
const LB_IP6 = 'fd00:198:18:10::1';

describe('proxy e2e: NodePort, LoadBalancer, externalIPs', () => {
  const L = new ProxyLab();
  let client: LabPod, a1: LabPod, b1: LabPod;

  beforeAll(async () => {
    await L.start();
    [client, a1, b1] = await Promise.all([L.pod(L.a, 'client'), L.pod(L.a, 'a1'), L.pod(L.b, 'b1')]);
    await L.startAgent();
  }, 60_000);
  afterAll(() => L.destroy(), 30_000);

  it('NodePort, externalTrafficPolicy Cluster: every endpoint, source masqueraded', async () => {
    const svc = L.service('np', { type: 'NodePort', ports: [{ name: 't', port: 80, targetPort: 8080 }, { name: 'u', protocol: 'UDP', port: 53, targetPort: 5353 }] });
    L.slice('np', 'np-1', 4, [{ name: 't', port: 8080 }, { name: 'u', protocol: 'UDP', port: 5353 }], [{ ip: a1.ipv4, node: 'a' }, { ip: b1.ipv4, node: 'b' }]);
    const t = { proto: 'tcp' as const, host: L.a.ipv4, port: nodePort(svc) };
    await L.until('nodeport', L.out, t, (r) => r.outcome === 'ok');
    expect([...(await L.backends(L.out, t, 30)).keys()].sort()).toEqual(['a1', 'b1']);
    const r = await L.probe(L.out, t);
    expect(r.client?.replace(/:\d+$/, '')).toBe(L.a.ipv4);
    expect((await L.probe(L.out, { proto: 'udp', host: L.a.ipv4, port: nodePort(svc, 1) })).outcome).toBe('ok');
    // NodePorts answer on the node's primary IP only: not on a ClusterIP.
    expect((await L.probe(client, { proto: 'tcp', host: clusterIP(svc), port: nodePort(svc) })).outcome).toBe('refused');
  });

  it('a remote pod reaching itself through this node\'s NodePort (eTP Local short-circuit) is masqueraded (hairpin)', async () => {
    // b1 lives on node b (no local endpoint here): its packet to a's NodePort is short-circuited
    // to the cluster endpoints, i.e. back to b1. Unmasqueraded, b1 would get its own address
    // as the source and drop the SYN.
    const svc = L.service('selfnp', { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080 }] });
    L.slice('selfnp', 'selfnp-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    const t = { proto: 'tcp' as const, host: L.a.ipv4, port: nodePort(svc) };
    const r = await L.until('b1 to itself via a\'s NodePort', b1, t, (x) => x.outcome === 'ok');
    expect(r.name).toBe('b1');
    expect(r.client?.replace(/:\d+$/, '')).toBe(L.a.ipv4);
  });

  it('NodePort without endpoints is rejected', async () => {
    const svc = L.service('np-empty', { type: 'NodePort', ports: [{ port: 80, targetPort: 8080 }] });
    await L.until('nodeport refused', L.out, { proto: 'tcp', host: L.a.ipv4, port: nodePort(svc) }, (r) => r.outcome === 'refused');
  });

  it('externalTrafficPolicy Local: local endpoints only, client IP kept, health check node port, drop without local endpoints', async () => {
    const svc = L.service(
      'etp',
      { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080 }] },
      {},
      { loadBalancer: { ingress: [{ ip: LB_IP }] } },
    );
    const hc = (svc.spec as { healthCheckNodePort: number }).healthCheckNodePort;
    expect(hc).toBeGreaterThan(0);
    L.slice('etp', 'etp-1', 4, [{ port: 8080 }], [{ ip: a1.ipv4, node: 'a' }, { ip: b1.ipv4, node: 'b' }]);
    const np = { proto: 'tcp' as const, host: L.a.ipv4, port: nodePort(svc) };
    const lb = { proto: 'tcp' as const, host: LB_IP, port: 80 };
    await L.until('etp nodeport', L.out, np, (r) => r.outcome === 'ok');
    for (const t of [np, lb]) {
      const seen = await L.backends(L.out, t, 15);
      expect([...seen.keys()]).toEqual(['a1']);
      const r = await L.probe(L.out, t);
      expect(r.client?.replace(/:\d+$/, '')).toBe(L.out.ipv4);
    }
    // Pods on this node short-circuit to every endpoint (no SNAT for them either).
    expect([...(await L.backends(client, lb, 30)).keys()].sort()).toEqual(['a1', 'b1']);
    const h = await L.http(L.out, `http://${L.a.ipv4}:${hc}/healthz`);
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body)).toEqual({ service: { namespace: 'default', name: 'etp' }, localEndpoints: 1, serviceProxyHealthy: true });

    // The local endpoint goes away: outside clients are dropped, the LB is told by a 503,
    // and the node's own pods still reach the remote endpoint.
    L.slice('etp', 'etp-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    await L.until('etp dropped', L.out, np, (r) => r.outcome === 'timeout');
    expect((await L.probe(L.out, lb)).outcome).toBe('timeout');
    const h2 = await L.http(L.out, `http://${L.a.ipv4}:${hc}/healthz`);
    expect(h2.status).toBe(503);
    expect(JSON.parse(h2.body).localEndpoints).toBe(0);
    expect((await L.probe(client, lb)).name).toBe('b1');
    // The node itself too (and it is masqueraded, as kube-proxy does).
    expect((await L.probe(L.a, np)).name).toBe('b1');
  });

  it('loadBalancerSourceRanges filter LB IPs only; externalIPs and NodePorts are not filtered', async () => {
    const svc = L.service(
      'fw',
      {
        type: 'LoadBalancer',
        externalIPs: [EXT_IP],
        loadBalancerSourceRanges: [`${L.out.ipv4}/32`],
        ports: [{ port: 80, targetPort: 8080 }],
      },
      {},
      { loadBalancer: { ingress: [{ ip: FW_IP }, { ip: '198.18.10.3', ipMode: 'Proxy' }] } },
    );
    L.slice('fw', 'fw-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    await L.until('lb allowed', L.out, { proto: 'tcp', host: FW_IP, port: 80 }, (r) => r.outcome === 'ok');
    expect((await L.probe(L.out2, { proto: 'tcp', host: FW_IP, port: 80 })).outcome).toBe('timeout');
    expect((await L.probe(L.out2, { proto: 'tcp', host: EXT_IP, port: 80 })).name).toBe('b1');
    expect((await L.probe(L.out2, { proto: 'tcp', host: L.a.ipv4, port: nodePort(svc) })).name).toBe('b1');
    // A pod outside the ranges is filtered too (kube-proxy: source ranges apply to pod→LB IP).
    expect((await L.probe(client, { proto: 'tcp', host: FW_IP, port: 80 })).outcome).toBe('timeout');
    // ipMode Proxy: the LB proxies itself, the node programs nothing for that IP.
    expect(await L.nft('list', 'map', 'ip', 'nodeway', 'service-ips')).not.toContain('198.18.10.3');
    // The node's own range allowed: the LB IP itself is allowed as a source (VIP loopback).
    L.patchService('fw', { spec: { loadBalancerSourceRanges: ['198.18.0.0/24'] } });
    await L.until('lb allowed for out2', L.out2, { proto: 'tcp', host: FW_IP, port: 80 }, (r) => r.outcome === 'ok');
    expect(await L.nft('list', 'table', 'ip', 'nodeway')).toMatch(/saddr != \{ 198\.18\.0\.0\/24, 198\.18\.10\.4 \} drop/);
  });

  it('IPv6 LoadBalancer IP and NodePort', async () => {
    const svc = L.service(
      'lb6',
      { type: 'LoadBalancer', ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'], ports: [{ port: 80, targetPort: 8080 }] },
      {},
      { loadBalancer: { ingress: [{ ip: LB_IP6 }] } },
    );
    L.slice('lb6', 'lb6-1', 6, [{ port: 8080 }], [{ ip: b1.ipv6!, node: 'b' }]);
    const r = await L.until('lb6', L.out, { proto: 'tcp', host: LB_IP6, port: 80 }, (x) => x.outcome === 'ok');
    expect(r.name).toBe('b1');
    expect((await L.probe(L.out, { proto: 'tcp', host: L.a.ipv6!, port: nodePort(svc) })).name).toBe('b1');
  });
});
