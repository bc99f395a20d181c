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
  /**
   * Canonical IP → the Services owning it, one entry or a list; which of its names (cluster IP or
   * endpoint) is worked out when a PTR question comes (ptrOwners). One Map slot per IP and no
   * object of its own: at 10,000 Services × 10 endpoints an owner object, a list and a name per
   * endpoint were ~300k objects, most of the DNS module's heap.
   */
  reverse: Map<string, SvcEntry | SvcEntry[]>;
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

/** The Map key of an IP: its canonical text, the view's own string when it is already canonical. */
function ipKey(ip: string): string {
  const c = canonical(ip);
  return c === ip ? ip : c;
}

function addOwner(index: RecordIndex, ip: string, e: SvcEntry): void {
  const c = ipKey(ip);
  if (!c) return;
  const cur = index.reverse.get(c);
  if (!cur) index.reverse.set(c, e);
  else if (Array.isArray(cur)) {
    // A copy of the exact length (concat): push() or a spread leaves room for 20 (208 B instead
    // of 72 for three owners; 2.3 MiB at 10,000 × 10 where pods back up to four Services).
    if (!cur.includes(e)) index.reverse.set(c, cur.concat(e));
  } else if (cur !== e) index.reverse.set(c, [cur, e]);
}

function removeOwners(index: RecordIndex, e: SvcEntry): void {
  for (const ip of ownedIPs(e)) {
    const c = ipKey(ip);
    const cur = index.reverse.get(c);
    if (cur === undefined) continue;
    if (!Array.isArray(cur)) {
      if (cur === e) index.reverse.delete(c);
      continue;
    }
    const rest = cur.filter((o) => o !== e);
    // slice(): the exact length, as in addOwner (filter leaves room for 17).
    if (rest.length > 1) index.reverse.set(c, rest.length === cur.length ? cur : rest.slice());
    else if (rest.length === 1) index.reverse.set(c, rest[0]!);
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
  if (!v.headless) for (const ip of v.clusterIPs) addOwner(index, ip, e);
  for (const ep of v.dnsEndpoints) addOwner(index, ep.ip, e);
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

/** The names `e` gives `ip` (canonical): '' for a cluster IP, else each endpoint's name. */
function ownersIn(e: SvcEntry, ip: string, out: PtrOwner[]): void {
  const v = e.view;
  if (v.type === 'ExternalName') return;
  if (!v.headless && v.clusterIPs.some((c) => ipKey(c) === ip)) out.push({ svc: e, host: '' });
  for (const ep of v.dnsEndpoints) {
    if (ipKey(ep.ip) !== ip) continue;
    const host = endpointName(ep);
    if (!out.some((o) => o.svc === e && o.host === host)) out.push({ svc: e, host });
  }
}

/** PTR owners of an IP, CoreDNS's way: the first Service by key whose cluster IP it is, else every endpoint. */
export function ptrOwners(index: RecordIndex, ip: string): PtrOwner[] {
  const cur = index.reverse.get(ip);
  if (!cur) return [];
  const list: PtrOwner[] = [];
  for (const e of Array.isArray(cur) ? cur : [cur]) ownersIn(e, ip, list);
  let best: PtrOwner | undefined;
  for (const o of list) if (o.host === '' && (!best || o.svc.view.key < best.svc.view.key)) best = o;
  if (best) return [best];
  return list.sort((a, b) => (a.svc.view.key < b.svc.view.key ? -1 : a.svc.view.key > b.svc.view.key ? 1 : a.host < b.host ? -1 : 1));
}
