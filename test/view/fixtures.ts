// Raw API objects, shaped as the API server sends them, for the view tests.
import { toEndpointSlice, toNamespace, toNode, toPod, toService } from '../../src/kube/convert.ts';
import type { EndpointSlice, Namespace, Node, Pod, Service } from '../../src/kube/objects.ts';

export type Raw = Record<string, unknown>;

export const SELF = 'node-a';

/** Collects converter warnings so a test can assert on them (and on their absence). */
export function warnings(): { warn: (m: string) => void; list: string[] } {
  const list: string[] = [];
  return { warn: (m) => list.push(m), list };
}

export interface RawPort {
  name?: string;
  protocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

export interface ServiceOpts {
  ns?: string;
  labels?: Record<string, string>;
  type?: string;
  clusterIPs?: string[];
  ports?: RawPort[];
  externalIPs?: string[];
  externalName?: string;
  etp?: string;
  itp?: string;
  ingress?: Raw[];
  sourceRanges?: string[];
  affinity?: 'ClientIP' | 'None';
  affinityTimeout?: number;
  healthCheckNodePort?: number;
  trafficDistribution?: string;
  spec?: Raw;
}

export function rawService(name: string, o: ServiceOpts = {}): Raw {
  const clusterIPs = o.clusterIPs ?? ['10.96.0.10'];
  const spec: Raw = {
    type: o.type ?? 'ClusterIP',
    clusterIP: clusterIPs[0],
    clusterIPs,
    ipFamilies: clusterIPs.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4')),
    ipFamilyPolicy: clusterIPs.length > 1 ? 'PreferDualStack' : 'SingleStack',
    ports: (o.ports ?? [{ name: 'http', port: 80, targetPort: 8080 }]).map((p) => ({ protocol: 'TCP', ...p })),
    sessionAffinity: o.affinity ?? 'None',
    internalTrafficPolicy: o.itp ?? 'Cluster',
    ...o.spec,
  };
  if (o.type === 'ExternalName') {
    spec.externalName = o.externalName ?? 'example.com';
    if (!o.clusterIPs) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
      delete spec.ipFamilies;
    }
  }
  if (o.type === 'NodePort' || o.type === 'LoadBalancer' || o.externalIPs) spec.externalTrafficPolicy = o.etp ?? 'Cluster';
  if (o.externalIPs) spec.externalIPs = o.externalIPs;
  if (o.sourceRanges) spec.loadBalancerSourceRanges = o.sourceRanges;
  if (o.healthCheckNodePort) spec.healthCheckNodePort = o.healthCheckNodePort;
  if (o.trafficDistribution) spec.trafficDistribution = o.trafficDistribution;
  if (o.affinity === 'ClientIP' && o.affinityTimeout !== undefined) {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: o.affinityTimeout } };
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: o.ns ?? 'default',
      uid: `uid-${name}`,
      resourceVersion: '1',
      labels: o.labels ?? {},
      managedFields: [{ manager: 'kubectl', operation: 'Update' }],
    },
    spec,
    status: { loadBalancer: o.ingress ? { ingress: o.ingress } : {} },
  };
}

export interface RawEndpoint {
  addresses: string[];
  conditions?: Raw;
  nodeName?: string;
  zone?: string;
  hostname?: string;
  hints?: Raw;
  targetRef?: Raw;
}

export interface SliceOpts {
  ns?: string;
  service?: string;
  addressType?: string;
  labels?: Record<string, string>;
  ports?: Raw[];
}

export function rawSlice(name: string, endpoints: RawEndpoint[], o: SliceOpts = {}): Raw {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: o.ns ?? 'default',
      generateName: `${o.service ?? 'web'}-`,
      labels: { 'kubernetes.io/service-name': o.service ?? 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io', ...o.labels },
      ownerReferences: [{ kind: 'Service', name: o.service ?? 'web' }],
    },
    addressType: o.addressType ?? 'IPv4',
    ports: o.ports ?? [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints,
  };
}

/** A Ready endpoint; `cond` overrides individual conditions. */
export function rawEp(ip: string | string[], o: Partial<RawEndpoint> & { cond?: Raw } = {}): RawEndpoint {
  const { cond, ...rest } = o;
  return {
    addresses: Array.isArray(ip) ? ip : [ip],
    conditions: { ready: true, serving: true, terminating: false, ...cond },
    nodeName: 'node-b',
    ...rest,
  };
}

export const SERVING_TERMINATING = { ready: false, serving: true, terminating: true };
export const NOT_SERVING_TERMINATING = { ready: false, serving: false, terminating: true };
export const NOT_READY = { ready: false, serving: false, terminating: false };

export function zoneHints(...zones: string[]): Raw {
  return { forZones: zones.map((name) => ({ name })) };
}

export function rawNode(name: string, o: { zone?: string; internalIP?: string; podCIDR?: string; labels?: Record<string, string>; annotations?: Record<string, string>; unschedulable?: boolean } = {}): Raw {
  const labels: Record<string, string> = { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...o.labels };
  if (o.zone) labels['topology.kubernetes.io/zone'] = o.zone;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels, annotations: { 'node.alpha.kubernetes.io/ttl': '0', ...o.annotations } },
    spec: { podCIDR: o.podCIDR ?? '10.244.0.0/24', podCIDRs: [o.podCIDR ?? '10.244.0.0/24'], ...(o.unschedulable ? { unschedulable: true } : {}) },
    status: {
      addresses: [
        { type: 'InternalIP', address: o.internalIP ?? '192.168.0.1' },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

export interface PodOpts {
  ns?: string;
  node?: string;
  ips?: string[];
  hostNetwork?: boolean;
  labels?: Record<string, string>;
  phase?: string;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
}

export function rawPod(name: string, o: PodOpts = {}): Raw {
  const ips = o.ips ?? ['10.244.0.5'];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: o.ns ?? 'default', ...(o.labels ? { labels: o.labels } : {}) },
    spec: { nodeName: o.node ?? SELF, hostNetwork: o.hostNetwork ?? false, containers: [{ name: 'c', image: 'x', ...(o.ports ? { ports: o.ports } : {}) }] },
    status: { phase: o.phase ?? 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
  };
}

export function rawNamespace(name: string, labels?: Record<string, string>): Raw {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels ? { labels } : {}) }, status: { phase: 'Active' } };
}

export function rawNetworkPolicy(name: string, ns: string, spec: Raw): Raw {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec };
}

export function rawClusterNetworkPolicy(name: string, spec: Raw): Raw {
  return { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec };
}

export function rawServiceCIDR(name: string, cidrs: string[]): Raw {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'ServiceCIDR',
    metadata: { name },
    spec: { cidrs },
    status: { conditions: [{ type: 'Ready', status: 'True', reason: '', message: '' }] },
  };
}

const noWarn = () => {};
export const svc = (name: string, o?: ServiceOpts): Service => toService(rawService(name, o), noWarn);
export const slice = (name: string, eps: RawEndpoint[], o?: SliceOpts): EndpointSlice => toEndpointSlice(rawSlice(name, eps, o), noWarn);
export const node = (name: string, o?: Parameters<typeof rawNode>[1]): Node => toNode(rawNode(name, o), noWarn);
export const pod = (name: string, o?: Parameters<typeof rawPod>[1]): Pod => toPod(rawPod(name, o), noWarn);
export const namespace = (name: string, labels?: Record<string, string>): Namespace => toNamespace(rawNamespace(name, labels), noWarn);
