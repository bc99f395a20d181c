// The record index: the plan step of the DNS module. A function of the node view's Services,
// Namespaces (and, for `pods verified`, its pod IPs), kept incrementally per Service. It holds
// references to the view's immutable ServiceViews plus the two things a query cannot find by
// parsing its name: which namespaces exist and who owns an IP (PTR). Answers are derived from
// it on demand (lookup.ts) and cached encoded by the server.
import type { DnsEndpoint, PodRef, ServiceView } from '../../src/view/types.ts';
import { canonical, dashedIP } from './names.ts';

export type PodMode = 'disabled' | 'insecure' | 'verified';

export interface DnsSettings {
  /** Cluster domain, lower-case, no trailing dot. */
  zone: string;
  ttl: number;
  pods: PodMode;
  /** The cluster DNS addresses: glue for ns.dns.<zone>. */
  nameservers: string[];
}

export interface SvcEntry {
  view: ServiceView;
  /** <svc>.<ns>.svc.<zone> */
  fqdn: string;
  /** Endpoint name (hostname, else dashed IP) → endpoints; built on first use. */
  hosts?: Map<string, DnsEndpoint[]>;
}

export interface PtrOwner {
  svc: SvcEntry;
  /** '' when the IP is one of the Service's cluster IPs, else the endpoint name. */
  host: string;
}

export interface RecordIndex {
  settings: DnsSettings;
  /** `<name>.<ns>` → entry. */
  services: Map<string, SvcEntry>;
  /** Namespaces with a Namespace object. */
  namespaces: Set<string>;
  /** Services per namespace: a namespace with Services exists even before its object is seen. */
  servicesPerNs: Map<string, number>;
  /** Canonical IP → owners. */
  reverse: Map<string, PtrOwner[]>;
  /** Pod IP → pods (the view's own map), only for `pods verified`. */
  pods: ReadonlyMap<string, PodRef[]> | undefined;
  /** SOA serial: seconds of the last change. */
  serial: number;
}

export function endpointName(ep: DnsEndpoint): string {
  return ep.hostname !== '' ? ep.hostname.toLowerCase() : dashedIP(ep.ip);
}

export function hostsOf(e: SvcEntry): Map<string, DnsEndpoint[]> {
  if (e.hosts) return e.hosts;
  const m = new Map<string, DnsEndpoint[]>();
  for (const ep of e.view.dnsEndpoints) {
    const h = endpointName(ep);
    const list = m.get(h);
    if (list) list.push(ep);
    else m.set(h, [ep]);
  }
  e.hosts = m;
  return m;
}

function serviceKey(v: ServiceView): string {
  return `${v.name}.${v.namespace}`.toLowerCase();
}

function addOwner(index: RecordIndex, ip: string, owner: PtrOwner): void {
  const c = canonical(ip);
  if (!c) return;
  const list = index.reverse.get(c);
  if (!list) index.reverse.set(c, [owner]);
  else if (!list.some((o) => o.svc === owner.svc && o.host === owner.host)) list.push(owner);
}

function removeOwners(index: RecordIndex, e: SvcEntry): void {
  for (const ip of ownedIPs(e)) {
    const c = canonical(ip);
    const list = index.reverse.get(c);
    if (!list) continue;
    const rest = list.filter((o) => o.svc !== e);
    if (rest.length) index.reverse.set(c, rest);
    else index.reverse.delete(c);
  }
}

function ownedIPs(e: SvcEntry): string[] {
  if (e.view.type === 'ExternalName') return [];
  return [...e.view.clusterIPs, ...e.view.dnsEndpoints.map((ep) => ep.ip)];
}

function addService(index: RecordIndex, v: ServiceView): void {
  const key = serviceKey(v);
  const e: SvcEntry = { view: v, fqdn: `${key}.svc.${index.settings.zone}` };
  index.services.set(key, e);
  const ns = v.namespace.toLowerCase();
  index.servicesPerNs.set(ns, (index.servicesPerNs.get(ns) ?? 0) + 1);
  if (v.type === 'ExternalName') return;
  if (!v.headless) for (const ip of v.clusterIPs) addOwner(index, ip, { svc: e, host: '' });
  for (const ep of v.dnsEndpoints) addOwner(index, ep.ip, { svc: e, host: endpointName(ep) });
}

