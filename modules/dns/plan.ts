// The DNS module's plan: from the config and the node view to what this node should serve, as a
// plain value (`nodeway view --desired dns` prints it). Pure. The applier (module.ts) diffs the
// parts with the generic tracker: the host side (capture, sockets, upstreams), the hosts table,
// who may ask, and the zone per Service, so that only Services whose records changed reach the
// record index and the encoded-answer cache (a Service change DNS does not show forgets nothing).
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { ServiceView } from '../../src/view/types.ts';
import type { NodeView } from '../../src/view/view.ts';
import { hostsTable, type HostsTable } from './hosts.ts';
import type { DnsConfig } from './options.ts';
import { endpointName, type PodMode } from './records.ts';
import { listenText } from './server.ts';

/** What one Service puts in the zone (everything lookup.ts reads from it), under `<name>.<ns>`. */
export interface ServiceRecords {
  /** `<svc>.<ns>.svc.<zone>` */
  name: string;
  kind: 'ClusterIP' | 'Headless' | 'ExternalName';
  /** A/AAAA at `name`: the cluster IPs, or a headless Service's ready endpoints. */
  addresses: string[];
  /** ExternalName: the CNAME target ('' when it is not a name: the answer is NODATA). */
  cname?: string;
  /** SRV at `name` and (named ports) at `_<port>._<proto>.<name>`: "name/PROTO number" per Service port. */
  ports: string[];
  /** Endpoint names (hostname, else the dashed IP) under `name`: addresses, and "port/PROTO number" (headless SRV). */
  endpoints: Record<string, { addresses: string[]; ports: string[] }>;
}

export interface DnsDesired {
  zone: string;
  ttl: number;
  pods: PodMode;
  /** Cluster DNS addresses put on the node (a dummy link) and exempted from conntrack. */
  capture: string[];
  /** Where the UDP and TCP sockets listen. */
  listen: string[];
  /** Upstreams for names outside the zone, as configured (resolv.conf files are read when applied). */
  upstreams: string[];
  /** Stub domains: zone → its own upstreams, checked before `upstreams`. */
  stubs: { zone: string; upstream: string[] }[];
  /** Names answered before the zone and the upstreams (--dns-host, --dns-node-hosts) → addresses. */
  hosts: Map<string, string[]>;
  /** Who may ask besides loopback and --dns-allow: node addresses and pod CIDRs. */
  clients: { ips: string[]; cidrs: string[] };
  /** Namespaces with a Namespace object (a namespace with Services exists too). */
  namespaces: string[];
  /** `<name>.<ns>` → its records. */
  services: Map<string, ServiceRecords>;
}

/** The config with IPv6 left out when the host has it off (the module says so once). */
export function effectiveConfig(cfg: DnsConfig, v6Off: boolean): DnsConfig {
  return v6Off ? { ...cfg, clusterDNS: cfg.clusterDNS.filter((ip) => !isIPv6(ip)), listen: cfg.listen.filter((l) => !isIPv6(l.host)) } : cfg;
}

/** The host side: it depends on the config alone. */
export function planHost(cfg: DnsConfig): Pick<DnsDesired, 'capture' | 'listen' | 'upstreams' | 'stubs'> {
  return {
    capture: [...cfg.clusterDNS],
    listen: cfg.listen.map(listenText),
    upstreams: [...cfg.upstream],
    stubs: cfg.stubs.map((s) => ({ zone: s.zone, upstream: [...s.upstream] })),
  };
}

/** Config lines plus (NodeHosts) every known node's internal IPs. */
export function planHosts(cfg: DnsConfig, view: Pick<NodeView, 'peers' | 'self'>): HostsTable {
  const nodes: { name: string; ips: readonly string[] }[] = [];
  if (cfg.nodeHosts) {
    for (const p of view.peers.values()) if (!p.self) nodes.push({ name: p.name, ips: p.internalIPs });
    if (view.self.known) nodes.push({ name: view.self.name, ips: view.self.internalIPs });
  }
  return hostsTable(cfg.hosts, nodes, cfg.hostsTTL);
}

export function planClients(view: Pick<NodeView, 'peers' | 'self'>): DnsDesired['clients'] {
  const ips = [...view.self.internalIPs, ...view.self.externalIPs];
  const cidrs = [...view.self.podCIDRs];
  for (const p of view.peers.values()) {
    ips.push(...p.internalIPs, ...p.externalIPs);
    cidrs.push(...p.podCIDRs);
  }
  return { ips: [...new Set(ips)], cidrs: [...new Set(cidrs)] };
}

const portText = (p: { name: string; protocol: string; port: number }) => `${p.name.toLowerCase()}/${p.protocol} ${p.port}`;

/** The records of one Service (see lookup.ts for how queries read them). */
export function serviceRecords(v: ServiceView, zone: string): ServiceRecords {
  const name = `${v.name}.${v.namespace}.svc.${zone}`.toLowerCase();
  if (v.type === 'ExternalName') {
    return { name, kind: 'ExternalName', addresses: [], cname: v.externalName.toLowerCase().replace(/\.$/, ''), ports: [], endpoints: {} };
  }
  const endpoints: ServiceRecords['endpoints'] = {};
  for (const ep of v.dnsEndpoints) {
    const h = endpointName(ep);
    const e = (endpoints[h] ??= { addresses: [], ports: [] });
    e.addresses.push(ep.ip);
    for (const p of ep.ports) e.ports.push(portText(p));
  }
  return {
    name,
    kind: v.headless ? 'Headless' : 'ClusterIP',
    addresses: v.headless ? v.dnsEndpoints.map((ep) => ep.ip) : [...v.clusterIPs],
    ports: v.ports.map(portText),
    endpoints,
  };
}

/** The tracker's key for a view Service key (namespace/name): the zone's `<name>.<ns>`. */
export function recordsKey(viewKey: string): string {
  const slash = viewKey.indexOf('/');
  return `${viewKey.slice(slash + 1)}.${viewKey.slice(0, slash)}`.toLowerCase();
}

/** Records are built in a fixed order, so their JSON is stable: cheaper than hashOf's sorting. */
export function recordsHash(r: ServiceRecords): string {
  return createHash('sha1').update(JSON.stringify(r)).digest('base64url');
}

/** The whole desired state, for printing (the applier plans its parts as they change). */
export function planDns(cfg: DnsConfig, view: Pick<NodeView, 'services' | 'namespaces' | 'peers' | 'self'>): DnsDesired {
  const services = new Map<string, ServiceRecords>();
  for (const key of [...view.services.keys()].sort()) services.set(recordsKey(key), serviceRecords(view.services.get(key)!, cfg.zone));
  return {
    zone: cfg.zone,
    ttl: cfg.ttl,
    pods: cfg.pods,
    ...planHost(cfg),
    hosts: planHosts(cfg, view).byName,
    clients: planClients(view),
    namespaces: [...view.namespaces].map((n) => n.toLowerCase()).sort(),
    services,
  };
}

/** The desired state as JSON-ready data (maps as sorted objects). */
export function desiredToJSON(d: DnsDesired): unknown {
  return {
    ...d,
    hosts: Object.fromEntries([...d.hosts].sort(([a], [b]) => (a < b ? -1 : 1))),
    services: Object.fromEntries(d.services),
  };
}
