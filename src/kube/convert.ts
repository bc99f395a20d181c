// Convert-on-ingest: raw API objects (untrusted JSON) to the slim shapes in objects.ts.
// A value that cannot be understood is dropped with a warning; an object without identity
// is rejected. Neither may throw anything but InvalidObject.
import type {
  Endpoint, EndpointPort, EndpointSlice, Kind, Kinds, NamedPort, Namespace, Node, NodeAddress, Pod,
  Protocol, Service, ServiceCIDR, ServicePort, ServiceType, TrafficPolicy,
} from './objects.ts';
import { NONE } from './objects.ts';
import { canonicalIP, ipFamily, parseCIDR } from '../net/ip.ts';
import { allLabels, arr, bool, fit, InvalidObject, label, MAX_VALUE, meta, obj, port, protocol, show, str, type Raw, type Warn } from './raw.ts';
import { toClusterNetworkPolicy, toNetworkPolicy } from './convert-policy.ts';

export { InvalidObject, type Warn } from './raw.ts';

const PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
const HEADLESS = 'service.kubernetes.io/headless';
const SERVICE_NAME = 'kubernetes.io/service-name';
const TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
const ANNOTATION_PREFIX = 'nodeway.dev/';

/**
 * Port lists repeat across a cluster (most Services are some "http 80 → 8080", their slices
 * "http 8080"): equal lists are one frozen copy, list and ports, instead of one each per
 * object (112 B for a one-port list). Bounded as intern() is.
 */
function sharedPorts<T extends object>(known: Map<string, T[]>, list: T[]): T[] {
  if (list.length === 0) return NONE;
  const key = JSON.stringify(list);
  const found = known.get(key);
  if (found !== undefined) return found;
  if (known.size > 10_000) known.clear();
  const kept = Object.freeze(list.map((p) => Object.freeze(p))) as T[];
  known.set(key, kept);
  return kept;
}
const servicePorts = new Map<string, ServicePort[]>();
const slicePorts = new Map<string, EndpointPort[]>();


/**
 * service.kubernetes.io/service-proxy-name: kube-proxy's informer selector (DoesNotExist) skips
 * the object whenever the label is present, whatever its value, so an empty value still means
 * "another proxy's"; it is kept as a placeholder that no real label value can equal.
 */
function proxyName(labels: Raw, warn: Warn): string {
  if (!Object.hasOwn(labels, PROXY_NAME)) return '';
  return label(labels, PROXY_NAME, warn) || '(unnamed)';
}


function ips(list: unknown[], where: string, warn: Warn): string[] {
  const out: string[] = [];
  for (const v of list) {
    const ip = canonicalIP(str(v));
    if (ip === '') warn(`${where}: invalid IP ${show(v)} ignored`);
    else if (!out.includes(ip)) out.push(ip);
  }
  return fit(out);
}

function policy(v: unknown, where: string, warn: Warn): TrafficPolicy {
  if (v === undefined || v === null || v === 'Cluster') return 'Cluster';
  if (v === 'Local') return 'Local';
  warn(`${where}: unknown traffic policy ${show(v)}; using Cluster`);
  return 'Cluster';
}

