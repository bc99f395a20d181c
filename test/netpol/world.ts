// Building PolicyViews for plan tests from raw API objects, through the real converters.
import { toNamespace, toNode, toPod } from '../../src/kube/convert.ts';
import { toClusterNetworkPolicy, toNetworkPolicy } from '../../src/kube/convert-policy.ts';
import type { ClusterNetworkPolicy, Namespace, NetworkPolicy, Node, Pod } from '../../src/kube/objects.ts';
import type { PolicyView } from '../../src/view/types.ts';
import { type PodOpts, rawClusterNetworkPolicy, rawNamespace, rawNetworkPolicy, rawPod } from '../view/fixtures.ts';

const fail = (m: string): void => { throw new Error(`unexpected warning: ${m}`); };

export class World implements PolicyView {
  readonly pods = new Map<string, Pod>();
  readonly namespaces = new Map<string, Namespace>();
  readonly networkPolicies = new Map<string, NetworkPolicy>();
  readonly clusterNetworkPolicies = new Map<string, ClusterNetworkPolicy>();
  readonly nodes = new Map<string, Node>();

  /** A Node with these labels and addresses (InternalIP, or `type=address`, e.g. ExternalIP=203.0.113.9). */
  node(name: string, labels: Record<string, string>, addresses: string[]): this {
    const addrs = addresses.map((a) => (a.includes('=') ? { type: a.split('=')[0], address: a.split('=')[1] } : { type: 'InternalIP', address: a }));
    this.nodes.set(name, toNode({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: {}, status: { addresses: addrs } }, fail));
    return this;
  }

  ns(name: string, labels?: Record<string, string>): this {
    this.namespaces.set(name, toNamespace(rawNamespace(name, labels), fail));
    return this;
  }

  pod(ns: string, name: string, o: PodOpts): Pod {
    const p = toPod(rawPod(name, { ns, ...o }), fail);
    this.pods.set(`${ns}/${name}`, p);
    return p;
  }

  np(ns: string, name: string, spec: Record<string, unknown>, warn = fail): this {
    this.networkPolicies.set(`${ns}/${name}`, toNetworkPolicy(rawNetworkPolicy(name, ns, spec), warn));
    return this;
  }

  cnp(name: string, spec: Record<string, unknown>, warn = fail): this {
    this.clusterNetworkPolicies.set(name, toClusterNetworkPolicy(rawClusterNetworkPolicy(name, spec), warn));
    return this;
  }
}

/** The upstream e2e model: namespaces x, y, z; pods a, b, c each; ports 80/81 TCP/UDP named serve-<port>-<proto>. */
export function upstreamModel(nodes: string[] = ['node-a']): { world: World; ip: (pod: string) => string } {
  const w = new World();
  const ips = new Map<string, string>();
  ['x', 'y', 'z'].forEach((ns, i) => {
    w.ns(ns);
    ['a', 'b', 'c'].forEach((pod, j) => {
      const ip = `10.244.${i}.${j + 10}`;
      ips.set(`${ns}/${pod}`, ip);
      w.pod(ns, pod, {
        node: nodes[(i * 3 + j) % nodes.length], ips: [ip, `fd00:244::${i}:${j + 10}`], labels: { pod },
        ports: [80, 81].flatMap((n) => ['TCP', 'UDP'].map((p) => ({ name: `serve-${n}-${p.toLowerCase()}`, containerPort: n, protocol: p }))),
      });
    });
  });
  return { world: w, ip: (p) => ips.get(p)! };
}
