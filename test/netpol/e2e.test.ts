// The upstream NetworkPolicy e2e model on the real dataplane: two nodes running the built
// agent (proxy, mesh, netpol) over the WireGuard mesh, namespaces x, y, z × pods a, b, c made by
// the CNI plugins from the agent's own conflist (bridge: same-node traffic needs br_netfilter),
// TCP and UDP servers on 80 and 81, one ClusterIP Service per pod. Every case probes the full
// pod → Service matrix (so policy is judged after the proxy's DNAT, on the backend pod, and a
// pod reaching itself through its own Service is in it) and compares it with the reference
// evaluator's truth table, plus the cells the upstream test names. The lab (harness.ts) is
// dual-stack; this file probes IPv4, features.test.ts the same model over IPv6.
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { KubeObject } from '../../testbed/apiserver/index.ts';
import { CLUSTER_CIDRS, NetpolLab, type Proto } from './harness.ts';

const L = new NetpolLab('np');
const CLUSTER_CIDR = CLUSTER_CIDRS[0]!;
const w = L.w;
const policy = (ns: string, name: string, spec: Record<string, unknown>) => L.policy(ns, name, spec);
const deletePolicies = () => L.deletePolicies();
const setPodLabels = (key: string, labels: Record<string, string>) => L.setPodLabels(key, labels);
const setNamespaceLabels = (ns: string, labels: Record<string, string>) => L.setNamespaceLabels(ns, labels);
/** The IPv4 table (the IPv6 one is in features.test.ts). */
const expectTable = (port: number, proto: Proto, cells: Record<string, boolean> = {}) => L.expectTable(port, proto, 4, cells);

beforeAll(async () => {
  await L.start({ n1: [], n2: [] });
  // Every Service programmed on both nodes, every pod reachable: the baseline of every case.
  await expectTable(80, 'tcp');
}, 150_000);

afterAll(() => L.destroy(), 60_000);

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
    policy('x', 'cidr', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: CLUSTER_CIDR, except: [`${L.ip('x/b', 4)}/32`] } }] }] });
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
    L.cluster.api.create(cnp as KubeObject);
    L.cluster.api.create(base as KubeObject);
    w.cnp('guard', cnp.spec);
    w.cnp('base', base.spec);
    policy('x', 'all', { podSelector: {}, ingress: [{}] });
    await expectTable(80, 'tcp', { 'z/a>x/b': false, 'y/a>x/b': true, 'x/a>y/b': false, 'x/a>x/b': true, 'z/a>y/b': false, 'y/a>z/b': true, 'z/a>z/a': false });
    for (const n of ['guard', 'base']) L.cluster.api.delete('policy.networking.k8s.io/v1alpha2', 'clusternetworkpolicies', undefined, n);
    w.clusterNetworkPolicies.clear();
    deletePolicies();
    await expectTable(80, 'tcp', { 'z/a>x/b': true });
  }, 60_000);
});
