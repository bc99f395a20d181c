// The node view: what the cluster means on this node. Every module programs its dataplane
// from these shapes and nothing else; they are immutable once published.
import type { ClusterNetworkPolicy, IPFamily, Namespace, NetworkPolicy, Node, Pod, Protocol, ServiceType, TrafficPolicy } from '../kube/objects.ts';

/**
 * The view builds these as PortEndpoints (service.ts): getters over the cache's endpoint, so a
 * spread or JSON.stringify of one sees none of these fields; read them by name.
 */
export interface EndpointView {
  ip: string;
  port: number;
  /** On this node (its nodeName is ours). */
  local: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName: string;
  /** hints.forZones / hints.forNodes names; null when the endpoint has no such hints. */
  zoneHints: string[] | null;
  nodeHints: string[] | null;
}

/** One service port's endpoints of one IP family, categorised as kube-proxy's CategorizeEndpoints does. */
export interface FamilyEndpoints {
  /** Every usable-or-not endpoint, deduplicated by ip:port and sorted by it. */
  all: EndpointView[];
  /** For Cluster-policy traffic; empty when the port does not use cluster endpoints. */
  cluster: EndpointView[];
  /** For Local-policy traffic; empty when the port does not use local endpoints. */
  local: EndpointView[];
  /** Union of cluster and local: the endpoints a dataplane needs to reach. Sorted by ip:port. */
  reachable: EndpointView[];
  /** Some endpoint anywhere can take traffic: when false, traffic is rejected. */
  hasAny: boolean;
  /** NodePort / externalIP / LB VIP of this family exist for this port. */
  externallyAccessible: boolean;
  usesCluster: boolean;
  usesLocal: boolean;
  /** Serving endpoint IPs, whatever the policy: what UDP conntrack entries may keep pointing at. */
  servingIPs: string[];
}

export interface PortView {
  name: string;
  protocol: Protocol;
  port: number;
  nodePort: number;
  v4: FamilyEndpoints;
  v6: FamilyEndpoints;
}

export interface DnsEndpoint {
  ip: string;
  hostname: string;
  nodeName: string;
  ports: { name: string; protocol: Protocol; port: number }[];
}

export interface ServiceView {
  key: string; // namespace/name
  namespace: string;
  name: string;
  type: ServiceType;
  /** The proxy programs this Service: it has a ClusterIP, is not ExternalName, and no other proxy owns it. */
  proxied: boolean;
  headless: boolean;
  externalName: string;
  clusterIPs: string[];
  externalIPs: string[];
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  affinityTimeout: number;
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  healthCheckNodePort: number;
  publishNotReadyAddresses: boolean;
  ports: PortView[];
  /** Distinct local Ready endpoint IPs per family: what the health-check node port reports. */
  localReadyIPs: { v4: number; v6: number };
  /**
   * Ready endpoints for DNS (headless A/AAAA, hostnames, SRV), deduplicated by IP, sorted.
   * Computed on first read (a getter, which a spread of the view does not copy).
   */
  dnsEndpoints: DnsEndpoint[];
  /** The latest last-change-trigger-time of its proxied slices (ms since the epoch, 0: none); not part of its meaning. */
  triggerTime: number;
}

export interface PeerView {
  name: string;
  self: boolean;
  podCIDRs: string[];
  internalIPs: string[];
  externalIPs: string[];
  /** nodeway.dev/* annotations (WireGuard key, endpoint, port, keepalive). */
  annotations: Record<string, string>;
  zone: string;
  deleting: boolean;
  /** Status of its NetworkUnavailable condition ('True', 'False', 'Unknown'); absent = none. */
  networkUnavailable?: string;
}

export interface SelfView {
  name: string;
  /** Found in the cache: false until this node's Node object is listed. */
  known: boolean;
  zone: string;
  internalIPs: string[];
  externalIPs: string[];
  podCIDRs: string[];
  /** Being deleted, or tainted for deletion by the Cluster Autoscaler: load balancers should drain it (kube-proxy's nodeEligible false). */
  leaving?: boolean;
}

export interface PodRef {
  namespace: string;
  name: string;
  nodeName: string;
  hostNetwork: boolean;
}

/**
 * What policy enforcement reads: the cache's own (immutable) objects, as of the last flush.
 * Pods cluster-wide, by namespace/name; namespaces by name; NetworkPolicies by namespace/name;
 * ClusterNetworkPolicies by name.
 */
export interface PolicyView {
  pods: ReadonlyMap<string, Pod>;
  namespaces: ReadonlyMap<string, Namespace>;
  networkPolicies: ReadonlyMap<string, NetworkPolicy>;
  clusterNetworkPolicies: ReadonlyMap<string, ClusterNetworkPolicy>;
  /** Nodes by name (labels and addresses: ClusterNetworkPolicy `nodes` peers); absent = none. */
  nodes?: ReadonlyMap<string, Node>;
}

/** Which parts of the view changed since a consumer last looked. */
export interface ViewChanges {
  full: boolean;
  services: Set<string>;
  peers: Set<string>;
  pods: Set<string>;
  namespaces: Set<string>;
  self: boolean;
  /** NodeView.serviceCIDRs changed. */
  serviceCIDRs: boolean;
  /**
   * NodeView.policy changed: 'pod:<ns>/<name>', 'ns:<name>', 'np:<ns>/<name>', 'cnp:<name>', 'node:<name>'.
   * A pod's labels, phase or ports change only this (`pods` is for what a PodRef carries).
   */
  policies: Set<string>;
  /** When each changed Service first reached the view (performance.now() of that publish): the proxy's programming latency. */
  servicesAt: Map<string, number>;
}

export type { IPFamily };
