// The view as `nodeway view` prints it: stable order, endpoints as ip:port, so a person (or a
// test) can see exactly which endpoints each kind of traffic uses on this node.
import { ipFamily } from '../net/ip.ts';
import { endpointKey } from './categorize.ts';
import type { EndpointView, FamilyEndpoints, PortView, ServiceView } from './types.ts';
import type { NodeView } from './view.ts';
import { selects } from '../kube/convert-policy.ts';

/** Per local pod, the NetworkPolicies selecting it and the directions they isolate. */
function localPodPolicies(view: NodeView): Record<string, { ingress: string[]; egress: string[] }> {
  const out: Record<string, { ingress: string[]; egress: string[] }> = {};
  const { pods, networkPolicies } = view.policy;
  for (const [key, p] of [...pods].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (p.nodeName !== view.nodeName || p.hostNetwork) continue;
    const mine = { ingress: [] as string[], egress: [] as string[] };
    for (const [k, np] of networkPolicies) {
      if (np.namespace !== p.namespace || !selects(np.podSelector, p.labels)) continue;
      if (np.ingressIsolation) mine.ingress.push(k);
      if (np.egressIsolation) mine.egress.push(k);
    }
    mine.ingress.sort();
    mine.egress.sort();
    out[key] = mine;
  }
  return out;
}

const eps = (list: EndpointView[]) => list.map(endpointKey);

function family(f: FamilyEndpoints) {
  return {
    clusterEndpoints: eps(f.cluster),
    localEndpoints: eps(f.local),
    hasEndpoints: f.hasAny,
    usesClusterEndpoints: f.usesCluster,
    usesLocalEndpoints: f.usesLocal,
    externallyAccessible: f.externallyAccessible,
    endpoints: f.all.map((e) => ({
      endpoint: endpointKey(e), node: e.nodeName, local: e.local, ready: e.ready, serving: e.serving, terminating: e.terminating,
      ...(e.zoneHints ? { zoneHints: e.zoneHints } : {}), ...(e.nodeHints ? { nodeHints: e.nodeHints } : {}),
    })),
  };
}

function port(svc: ServiceView, p: PortView) {
  const has = (fam: 4 | 6, f: FamilyEndpoints) => f.all.length > 0 || svc.clusterIPs.some((ip) => ipFamily(ip) === fam);
  return {
    name: p.name, protocol: p.protocol, port: p.port, ...(p.nodePort ? { nodePort: p.nodePort } : {}),
    ...(has(4, p.v4) ? { ipv4: family(p.v4) } : {}),
    ...(has(6, p.v6) ? { ipv6: family(p.v6) } : {}),
  };
}

export function viewToJSON(view: NodeView) {
  const services = [...view.services.values()].sort((a, b) => (a.key < b.key ? -1 : 1)).map((s) => ({
    service: s.key, type: s.type, proxied: s.proxied, headless: s.headless,
    ...(s.externalName ? { externalName: s.externalName } : {}),
    clusterIPs: s.clusterIPs, externalIPs: s.externalIPs, loadBalancerIPs: s.loadBalancerIPs,
    loadBalancerSourceRanges: s.loadBalancerSourceRanges,
    sessionAffinityTimeout: s.affinityTimeout,
    externalTrafficPolicy: s.externalTrafficPolicy, internalTrafficPolicy: s.internalTrafficPolicy,
    healthCheckNodePort: s.healthCheckNodePort, localReadyEndpoints: s.localReadyIPs,
    ports: s.ports.map((p) => port(s, p)),
    dnsEndpoints: s.dnsEndpoints,
  }));
  return {
    node: view.self,
    services,
    peers: [...view.peers.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    pods: [...view.podsByIP.values()].reduce((n, l) => n + l.length, 0),
    namespaces: [...view.namespaces].sort(),
    serviceCIDRs: view.serviceCIDRs,
    localPodPolicies: localPodPolicies(view),
  };
}
