// What one Service means on this node: its ports and, per port and family, the endpoints
// each kind of traffic may use. Pure: same inputs, same output.
import { objectKey } from '../kube/convert.ts';
import { equal } from '../kube/equal.ts';
import type { Endpoint, EndpointSlice, IPFamily, Service, ServicePort } from '../kube/objects.ts';
import { ipFamily } from '../net/ip.ts';
import { categorizeEndpoints, endpointKey, NONE } from './categorize.ts';
import type { DnsEndpoint, EndpointView, FamilyEndpoints, PortView, ServiceView } from './types.ts';

export interface NodeIdentity {
  name: string;
  zone: string;
}

/**
 * One slice endpoint as one service port sees it. It points at the cache's endpoint instead of
 * copying it: 100,000 copies of nine fields were 9 MiB (96 B each), this is 40 B.
 */
export class PortEndpoint implements EndpointView {
  readonly #ep: Endpoint;
  /** port << 1 | local: the two per-port facts in one field. */
  readonly #bits: number;

  constructor(ep: Endpoint, port: number, local: boolean) {
    this.#ep = ep;
    this.#bits = (port << 1) | (local ? 1 : 0);
  }

  get ip(): string { return this.#ep.ip; }
  get port(): number { return this.#bits >> 1; }
  /** On this node (its nodeName is ours). */
  get local(): boolean { return (this.#bits & 1) === 1; }
  get ready(): boolean { return this.#ep.ready; }
  get serving(): boolean { return this.#ep.serving; }
  get terminating(): boolean { return this.#ep.terminating; }
  get nodeName(): string { return this.#ep.nodeName; }
  get zoneHints(): string[] | null { return this.#ep.zoneHints; }
  get nodeHints(): string[] | null { return this.#ep.nodeHints; }
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
      const local = ep.nodeName !== '' && ep.nodeName === nodeName;
      const key = endpointKey({ ip: ep.ip, port: sp.port });
      const prev = seen.get(key);
      if (!prev || (local && !prev.local)) seen.set(key, new PortEndpoint(ep, sp.port, local));
    }
  }
  if (seen.size === 0) return NONE;
  return [...seen.values()].sort((a, b) => (endpointKey(a) < endpointKey(b) ? -1 : 1));
}

function ofFamily(ips: string[], family: IPFamily): string[] {
  return ips.filter((ip) => ipFamily(ip) === family);
}

/** A port with no endpoints of a family differs from another only by three flags: one shared object per combination. */
const noEndpoints = new Map<number, FamilyEndpoints>();
function withoutEndpoints(externallyAccessible: boolean, usesCluster: boolean, usesLocal: boolean): FamilyEndpoints {
  const k = (externallyAccessible ? 4 : 0) | (usesCluster ? 2 : 0) | (usesLocal ? 1 : 0);
  let f = noEndpoints.get(k);
  if (!f) {
    f = Object.freeze({ all: NONE, cluster: NONE, local: NONE, reachable: NONE, hasAny: false, externallyAccessible, usesCluster, usesLocal, servingIPs: NONE });
    noEndpoints.set(k, f);
  }
  return f;
}

function familyEndpoints(svc: Service, port: ServicePort, slices: EndpointSlice[], family: IPFamily, node: NodeIdentity): FamilyEndpoints {
  const endpoints = portEndpoints(port, slices, family, node.name);
  const externallyAccessible = port.nodePort !== 0 || ofFamily(svc.loadBalancerIPs, family).length > 0 || ofFamily(svc.externalIPs, family).length > 0;
  const itpLocal = svc.internalTrafficPolicy === 'Local';
  const etpLocal = svc.externalTrafficPolicy === 'Local' && externallyAccessible;
  const usesCluster = !itpLocal || externallyAccessible;
  const usesLocal = itpLocal || etpLocal;
  if (endpoints.length === 0) return withoutEndpoints(externallyAccessible, usesCluster, usesLocal);
  const c = categorizeEndpoints(endpoints, { usesCluster, usesLocal }, node.name, node.zone);
  // Only UDP and SCTP keep conntrack entries worth reconciling; TCP ports skip the list.
  const serving = port.protocol === 'TCP' ? NONE : [...new Set(endpoints.filter((e) => e.serving).map((e) => e.ip))].sort();
  const servingIPs = serving.length === 0 ? NONE : serving;
  // Spelled out: a spread in an object literal puts the properties after it out of line (40 B more).
  return { all: endpoints, cluster: c.cluster, local: c.local, reachable: c.reachable, hasAny: c.hasAny, externallyAccessible, usesCluster, usesLocal, servingIPs };
}

function dnsEndpoints(slices: readonly EndpointSlice[]): DnsEndpoint[] {
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
  if (byIP.size === 0) return NONE;
  return [...byIP.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}

function localReady(ports: PortView[], fam: 'v4' | 'v6'): number {
  const ips = new Set<string>();
  for (const p of ports) for (const ep of p[fam].all) if (ep.local && ep.ready) ips.add(ep.ip);
  return ips.size;
}

/** Small counts, the usual ones, share one frozen object per pair instead of one each per Service. */
const readyCounts = new Map<number, { v4: number; v6: number }>();
function localReadyIPs(ports: PortView[]): { v4: number; v6: number } {
  const v4 = localReady(ports, 'v4'), v6 = localReady(ports, 'v6');
  if (v4 >= 64 || v6 >= 64) return { v4, v6 };
  let c = readyCounts.get(v4 * 64 + v6);
  if (!c) readyCounts.set(v4 * 64 + v6, (c = Object.freeze({ v4, v6 })));
  return c;
}

/**
 * A ServiceView whose dnsEndpoints are computed when read, and kept only for a headless Service
 * (whose A/AAAA answers are its endpoints). Another Service's are read to index its endpoint
 * IPs and names, and then only by a question for one of those (an endpoint name, a PTR), so
 * keeping them held an object per endpoint for no answer: 5.3 MiB of 56-byte objects (and
 * 1.3 MiB of lists) at 10,000 Services × 10 endpoints. Everything else is a plain own field, as consumers (and their tests) copy views
 * with a spread.
 *
 * A view holds on to the cache's slices (and its endpoints to their slice endpoints): when a
 * slice changes in a way no consumer sees (an endpoint's zone), the view kept is the earlier
 * one, which keeps the earlier slice alive until the Service next changes.
 */
class BuiltServiceView implements ServiceView {
  key: string;
  namespace: string;
  name: string;
  type: ServiceView['type'];
  proxied: boolean;
  headless: boolean;
  externalName: string;
  clusterIPs: string[];
  externalIPs: string[];
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  affinityTimeout: number;
  externalTrafficPolicy: ServiceView['externalTrafficPolicy'];
  internalTrafficPolicy: ServiceView['internalTrafficPolicy'];
  healthCheckNodePort: number;
  publishNotReadyAddresses: boolean;
  ports: PortView[];
  localReadyIPs: { v4: number; v6: number };
  triggerTime: number;
  /** Every slice of the Service, sorted by name (a lone slice unwrapped): what dnsEndpoints are made of. */
  readonly #slices: EndpointSlice | readonly EndpointSlice[];
  #dns: DnsEndpoint[] | undefined;

  constructor(key: string, svc: Service, ports: PortView[], slices: EndpointSlice[], triggerTime: number) {
    this.key = key;
    this.namespace = svc.namespace;
    this.name = svc.name;
    this.type = svc.type;
    this.proxied = svc.proxyName === '' && !svc.labelledHeadless && !svc.headless && svc.type !== 'ExternalName' && svc.clusterIPs.length > 0;
    this.headless = svc.headless;
    this.externalName = svc.externalName;
    this.clusterIPs = svc.clusterIPs;
    this.externalIPs = svc.externalIPs;
    this.loadBalancerIPs = svc.loadBalancerIPs;
    this.loadBalancerSourceRanges = svc.loadBalancerSourceRanges;
    this.affinityTimeout = svc.affinityTimeout;
    this.externalTrafficPolicy = svc.externalTrafficPolicy;
    this.internalTrafficPolicy = svc.internalTrafficPolicy;
    this.healthCheckNodePort = svc.healthCheckNodePort;
    this.publishNotReadyAddresses = svc.publishNotReadyAddresses;
    this.ports = ports;
    this.localReadyIPs = localReadyIPs(ports);
    this.triggerTime = triggerTime;
    this.#slices = slices.length === 1 ? slices[0]! : slices.length === 0 ? NONE : slices;
  }

  /** Ready endpoints for DNS (headless A/AAAA, hostnames, SRV), deduplicated by IP, sorted. */
  get dnsEndpoints(): DnsEndpoint[] {
    if (this.#dns) return this.#dns;
    const d = dnsEndpoints(this.slices());
    if (this.headless) this.#dns = d;
    return d;
  }

  private slices(): readonly EndpointSlice[] {
    const s = this.#slices;
    return Array.isArray(s) ? s : [s as EndpointSlice];
  }

  /** Whether two views give the same dnsEndpoints, without keeping them on either view. */
  static sameDns(a: ServiceView, b: ServiceView): boolean {
    if (!(a instanceof BuiltServiceView && b instanceof BuiltServiceView)) return equal(a.dnsEndpoints, b.dnsEndpoints);
    const sa = a.slices(), sb = b.slices();
    // The same slice objects give the same answer: dnsEndpoints depend on nothing else.
    if (sa.length === sb.length && sa.every((s, i) => s === sb[i])) return true;
    return equal(a.#dns ?? dnsEndpoints(sa), b.#dns ?? dnsEndpoints(sb));
  }
}

/** `key` is the Service's cache key (namespace/name), when the caller has it: one string fewer per Service. */
export function buildServiceView(svc: Service, allSlices: EndpointSlice[], node: NodeIdentity, key = objectKey(svc.namespace, svc.name)): ServiceView {
  // Slices another proxy owns, or labelled headless, are invisible to us, as kube-proxy's
  // informer selector makes them.
  const sorted = allSlices.length < 2 ? allSlices : [...allSlices].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const slices = sorted.filter((s) => s.proxyName === '' && !s.headless);
  const ports: PortView[] = svc.ports.map((p) => ({
    name: p.name,
    protocol: p.protocol,
    port: p.port,
    nodePort: p.nodePort,
    v4: familyEndpoints(svc, p, slices, 4, node),
    v6: familyEndpoints(svc, p, slices, 6, node),
  }));
  // DNS, like CoreDNS, answers for every Service whoever proxies it: all slices, not `slices`.
  let trigger = 0;
  for (const s of slices) trigger = Math.max(trigger, s.triggerTime ?? 0);
  return new BuiltServiceView(key, svc, ports, sorted, trigger);
}

type Same<T> = { [K in keyof T]-?: (a: T[K], b: T[K]) => boolean };

function sameBy<T>(same: Same<T>, a: T, b: T): boolean {
  if (a === b) return true;
  for (const k in same) if (!same[k](a[k], b[k])) return false;
  return true;
}

const is = (a: unknown, b: unknown) => a === b;
const sameList = <T>(same: (a: T, b: T) => boolean) => (a: T[], b: T[]) => a === b || (a.length === b.length && a.every((x, i) => same(x, b[i]!)));

// Spelled out field by field (the types make a new field a compile error until it is added
// here): endpoints are read through their getters, and dnsEndpoints compared without being kept.
const SAME_ENDPOINT: Same<EndpointView> = {
  ip: is, port: is, local: is, ready: is, serving: is, terminating: is, nodeName: is, zoneHints: equal, nodeHints: equal,
};
const sameEndpoints = sameList((a: EndpointView, b: EndpointView) => sameBy(SAME_ENDPOINT, a, b));
const SAME_FAMILY: Same<FamilyEndpoints> = {
  all: sameEndpoints, cluster: sameEndpoints, local: sameEndpoints, reachable: sameEndpoints,
  hasAny: is, externallyAccessible: is, usesCluster: is, usesLocal: is, servingIPs: equal,
};
const sameFamily = (a: FamilyEndpoints, b: FamilyEndpoints) => sameBy(SAME_FAMILY, a, b);
const SAME_PORT: Same<PortView> = { name: is, protocol: is, port: is, nodePort: is, v4: sameFamily, v6: sameFamily };
const SAME_SERVICE: Same<Omit<ServiceView, 'dnsEndpoints'>> = {
  key: is, namespace: is, name: is, type: is, proxied: is, headless: is, externalName: is,
  clusterIPs: equal, externalIPs: equal, loadBalancerIPs: equal, loadBalancerSourceRanges: equal,
  affinityTimeout: is, externalTrafficPolicy: is, internalTrafficPolicy: is, healthCheckNodePort: is,
  publishNotReadyAddresses: is, ports: sameList((a: PortView, b: PortView) => sameBy(SAME_PORT, a, b)), localReadyIPs: equal,
  // When the endpoints last changed is not what they mean: a slice rewritten to the same
  // endpoints keeps the view (and the proxy observes no programming latency for it).
  triggerTime: () => true,
};

/** Same meaning for every consumer: when false, the view publishes the Service as changed. */
export function sameServiceView(a: ServiceView, b: ServiceView): boolean {
  return sameBy(SAME_SERVICE, a, b) && BuiltServiceView.sameDns(a, b);
}