export function toService(raw: Raw, warn: Warn): Service {
  const { namespace, name, labels } = meta(raw, true);
  const spec = obj(raw.spec);
  const at = `service ${namespace}/${name}`;
  let type = (str(spec.type) || 'ClusterIP') as ServiceType;
  if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(type)) {
    warn(`${at}: unknown type ${show(spec.type)}; treated as ClusterIP`);
    type = 'ClusterIP';
  }
  const rawIPs = arr(spec.clusterIPs).length > 0 ? arr(spec.clusterIPs) : spec.clusterIP ? [spec.clusterIP] : [];
  const headless = rawIPs[0] === 'None';
  const ports: ServicePort[] = [];
  for (const p of arr(spec.ports)) {
    const rp = obj(p);
    const proto = protocol(rp.protocol, at, warn);
    const number = port(rp.port);
    if (proto === null) continue;
    if (number === 0) {
      warn(`${at}: port ${show(rp.port)} is not a valid port; ignored`);
      continue;
    }
    const tp = rp.targetPort;
    const targetPort = typeof tp === 'string' && tp !== '' ? tp : port(tp) || number;
    ports.push({ name: str(rp.name), protocol: proto, port: number, nodePort: port(rp.nodePort), targetPort });
  }
  const sourceRanges: string[] = [];
  for (const r of arr(spec.loadBalancerSourceRanges)) {
    const c = parseCIDR(str(r));
    if (c) sourceRanges.push(c.text);
    else warn(`${at}: invalid loadBalancerSourceRange ${show(r)} ignored`);
  }
  const lbIPs: unknown[] = [];
  for (const ing of arr(obj(obj(raw.status).loadBalancer).ingress)) {
    const i = obj(ing);
    if (i.ip && i.ipMode !== 'Proxy') lbIPs.push(i.ip);
  }
  const affinity = str(spec.sessionAffinity) === 'ClientIP';
  const timeout = obj(obj(spec.sessionAffinityConfig).clientIP).timeoutSeconds;
  return {
    namespace,
    name,
    type,
    proxyName: proxyName(labels, warn),
    ...(HEADLESS in labels ? { labelledHeadless: true } : {}),
    headless,
    clusterIPs: headless ? NONE : ips(rawIPs, at, warn),
    externalName: type === 'ExternalName' ? str(spec.externalName).replace(/\.$/, '') : '',
    externalIPs: ips(arr(spec.externalIPs), at, warn),
    loadBalancerIPs: ips(lbIPs, at, warn),
    loadBalancerSourceRanges: fit(sourceRanges),
    ports: sharedPorts(servicePorts, ports),
    affinityTimeout: affinity ? (typeof timeout === 'number' && timeout > 0 ? Math.min(timeout, 86400) : 10800) : 0,
    externalTrafficPolicy: policy(spec.externalTrafficPolicy, at, warn),
    internalTrafficPolicy: policy(spec.internalTrafficPolicy, at, warn),
    healthCheckNodePort: port(spec.healthCheckNodePort),
    publishNotReadyAddresses: spec.publishNotReadyAddresses === true,
    trafficDistribution: str(spec.trafficDistribution),
  };
}

// Node and zone names repeat on every endpoint of a cluster; JSON.parse gives each its own copy.
const interned = new Map<string, string>();
function intern(s: string): string {
  if (s.length > 253) return s;
  const known = interned.get(s);
  if (known !== undefined) return known;
  if (interned.size > 100_000) interned.clear();
  interned.set(s, s);
  return s;
}

function hintNames(v: unknown): string[] | null {
  if (!Array.isArray(v)) return null;
  // A name that is not a string is junk and dropped; an empty string is kept, as kube-proxy
  // keeps it: the endpoint counts as hinted, for a zone no node has.
  return fit(v.filter((h) => typeof obj(h).name === 'string').map((h) => intern(obj(h).name as string)));
}

const READY = 1, SERVING = 2, TERMINATING = 4;

/** Everything about an endpoint but its IP: what many endpoints have in common. */
export interface EndpointTraits {
  readonly nodeName: string;
  readonly zone: string;
  readonly hostname: string;
  /** ready | serving | terminating bits. */
  readonly conditions: number;
  readonly zoneHints: string[] | null;
  readonly nodeHints: string[] | null;
}

/**
 * Endpoints on one node in one state share one frozen EndpointTraits: a cluster has few such
 * combinations and many endpoints. Endpoints with a hostname (StatefulSet pods) keep their own,
 * as no other endpoint has the same. Bounded as intern() is.
 */
const sharedTraits = new Map<string, EndpointTraits>();
/** The common case, without hints, found without building a key: node → zone → by conditions. */
const plainTraits = new Map<string, Map<string, EndpointTraits[]>>();
function traits(t: EndpointTraits): EndpointTraits {
  if (t.hostname !== '') return Object.freeze(t);
  if (t.zoneHints === null && t.nodeHints === null) {
    let zones = plainTraits.get(t.nodeName);
    if (zones === undefined || zones.size > 100) {
      if (plainTraits.size > 10_000) plainTraits.clear();
      plainTraits.set(t.nodeName, (zones = new Map()));
    }
    let states = zones.get(t.zone);
    if (states === undefined) zones.set(t.zone, (states = []));
    return (states[t.conditions] ??= Object.freeze(t));
  }
  // JSON of an array: no two different combinations give the same key, whatever the strings hold.
  const key = JSON.stringify([t.conditions, t.nodeName, t.zone, t.zoneHints, t.nodeHints]);
  const known = sharedTraits.get(key);
  if (known !== undefined) return known;
  if (sharedTraits.size > 10_000) sharedTraits.clear();
  const kept = Object.freeze(t);
  sharedTraits.set(key, kept);
  return kept;
}

/**
 * An endpoint as the cache keeps it: its IP and its (usually shared) traits, read through
 * getters. 40 B instead of 96 for nine plain fields, at 100,000 endpoints 5.3 MiB. Both fields
 * are own enumerable ones, so equal() still sees every change.
 */
