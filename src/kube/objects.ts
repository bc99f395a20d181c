// The slim shapes nodeway keeps in its one watch cache. Everything the agent does not
// read (managedFields, status of pods, most annotations, specs of containers) is dropped on
// ingest, so memory grows with what matters.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type IPFamily = 4 | 6;
export type TrafficPolicy = 'Cluster' | 'Local';
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

export interface ServicePort {
  name: string;
  protocol: Protocol;
  port: number;
  nodePort: number; // 0 when none
  targetPort: number | string; // a number, or the name of a container port
}

export interface Service {
  namespace: string;
  name: string;
  type: ServiceType;
  /** service.kubernetes.io/service-proxy-name: when set, another proxy owns this Service. */
  proxyName: string;
  /** Labelled service.kubernetes.io/headless: kube-proxy's informer selector hides such Services from proxies. */
  labelledHeadless?: boolean;
  headless: boolean;
  clusterIPs: string[]; // valid IPs only, in spec order (primary first)
  externalName: string;
  externalIPs: string[];
  /** status.loadBalancer.ingress IPs in VIP mode; `ipMode: Proxy` and hostname-only entries are left out. */
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  ports: ServicePort[];
  /** ClientIP affinity timeout in seconds; 0 means no affinity. */
  affinityTimeout: number;
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  healthCheckNodePort: number;
  publishNotReadyAddresses: boolean;
  trafficDistribution: string;
}

export interface EndpointPort {
  name: string;
  protocol: Protocol;
  port: number;
}

export interface Endpoint {
  ip: string; // addresses[0] only, like kube-proxy
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName: string;
  hostname: string;
  zone: string;
  zoneHints: string[] | null; // null = no hints at all
  nodeHints: string[] | null;
}

export interface EndpointSlice {
  namespace: string;
  name: string;
  serviceName: string; // label kubernetes.io/service-name
  proxyName: string;
  headless: boolean; // label service.kubernetes.io/headless
  family: IPFamily | 0; // 0 for FQDN slices, which nodeway ignores
  /** endpoints.kubernetes.io/last-change-trigger-time in ms since the epoch (0: none): where programming latency starts. */
  triggerTime?: number;
  ports: EndpointPort[];
  endpoints: Endpoint[];
}

export interface NodeAddress {
  type: string; // InternalIP, ExternalIP, Hostname…
  address: string;
}

export interface Node {
  name: string;
  labels: Record<string, string>; // topology labels only (zone, region, hostname)
  annotations: Record<string, string>; // nodeway.dev/* only
  addresses: NodeAddress[];
  podCIDRs: string[];
  deleting: boolean;
  unschedulable: boolean;
  /** Tainted ToBeDeletedByClusterAutoscaler: the node is about to go (kube-proxy's nodeEligible, KEP-3836). */
  toBeDeleted?: boolean;
  /** status of the NetworkUnavailable condition: 'True', 'False', 'Unknown'; absent = no such condition. */
  networkUnavailable?: string;
}

export interface Pod {
  namespace: string;
  name: string;
  nodeName: string;
  ips: string[];
  hostNetwork: boolean;
}

export interface Namespace {
  name: string;
}

export interface ServiceCIDR {
  name: string;
  /** spec.cidrs that parse, canonical; a ServiceCIDR holds at most one per family. */
  cidrs: string[];
}

export interface Kinds {
  services: Service;
  endpointslices: EndpointSlice;
  nodes: Node;
  pods: Pod;
  namespaces: Namespace;
  servicecidrs: ServiceCIDR;
}

export type Kind = keyof Kinds;

/**
 * The one empty list, shared by every empty list field of the cache and the view: each `[]`
 * is an object of its own (32 B), and a Service has several (no externalIPs, no IPv6
 * endpoints…). Frozen: writing to an object that is never to be written to throws instead of
 * changing every one that shares it.
 */
export const NONE: never[] = Object.freeze([]) as unknown as never[];
export const KINDS: readonly Kind[] = ['services', 'endpointslices', 'nodes', 'pods', 'namespaces', 'servicecidrs'];
