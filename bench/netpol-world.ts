// The synthetic cluster of the netpol benches: PODS pods in namespaces of 50 (LOCAL of them on
// the node), namespaces labelled team=t-(n mod 5), and POLICIES policies, 10 per namespace,
// policy k selecting app=app-(k mod 10), allowing ingress from app=app-(k+1 mod 10) in
// namespaces team=t-(k mod 5) on port 80 and the named port "http" (8080), and egress to
// every pod of its namespace. Pod IPs are 10.x.y.z (synthetic: nothing answers on them).
import { toNamespace, toPod } from '../src/kube/convert.ts';
import { toNetworkPolicy } from '../src/kube/convert-policy.ts';
import type { Namespace, NetworkPolicy, Pod } from '../src/kube/objects.ts';
import type { PolicyView } from '../src/view/types.ts';

export const PER_NS = 50;
const noWarn = () => {};

export interface PolicyWorld {
  view: PolicyView & { pods: Map<string, Pod> };
  /** Pod i with these labels (its namespace, IP and node follow from i). */
  pod(i: number, labels: Record<string, string>): Pod;
  labelsOf(i: number): Record<string, string>;
}

export function rawPod(name: string, ns: string, ip: string, node: string, labels: Record<string, string>) {
  return {
    metadata: { name, namespace: ns, labels },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'bench', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}

/** The same cluster as API objects (namespaces, pods, policies), to create in an API server. */
export function rawObjects(policies: number, pods: number, local: number, node: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let n = 0; n * PER_NS < pods; n++) out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}`, labels: { team: `t-${n % 5}`, 'kubernetes.io/metadata.name': `ns-${n}` } } });
  for (let i = 0; i < pods; i++) {
    out.push({ apiVersion: 'v1', kind: 'Pod', ...rawPod(`pod-${i}`, `ns-${Math.floor(i / PER_NS)}`, podIPOf(i), nodeOf(i, pods, local, node), labelsOf(i)) });
  }
  for (let k = 0; k < policies; k++) out.push({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', ...rawPolicy(k, pods) });
  return out;
}

export const podIPOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const nodeOf = (i: number, pods: number, local: number, node: string) => (local > 0 && i % Math.max(1, Math.floor(pods / local)) === 0 ? node : 'other');
export const labelsOf = (i: number): Record<string, string> => ({ app: `app-${Math.floor(i / 7) % 10}`, tier: i % 3 === 0 ? 'front' : 'back' });

/** unique: each policy's peer selector also says "no label np-k" (true of every pod), so no two policies' peer sets share a recipe. */
function rawPolicy(k: number, pods: number, unique = false) {
  const namespaces = Math.ceil(pods / PER_NS);
  const ns = `ns-${Math.floor(k / 10) % namespaces}`;
  return {
    metadata: { name: `np-${k}`, namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: `app-${k % 10}` } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: `app-${(k + 1) % 10}` }, ...(unique ? { matchExpressions: [{ key: `np-${k}`, operator: 'DoesNotExist' }] } : {}) }, namespaceSelector: { matchLabels: { team: `t-${k % 5}` } } }], ports: [{ port: 80 }, { port: 'http' }] }],
      egress: [{ to: [{ podSelector: {} }] }],
    },
  };
}

export function policyWorld(policies: number, pods: number, local: number, node: string, unique = false): PolicyWorld {
  const pod = (i: number, labels: Record<string, string>) => toPod(rawPod(`pod-${i}`, `ns-${Math.floor(i / PER_NS)}`, podIPOf(i), nodeOf(i, pods, local, node), labels), noWarn);
  const podMap = new Map<string, Pod>();
  for (let i = 0; i < pods; i++) {
    const p = pod(i, labelsOf(i));
    podMap.set(`${p.namespace}/${p.name}`, p);
  }
  const namespaces = new Map<string, Namespace>();
  for (let n = 0; n * PER_NS < pods; n++) namespaces.set(`ns-${n}`, toNamespace({ metadata: { name: `ns-${n}`, labels: { team: `t-${n % 5}` } } }, noWarn));
  const networkPolicies = new Map<string, NetworkPolicy>();
  for (let k = 0; k < policies; k++) {
    const np = toNetworkPolicy(rawPolicy(k, pods, unique), noWarn);
    networkPolicies.set(`${np.namespace}/${np.name}`, np);
  }
  return { view: { pods: podMap, namespaces, networkPolicies, clusterNetworkPolicies: new Map() }, pod, labelsOf };
}

/** A real pod (a lab namespace) added to the world. */
export function addPod(w: PolicyWorld, name: string, ns: string, ip: string, node: string, labels: Record<string, string>): Pod {
  const p = toPod(rawPod(name, ns, ip, node, labels), noWarn);
  w.view.pods.set(`${ns}/${name}`, p);
  return p;
}
