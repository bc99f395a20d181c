// Builders for DNS tests: ServiceViews and node views without an API server, queries, replies.
import type { DnsEndpoint, PeerView, PodRef, ServiceView, SelfView } from '../../src/view/types.ts';
import { decodeMessage, encodeMessage, type Message } from '../../modules/dns/message.ts';
import { planIndex, type DnsSettings, type RecordIndex } from '../../modules/dns/records.ts';
import { CLASS_IN } from '../../modules/dns/wire.ts';

export interface SvcSpec {
  ns?: string;
  name: string;
  type?: ServiceView['type'];
  headless?: boolean;
  clusterIPs?: string[];
  externalName?: string;
  ports?: { name: string; protocol?: 'TCP' | 'UDP' | 'SCTP'; port: number }[];
  endpoints?: { ip: string; hostname?: string; ports?: { name: string; protocol?: 'TCP' | 'UDP' | 'SCTP'; port: number }[] }[];
}

export function svc(s: SvcSpec): ServiceView {
  const ns = s.ns ?? 'default';
  const ports = (s.ports ?? []).map((p) => ({ name: p.name, protocol: p.protocol ?? 'TCP', port: p.port }));
  const dnsEndpoints: DnsEndpoint[] = (s.endpoints ?? []).map((e) => ({
    ip: e.ip,
    hostname: e.hostname ?? '',
    nodeName: 'n1',
    ports: (e.ports ?? ports).map((p) => ({ name: p.name, protocol: p.protocol ?? 'TCP', port: p.port })),
  }));
  const empty = { all: [], cluster: [], local: [], reachable: [], hasAny: false, externallyAccessible: false, usesCluster: true, usesLocal: false, servingIPs: [] };
  return {
    key: `${ns}/${s.name}`,
    namespace: ns,
    name: s.name,
    type: s.type ?? (s.externalName ? 'ExternalName' : 'ClusterIP'),
    proxied: !s.headless && !s.externalName,
    headless: s.headless ?? false,
    externalName: s.externalName ?? '',
    clusterIPs: s.clusterIPs ?? [],
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    affinityTimeout: 0,
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    healthCheckNodePort: 0,
    publishNotReadyAddresses: false,
    ports: ports.map((p) => ({ ...p, nodePort: 0, v4: { ...empty }, v6: { ...empty } })),
    localReadyIPs: { v4: 0, v6: 0 },
    dnsEndpoints,
    triggerTime: 0,
  };
}

export const SETTINGS: DnsSettings = { zone: 'cluster.local', ttl: 30, pods: 'insecure', nameservers: ['10.96.0.10'] };

export interface ViewSpec {
  services: ServiceView[];
  namespaces?: string[];
  pods?: Record<string, PodRef[]>;
}

export function inputs(v: ViewSpec) {
  return {
    services: new Map(v.services.map((s) => [s.key, s])),
    namespaces: new Set(v.namespaces ?? []),
    podsByIP: new Map(Object.entries(v.pods ?? {})),
  };
}

export function index(v: ViewSpec, settings: Partial<DnsSettings> = {}): RecordIndex {
  return planIndex(inputs(v), { ...SETTINGS, ...settings }, 1700000000);
}

/** A minimal node view for the ACL and the module. */
export function nodeView(v: ViewSpec & { self?: Partial<SelfView>; peers?: PeerView[] }) {
  const i = inputs(v);
  return {
    services: i.services,
    namespaces: i.namespaces,
    podsByIP: i.podsByIP,
    peers: new Map((v.peers ?? []).map((p) => [p.name, p])),
    self: { name: 'n1', known: true, zone: '', internalIPs: ['198.18.0.2'], externalIPs: [], podCIDRs: ['10.244.1.0/24'], ...v.self },
    ready: true,
  };
}

export function query(name: string, type: number, opts: { id?: number; edns?: number; rd?: boolean; do?: boolean; cd?: boolean } = {}): Buffer {
  const msg: Message = {
    id: opts.id ?? 0x1234,
    flags: (opts.rd === false ? 0 : 0x0100) | (opts.cd ? 0x0010 : 0),
    questions: [{ name, type, class: CLASS_IN }],
    answers: [],
    authority: [],
    additional: [],
  };
  if (opts.edns !== undefined || opts.do) msg.edns = { udpSize: opts.edns ?? 1232, version: 0, dnssecOk: opts.do ?? false, extRcode: 0 };
  return encodeMessage(msg).bytes;
}

export function decode(b: Buffer | null): Message {
  if (!b) throw new Error('no reply');
  return decodeMessage(b);
}

export const rcodeOf = (m: Message): number => (m.flags & 0xf) | ((m.edns?.extRcode ?? 0) << 4);
