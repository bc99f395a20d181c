// kube-proxy's CategorizeEndpoints (pkg/proxy/topology.go), in exactly one place. Every rule
// of reference/kube-proxy.md §2.3 lives here; table tests in test/view/categorize.test.ts.
import { NONE } from '../kube/objects.ts';
import type { EndpointView } from './types.ts';

export { NONE };

export interface PortPolicy {
  usesCluster: boolean;
  usesLocal: boolean;
}

export interface Categorized {
  cluster: EndpointView[];
  local: EndpointView[];
  reachable: EndpointView[];
  hasAny: boolean;
}

export type TopologyMode = '' | 'PreferSameZone' | 'PreferSameNode';

function has(hints: string[] | null, v: string): boolean {
  return hints !== null && v !== '' && hints.includes(v);
}

/**
 * Topology is all or nothing: a mode applies only when every Ready endpoint carries a hint of
 * that kind and at least one names us. Same-node (PreferSameTrafficDistribution, GA) first.
 */
export function topologyMode(endpoints: EndpointView[], nodeName: string, zone: string): TopologyMode {
  let allNode = true, forNode = false, allZone = true, forZone = false;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    if (!ep.nodeHints || ep.nodeHints.length === 0) allNode = false;
    else if (has(ep.nodeHints, nodeName)) forNode = true;
    if (!ep.zoneHints || ep.zoneHints.length === 0) allZone = false;
    else if (has(ep.zoneHints, zone)) forZone = true;
  }
  if (allNode && forNode) return 'PreferSameNode';
  if (allZone && forZone) return 'PreferSameZone';
  return '';
}

function available(ep: EndpointView, mode: TopologyMode, nodeName: string, zone: string): boolean {
  if (mode === 'PreferSameNode') return has(ep.nodeHints, nodeName);
  if (mode === 'PreferSameZone') return has(ep.zoneHints, zone);
  return true;
}

const byKey = (a: EndpointView, b: EndpointView) => (endpointKey(a) < endpointKey(b) ? -1 : endpointKey(a) > endpointKey(b) ? 1 : 0);

export function endpointKey(ep: { ip: string; port: number }): string {
  return ep.ip.includes(':') ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

/**
 * filter() that returns the input itself when it keeps everything (the common case), NONE when
 * nothing: one array fewer per port. A subset is copied: filter() grows its result as push()
 * does, to 17 slots for one endpoint.
 */
function keep<T>(list: T[], pred: (x: T) => boolean): T[] {
  const out = list.filter(pred);
  return out.length === list.length ? list : out.length === 0 ? NONE : out.slice();
}

/** `endpoints` must already be deduplicated by ip:port (see service.ts). */
export function categorizeEndpoints(endpoints: EndpointView[], policy: PortPolicy, nodeName: string, zone: string): Categorized {
  let cluster: EndpointView[] = NONE;
  let local: EndpointView[] = NONE;
  let hasAny = false;

  if (policy.usesCluster) {
    const mode = topologyMode(endpoints, nodeName, zone);
    cluster = keep(endpoints, (ep) => ep.ready && available(ep, mode, nodeName, zone));
    // No ready endpoint in reach: serving-terminating ones anywhere, topology ignored.
    if (cluster.length === 0) cluster = keep(endpoints, (ep) => ep.serving && ep.terminating);
    if (cluster.length > 0) hasAny = true;
  }

  if (policy.usesLocal) {
    let localReady = false, localTerminating = false;
    for (const ep of endpoints) {
      if (ep.ready) {
        hasAny = true;
        if (ep.local) localReady = true;
      } else if (ep.serving && ep.terminating) {
        hasAny = true;
        if (ep.local) localTerminating = true;
      }
    }
    // Independent fallback: local terminating endpoints only when no local one is ready,
    // even if ready endpoints exist on other nodes.
    if (localReady) local = keep(endpoints, (ep) => ep.local && ep.ready);
    else if (localTerminating) local = keep(endpoints, (ep) => ep.local && ep.serving && ep.terminating);
  }

  let reachable: EndpointView[];
  if (!policy.usesLocal) reachable = cluster;
  else if (!policy.usesCluster) reachable = local;
  else {
    const m = new Map<string, EndpointView>();
    for (const ep of [...cluster, ...local]) m.set(endpointKey(ep), ep);
    reachable = [...m.values()].sort(byKey);
  }
  return { cluster, local, reachable, hasAny };
}
