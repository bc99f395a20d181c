import { groupVersions, type ResourceInfo } from './resources.ts';

export const KUBE_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-nodeway' };

export function versionInfo(): Record<string, string> {
  return {
    ...KUBE_VERSION,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'gc',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}

const SUB_VERBS = ['get', 'patch', 'update'];

function apiResources(resources: ResourceInfo[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const r of resources) {
    const entry: Record<string, unknown> = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
    if (r.shortNames.length) entry.shortNames = r.shortNames;
    if (r.categories.length) entry.categories = r.categories;
    out.push(entry);
    for (const s of r.subresources) {
      out.push({ name: `${r.plural}/${s}`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: s === 'finalize' ? ['update'] : SUB_VERBS });
    }
  }
  return out;
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function resourceList(group: string, version: string): Record<string, unknown> | undefined {
  const gv = groupVersions().find((g) => g.group === group && g.version === version);
  if (!gv) return undefined;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources: apiResources(gv.resources) };
}

function groupInfo(name: string): Record<string, unknown> {
  const versions = groupVersions().filter((g) => g.group === name).map((g) => ({ groupVersion: `${name}/${g.version}`, version: g.version }));
  return { name, versions, preferredVersion: versions[0] };
}

function namedGroups(): string[] {
  return [...new Set(groupVersions().map((g) => g.group).filter((g) => g !== ''))];
}

export function apiGroupList(): Record<string, unknown> {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: namedGroups().map(groupInfo) };
}

export function apiGroup(name: string): Record<string, unknown> | undefined {
  if (!namedGroups().includes(name)) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupInfo(name) };
}

export const AGGREGATED_V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
export const AGGREGATED_V2BETA1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

/** The aggregated discovery document (one request instead of one per group version) kubectl asks for first. */
export function aggregatedDiscovery(core: boolean, apiVersion: string): Record<string, unknown> {
  const groups = core ? [''] : namedGroups();
  const items = groups.map((group) => ({
    metadata: { name: group, creationTimestamp: null },
    versions: groupVersions().filter((g) => g.group === group).map((gv) => ({
      version: gv.version,
      freshness: 'Current',
      resources: gv.resources.map((r) => {
        const responseKind = { group: r.group, version: r.version, kind: r.kind };
        const entry: Record<string, unknown> = {
          resource: r.plural, responseKind, scope: r.namespaced ? 'Namespaced' : 'Cluster', singularResource: r.singular, verbs: r.verbs,
        };
        if (r.shortNames.length) entry.shortNames = r.shortNames;
        if (r.categories.length) entry.categories = r.categories;
        if (r.subresources.length) {
          entry.subresources = r.subresources.map((s) => ({ subresource: s, responseKind, verbs: s === 'finalize' ? ['update'] : SUB_VERBS }));
        }
        return entry;
      }),
    })),
  }));
  return { kind: 'APIGroupDiscoveryList', apiVersion, metadata: {}, items };
}
