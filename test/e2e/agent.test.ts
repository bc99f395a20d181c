// The built agent in a lab node against the embedded API server: readiness, `nodeway view`
// printing the endpoints kube-proxy would use for every traffic-policy / topology / condition
// case, live updates, metrics, and a SIGTERM that exits cleanly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupStaleLabs } from '../../testbed/lab/index.ts';
import { LabCluster } from '../../testbed/lab/cluster.ts';
import type { LabProcess } from '../../testbed/lab/process.ts';

let cluster: LabCluster;
let agent: LabProcess;
const HEALTH = '127.0.0.1:10256';

interface Ep { ip: string; node: string; ready?: boolean; serving?: boolean; terminating?: boolean; zones?: string[] }

function slice(svc: string, name: string, eps: Ep[], port = 8080) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port }],
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      nodeName: e.node,
      conditions: { ready: e.ready ?? true, serving: e.serving ?? true, terminating: e.terminating ?? false },
      ...(e.zones ? { hints: { forZones: e.zones.map((z) => ({ name: z })) } } : {}),
    })),
  };
}

function service(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...spec },
  };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

type ViewJSON = { node: { zone: string }; services: { service: string; ports: { ipv4?: { clusterEndpoints: string[]; localEndpoints: string[]; hasEndpoints: boolean } }[] }[] };

async function view(): Promise<ViewJSON> {
  const r = await cluster.nodeway('n1', ['view', '--log-level', 'warn']);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as ViewJSON;
}

function ipv4Of(v: ViewJSON, svc: string) {
  const s = v.services.find((x) => x.service === `default/${svc}`);
  if (!s) throw new Error(`service ${svc} missing from the view`);
  return s.ports[0]!.ipv4!;
}

beforeAll(async () => {
  await cleanupStaleLabs();
  cluster = await LabCluster.create({ ipv6: false });
  await cluster.addNode('n1', { zone: 'zone-a' });
  await cluster.addNode('n2', { zone: 'zone-b' });
  const api = cluster.api;
  // Cluster policy: ready endpoints only, not-ready-and-terminating ones left out.
  api.create(service('web'));
  api.create(slice('web', 'web-1', [
    { ip: '198.18.128.10', node: 'n1' },
    { ip: '198.18.129.10', node: 'n2' },
    { ip: '198.18.129.11', node: 'n2', ready: false, serving: false, terminating: true },
  ]));
  // Zone hints on every ready endpoint, one for our zone: only same-zone endpoints.
  api.create(service('zonal'));
  api.create(slice('zonal', 'zonal-1', [
    { ip: '198.18.128.20', node: 'n1', zones: ['zone-a'] },
    { ip: '198.18.129.20', node: 'n2', zones: ['zone-b'] },
  ]));
  // internalTrafficPolicy Local with endpoints on other nodes only: nothing local, but endpoints exist (drop, not reject).
  api.create(service('itp-local', { internalTrafficPolicy: 'Local' }));
  api.create(slice('itp-local', 'itp-local-1', [{ ip: '198.18.129.30', node: 'n2' }]));
  // externalTrafficPolicy Local: the local endpoint is only serving-terminating, so it is the local fallback;
  // cluster traffic still uses the ready remote one.
  api.create(service('etp-local', { type: 'NodePort', externalTrafficPolicy: 'Local' }));
  api.create(slice('etp-local', 'etp-local-1', [
    { ip: '198.18.128.40', node: 'n1', ready: false, serving: true, terminating: true },
    { ip: '198.18.129.40', node: 'n2' },
  ]));
  // Every endpoint terminating: the serving ones are used for cluster traffic.
  api.create(service('draining'));
  api.create(slice('draining', 'draining-1', [
    { ip: '198.18.128.50', node: 'n1', ready: false, serving: true, terminating: true },
    { ip: '198.18.129.50', node: 'n2', ready: false, serving: false, terminating: true },
  ]));
  api.create(service('empty'));
  agent = cluster.startAgent('n1', ['--modules', 'none', '--health-listen', HEALTH, '--log-level', 'info']);
}, 60_000);

afterAll(async () => {
  const exit = agent ? await agent.stop(3_000) : undefined;
  await cluster?.destroy();
  // SIGTERM must be a clean exit: the dataplane stays, the process says so and leaves with 0.
  if (exit) expect(exit.exitCode).toBe(0);
});

