// ClusterIP end to end: the agent in node a programs nft from the embedded API server, and
// pods, the host and outside machines reach (or are refused by) the right backends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabPod } from '../../../src/lab/index.ts';
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
    void b1;
  });
});
