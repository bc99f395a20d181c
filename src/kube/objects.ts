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
  labels: Record<string, string>; // every label (zone for topology, any for ClusterNetworkPolicy `nodes` peers)
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

/** A named container port: what a NetworkPolicy port by name resolves to on this pod. */
export interface NamedPort {
  name: string;
  protocol: Protocol;
  port: number;
}

export interface Pod {
  namespace: string;
  name: string;
  nodeName: string;
  ips: string[];
  hostNetwork: boolean;
  /** metadata.labels (policies select pods by them). */
  labels: Record<string, string>;
  /** status.phase; '' when unset. Succeeded and Failed pods hold no IP for policy (it gets reused). */
  phase: string;
  /** Named container ports of spec.containers, in order. */
  ports: NamedPort[];
}

export interface Namespace {
  name: string;
  /** metadata.labels, with kubernetes.io/metadata.name=<name> added when absent (as the control plane sets it). */
  labels: Record<string, string>;
}

export type SelectorOp = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** A metav1.LabelSelector. `never`: it held something unreadable and matches nothing (fail closed). */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: { key: string; operator: SelectorOp; values: string[] }[];
  never?: true;
}

/** A NetworkPolicyPort; `port` absent = every port of the protocol; a string is a named port. */
export interface PolicyPort {
  protocol: Protocol;
  port?: number | string;
  /** Inclusive end of a numeric range (only with a numeric port). */
  endPort?: number;
}

/** A NetworkPolicyPeer: pods (by namespace and pod selector) or an ipBlock. */
export type PolicyPeer =
  | { kind: 'pods'; namespaceSelector: LabelSelector | null; podSelector: LabelSelector | null }
  | { kind: 'ipBlock'; cidr: string; except: string[] };

export interface PolicyRule {
  /** null: every port and protocol (missing or empty list). An empty array matches nothing (only unreadable entries). */
  ports: PolicyPort[] | null;
  /** null: every peer (missing or empty from/to). An empty array matches nothing (only unreadable peers). */
  peers: PolicyPeer[] | null;
}

export interface NetworkPolicy {
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  /** policyTypes, defaulted as the API server does (Ingress always unless listed otherwise; Egress iff egress rules). */
  ingressIsolation: boolean;
  egressIsolation: boolean;
  ingress: PolicyRule[];
  egress: PolicyRule[];
}

export type CNPAction = 'Accept' | 'Deny' | 'Pass';

/** A ClusterNetworkPolicy peer: NetworkPolicy's kinds, or (egress) the addresses of the nodes a selector picks. */
export type CNPPeer = PolicyPeer | { kind: 'nodes'; nodeSelector: LabelSelector };

/**
 * A ClusterNetworkPolicy rule (v1alpha2), in NetworkPolicy terms: `namespaces` peers are pods
 * peers with no pod selector, `networks` are ipBlocks, `nodes` select nodes by label (their
 * status.addresses), a destinationNamedPort is a named PolicyPort per protocol. A peer
 * nodeway cannot read (an unknown field, or `domainNames`, unsupported) sets `unknownPeer`: an Accept rule then matches nothing, and Deny or
 * Pass match everything (the API's fail-closed rule).
 */
export interface CNPRule {
  name: string;
  action: CNPAction;
  peers: CNPPeer[];
  unknownPeer: boolean;
  /** Why `unknownPeer`: the peer field nodeway does not support ('domainNames'), else 'unreadable'. */
  unsupported?: string;
  /** null: every protocol and port. */
  ports: PolicyPort[] | null;
}

export interface ClusterNetworkPolicy {
  name: string;
  tier: 'Admin' | 'Baseline';
  priority: number;
  subject: { namespaceSelector: LabelSelector; podSelector: LabelSelector | null };
  ingress: CNPRule[];
  egress: CNPRule[];
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
  networkpolicies: NetworkPolicy;
  clusternetworkpolicies: ClusterNetworkPolicy;
}

export type Kind = keyof Kinds;

/**
 * The one empty list, shared by every empty list field of the cache and the view: each `[]`
 * is an object of its own (32 B), and a Service has several (no externalIPs, no IPv6
 * endpoints…). Frozen: writing to an object that is never to be written to throws instead of
 * changing every one that shares it.
 */
export const NONE: never[] = Object.freeze([]) as unknown as never[];
export const KINDS: readonly Kind[] = [
  'services', 'endpointslices', 'nodes', 'pods', 'namespaces', 'servicecidrs', 'networkpolicies', 'clusternetworkpolicies',
];