describe('agent in a lab node', () => {
  it('becomes ready once the cache is listed', async () => {
    const ready = await waitFor('/readyz', async () => {
      const r = await cluster.httpGet(cluster.nodes.get('n1')!.node, `http://${HEALTH}/readyz`);
      return r.status === 200 ? r : undefined;
    });
    const body = JSON.parse(ready.body) as { ready: boolean; cacheReady: boolean };
    expect(body.ready).toBe(true);
    expect(body.cacheReady).toBe(true);
    const healthz = await cluster.httpGet(cluster.nodes.get('n1')!.node, `http://${HEALTH}/healthz`);
    expect(healthz.status).toBe(200);
  });

  it('nodeway view prints the endpoints kube-proxy would use', async () => {
    const v = await view();
    expect(v.node.zone).toBe('zone-a');
    expect(ipv4Of(v, 'web')).toMatchObject({ clusterEndpoints: ['198.18.128.10:8080', '198.18.129.10:8080'], localEndpoints: [], hasEndpoints: true });
    expect(ipv4Of(v, 'zonal')).toMatchObject({ clusterEndpoints: ['198.18.128.20:8080'], hasEndpoints: true });
    expect(ipv4Of(v, 'itp-local')).toMatchObject({ clusterEndpoints: [], localEndpoints: [], hasEndpoints: true });
    expect(ipv4Of(v, 'etp-local')).toMatchObject({ clusterEndpoints: ['198.18.129.40:8080'], localEndpoints: ['198.18.128.40:8080'], hasEndpoints: true });
    expect(ipv4Of(v, 'draining')).toMatchObject({ clusterEndpoints: ['198.18.128.50:8080'], hasEndpoints: true });
    expect(ipv4Of(v, 'empty')).toMatchObject({ clusterEndpoints: [], hasEndpoints: false });
  });

  it('nodeway view --desired proxy prints the table the proxy would program', async () => {
    const r = await cluster.nodeway('n1', ['view', '--desired', 'proxy', '--log-level', 'warn']);
    expect(r.exitCode).toBe(0);
    const t = (JSON.parse(r.stdout) as Record<string, { table: string; chains: Record<string, string[]>; elements: Record<string, string[]> }>).IPv4!;
    expect(t.table).toBe('ip nodeway');
    expect(t.chains['nat-prerouting']).toEqual(['{ type nat hook prerouting priority -100; }', 'jump services']);
    // web's two endpoints, picked by the shared pick-2 chain from the per-protocol map.
    const web = t.elements['service-ips']!.find((e) => e.endsWith(': goto pick-2'))!.split(' . ')[0]!;
    expect(t.elements['endpoint-picks-tcp']!.filter((e) => e.startsWith(`${web} . `))).toEqual([`${web} . 80 . 0 : 198.18.128.10 . 8080`, `${web} . 80 . 1 : 198.18.129.10 . 8080`]);
    const bad = await cluster.nodeway('n1', ['view', '--desired', 'nope']);
    expect(bad.exitCode).toBe(2);
  });

  it('nodeway view lists the policies selecting each local pod; explain-policy names the deciding rule', async () => {
    const pod = (name: string, node: string, ip: string, labels: Record<string, string>) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels },
      spec: { nodeName: node, containers: [{ name: 'c', image: 'x', ports: [{ name: 'web', containerPort: 8080 }] }] },
      status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
    });
    cluster.api.create(pod('np-client', 'n2', '198.18.129.70', { role: 'client' }));
    cluster.api.create(pod('np-server', 'n1', '198.18.128.70', { role: 'server' }));
    cluster.api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'server-in', namespace: 'default' },
      spec: { podSelector: { matchLabels: { role: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 'web' }] }] } });
    const v = await waitFor('the policy in the view', async () => {
      const j = JSON.parse((await cluster.nodeway('n1', ['view', '--log-level', 'warn'])).stdout) as { localPodPolicies: Record<string, { ingress: string[] }> };
      return j.localPodPolicies['default/np-server']?.ingress.length ? j : undefined;
    });
    expect(v.localPodPolicies['default/np-server']).toEqual({ ingress: ['default/server-in'], egress: [] });
    const ok = await cluster.nodeway('n1', ['explain-policy', 'default/np-client', 'default/np-server', '8080/tcp', '--log-level', 'warn']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const e = JSON.parse(ok.stdout) as { allowed: boolean; stages: { direction: string; node: string; rule: string[] }[] };
    expect(e.allowed).toBe(true);
    expect(e.stages).toMatchObject([{ direction: 'ingress', node: 'n1', rule: ['default/server-in ingress[0]'] }]);
    const no = await cluster.nodeway('n1', ['explain-policy', 'default/np-client', '198.18.128.70', '80', '--log-level', 'warn']);
    expect(no.exitCode).toBe(3);
    expect((JSON.parse(no.stdout) as { allowed: boolean }).allowed).toBe(false);
    const bad = await cluster.nodeway('n1', ['explain-policy', 'default/nope', 'default/np-server', '80', '--log-level', 'warn']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/neither an IP nor a pod/);
  });

  it('follows updates and counts watch events', async () => {
    cluster.api.update({ ...slice('web', 'web-1', [{ ip: '198.18.128.10', node: 'n1' }]), metadata: { ...slice('web', 'web-1', []).metadata, resourceVersion: cluster.api.get('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'web-1').metadata?.resourceVersion } });
    cluster.api.delete('v1', 'Service', 'default', 'empty');
    const v = await waitFor('the update in the view', async () => {
      const x = await view();
      return ipv4Of(x, 'web').clusterEndpoints.length === 1 && !x.services.some((s) => s.service === 'default/empty') ? x : undefined;
    });
    expect(ipv4Of(v, 'web').clusterEndpoints).toEqual(['198.18.128.10:8080']);
    const metrics = await waitFor('metrics', async () => {
      const r = await cluster.httpGet(cluster.nodes.get('n1')!.node, `http://${HEALTH}/metrics`);
      return /nodeway_watch_events_total\{kind="endpointslices",type="MODIFIED"\} [1-9]/.test(r.body) ? r.body : undefined;
    });
    expect(metrics).toMatch(/nodeway_cache_objects\{kind="services"\} 5/);
    expect(metrics).toMatch(/nodeway_watch_lists_total\{kind="nodes"\} 1/);
  });

  it('bad flags exit 2 with one line naming the flag', async () => {
    const r = await cluster.nodeway('n1', ['view', '--health-listen', 'nowhere']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe('nodeway: --health-listen: expected HOST:PORT (IPv6 as [ADDR]:PORT)');
  });
});
