// What one Service means on this node: its ports and, per port and family, the endpoints
// each kind of traffic may use. Pure: same inputs, same output.
import type { EndpointSlice, IPFamily, Service, ServicePort } from '../kube/objects.ts';
import { ipFamily } from '../net/ip.ts';
import { categorizeEndpoints, endpointKey } from './categorize.ts';
import type { DnsEndpoint, EndpointView, FamilyEndpoints, PortView, ServiceView } from './types.ts';

export interface NodeIdentity {
  name: string;
  zone: string;
}

/**
 * Endpoints of one service port and family, deduplicated by ip:port across all slices (first
 * seen wins unless a later duplicate is local), from addresses[0] only, slices in name order.
 */
export function portEndpoints(port: ServicePort, slices: EndpointSlice[], family: IPFamily, nodeName: string): EndpointView[] {
  const seen = new Map<string, EndpointView>();
  for (const slice of slices) {
    if (slice.family !== family) continue;
    const sp = slice.ports.find((p) => p.name === port.name && p.protocol === port.protocol);
    if (!sp) continue;
    for (const ep of slice.endpoints) {
      const input: EndpointView = {
        ip: ep.ip,
        port: sp.port,
        local: ep.nodeName !== '' && ep.nodeName === nodeName,
        ready: ep.ready,
        serving: ep.serving,
        terminating: ep.terminating,
        nodeName: ep.nodeName,
        zoneHints: ep.zoneHints,
        nodeHints: ep.nodeHints,
      };
      const key = endpointKey(input);
      const prev = seen.get(key);
      if (!prev || (input.local && !prev.local)) seen.set(key, input);
    }
  }
  return [...seen.values()].sort((a, b) => (endpointKey(a) < endpointKey(b) ? -1 : 1));
}

function ofFamily(ips: string[], family: IPFamily): string[] {
  return ips.filter((ip) => ipFamily(ip) === family);
}

function familyEndpoints(svc: Service, port: ServicePort, slices: EndpointSlice[], family: IPFamily, node: NodeIdentity): FamilyEndpoints {
  const endpoints = portEndpoints(port, slices, family, node.name);
  const externallyAccessible = port.nodePort !== 0 || ofFamily(svc.loadBalancerIPs, family).length > 0 || ofFamily(svc.externalIPs, family).length > 0;
  const itpLocal = svc.internalTrafficPolicy === 'Local';
  const etpLocal = svc.externalTrafficPolicy === 'Local' && externallyAccessible;
  const usesCluster = !itpLocal || externallyAccessible;
  const usesLocal = itpLocal || etpLocal;
  const c = categorizeEndpoints(endpoints, { usesCluster, usesLocal }, node.name, node.zone);
  // Only UDP and SCTP keep conntrack entries worth reconciling; TCP ports skip the list.
  const servingIPs = port.protocol === 'TCP' ? [] : [...new Set(endpoints.filter((e) => e.serving).map((e) => e.ip))].sort();
  return { all: endpoints, ...c, externallyAccessible, usesCluster, usesLocal, servingIPs };
}

function dnsEndpoints(slices: EndpointSlice[]): DnsEndpoint[] {
  const byIP = new Map<string, DnsEndpoint>();
  for (const slice of slices) {
    if (slice.family === 0) continue;
    for (const ep of slice.endpoints) {
      if (!ep.ready) continue;
      const d = byIP.get(ep.ip);
      // One slice per endpoint is the rule: share its ports list, copy only to merge a second one.
      if (!d) {
        byIP.set(ep.ip, { ip: ep.ip, hostname: ep.hostname, nodeName: ep.nodeName, ports: slice.ports });
        continue;
      }
      if (!d.hostname && ep.hostname) d.hostname = ep.hostname;
      const extra = slice.ports.filter((p) => !d.ports.some((q) => q.name === p.name && q.protocol === p.protocol && q.port === p.port));
      if (extra.length) d.ports = [...d.ports, ...extra];
    }
  }
  return [...byIP.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}

function localReady(ports: PortView[], fam: 'v4' | 'v6'): number {
  const ips = new Set<string>();
  for (const p of ports) for (const ep of p[fam].all) if (ep.local && ep.ready) ips.add(ep.ip);
  return ips.size;
}

export function buildServiceView(svc: Service, allSlices: EndpointSlice[], node: NodeIdentity): ServiceView {
  // Slices another proxy owns, or labelled headless, are invisible to us, as kube-proxy's
  // informer selector makes them.
  const sorted = [...allSlices].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const slices = sorted.filter((s) => s.proxyName === '' && !s.headless);
  const proxied = svc.proxyName === '' && !svc.headless && svc.type !== 'ExternalName' && svc.clusterIPs.length > 0;
  const ports: PortView[] = svc.ports.map((p) => ({
    name: p.name,
    protocol: p.protocol,
    port: p.port,
    nodePort: p.nodePort,
    v4: familyEndpoints(svc, p, slices, 4, node),
    v6: familyEndpoints(svc, p, slices, 6, node),
  }));
  return {
    key: `${svc.namespace}/${svc.name}`,
    namespace: svc.namespace,
    name: svc.name,
    type: svc.type,
    proxied,
    headless: svc.headless,
    externalName: svc.externalName,
    clusterIPs: svc.clusterIPs,
    externalIPs: svc.externalIPs,
    loadBalancerIPs: svc.loadBalancerIPs,
    loadBalancerSourceRanges: svc.loadBalancerSourceRanges,
    affinityTimeout: svc.affinityTimeout,
    externalTrafficPolicy: svc.externalTrafficPolicy,
    internalTrafficPolicy: svc.internalTrafficPolicy,
    healthCheckNodePort: svc.healthCheckNodePort,
    publishNotReadyAddresses: svc.publishNotReadyAddresses,
    ports,
    localReadyIPs: { v4: localReady(ports, 'v4'), v6: localReady(ports, 'v6') },
    // DNS, like CoreDNS, answers for every Service whoever proxies it.
    dnsEndpoints: dnsEndpoints(sorted),
  };
}
