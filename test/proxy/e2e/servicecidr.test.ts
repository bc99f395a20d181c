// ServiceCIDRs end to end (reference/kube-proxy.md §1.9: "unallocated IP inside a ServiceCIDR:
// drop"): the agent drops what it would otherwise route on, the probe tells that drop (timeout)
// from the reject of an unknown port on a live ClusterIP (refused), and the drop follows
// ServiceCIDR and Service changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabPod, NsRef, ProbeTarget } from '../../../testbed/lab/index.ts';
import { ProxyLab, clusterIP } from './harness.ts';

// Addresses of the Service CIDRs (198.19.0.0/24, fd00:198:19::/112) that no Service holds, outside
// the allocator's dynamic range. Node a routes them to the outside host, which answers on them:
// a packet the agent lets through is answered by "out" (over TCP: its UDP answers would come
// from its own address), a dropped one by nobody.
const FREE = '198.19.0.200';
const FREE6 = 'fd00:198:19::c8';
const CIDRS = 'networking.k8s.io/v1';

describe('proxy e2e: ServiceCIDR', () => {
  const L = new ProxyLab();
  let client: LabPod, b1: LabPod;
  const tcp = (host: string, port = 80): ProbeTarget => ({ proto: 'tcp', host, port });
  const udp = (host: string, port = 53): ProbeTarget => ({ proto: 'udp', host, port });
  const outcome = async (from: NsRef, t: ProbeTarget) => (await L.probe(from, t)).outcome;

  beforeAll(async () => {
    await L.start();
    [client, b1] = await Promise.all([L.pod(L.a, 'client'), L.pod(L.b, 'b1')]);
    await L.out.exec('sh', ['-c', [
      `ip addr add ${FREE}/32 dev lo`, `ip -6 addr add ${FREE6}/128 dev lo nodad`,
      `ip route add ${L.a.podCidrV4} via ${L.a.ipv4}`, `ip -6 route add ${L.a.podCidrV6} via ${L.a.ipv6}`,
    ].join(' && ')], { check: true });
    await L.a.exec('sh', ['-c', `ip route add ${FREE}/32 via ${L.out.ipv4} && ip -6 route add ${FREE6}/128 via ${L.out.ipv6}`], { check: true });
    await L.lab.startEchoServer(L.out, { name: 'out', tcp: [80], udp: [53] });
    await L.startAgent();
  }, 60_000);
  afterAll(() => L.destroy(), 30_000);

  it('an address of the Service CIDRs that no Service holds is dropped, from pods and from the node, both families', async () => {
    for (const host of [FREE, FREE6]) {
      expect(await outcome(client, tcp(host)), host).toBe('timeout');
      expect(await outcome(client, udp(host)), host).toBe('timeout');
      expect(await outcome(L.a, tcp(host)), host).toBe('timeout');
      // Dropped in the output hook, a datagram fails its own send (EPERM): still no ICMP reject.
      expect(await outcome(L.a, udp(host)), host).toBe('unreachable');
    }
    // Outside the Service CIDRs, nothing changes: the host itself answers.
    expect((await L.probe(client, tcp(L.out.ipv4))).name).toBe('out');
  });

  it('the drop follows the ServiceCIDR objects: their union, gone when the last one covering an address is', async () => {
    const original = L.api.get(CIDRS, 'servicecidrs', undefined, 'kubernetes');
    // A second ServiceCIDR inside the first one: the IPv4 address stays covered without it.
    L.api.create({ apiVersion: CIDRS, kind: 'ServiceCIDR', metadata: { name: 'extra' }, spec: { cidrs: ['198.19.0.192/26'] } });
    L.api.delete(CIDRS, 'servicecidrs', undefined, 'kubernetes');
    const r6 = await L.until('IPv6 routed on once no ServiceCIDR covers it', client, tcp(FREE6), (x) => x.outcome === 'ok');
    expect(r6.name).toBe('out');
    expect(await outcome(client, tcp(FREE))).toBe('timeout');
    expect(await L.nft('list', 'set', 'ip', 'nodeway', 'service-cidrs')).toContain('198.19.0.192/26');
    L.api.delete(CIDRS, 'servicecidrs', undefined, 'extra');
    const r4 = await L.until('IPv4 routed on too', client, tcp(FREE), (x) => x.outcome === 'ok');
    expect(r4.name).toBe('out');
    expect((await L.probe(L.a, tcp(FREE))).name).toBe('out');
    L.api.create({ apiVersion: CIDRS, kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec: original.spec });
    await L.until('dropped again', client, tcp(FREE), (x) => x.outcome === 'timeout');
    expect(await outcome(client, tcp(FREE6))).toBe('timeout');
  });

  it('an unknown port of a live ClusterIP is still rejected; a Service created at the free address answers', async () => {
    const live = clusterIP(L.service('live', { ports: [{ port: 80, targetPort: 8080 }] }));
    L.slice('live', 'live-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    await L.until('live', client, tcp(live), (x) => x.outcome === 'ok');
    expect(await outcome(client, tcp(live, 81))).toBe('refused');
    expect(await outcome(client, udp(live, 81))).toBe('refused');
    expect(await outcome(L.a, tcp(live, 81))).toBe('refused');

    const at = L.service('at-free', { clusterIP: FREE, ports: [{ port: 80, targetPort: 8080 }] });
    expect(clusterIP(at)).toBe(FREE);
    L.slice('at-free', 'at-free-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    const r = await L.until('the Service at the address answers', client, tcp(FREE), (x) => x.outcome === 'ok');
    expect(r.name).toBe('b1');
    // Allocated now: its other ports are rejected, not dropped.
    expect(await outcome(client, tcp(FREE, 81))).toBe('refused');
    L.api.delete('v1', 'services', 'default', 'at-free');
    await L.until('dropped once the Service is gone', client, tcp(FREE), (x) => x.outcome === 'timeout');
  });
});
