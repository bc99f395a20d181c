// The node view, kept incrementally: cache changes mark keys dirty, a flush (once per event
// burst) recomputes only those, and subscribers get the keys whose meaning really changed.
import type { CacheChange, WatchCache } from '../kube/cache.ts';
import { objectKey } from '../kube/convert.ts';
import { equal } from '../kube/equal.ts';
import type { ClusterNetworkPolicy, EndpointSlice, Kind, Namespace, NetworkPolicy, Node, Pod } from '../kube/objects.ts';
import { buildPeer, buildSelf } from './peers.ts';
import { usesNodePeers } from '../kube/convert-policy.ts';
import { buildServiceView, sameServiceView } from './service.ts';
import { collectServiceCIDRs } from './service-cidrs.ts';
import type { PeerView, PodRef, PolicyView, SelfView, ServiceView, ViewChanges } from './types.ts';

export type ViewListener = (changes: ViewChanges) => void;

export function emptyChanges(full = false): ViewChanges {
  return { full, services: new Set(), peers: new Set(), pods: new Set(), namespaces: new Set(), self: false, serviceCIDRs: false, servicesAt: new Map(), policies: new Set() };
}

/** Folds `b` into `a` (a consumer's pending changes). */
export function mergeChanges(a: ViewChanges, b: ViewChanges): void {
  a.full ||= b.full;
  a.self ||= b.self;
  a.serviceCIDRs ||= b.serviceCIDRs;
  for (const k of b.services) a.services.add(k);
  for (const k of b.peers) a.peers.add(k);
  for (const k of b.pods) a.pods.add(k);
  for (const k of b.namespaces) a.namespaces.add(k);
  for (const k of b.policies) a.policies.add(k);
  // The first publish of a still pending change is when it reached the view.
  for (const [k, t] of b.servicesAt) if (!a.servicesAt.has(k)) a.servicesAt.set(k, t);
}

export function hasChanges(c: ViewChanges): boolean {
  return c.full || c.self || c.serviceCIDRs || c.services.size + c.peers.size + c.pods.size + c.namespaces.size + c.policies.size > 0;
}

/** Puts `next` (undefined: gone) in `map`; true when the meaning under `key` changed. */
function refresh<T>(map: Map<string, T>, key: string, next: T | undefined, same: (a: T, b: T) => boolean = equal): boolean {
  if (next === undefined) return map.delete(key);
  const prev = map.get(key);
  if (prev !== undefined && same(prev, next)) return false;
  map.set(key, next);
  return true;
}

export class NodeView {
  readonly nodeName: string;
  readonly services = new Map<string, ServiceView>();
  readonly peers = new Map<string, PeerView>();
  /** Namespaces and podsByIP are kept in place: they change at a publish (with the keys in its changes), never between two. */
  readonly namespaces = new Set<string>();
  /** Pod IP → pods holding it (host-network pods share the node's IP). */
  readonly podsByIP = new Map<string, PodRef[]>();
  /** The pod each key was indexed from (the cache's own object), to unindex it at the next publish. */
  private readonly indexed = new Map<string, Pod>();
  self: SelfView;
  /** Pods, namespaces and policies as policy enforcement reads them (updated at each flush). */
  readonly policy: PolicyView;
  private readonly policyMaps = {
    pods: new Map<string, Pod>(),
    namespaces: new Map<string, Namespace>(),
    networkPolicies: new Map<string, NetworkPolicy>(),
    clusterNetworkPolicies: new Map<string, ClusterNetworkPolicy>(),
    nodes: new Map<string, Node>(),
  };
  /** Every ServiceCIDR's ranges, deduplicated; replaced, never changed in place. */
  serviceCIDRs: readonly string[] = [];
  generation = 0;

  private readonly cache: WatchCache;
  private readonly listeners: ViewListener[] = [];
  private dirty = emptyChanges();
  private flushScheduled = false;
  private published = false;

  constructor(cache: WatchCache, nodeName: string) {
    this.cache = cache;
    this.nodeName = nodeName;
    this.self = buildSelf(nodeName, undefined);
    this.policy = this.policyMaps;
    cache.onChange((c) => this.onCacheChange(c));
  }

