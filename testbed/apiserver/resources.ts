export interface ResourceInfo {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  subresources: string[];
  verbs: string[];
  categories: string[];
  /** metadata.generation is kept and bumped on spec changes (the real registry does so per kind). */
  generation: boolean;
  /** PUT of a missing object creates it (the real registry allows this for a few kinds). */
  createOnUpdate: boolean;
  /** Field selector keys beyond metadata.name and metadata.namespace. */
  fieldSelectors: string[];
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

interface Extra {
  short?: string[];
  sub?: string[];
  cat?: string[];
  gen?: boolean;
  upsert?: boolean;
  fields?: string[];
}

function def(apiVersion: string, kind: string, plural: string, scope: 'ns' | 'cluster', x: Extra = {}): ResourceInfo {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') as [string, string] : ['', apiVersion];
  return {
    group, version, kind, plural, singular: kind.toLowerCase(),
    shortNames: x.short ?? [], namespaced: scope === 'ns', subresources: x.sub ?? [], verbs: VERBS,
    categories: x.cat ?? [], generation: x.gen ?? false, createOnUpdate: x.upsert ?? false, fieldSelectors: x.fields ?? [],
  };
}

const POD_FIELDS = ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'];
const EVENT_FIELDS = ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'];

// One line per kind; the HTTP routes, discovery, kubectl short names and the in-process API all read this.
export const RESOURCES: readonly ResourceInfo[] = [
  def('v1', 'Namespace', 'namespaces', 'cluster', { short: ['ns'], sub: ['status', 'finalize'], fields: ['status.phase'] }),
  def('v1', 'Node', 'nodes', 'cluster', { short: ['no'], sub: ['status'], fields: ['spec.unschedulable'] }),
  def('v1', 'Pod', 'pods', 'ns', { short: ['po'], sub: ['status'], cat: ['all'], fields: POD_FIELDS }),
  def('v1', 'Service', 'services', 'ns', { short: ['svc'], sub: ['status'], cat: ['all'], fields: ['spec.clusterIP', 'spec.type'] }),
  def('v1', 'Endpoints', 'endpoints', 'ns', { short: ['ep'], upsert: true }),
  def('v1', 'ConfigMap', 'configmaps', 'ns', { short: ['cm'] }),
  def('v1', 'Secret', 'secrets', 'ns', { fields: ['type'] }),
  def('v1', 'ServiceAccount', 'serviceaccounts', 'ns', { short: ['sa'] }),
  def('v1', 'Event', 'events', 'ns', { short: ['ev'], upsert: true, fields: EVENT_FIELDS }),
  def('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices', 'ns', { gen: true }),
  def('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies', 'ns', { short: ['netpol'], gen: true }),
  def('networking.k8s.io/v1', 'ServiceCIDR', 'servicecidrs', 'cluster', { sub: ['status'] }),
  def('policy.networking.k8s.io/v1alpha2', 'ClusterNetworkPolicy', 'clusternetworkpolicies', 'cluster', { short: ['cnp'], sub: ['status'], gen: true }),
  def('apps/v1', 'DaemonSet', 'daemonsets', 'ns', { short: ['ds'], sub: ['status'], cat: ['all'], gen: true }),
  def('apps/v1', 'Deployment', 'deployments', 'ns', { short: ['deploy'], sub: ['status'], cat: ['all'], gen: true }),
  def('rbac.authorization.k8s.io/v1', 'ClusterRole', 'clusterroles', 'cluster'),
  def('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'clusterrolebindings', 'cluster'),
  def('rbac.authorization.k8s.io/v1', 'Role', 'roles', 'ns'),
  def('rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings', 'ns'),
  def('coordination.k8s.io/v1', 'Lease', 'leases', 'ns', { upsert: true }),
  def('events.k8s.io/v1', 'Event', 'events', 'ns', { short: ['ev'], upsert: true, fields: ['type', 'reason', 'reportingController'] }),
];

export function apiVersionOf(res: ResourceInfo): string {
  return res.group ? `${res.group}/${res.version}` : res.version;
}

export function findResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** Look a resource up by apiVersion and kind, plural, singular or short name (any case for kinds). */
export function resolveResource(apiVersion: string, ref: string): ResourceInfo | undefined {
  const lower = ref.toLowerCase();
  return RESOURCES.find((r) => apiVersionOf(r) === apiVersion &&
    (r.kind === ref || r.plural === lower || r.singular === lower || r.shortNames.includes(lower)));
}

export function groupVersions(): { group: string; version: string; resources: ResourceInfo[] }[] {
  const out = new Map<string, { group: string; version: string; resources: ResourceInfo[] }>();
  for (const r of RESOURCES) {
    const key = `${r.group}/${r.version}`;
    let gv = out.get(key);
    if (!gv) out.set(key, (gv = { group: r.group, version: r.version, resources: [] }));
    gv.resources.push(r);
  }
  return [...out.values()];
}
