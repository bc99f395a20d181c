// Slim Services and EndpointSlices for proxy tests, turned into views by the real view code
// (src/view/service.ts), so the tests cover what the agent would actually program.
import type { Endpoint, EndpointSlice, Service, ServicePort } from '../../src/kube/objects.ts';
import { ipFamily } from '../../src/net/ip.ts';
import { buildServiceView } from '../../src/view/service.ts';
import type { ServiceView } from '../../src/view/types.ts';

export const NODE = 'node-a';

export function service(name: string, over: Partial<Omit<Service, 'ports'>> & { ports?: Partial<ServicePort>[] }): Service {
  const { ports, ...rest } = over;
  return {
    namespace: 'default',
    name,
    type: 'ClusterIP',
    proxyName: '',
    headless: false,
    clusterIPs: [],
    externalName: '',
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    affinityTimeout: 0,
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    healthCheckNodePort: 0,
    publishNotReadyAddresses: false,
    trafficDistribution: '',
    ...rest,
    ports: (ports ?? [{}]).map((p) => ({ name: '', protocol: 'TCP', port: 80, nodePort: 0, targetPort: 8080, ...p })),
  };
}

export interface EpSpec {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zoneHints?: string[];
}

export function slice(svc: string, name: string, ports: { name?: string; protocol?: 'TCP' | 'UDP' | 'SCTP'; port: number }[], eps: EpSpec[], namespace = 'default'): EndpointSlice {
  const endpoints: Endpoint[] = eps.map((e) => ({
    ip: e.ip,
    ready: e.ready ?? true,
    serving: e.serving ?? e.ready ?? true,
    terminating: e.terminating ?? false,
    nodeName: e.node ?? 'node-b',
    hostname: '',
    zone: '',
    zoneHints: e.zoneHints ?? null,
    nodeHints: null,
  }));
  return {
    namespace,
    name,
    serviceName: svc,
    proxyName: '',
    headless: false,
    family: (eps[0] ? ipFamily(eps[0].ip) : 4) || 4,
    ports: ports.map((p) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.port })),
    endpoints,
  };
}

export function view(svc: Service, slices: EndpointSlice[] = [], zone = ''): ServiceView {
  return buildServiceView(svc, slices, { name: NODE, zone });
}

export function viewMap(...views: ServiceView[]): Map<string, ServiceView> {
  return new Map(views.map((v) => [v.key, v]));
}