  /** The cache has listed every kind and the view reflects it. */
  get ready(): boolean {
    return this.published;
  }

  subscribe(listener: ViewListener): void {
    this.listeners.push(listener);
  }

  /** Recompute what is dirty now instead of at the end of the event burst. */
  flush(): void {
    this.flushScheduled = false;
    if (!this.cache.ready) return;
    const full = !this.published;
    const changes = full ? this.rebuildAll() : this.recomputeDirty();
    this.published = true;
    if (!hasChanges(changes)) return;
    const now = performance.now();
    for (const k of changes.services) changes.servicesAt.set(k, now);
    this.generation++;
    for (const l of this.listeners) l(changes);
  }

  private onCacheChange(c: CacheChange): void {
    switch (c.kind) {
      case 'services':
        this.dirty.services.add(c.key);
        break;
      case 'endpointslices':
        for (const s of [c.prev, c.next] as (EndpointSlice | undefined)[]) {
          // The key may end up kept in the view (map key, ServiceView.key): a flat one.
          if (s?.serviceName) this.dirty.services.add(objectKey(s.namespace, s.serviceName));
        }
        break;
      case 'nodes': {
        this.dirty.peers.add(c.key);
        // Policy reads a node's labels and addresses only (ClusterNetworkPolicy nodes peers).
        const prev = c.prev as Node | undefined, next = c.next as Node | undefined;
        if (!prev || !next || !equal(prev.labels, next.labels) || !equal(prev.addresses, next.addresses)) this.dirty.policies.add(`node:${c.key}`);
        if (c.key === this.nodeName) this.dirty.self = true;
        break;
      }
      // The pod index changes at the publish that reports it, never before. Labels, phase and
      // ports matter to policy only: the pods part is what a PodRef carries.
      case 'pods': {
        const prev = c.prev as Pod | undefined, next = c.next as Pod | undefined;
        if (!prev || !next || prev.nodeName !== next.nodeName || prev.hostNetwork !== next.hostNetwork || !equal(prev.ips, next.ips)) this.dirty.pods.add(c.key);
        this.dirty.policies.add(`pod:${c.key}`);
        break;
      }
      case 'namespaces':
        if (!c.prev || !c.next) this.dirty.namespaces.add(c.key);
        this.dirty.policies.add(`ns:${c.key}`);
        break;
      case 'networkpolicies':
        this.dirty.policies.add(`np:${c.key}`);
        break;
      case 'clusternetworkpolicies':
        this.dirty.policies.add(`cnp:${c.key}`);
        break;
      case 'servicecidrs':
        this.dirty.serviceCIDRs = true;
        break;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private reindexPod(key: string): void {
    const next = this.cache.get('pods', key);
    this.indexPod(key, this.indexed.get(key), next);
    if (next) this.indexed.set(key, next);
    else this.indexed.delete(key);
  }

  private refreshNamespace(key: string): void {
    if (this.cache.get('namespaces', key)) this.namespaces.add(key);
    else this.namespaces.delete(key);
  }

  private indexPod(key: string, prev: Pod | undefined, next: Pod | undefined): void {
    for (const ip of prev?.ips ?? []) {
      const list = (this.podsByIP.get(ip) ?? []).filter((p) => `${p.namespace}/${p.name}` !== key);
      if (list.length) this.podsByIP.set(ip, list);
      else this.podsByIP.delete(ip);
    }
    if (!next) return;
    const ref: PodRef = { namespace: next.namespace, name: next.name, nodeName: next.nodeName, hostNetwork: next.hostNetwork };
    for (const ip of next.ips) {
      const list = this.podsByIP.get(ip) ?? [];
      list.push(ref);
      this.podsByIP.set(ip, list);
    }
  }

  private identity() {
    return { name: this.nodeName, zone: this.self.zone };
  }

  private rebuildAll(): ViewChanges {
    this.dirty = emptyChanges();
    this.self = buildSelf(this.nodeName, this.cache.get('nodes', this.nodeName));
    this.services.clear();
    for (const [key, svc] of this.cache.entries('services')) {
      this.services.set(key, buildServiceView(svc, this.cache.slicesOf(key), this.identity(), key));
    }
    this.peers.clear();
    for (const node of this.cache.all('nodes')) this.peers.set(node.name, buildPeer(node, this.nodeName));
    this.serviceCIDRs = collectServiceCIDRs(this.cache.all('servicecidrs'));
    this.namespaces.clear();
    this.podsByIP.clear();
    this.indexed.clear();
    if (this.cache.kinds.includes('namespaces')) for (const [key] of this.cache.entries('namespaces')) this.namespaces.add(key);
    if (this.cache.kinds.includes('pods')) for (const [key] of this.cache.entries('pods')) this.reindexPod(key);
    const m = this.policyMaps;
    this.copyKind('pods', m.pods);
    this.copyKind('namespaces', m.namespaces);
    this.copyKind('networkpolicies', m.networkPolicies);
    this.copyKind('clusternetworkpolicies', m.clusterNetworkPolicies);
    this.copyKind('nodes', m.nodes);
    return { ...emptyChanges(true), self: true };
  }

  /** A kind the agent does not watch (no module reads it) is empty in the view. */
  private copyKind<K extends 'pods' | 'namespaces' | 'networkpolicies' | 'clusternetworkpolicies' | 'nodes'>(kind: K, into: Map<string, unknown>): void {
    into.clear();
    if (!this.cache.kinds.includes(kind as Kind)) return;
    for (const [k, v] of this.cache.entries(kind)) into.set(k, v);
  }

  private recomputePolicy(keys: Set<string>): void {
    const m = this.policyMaps;
    for (const tagged of keys) {
      const colon = tagged.indexOf(':');
      const key = tagged.slice(colon + 1);
      const put = <T>(map: Map<string, T>, v: T | undefined) => (v === undefined ? map.delete(key) : map.set(key, v));
      switch (tagged.slice(0, colon)) {
        case 'pod': put(m.pods, this.cache.get('pods', key)); break;
        case 'ns': put(m.namespaces, this.cache.get('namespaces', key)); break;
        case 'np': put(m.networkPolicies, this.cache.get('networkpolicies', key)); break;
        case 'cnp': put(m.clusterNetworkPolicies, this.cache.get('clusternetworkpolicies', key)); break;
        case 'node': put(m.nodes, this.cache.get('nodes', key)); break;
      }
    }
  }

  private recomputeDirty(): ViewChanges {
    const d = this.dirty;
    this.dirty = emptyChanges();
    const out = emptyChanges();
    out.pods = d.pods;
    out.namespaces = d.namespaces;
    for (const key of d.pods) this.reindexPod(key);
    for (const key of d.namespaces) this.refreshNamespace(key);
    out.policies = d.policies;
    this.recomputePolicy(d.policies);
    // A node's labels and addresses matter to policy only through ClusterNetworkPolicy `nodes`
    // peers: without any, its changes are kept in the view but wake no policy consumer.
    if (!usesNodePeers(this.policyMaps.clusterNetworkPolicies.values())) for (const k of out.policies) if (k.startsWith('node:')) out.policies.delete(k);
    if (d.self) {
      const self = buildSelf(this.nodeName, this.cache.get('nodes', this.nodeName) as Node | undefined);
      if (!equal(self, this.self)) {
        // A new zone changes topology for every Service: recompute them all.
        if (self.zone !== this.self.zone) for (const k of this.services.keys()) d.services.add(k);
        this.self = self;
        out.self = true;
      }
    }
    if (d.serviceCIDRs) {
      const cidrs = collectServiceCIDRs(this.cache.all('servicecidrs'));
      if (!equal(cidrs, this.serviceCIDRs)) {
        this.serviceCIDRs = cidrs;
        out.serviceCIDRs = true;
      }
    }
    for (const key of d.services) {
      const svc = this.cache.get('services', key);
      const next = svc && buildServiceView(svc, this.cache.slicesOf(key), this.identity(), key);
      if (refresh(this.services, key, next, sameServiceView)) out.services.add(key);
    }
    for (const name of d.peers) {
      const node = this.cache.get('nodes', name);
      if (refresh(this.peers, name, node && buildPeer(node, this.nodeName))) out.peers.add(name);
    }
    return out;
  }
}
