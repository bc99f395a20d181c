// The upstream NetworkPolicy e2e model on the real dataplane: two nodes running the built
// agent (proxy, mesh, netpol) over the WireGuard mesh, namespaces x, y, z × pods a, b, c made by
// the CNI plugins from the agent's own conflist (bridge: same-node traffic needs br_netfilter),
// TCP and UDP servers on 80 and 81, one ClusterIP Service per pod. Every case probes the full
// pod → Service matrix (so policy is judged after the proxy's DNAT, on the backend pod, and a
// pod reaching itself through its own Service is in it) and compares it with the reference
// evaluator's truth table, plus the cells the upstream test names.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../testbed/apiserver/index.ts';
import { addCniPod } from '../../testbed/lab/cni.ts';
import { LabCluster } from '../../testbed/lab/cluster.ts';
import { cleanupStaleLabs } from '../../testbed/lab/index.ts';
import { startSliceController } from '../../testbed/lab/slice-controller.ts';
import { workloadPaths } from '../../testbed/lab/workloads.ts';
import { endOf, referenceAllowed } from './reference.ts';
import { World } from './world.ts';

const HEALTH = '127.0.0.1:10256';
const CLUSTER_CIDR = '198.18.128.0/17';
const NODES = ['n1', 'n2'];
const NS = ['x', 'y', 'z'];
const NAMES = ['a', 'b', 'c'];
const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'batch-probe.ts');
const BIN = existsSync('/opt/cni/bin/bridge') ? '/opt/cni/bin' : '/usr/lib/cni';

interface Pod { key: string; ns: string; name: string; node: string; ip: string; netns: string; svcIP: string }

let cluster: LabCluster;
let tmp: string;
let stopSlices = () => {};
const pods: Pod[] = [];
const w = new World();
const podLabels = new Map<string, Record<string, string>>();

function podObject(p: Pod): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: p.name, namespace: p.ns, labels: podLabels.get(p.key)! },
    spec: { nodeName: p.node, containers: [80, 81].flatMap((n) => ['tcp', 'udp'].map((pr) => ({ name: `cont-${n}-${pr}`, image: 'agnhost', ports: [{ name: `serve-${n}-${pr}`, containerPort: n, protocol: pr.toUpperCase() }] }))) },
    status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], conditions: [{ type: 'Ready', status: 'True' }] },
  } as KubeObject;
}

function mirrorPod(p: Pod): void {
  w.pod(p.ns, p.name, {
    node: p.node, ips: [p.ip], labels: podLabels.get(p.key)!,
    ports: [80, 81].flatMap((n) => ['TCP', 'UDP'].map((pr) => ({ name: `serve-${n}-${pr.toLowerCase()}`, containerPort: n, protocol: pr }))),
  });
}

function setPodLabels(key: string, labels: Record<string, string>): void {
  const p = pods.find((x) => x.key === key)!;
  podLabels.set(key, labels);
  const cur = cluster.api.get('v1', 'pods', p.ns, p.name);
  cluster.api.update({ ...podObject(p), metadata: { ...podObject(p).metadata, resourceVersion: cur.metadata?.resourceVersion } });
  mirrorPod(p);
}

function setNamespaceLabels(ns: string, labels: Record<string, string>): void {
  const cur = cluster.api.get('v1', 'namespaces', undefined, ns);
  cluster.api.update({ ...cur, metadata: { ...cur.metadata, labels: { 'kubernetes.io/metadata.name': ns, ...labels } } });
  w.ns(ns, labels);
}

/** Creates or replaces a NetworkPolicy in the API server and in the reference's world. */
function policy(ns: string, name: string, spec: Record<string, unknown>): void {
  const obj = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec } as KubeObject;
  try {
    const cur = cluster.api.get('networking.k8s.io/v1', 'networkpolicies', ns, name);
    cluster.api.update({ ...obj, metadata: { ...obj.metadata, resourceVersion: cur.metadata?.resourceVersion } });
  } catch {
    cluster.api.create(obj);
  }
  w.np(ns, name, spec);
}

