// The agent's life: restarts never leave a moment without rules and keep affinity, a table
// changed behind its back is repaired by the full resync after the failed transaction, flags
// change what a restart programs, and cleanup removes everything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabPod } from '../../../testbed/lab/index.ts';
import { ProxyLab, clusterIP, waitFor } from './harness.ts';

describe('proxy e2e: lifecycle', () => {
  const L = new ProxyLab();
  let client: LabPod, b1: LabPod, b2: LabPod;
  let web = '';
  let sticky = '';

  beforeAll(async () => {
    await L.start();
    [client, b1, b2] = await Promise.all([L.pod(L.a, 'client'), L.pod(L.b, 'b1'), L.pod(L.b, 'b2')]);
    await L.startAgent();
    web = clusterIP(L.service('web', { ports: [{ port: 80, targetPort: 8080 }] }));
    L.slice('web', 'web-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }, { ip: b2.ipv4, node: 'b' }]);
    sticky = clusterIP(L.service('sticky', { sessionAffinity: 'ClientIP', ports: [{ port: 80, targetPort: 8080 }] }));
    L.slice('sticky', 'sticky-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }, { ip: b2.ipv4, node: 'b' }]);
    await L.until('web', client, { proto: 'tcp', host: web, port: 80 }, (r) => r.outcome === 'ok');
    await L.until('sticky', client, { proto: 'tcp', host: sticky, port: 80 }, (r) => r.outcome === 'ok');
  }, 60_000);
  afterAll(() => L.destroy(), 30_000);

  it('a restart never opens a window without rules, and keeps affinity', async () => {
    const first = (await L.probe(client, { proto: 'tcp', host: sticky, port: 80 })).name;
    const probing = L.lab.probeMany(client, { proto: 'tcp', host: web, port: 80, timeoutMs: 1000, intervalMs: 20 }, 150);
    await L.stopAgent();
    await L.startAgent();
    const results = await probing;
    expect(results.filter((r) => r.outcome !== 'ok').map((r) => r.line)).toEqual([]);
    // The restart rewrote the table in one transaction but kept the affinity sets' clients.
    expect([...(await L.backends(client, { proto: 'tcp', host: sticky, port: 80 }, 10)).keys()]).toEqual([first]);
  });

  it('a table deleted behind its back is rebuilt: the transaction fails, the retry rewrites', async () => {
    await L.nft('delete', 'table', 'ip', 'nodeway');
    // Any change now makes an incremental transaction that cannot apply.
    L.slice('web', 'web-1', 4, [{ port: 8080 }], [{ ip: b1.ipv4, node: 'b' }]);
    await L.until('rebuilt', client, { proto: 'tcp', host: web, port: 80 }, (r) => r.outcome === 'ok', 20_000);
    expect([...(await L.backends(client, { proto: 'tcp', host: web, port: 80 }, 10)).keys()]).toEqual(['b1']);
    const metrics = (await L.http(L.a, 'http://127.0.0.1:10256/metrics')).body;
    expect(metrics).toMatch(/kubeproxy_sync_proxy_rules_nftables_sync_failures_total\{ip_family="IPv4"\} [1-9]/);
    expect(metrics).toMatch(/kubeproxy_network_programming_duration_seconds_count [1-9]/);
    expect(metrics).toMatch(/kubeproxy_sync_proxy_rules_duration_seconds_count\{ip_family="IPv6"\} [1-9]/);
  });

  it('--masquerade-all after a restart: pod sources are masqueraded too', async () => {
    expect((await L.probe(client, { proto: 'tcp', host: web, port: 80 })).client).toContain(client.ipv4);
    await L.stopAgent();
    await L.startAgent(['--masquerade-all']);
    await waitFor('masqueraded', async () => !(await L.probe(client, { proto: 'tcp', host: web, port: 80 })).client?.startsWith(client.ipv4));
    expect((await L.probe(client, { proto: 'tcp', host: web, port: 80 })).client).toContain(L.a.ipv4);
  });

  it('--detect-local-mode InterfaceNamePrefix and --masquerade-bit: pods known by their interface, masquerade by another mark bit', async () => {
    await L.stopAgent();
    await L.startAgent(['--detect-local-mode', 'InterfaceNamePrefix', '--pod-interface-name-prefix', 'vp-', '--masquerade-bit', '5']);
    await waitFor('pod source kept', async () => (await L.probe(client, { proto: 'tcp', host: web, port: 80 })).client?.startsWith(client.ipv4) === true);
    // Off-cluster sources (no pod interface) are still masqueraded, now through bit 5.
    const o = await L.until('outside to ClusterIP', L.out, { proto: 'tcp', host: web, port: 80 }, (x) => x.outcome === 'ok');
    expect(o.client?.replace(/:\d+$/, '')).toBe(L.a.ipv4);
    expect(await L.nft('list', 'chain', 'ip', 'nodeway', 'masquerading')).toContain('0x00000020');
    expect(await L.nft('list', 'chain', 'ip', 'nodeway', 'pick-1')).toContain('iifname != "vp-*"');
  });

  it('no cluster CIDR known (no --cluster-cidr, no node podCIDRs): no off-cluster masquerade, as kube-proxy', async () => {
    await L.stopAgent();
    for (const name of ['a', 'b']) {
      const n = L.api.get('v1', 'nodes', undefined, name);
      L.api.update({ ...n, spec: { ...(n.spec as object), podCIDR: undefined, podCIDRs: undefined } });
    }
    await L.startAgent();
    // Before: every source was "off-cluster" and the pod's address was lost.
    const r = await L.probe(client, { proto: 'tcp', host: web, port: 80 });
    expect(r.outcome).toBe('ok');
    expect(r.client?.replace(/:\d+$/, '')).toBe(client.ipv4);
  });

  it('cleanup deletes both tables', async () => {
    await L.stopAgent();
    await L.cleanup();
    const tables = await L.nft('list', 'tables');
    expect(tables).not.toContain('nodeway');
  });
});