function removeService(index: RecordIndex, key: string): void {
  const e = index.services.get(key);
  if (!e) return;
  removeOwners(index, e);
  index.services.delete(key);
  const ns = e.view.namespace.toLowerCase();
  const n = (index.servicesPerNs.get(ns) ?? 1) - 1;
  if (n > 0) index.servicesPerNs.set(ns, n);
  else index.servicesPerNs.delete(ns);
}

export interface IndexInputs {
  services: ReadonlyMap<string, ServiceView>;
  namespaces: ReadonlySet<string>;
  podsByIP: ReadonlyMap<string, PodRef[]>;
}

/** Builds the index from scratch. */
export function planIndex(input: IndexInputs, settings: DnsSettings, serial: number): RecordIndex {
  const index: RecordIndex = {
    settings,
    services: new Map(),
    namespaces: new Set([...input.namespaces].map((n) => n.toLowerCase())),
    servicesPerNs: new Map(),
    reverse: new Map(),
    pods: settings.pods === 'verified' ? input.podsByIP : undefined,
    serial,
  };
  // Sorted so that "the first Service owning a cluster IP" does not depend on event order.
  const views = [...input.services.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const v of views) addService(index, v);
  return index;
}

/** What an index update touched: the answers that may have changed are those depending on these. */
export interface IndexChange {
  /** `<name>.<ns>` keys of Services added, changed or removed. */
  services: Set<string>;
  /** Namespaces whose existence flipped. */
  namespaces: Set<string>;
  /** Canonical IPs whose PTR owners may differ. */
  ips: Set<string>;
}

/**
 * Brings `index` up to date with the Services whose keys (namespace/name) changed: the same
 * index planIndex would build. Returns what changed, for the encoded answers to forget.
 */
export function updateIndex(index: RecordIndex, input: IndexInputs, changedServices: Iterable<string>, namespacesChanged: boolean, serial: number): IndexChange {
  const change: IndexChange = { services: new Set(), namespaces: new Set(), ips: new Set() };
  const nextNamespaces = namespacesChanged ? new Set([...input.namespaces].map((n) => n.toLowerCase())) : index.namespaces;
  const keys = [...changedServices];
  // Namespaces that may appear or vanish, and whether they existed before.
  const before = new Map<string, boolean>();
  const candidate = (ns: string) => before.has(ns) || before.set(ns, namespaceExists(index, ns));
  for (const key of keys) candidate(key.slice(0, key.indexOf('/')).toLowerCase());
  if (namespacesChanged) {
    for (const ns of nextNamespaces) if (!index.namespaces.has(ns)) candidate(ns);
    for (const ns of index.namespaces) if (!nextNamespaces.has(ns)) candidate(ns);
  }
  for (const key of keys) {
    const slash = key.indexOf('/');
    const k = `${key.slice(slash + 1)}.${key.slice(0, slash)}`.toLowerCase();
    change.services.add(k);
    const old = index.services.get(k);
    if (old) for (const ip of ownedIPs(old)) change.ips.add(canonical(ip));
    removeService(index, k);
    const v = input.services.get(key);
    if (v) {
      addService(index, v);
      for (const ip of ownedIPs(index.services.get(k)!)) change.ips.add(canonical(ip));
    }
  }
  index.namespaces = nextNamespaces;
  for (const [ns, existed] of before) if (namespaceExists(index, ns) !== existed) change.namespaces.add(ns);
  index.pods = index.settings.pods === 'verified' ? input.podsByIP : undefined;
  index.serial = serial;
  return change;
}

export function namespaceExists(index: RecordIndex, ns: string): boolean {
  return index.namespaces.has(ns) || index.servicesPerNs.has(ns);
}

/** PTR owners of an IP, CoreDNS's way: the first Service by key whose cluster IP it is, else every endpoint. */
export function ptrOwners(index: RecordIndex, ip: string): PtrOwner[] {
  const list = index.reverse.get(ip);
  if (!list) return [];
  let best: PtrOwner | undefined;
  for (const o of list) if (o.host === '' && (!best || o.svc.view.key < best.svc.view.key)) best = o;
  if (best) return [best];
  return [...list].sort((a, b) => (a.svc.view.key < b.svc.view.key ? -1 : a.svc.view.key > b.svc.view.key ? 1 : a.host < b.host ? -1 : 1));
}