function deletePolicies(): void {
  for (const key of [...w.networkPolicies.keys()]) {
    const [ns, name] = key.split('/') as [string, string];
    cluster.api.delete('networking.k8s.io/v1', 'networkpolicies', ns, name);
    w.networkPolicies.delete(key);
  }
}

type Proto = 'tcp' | 'udp';

/** Every ordered pair (from == to included: a pod through its own Service), through the Service. */
async function matrix(port: number, proto: Proto): Promise<Map<string, boolean>> {
  const out = new Map<string, boolean>();
  await Promise.all(pods.map(async (from) => {
    const targets = pods.map((to) => [proto, to.svcIP, port]);
    const r = await cluster.lab.exec(from.netns, workloadPaths().node, [PROBE, JSON.stringify(targets), '1000'], { timeoutMs: 20_000 });
    const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { host: string; outcome: string });
    if (lines.length !== pods.length) throw new Error(`probe from ${from.key}: ${r.stderr || r.stdout}`);
    lines.forEach((l, i) => out.set(`${from.key}>${pods[i]!.key}`, l.outcome === 'ok'));
  }));
  return out;
}

function expected(port: number, proto: Proto): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const f of pods) for (const t of pods) {
    out.set(`${f.key}>${t.key}`, referenceAllowed(w, endOf(w, f.ip), endOf(w, t.ip), proto.toUpperCase(), port));
  }
  return out;
}

const show = (m: Map<string, boolean>) => [...m].filter(([, v]) => !v).map(([k]) => k).sort();

/** Waits (bounded) for the dataplane to converge to the reference's table, then asserts the whole table. */
async function expectTable(port: number, proto: Proto, cells: Record<string, boolean> = {}): Promise<Map<string, boolean>> {
  const want = expected(port, proto);
  for (const [k, v] of Object.entries(cells)) expect(want.get(k), `the reference's verdict on ${k} is the upstream one`).toBe(v);
  const end = Date.now() + 15_000;
  let got = await matrix(port, proto);
  while (show(got).join() !== show(want).join() && Date.now() < end) got = await matrix(port, proto);
  expect(show(got), `denied ${proto}/${port} (probed vs expected)`).toEqual(show(want));
  return got;
}

beforeAll(async () => {
  await cleanupStaleLabs();
  tmp = mkdtempSync(join(tmpdir(), 'nodeway-np-e2e-'));
  cluster = await LabCluster.create({ prefix: 'np', ipv6: false });
  stopSlices = startSliceController(cluster.api);
  for (const n of NODES) await cluster.addNode(n);
  NODES.forEach((n, i) => cluster.startAgent(n, [
    '--modules', 'proxy,mesh,netpol', '--health-listen', HEALTH, '--log-level', 'info', '--min-sync-interval', '20',
    '--cluster-cidr', CLUSTER_CIDR, '--state-dir', join(tmp, n, 'state'), '--cni-conf-dir', join(tmp, n, 'net.d'),
    '--cni-bin-dir', BIN, '--wg-interface', `npwg${i + 1}`,
  ]));
  for (const n of NODES) {
    const node = cluster.nodes.get(n)!.node;
    const end = Date.now() + 60_000;
    while ((await cluster.httpGet(node, `http://${HEALTH}/readyz`)).status !== 200) {
      if (Date.now() > end) throw new Error(`${n} never ready: ${(await cluster.httpGet(node, `http://${HEALTH}/readyz`)).body}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  for (const ns of NS) {
    cluster.api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } as KubeObject);
    w.ns(ns);
  }
  let k = 0;
  for (const ns of NS) for (const name of NAMES) {
    const node = NODES[k++ % NODES.length]!;
    const cn = cluster.nodes.get(node)!;
    const netns = `${cluster.lab.prefix}-${node}-${ns}${name}`;
    const cni = await addCniPod(cn.node, netns, join(tmp, node, 'net.d'), BIN);
    await cluster.lab.startEchoServer(netns, { name: `${ns}/${name}`, tcp: [80, 81], udp: [80, 81] });
    const p: Pod = { key: `${ns}/${name}`, ns, name, node, ip: cni.ip, netns, svcIP: '' };
    podLabels.set(p.key, { pod: name });
    cluster.api.create(podObject(p));
    mirrorPod(p);
    const svc = cluster.api.create({
      apiVersion: 'v1', kind: 'Service', metadata: { name: `s-${ns}-${name}`, namespace: ns },
      spec: { selector: { pod: name }, ports: [80, 81].flatMap((n) => ['TCP', 'UDP'].map((pr) => ({ name: `service-port-${pr.toLowerCase()}-${n}`, protocol: pr, port: n, targetPort: n }))) },
    } as KubeObject) as unknown as { spec: { clusterIP: string } };
    p.svcIP = svc.spec.clusterIP;
    pods.push(p);
  }
  // Every Service programmed on both nodes, every pod reachable: the baseline of every case.
  await expectTable(80, 'tcp');
}, 150_000);

