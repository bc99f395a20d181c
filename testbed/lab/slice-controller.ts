// The lab's stand-in for kube-controller-manager's EndpointSlice controller: Services with a
// selector get one slice per IP family listing the matching pods, so Services created with
// kubectl in the lab get endpoints like in a real cluster.
import type { EmbeddedApiServer } from '../apiserver/index.ts';
import type { KubeObject } from '../apiserver/types.ts';

type Raw = Record<string, any>;

const MANAGED_BY = 'nodeway-lab';

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels?.[k] === selector[k]);
}

function podReady(pod: Raw): boolean {
  const c = (pod.status?.conditions ?? []).find((x: Raw) => x.type === 'Ready');
  return c ? c.status === 'True' : pod.status?.phase === 'Running';
}

function targetPort(pod: Raw, tp: unknown, port: number): number | undefined {
  if (typeof tp === 'number') return tp;
  if (typeof tp !== 'string' || tp === '') return port;
  for (const c of pod.spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name === tp) return p.containerPort;
  return undefined;
}

function desiredSlices(svc: Raw, pods: Raw[]): KubeObject[] {
  const out: KubeObject[] = [];
  const name = svc.metadata.name as string;
  for (const family of ['IPv4', 'IPv6'] as const) {
    const endpoints: Raw[] = [];
    let ports: Raw[] | undefined;
    for (const pod of pods) {
      const ip = ((pod.status?.podIPs ?? []) as Raw[]).map((p) => p.ip as string).find((a) => (family === 'IPv6') === a.includes(':'));
      if (!ip) continue;
      const mine = (svc.spec.ports ?? []).map((p: Raw) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: targetPort(pod, p.targetPort, p.port) }));
      if (mine.some((p: Raw) => p.port === undefined)) continue;
      ports ??= mine; // one port mapping per slice; pods with another mapping are left out
      if (JSON.stringify(ports) !== JSON.stringify(mine)) continue;
      const ready = podReady(pod) || svc.spec.publishNotReadyAddresses === true;
      const terminating = Boolean(pod.metadata.deletionTimestamp);
      endpoints.push({
        addresses: [ip],
        conditions: { ready: ready && !terminating, serving: ready, terminating },
        nodeName: pod.spec?.nodeName,
        ...(pod.spec?.hostname && pod.spec?.subdomain === name ? { hostname: pod.spec.hostname } : {}),
        targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      });
    }
    if (!svc.spec.ipFamilies?.includes(family) && !(svc.spec.clusterIP === 'None' && endpoints.length)) continue;
    out.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${name}-${family === 'IPv4' ? 'v4' : 'v6'}`,
        namespace: svc.metadata.namespace,
        labels: {
          'kubernetes.io/service-name': name,
          'endpointslice.kubernetes.io/managed-by': MANAGED_BY,
          ...(svc.spec.clusterIP === 'None' ? { 'service.kubernetes.io/headless': '' } : {}),
        },
      },
      addressType: family,
      ports: ports ?? [],
      endpoints,
    } as KubeObject);
  }
  return out;
}

/** Starts the controller; returns its stop function. */
export function startSliceController(api: EmbeddedApiServer, onError: (err: unknown) => void = () => {}): () => void {
  let queued = false;
  const reconcile = () => {
    queued = false;
    try {
      const pods = api.list('v1', 'pods').items as Raw[];
      const existing = new Map<string, Raw>();
      for (const s of api.list('discovery.k8s.io/v1', 'endpointslices', undefined, { labelSelector: `endpointslice.kubernetes.io/managed-by=${MANAGED_BY}` }).items as Raw[]) {
        existing.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
      }
      for (const svc of api.list('v1', 'services').items as Raw[]) {
        if (!svc.spec?.selector || svc.spec.type === 'ExternalName') continue;
        const selected = pods.filter((p) => p.metadata.namespace === svc.metadata.namespace && p.spec?.nodeName && matches(svc.spec.selector, p.metadata.labels));
        for (const want of desiredSlices(svc, selected)) {
          const key = `${want.metadata!.namespace}/${want.metadata!.name}`;
          const have = existing.get(key);
          existing.delete(key);
          if (!have) api.create(want);
          else if (JSON.stringify([have.endpoints ?? [], have.ports ?? []]) !== JSON.stringify([want.endpoints, want.ports])) {
            api.update({ ...want, metadata: { ...want.metadata, resourceVersion: have.metadata.resourceVersion } });
          }
        }
      }
      for (const [key] of existing) {
        const [ns, name] = key.split('/');
        api.delete('discovery.k8s.io/v1', 'endpointslices', ns, name!);
      }
    } catch (err) {
      onError(err);
    }
  };
  const poke = () => {
    if (!queued) {
      queued = true;
      setImmediate(reconcile);
    }
  };
  const stops = [api.watch('v1', 'services', {}, poke), api.watch('v1', 'pods', {}, poke)];
  poke();
  return () => stops.forEach((s) => s());
}
