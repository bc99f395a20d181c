import { apiVersionOf, type ResourceInfo } from './resources.ts';
import { isObject, type KubeObject } from './types.ts';

/** kubectl asks for server-side printing with this Accept header; it prints these columns. */
export function wantsTable(accept: string | string[] | undefined): boolean {
  const first = String(accept ?? '').split(',')[0] ?? '';
  return /as=Table/.test(first) && /g=meta\.k8s\.io/.test(first);
}

interface Column {
  name: string;
  type?: string;
  priority?: number;
  cell: (o: Record<string, any>) => string | number;
}

export function age(ts: unknown, nowMs = Date.now()): string {
  const t = Date.parse(String(ts));
  if (!Number.isFinite(t)) return '<unknown>';
  const s = Math.max(0, Math.floor((nowMs - t) / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (h < 3) return `${m}m`;
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  if (d < 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
  if (d < 730) return `${d}d`;
  return `${Math.floor(d / 365)}y${d % 365}d`;
}

const list = (v: unknown): any[] => (Array.isArray(v) ? v : []);
const none = (v: unknown): string => (v === undefined || v === null || v === '' ? '<none>' : String(v));
const selector = (m: unknown): string => (isObject(m) && Object.keys(m).length ? Object.entries(m).map(([k, v]) => `${k}=${String(v)}`).join(',') : '<none>');

const NAME: Column = { name: 'Name', cell: (o) => o.metadata?.name ?? '' };
const AGE: Column = { name: 'Age', cell: (o) => age(o.metadata?.creationTimestamp) };

function servicePorts(o: Record<string, any>): string {
  const ports = list(o.spec?.ports).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`);
  return ports.length ? ports.join(',') : '<none>';
}

function externalIP(o: Record<string, any>): string {
  const spec = o.spec ?? {};
  if (spec.type === 'ExternalName') return spec.externalName ?? '<none>';
  const ips = [...list(o.status?.loadBalancer?.ingress).map((i) => i.ip ?? i.hostname), ...list(spec.externalIPs)];
  if (ips.length) return ips.join(',');
  return spec.type === 'LoadBalancer' ? '<pending>' : '<none>';
}

function nodeStatus(o: Record<string, any>): string {
  const ready = list(o.status?.conditions).find((c) => c.type === 'Ready');
  let s = !ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : ready.status === 'False' ? 'NotReady' : 'Unknown';
  if (o.spec?.unschedulable) s += ',SchedulingDisabled';
  return s;
}

function nodeAddress(type: string) {
  return (o: Record<string, any>) => none(list(o.status?.addresses).find((a) => a.type === type)?.address);
}

function endpointsSummary(addrs: string[]): string {
  if (!addrs.length) return '<none>';
  return addrs.length > 3 ? `${addrs.slice(0, 3).join(',')} + ${addrs.length - 3} more...` : addrs.join(',');
}

const COLUMNS: Record<string, Column[]> = {
  Service: [NAME,
    { name: 'Type', cell: (o) => o.spec?.type ?? 'ClusterIP' },
    { name: 'Cluster-IP', cell: (o) => none(o.spec?.clusterIP) },
    { name: 'External-IP', cell: externalIP },
    { name: 'Port(s)', cell: servicePorts }, AGE,
    { name: 'Selector', priority: 1, cell: (o) => selector(o.spec?.selector) }],
  Node: [NAME,
    { name: 'Status', cell: nodeStatus },
    { name: 'Roles', cell: (o) => Object.keys(o.metadata?.labels ?? {}).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice(24)).join(',') || '<none>' },
    AGE,
    { name: 'Version', cell: (o) => o.status?.nodeInfo?.kubeletVersion ?? '' },
    { name: 'Internal-IP', priority: 1, cell: nodeAddress('InternalIP') },
    { name: 'External-IP', priority: 1, cell: nodeAddress('ExternalIP') },
    { name: 'OS-Image', priority: 1, cell: (o) => o.status?.nodeInfo?.osImage ?? '<unknown>' },
    { name: 'Kernel-Version', priority: 1, cell: (o) => o.status?.nodeInfo?.kernelVersion ?? '<unknown>' }],
  Pod: [NAME,
    { name: 'Ready', cell: (o) => `${list(o.status?.containerStatuses).filter((c) => c.ready).length}/${list(o.spec?.containers).length}` },
    { name: 'Status', cell: (o) => (o.metadata?.deletionTimestamp ? 'Terminating' : o.status?.reason ?? o.status?.phase ?? 'Unknown') },
    { name: 'Restarts', type: 'integer', cell: (o) => list(o.status?.containerStatuses).reduce((n, c) => n + (c.restartCount ?? 0), 0) },
    AGE,
    { name: 'IP', priority: 1, cell: (o) => none(o.status?.podIP) },
    { name: 'Node', priority: 1, cell: (o) => none(o.spec?.nodeName) }],
  EndpointSlice: [NAME,
    { name: 'AddressType', cell: (o) => o.addressType ?? '' },
    { name: 'Ports', cell: (o) => list(o.ports).map((p) => p.port ?? '<unset>').join(',') || '<unset>' },
    { name: 'Endpoints', cell: (o) => endpointsSummary(list(o.endpoints).flatMap((e) => list(e.addresses))) }, AGE],
  Endpoints: [NAME,
    { name: 'Endpoints', cell: (o) => endpointsSummary(list(o.subsets).flatMap((s) => list(s.addresses).flatMap((a) => list(s.ports).length ? list(s.ports).map((p) => `${a.ip}:${p.port}`) : [a.ip]))) }, AGE],
  Namespace: [NAME, { name: 'Status', cell: (o) => o.status?.phase ?? '' }, AGE],
  ConfigMap: [NAME, { name: 'Data', type: 'integer', cell: (o) => Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length }, AGE],
  Secret: [NAME, { name: 'Type', cell: (o) => o.type ?? '' }, { name: 'Data', type: 'integer', cell: (o) => Object.keys(o.data ?? {}).length }, AGE],
  Deployment: [NAME,
    { name: 'Ready', cell: (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}` },
    { name: 'Up-to-date', type: 'integer', cell: (o) => o.status?.updatedReplicas ?? 0 },
    { name: 'Available', type: 'integer', cell: (o) => o.status?.availableReplicas ?? 0 }, AGE],
  DaemonSet: [NAME,
    { name: 'Desired', type: 'integer', cell: (o) => o.status?.desiredNumberScheduled ?? 0 },
    { name: 'Current', type: 'integer', cell: (o) => o.status?.currentNumberScheduled ?? 0 },
    { name: 'Ready', type: 'integer', cell: (o) => o.status?.numberReady ?? 0 },
    { name: 'Up-to-date', type: 'integer', cell: (o) => o.status?.updatedNumberScheduled ?? 0 },
    { name: 'Available', type: 'integer', cell: (o) => o.status?.numberAvailable ?? 0 },
    { name: 'Node Selector', cell: (o) => selector(o.spec?.template?.spec?.nodeSelector) }, AGE],
  Lease: [NAME, { name: 'Holder', cell: (o) => o.spec?.holderIdentity ?? '' }, AGE],
  NetworkPolicy: [NAME, { name: 'Pod-Selector', cell: (o) => selector(o.spec?.podSelector?.matchLabels) }, AGE],
  ServiceCIDR: [NAME, { name: 'CIDRs', cell: (o) => list(o.spec?.cidrs).join(',') }, AGE],
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function rowObject(res: ResourceInfo, o: KubeObject, include: IncludeObject): KubeObject | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return { kind: res.kind, apiVersion: apiVersionOf(res), ...o };
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata ?? {} };
}

/** A meta.k8s.io/v1 Table of `items`, with the columns the real apiserver's printers use for the kind. */
export function asTable(res: ResourceInfo, items: KubeObject[], resourceVersion: string, listMeta: Record<string, unknown> = {}, include: IncludeObject = 'Metadata'): KubeObject {
  const cols = COLUMNS[res.kind] ?? [NAME, AGE];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { ...listMeta, resourceVersion },
    columnDefinitions: cols.map((c) => ({ name: c.name, type: c.type ?? 'string', format: c === NAME ? 'name' : '', description: c.name, priority: c.priority ?? 0 })),
    rows: items.map((o) => {
      const row: Record<string, unknown> = { cells: cols.map((c) => c.cell(o as Record<string, any>)) };
      const obj = rowObject(res, o, include);
      if (obj) row.object = obj;
      return row;
    }),
  };
}