afterAll(async () => {
  stopSlices();
  await cluster?.destroy();
  for (const i of [1, 2]) rmSync(`/var/run/wireguard/npwg${i}.sock`, { force: true });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 60_000);

const nsIs = (ns: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': ns } });

describe('upstream NetworkPolicy cases on the dataplane (pod → Service, two nodes)', () => {
  it('#1 default-deny-ingress, #25/#26 egress denials, #2 deny-all, #33 delete', async () => {
    policy('x', 'deny-ingress', { podSelector: {} });
    await expectTable(80, 'tcp', { 'y/a>x/a': false, 'x/b>x/a': false, 'x/a>y/a': true, 'x/a>x/a': true });
    deletePolicies();
    policy('x', 'deny-egress-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'] });
    await expectTable(80, 'udp', { 'x/a>y/b': false, 'x/a>x/b': false, 'y/b>x/a': true });
    policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    await expectTable(81, 'tcp', { 'x/b>y/a': false, 'y/a>x/b': false, 'y/a>z/b': true });
    deletePolicies();
    await expectTable(80, 'tcp', { 'x/b>y/a': true, 'y/a>x/b': true });
  }, 90_000);

  it('#3/#9/#10/#13 pod and namespace selectors (own namespace, OR, AND), #6/#41 by metadata.name', async () => {
    policy('x', 'from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] });
    await expectTable(80, 'tcp', { 'x/b>x/a': true, 'y/b>x/a': false, 'x/c>x/a': false });
    const notX = { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['x'] }] };
    policy('x', 'from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: notX, podSelector: { matchLabels: { pod: 'b' } } }] }] });
    await expectTable(80, 'tcp', { 'y/b>x/a': true, 'z/b>x/a': true, 'y/a>x/a': false, 'x/b>x/a': false });
    policy('x', 'from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: notX }, { podSelector: { matchLabels: { pod: 'b' } } }] }] });
    await expectTable(80, 'tcp', { 'y/a>x/a': true, 'x/b>x/a': true, 'x/c>x/a': false });
    policy('x', 'from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsIs('y') }] }] });
    await expectTable(80, 'tcp', { 'y/c>x/a': true, 'z/c>x/a': false, 'x/b>x/a': false });
    deletePolicies();
  }, 90_000);

  it('#14 numbered port, #17/#18 named ports ingress, #19 named port egress, #30 protocol only, #40 UDP is not TCP', async () => {
    policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsIs('y') }], ports: [{ port: 81, protocol: 'TCP' }] }] });
    await expectTable(81, 'tcp', { 'y/b>x/a': true, 'z/b>x/a': false });
    await expectTable(80, 'tcp', { 'y/b>x/a': false });
    policy('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-81-udp', protocol: 'UDP' }] }] });
    await expectTable(81, 'udp', { 'y/b>x/a': true });
    await expectTable(81, 'tcp', { 'y/b>x/a': false });
    policy('x', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-80-tcp' }] }] });
    await expectTable(80, 'tcp', { 'x/a>y/a': true });
    await expectTable(81, 'tcp', { 'x/a>y/a': false });
    policy('x', 'p', { podSelector: {}, ingress: [{ ports: [{ protocol: 'UDP' }] }] });
    await expectTable(80, 'udp', { 'y/a>x/b': true });
    await expectTable(80, 'tcp', { 'y/a>x/b': false });
    deletePolicies();
  }, 120_000);

  it('#28 egress denial beats an ingress allow (same node and across), #16/#31 allow-all wins a stack', async () => {
    policy('x', 'out', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsIs('y'), podSelector: { matchLabels: { pod: 'a' } } }] }] });
    policy('y', 'in', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: nsIs('x'), podSelector: { matchLabels: { pod: 'a' } } }] }] });
    await expectTable(80, 'tcp', { 'x/a>y/a': true, 'x/a>y/b': false, 'x/a>y/c': false, 'x/b>y/a': false });
    deletePolicies();
    policy('x', 'only-80', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] });
    await expectTable(81, 'tcp', { 'y/a>x/a': false });
    policy('x', 'all', { podSelector: {}, ingress: [{}] });
    await expectTable(81, 'tcp', { 'y/a>x/a': true });
    deletePolicies();
  }, 90_000);

  it('#34/#35 ipBlock on pod IPs with except; #20 update in place; #21/#22/#24 namespace and pod label changes', async () => {
    const b = pods.find((p) => p.key === 'x/b')!;
    policy('x', 'cidr', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: CLUSTER_CIDR, except: [`${b.ip}/32`] } }] }] });
    await expectTable(80, 'tcp', { 'x/a>x/b': false, 'x/a>x/c': true, 'x/a>y/b': true });
    deletePolicies();
    policy('x', 'from-updated', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns2: 'updated' } } }] }] });
    await expectTable(80, 'tcp', { 'y/a>x/a': false });
    setNamespaceLabels('y', { ns2: 'updated' });
    await expectTable(80, 'tcp', { 'y/a>x/a': true, 'z/a>x/a': false });
    policy('x', 'from-updated', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b', pod2: 'updated' } } }] }] });
    await expectTable(80, 'tcp', { 'x/b>x/a': false });
    setPodLabels('x/b', { pod: 'b', pod2: 'updated' });
    await expectTable(80, 'tcp', { 'x/b>x/a': true, 'x/c>x/a': false });
    deletePolicies();
    policy('x', 'isolate', { podSelector: { matchLabels: { target: 'isolated' } } });
    await expectTable(80, 'tcp', { 'y/a>x/a': true });
    setPodLabels('x/a', { pod: 'a', target: 'isolated' });
    await expectTable(80, 'tcp', { 'y/a>x/a': false, 'y/a>x/b': true });
    policy('x', 'isolate', { podSelector: { matchLabels: { target: 'isolated' } }, ingress: [{}] });
    await expectTable(80, 'tcp', { 'y/a>x/a': true });
    deletePolicies();
  }, 150_000);

  it('ClusterNetworkPolicy through the API: an Admin Deny beats a NetworkPolicy allow, Pass hands over, Baseline for the rest', async () => {
    const cnp = { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'guard' }, spec: {
      tier: 'Admin', priority: 10, subject: { namespaces: {} },
      ingress: [{ action: 'Pass', from: [{ namespaces: nsIs('x') }] }, { action: 'Deny', from: [{ namespaces: nsIs('z') }] }],
    } };
    const base = { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'base' }, spec: {
      tier: 'Baseline', priority: 0, subject: { namespaces: nsIs('y') }, ingress: [{ action: 'Deny', from: [{ namespaces: nsIs('x') }] }],
    } };
    cluster.api.create(cnp as KubeObject);
    cluster.api.create(base as KubeObject);
    w.cnp('guard', cnp.spec);
    w.cnp('base', base.spec);
    policy('x', 'all', { podSelector: {}, ingress: [{}] });
    await expectTable(80, 'tcp', { 'z/a>x/b': false, 'y/a>x/b': true, 'x/a>y/b': false, 'x/a>x/b': true, 'z/a>y/b': false, 'y/a>z/b': true, 'z/a>z/a': false });
    for (const n of ['guard', 'base']) cluster.api.delete('policy.networking.k8s.io/v1alpha2', 'clusternetworkpolicies', undefined, n);
    w.clusterNetworkPolicies.clear();
    deletePolicies();
    await expectTable(80, 'tcp', { 'z/a>x/b': true });
  }, 60_000);
});