export class SliceEndpoint implements Endpoint {
  readonly ip: string;
  readonly traits: EndpointTraits;

  constructor(ip: string, traits: EndpointTraits) {
    this.ip = ip;
    this.traits = traits;
  }

  get ready(): boolean { return (this.traits.conditions & READY) !== 0; }
  get serving(): boolean { return (this.traits.conditions & SERVING) !== 0; }
  get terminating(): boolean { return (this.traits.conditions & TERMINATING) !== 0; }
  get nodeName(): string { return this.traits.nodeName; }
  get hostname(): string { return this.traits.hostname; }
  get zone(): string { return this.traits.zone; }
  get zoneHints(): string[] | null { return this.traits.zoneHints; }
  get nodeHints(): string[] | null { return this.traits.nodeHints; }
}

export function toEndpointSlice(raw: Raw, warn: Warn): EndpointSlice {
  const { namespace, name, labels, annotations } = meta(raw, true);
  const at = `endpointslice ${namespace}/${name}`;
  // Unparseable or absent: 0, and the proxy measures from when the view changed instead.
  const trigger = Date.parse(str(annotations[TRIGGER_TIME])) || 0;
  const addressType = str(raw.addressType);
  const family = addressType === 'IPv4' ? 4 : addressType === 'IPv6' ? 6 : 0;
  if (family === 0 && addressType !== 'FQDN') warn(`${at}: unknown addressType ${show(addressType)}; slice ignored`);
  const ports: EndpointPort[] = [];
  for (const p of arr(raw.ports)) {
    const rp = obj(p);
    const proto = protocol(rp.protocol, at, warn);
    // kube-proxy ignores slice ports with no name field or no port; an empty name is valid.
    if (proto === null || typeof rp.name !== 'string' || port(rp.port) === 0) continue;
    ports.push({ name: rp.name, protocol: proto, port: port(rp.port) });
  }
  const endpoints: Endpoint[] = [];
  for (const e of family === 0 ? [] : arr(raw.endpoints)) {
    const re = obj(e);
    const first = arr(re.addresses)[0];
    const ip = canonicalIP(str(first));
    if (ip === '' || ipFamily(ip) !== family) {
      warn(`${at}: endpoint address ${show(first)} is not an ${addressType} address; endpoint ignored`);
      continue;
    }
    const cond = obj(re.conditions);
    const hints = obj(re.hints);
    const conditions = (bool(cond.ready, true) ? READY : 0) | (bool(cond.serving, true) ? SERVING : 0) | (bool(cond.terminating, false) ? TERMINATING : 0);
    endpoints.push(new SliceEndpoint(ip, traits({
      nodeName: intern(str(re.nodeName)),
      zone: intern(str(re.zone)),
      hostname: str(re.hostname),
      conditions,
      zoneHints: hintNames(hints.forZones),
      nodeHints: hintNames(hints.forNodes),
    })));
  }
  return {
    namespace,
    name,
    serviceName: label(labels, SERVICE_NAME, warn),
    proxyName: proxyName(labels, warn),
    headless: HEADLESS in labels,
    family,
    ports: sharedPorts(slicePorts, ports),
    endpoints: fit(endpoints),
    ...(trigger > 0 ? { triggerTime: trigger } : {}),
  };
}

/** The Cluster Autoscaler's taint on a node it is about to delete. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

export function toNode(raw: Raw, warn: Warn): Node {
  const { name, labels, annotations } = meta(raw, false);
  const at = `node ${name}`;
  const spec = obj(raw.spec);
  // Every label: ClusterNetworkPolicy `nodes` peers select nodes by any of them (a node's
  // labels are few, and nodes are few).
  const keptLabels = allLabels(labels, (m) => warn(`${at}: ${m}`));
  const keptAnnotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) {
    if (!k.startsWith(ANNOTATION_PREFIX) || typeof v !== 'string') continue;
    if (v.length > MAX_VALUE) warn(`${at}: annotation ${k} is ${v.length} bytes; ignored`);
    else keptAnnotations[k] = v;
  }
  const addresses: NodeAddress[] = [];
  for (const a of arr(obj(raw.status).addresses)) {
    const ra = obj(a);
    const type = str(ra.type);
    if (type === 'Hostname' || type === 'InternalDNS' || type === 'ExternalDNS') continue;
    const ip = canonicalIP(str(ra.address));
    if (ip === '') warn(`${at}: address ${show(ra.address)} is not an IP; ignored`);
    else addresses.push({ type, address: ip });
  }
  const rawCIDRs = arr(spec.podCIDRs).length > 0 ? arr(spec.podCIDRs) : spec.podCIDR ? [spec.podCIDR] : [];
  const podCIDRs: string[] = [];
  for (const c of rawCIDRs) {
    const p = parseCIDR(str(c));
    if (p) podCIDRs.push(p.text);
    else warn(`${at}: podCIDR ${show(c)} is not a CIDR; ignored`);
  }
  const toBeDeleted = arr(spec.taints).some((t) => obj(t).key === TO_BE_DELETED_TAINT);
  const netCond = arr(obj(raw.status).conditions).map(obj).find((c) => c.type === 'NetworkUnavailable');
  return {
    name,
    labels: keptLabels,
    annotations: keptAnnotations,
    addresses: fit(addresses),
    podCIDRs: fit(podCIDRs),
    deleting: Boolean(obj(raw.metadata).deletionTimestamp),
    unschedulable: spec.unschedulable === true,
    ...(toBeDeleted ? { toBeDeleted } : {}),
    ...(netCond ? { networkUnavailable: str(netCond.status) } : {}),
  };
}

const NO_LABELS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** Named container ports (what a policy port by name resolves to); unnamed ones are not kept. */
function namedPorts(spec: Raw, at: string, warn: Warn): NamedPort[] {
  const out: NamedPort[] = [];
  for (const c of arr(spec.containers)) {
    for (const p of arr(obj(c).ports)) {
      const rp = obj(p);
      if (typeof rp.name !== 'string' || rp.name === '') continue;
      const proto = protocol(rp.protocol, at, warn);
      const number = port(rp.containerPort);
      if (proto === null) continue;
      if (number === 0) warn(`${at}: container port ${show(rp.name)} has no valid number; ignored`);
      else out.push({ name: rp.name, protocol: proto, port: number });
    }
  }
  return fit(out);
}

export function toPod(raw: Raw, warn: Warn): Pod {
  const { namespace, name, labels } = meta(raw, true);
  const spec = obj(raw.spec);
  const status = obj(raw.status);
  const rawIPs = arr(status.podIPs).map((p) => obj(p).ip);
  if (rawIPs.length === 0 && status.podIP) rawIPs.push(status.podIP);
  const at = `pod ${namespace}/${name}`;
  const kept = allLabels(labels, (m) => warn(`${at}: ${m}`));
  return {
    namespace,
    name,
    nodeName: str(spec.nodeName),
    ips: ips(rawIPs, at, warn),
    hostNetwork: spec.hostNetwork === true,
    labels: Object.keys(kept).length ? kept : NO_LABELS,
    phase: str(status.phase),
    ports: namedPorts(spec, at, warn),
  };
}

export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export function toNamespace(raw: Raw, warn: Warn): Namespace {
  const { name, labels } = meta(raw, false);
  // The control plane sets this label on every namespace (GA 1.22); policies select by it.
  return { name, labels: { ...allLabels(labels, (m) => warn(`namespace ${name}: ${m}`)), [NAMESPACE_NAME_LABEL]: name } };
}

export function toServiceCIDR(raw: Raw, warn: Warn): ServiceCIDR {
  const { name } = meta(raw, false);
  const cidrs: string[] = [];
  for (const c of arr(obj(raw.spec).cidrs)) {
    const p = parseCIDR(str(c));
    if (!p) warn(`servicecidr ${name}: ${show(c)} is not a CIDR; ignored`);
    else if (!cidrs.includes(p.text)) cidrs.push(p.text);
  }
  return { name, cidrs: fit(cidrs) };
}

type Converter<K extends Kind> = (raw: Raw, warn: Warn) => Kinds[K];

export const converters: { [K in Kind]: Converter<K> } = {
  services: toService,
  endpointslices: toEndpointSlice,
  nodes: toNode,
  pods: toPod,
  namespaces: toNamespace,
  servicecidrs: toServiceCIDR,
  networkpolicies: toNetworkPolicy,
  clusternetworkpolicies: toClusterNetworkPolicy,
};

/**
 * namespace/name, as one flat string. `${ns}/${name}` is a concatenation (a 32 B cons string
 * over its parts) that becomes a cons over a flat copy once hashed as a Map key, twice the
 * memory of the flat string join() builds; the cache keeps one per object.
 */
export function objectKey(namespace: string, name: string): string {
  return [namespace, name].join('/');
}

/** The cache key of a raw object: namespace/name, or name for cluster-scoped kinds. */
export function rawKey(raw: unknown): string {
  const m = obj(obj(raw).metadata);
  const ns = str(m.namespace);
  return ns ? objectKey(ns, str(m.name)) : str(m.name);
}
