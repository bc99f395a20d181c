// The embedded apiserver driven through @kubernetes/client-node, as agents and e2e tests use it.
import {
  ApiException, CoreV1Api, DiscoveryV1Api, KubeConfig, PatchStrategy, Watch, makeInformer, setHeaderOptions,
  type V1ConfigMap, type V1Service,
} from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedApiServer } from '../testbed/apiserver/index.ts';

let server: EmbeddedApiServer;
let kc: KubeConfig;
let core: CoreV1Api;
let discovery: DiscoveryV1Api;
const aborts: AbortController[] = [];

beforeAll(async () => {
  server = new EmbeddedApiServer({ bookmarkIntervalMs: 100, historyLimit: 50 });
  await server.start();
  kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig());
  core = kc.makeApiClient(CoreV1Api);
  discovery = kc.makeApiClient(DiscoveryV1Api);
});

afterEach(() => {
  for (const a of aborts.splice(0)) a.abort();
});

afterAll(async () => {
  await server?.stop();
});

let nsCounter = 0;
async function freshNamespace(): Promise<string> {
  const name = `t${++nsCounter}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

async function apiError(p: Promise<unknown>): Promise<{ code: number; body: Record<string, any> }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiException) return { code: err.code, body: typeof err.body === 'string' ? JSON.parse(err.body) : err.body };
    throw err;
  }
  throw new Error('expected the call to fail');
}

type Event = { type: string; object: any };

/** Starts a watch and collects its events; `until` waits for a predicate over them. */
async function watchEvents(path: string, params: Record<string, string | number | boolean | undefined>) {
  const events: Event[] = [];
  let closed: unknown = undefined;
  let isClosed = false;
  const ctl = await new Watch(kc).watch(path, params, (type, object) => events.push({ type, object }), (err) => {
    isClosed = true;
    closed = err;
  });
  aborts.push(ctl);
  const until = async (pred: (e: Event[]) => boolean, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!pred(events)) {
      if (Date.now() > deadline) throw new Error(`timed out; events so far: ${JSON.stringify(events.map((e) => [e.type, e.object?.metadata?.name]))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return events;
  };
  return { events, until, ctl, closed: () => ({ isClosed, err: closed }) };
}

function svc(name: string, extra: Partial<V1Service['spec']> = {}, labels: Record<string, string> = {}): V1Service {
  return { metadata: { name, labels }, spec: { selector: { app: name }, ports: [{ port: 80 }], ...extra } };
}

describe('CRUD', () => {
  it('creates, reads, updates and deletes with the real metadata rules', async () => {
    const ns = await freshNamespace();
    const created = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cfg' }, data: { a: '1' } } });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0);

    const got = await core.readNamespacedConfigMap({ name: 'cfg', namespace: ns });
    expect(got.data).toEqual({ a: '1' });
    expect(got.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);

    const dup = await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cfg' } } }));
    expect(dup.code).toBe(409);
    expect(dup.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'AlreadyExists', code: 409, details: { name: 'cfg', kind: 'configmaps' } });

    const updated = await core.replaceNamespacedConfigMap({ name: 'cfg', namespace: ns, body: { ...got, data: { a: '2' } } });
    expect(updated.data).toEqual({ a: '2' });
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(Number(got.metadata?.resourceVersion));
    expect(updated.metadata?.uid).toBe(created.metadata?.uid);

    const stale = await apiError(core.replaceNamespacedConfigMap({ name: 'cfg', namespace: ns, body: { ...got, data: { a: '3' } } }));
    expect(stale.code).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
    expect(stale.body.message).toContain('the object has been modified');

    const deleted = await core.deleteNamespacedConfigMap({ name: 'cfg', namespace: ns });
    expect(deleted).toBeTruthy();
    const missing = await apiError(core.readNamespacedConfigMap({ name: 'cfg', namespace: ns }));
    expect(missing.code).toBe(404);
    expect(missing.body).toMatchObject({ reason: 'NotFound', message: 'configmaps "cfg" not found' });
  });

  it('answers 422 for a missing name, 404 for a missing namespace, and honours generateName', async () => {
    const noName = await apiError(core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: {} } }));
    expect(noName.code).toBe(422);
    expect(noName.body).toMatchObject({ reason: 'Invalid', details: { causes: [{ field: 'metadata.name', reason: 'FieldValueRequired' }] } });

    const noNs = await apiError(core.createNamespacedConfigMap({ namespace: 'nope', body: { metadata: { name: 'x' } } }));
    expect(noNs.code).toBe(404);
    expect(noNs.body.message).toBe('namespaces "nope" not found');

    const gen = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'cfg-' } } });
    expect(gen.metadata?.name).toMatch(/^cfg-[a-z0-9]{5}$/);
  });

  it('keeps generation for kinds that have one and bumps it on spec changes only', async () => {
    const ns = await freshNamespace();
    const slice = await discovery.createNamespacedEndpointSlice({
      namespace: ns, body: { metadata: { name: 's1' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'] }] },
    });
    expect(slice.metadata?.generation).toBe(1);
    const relabeled = await discovery.patchNamespacedEndpointSlice({ name: 's1', namespace: ns, body: { metadata: { labels: { a: 'b' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    expect(relabeled.metadata?.generation).toBe(1);
    const moved = await discovery.patchNamespacedEndpointSlice({ name: 's1', namespace: ns, body: { endpoints: [{ addresses: ['10.0.0.2'] }] } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    expect(moved.metadata?.generation).toBe(2);
    expect(moved.endpoints?.[0]?.addresses).toEqual(['10.0.0.2']);
  });

  it('does not write (nor bump resourceVersion) when an update changes nothing', async () => {
    const ns = await freshNamespace();
    const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'same' }, data: { a: '1' } } });
    const again = await core.replaceNamespacedConfigMap({ name: 'same', namespace: ns, body: cm });
    expect(again.metadata?.resourceVersion).toBe(cm.metadata?.resourceVersion);
  });
});

describe('patch', () => {
  it('applies JSON patch, merge patch and strategic merge patch', async () => {
    const ns = await freshNamespace();
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] } } });

    const json = await core.patchNamespacedService({ name: 'web', namespace: ns, body: [{ op: 'add', path: '/metadata/labels', value: { tier: 'front' } }] });
    expect(json.metadata?.labels).toEqual({ tier: 'front' });

    const merged = await core.patchNamespacedService({ name: 'web', namespace: ns, body: { spec: { ports: [{ name: 'https', port: 443 }] } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    expect(merged.spec?.ports?.map((p) => p.port)).toEqual([443]);

    const strategic = await core.patchNamespacedService({ name: 'web', namespace: ns, body: { spec: { ports: [{ name: 'http', port: 80 }] } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    expect(strategic.spec?.ports?.map((p) => p.port)).toEqual([443, 80]);
    expect(strategic.spec?.ports?.[1]?.targetPort).toBe(80);

    const removed = await core.patchNamespacedService({ name: 'web', namespace: ns, body: { spec: { ports: [{ port: 443, $patch: 'delete' }] } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    expect(removed.spec?.ports?.map((p) => p.port)).toEqual([80]);

    const failed = await apiError(core.patchNamespacedService({ name: 'web', namespace: ns, body: [{ op: 'test', path: '/spec/type', value: 'NodePort' }] }));
    expect(failed.code).toBe(422);
  });

  it('server-side apply creates, then merges', async () => {
    const ns = await freshNamespace();
    const opts = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace: ns }, data: { a: '1' } };
    const first = await core.patchNamespacedConfigMap({ name: 'applied', namespace: ns, body, fieldManager: 'test' }, opts);
    expect(first.data).toEqual({ a: '1' });
    const second = await core.patchNamespacedConfigMap({ name: 'applied', namespace: ns, body: { ...body, data: { b: '2' } }, fieldManager: 'test' }, opts);
    expect(second.data).toEqual({ a: '1', b: '2' });
    expect(second.metadata?.uid).toBe(first.metadata?.uid);
  });
});

describe('status subresource', () => {
  it('changes only status through /status, and ignores status on the main resource', async () => {
    await core.createNode({ body: { metadata: { name: 'node-a' }, spec: { podCIDR: '10.244.1.0/24' }, status: { conditions: [{ type: 'Ready', status: 'False' }] } } });
    const ready = await core.patchNodeStatus({ name: 'node-a', body: { status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'MemoryPressure', status: 'False' }] }, spec: { podCIDR: '10.9.9.0/24' } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    expect(ready.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual(['Ready=True', 'MemoryPressure=False']);
    expect(ready.spec?.podCIDR).toBe('10.244.1.0/24');

    const viaMain = await core.patchNode({ name: 'node-a', body: { spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    expect(viaMain.spec?.unschedulable).toBe(true);
    expect(viaMain.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');

    // A Node's status strategy resets only the spec: labels and annotations written through
    // nodes/status stay (flannel and nodeway's mesh publish annotations that way).
    const replaced = await core.replaceNodeStatus({ name: 'node-a', body: { ...viaMain, metadata: { ...viaMain.metadata, labels: { kept: 'yes' } }, spec: { podCIDR: '10.9.9.0/24' }, status: { conditions: [] } } });
    expect(replaced.status?.conditions).toEqual([]);
    expect(replaced.metadata?.labels?.kept).toBe('yes');
    expect(replaced.spec?.podCIDR).toBe('10.244.1.0/24');
    await core.deleteNode({ name: 'node-a' });
  });
});

describe('list', () => {
  it('filters by label and field selectors, across and within namespaces', async () => {
    const a = await freshNamespace();
    const b = await freshNamespace();
    await core.createNamespacedService({ namespace: a, body: svc('one', {}, { app: 'x', tier: 'web' }) });
    await core.createNamespacedService({ namespace: a, body: svc('two', {}, { app: 'y' }) });
    await core.createNamespacedService({ namespace: b, body: svc('three', {}, { app: 'x' }) });

    const all = await core.listServiceForAllNamespaces({ labelSelector: 'app in (x,y)' });
    expect(all.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)).toEqual([`${a}/one`, `${a}/two`, `${b}/three`]);
    expect(Number(all.metadata?.resourceVersion)).toBeGreaterThan(0);

    const names = async (p: Promise<{ items: V1Service[] }>) => (await p).items.map((s) => s.metadata?.name);
    expect(await names(core.listNamespacedService({ namespace: a, labelSelector: 'app=x' }))).toEqual(['one']);
    expect(await names(core.listNamespacedService({ namespace: a, labelSelector: 'app!=x' }))).toEqual(['two']);
    expect(await names(core.listNamespacedService({ namespace: a, labelSelector: 'tier' }))).toEqual(['one']);
    expect(await names(core.listNamespacedService({ namespace: a, labelSelector: '!tier' }))).toEqual(['two']);
    expect(await names(core.listNamespacedService({ namespace: a, labelSelector: 'app notin (x)' }))).toEqual(['two']);
    expect(await names(core.listServiceForAllNamespaces({ fieldSelector: `metadata.namespace=${b}` }))).toEqual(['three']);
    expect(await names(core.listServiceForAllNamespaces({ fieldSelector: 'metadata.name=two' }))).toEqual(['two']);

    const bad = await apiError(core.listServiceForAllNamespaces({ fieldSelector: 'spec.nope=1' }));
    expect(bad.code).toBe(400);
  });

  it('selects pods by spec.nodeName', async () => {
    const ns = await freshNamespace();
    const pod = (name: string, nodeName: string) => ({ metadata: { name }, spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] } });
    await core.createNamespacedPod({ namespace: ns, body: pod('p1', 'n1') });
    await core.createNamespacedPod({ namespace: ns, body: pod('p2', 'n2') });
    const onN2 = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n2' });
    expect(onN2.items.map((p) => p.metadata?.name)).toEqual(['p2']);
    expect(onN2.items[0]?.status?.phase).toBe('Pending');
  });

  it('pages with limit and continue', async () => {
    const ns = await freshNamespace();
    for (let i = 0; i < 5; i++) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `cm${i}` } } });
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await core.listNamespacedConfigMap({ namespace: ns, limit: 2, _continue: token });
      seen.push(...page.items.map((c) => c.metadata!.name!));
      token = page.metadata?._continue;
      if (token) expect(page.metadata?.remainingItemCount).toBe(5 - seen.length);
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(['cm0', 'cm1', 'cm2', 'cm3', 'cm4']);
  });
});

describe('watch', () => {
  it('sends the current state, then live events', async () => {
    const ns = await freshNamespace();
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'before' } } });
    const w = await watchEvents(`/api/v1/namespaces/${ns}/configmaps`, {});
    await w.until((e) => e.length >= 1);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'after' }, data: { a: '1' } } });
    await core.patchNamespacedConfigMap({ name: 'after', namespace: ns, body: { data: { a: '2' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await core.deleteNamespacedConfigMap({ name: 'after', namespace: ns });
    const events = await w.until((e) => e.length >= 4);
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED before', 'ADDED after', 'MODIFIED after', 'DELETED after']);
    expect(events[2]!.object.data).toEqual({ a: '2' });
    expect(events[0]!.object.kind).toBe('ConfigMap');
  });

  it('resumes from a resourceVersion, replaying only what came after it', async () => {
    const ns = await freshNamespace();
    const first = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'a' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'b' } } });
    await core.deleteNamespacedConfigMap({ name: 'a', namespace: ns });
    const w = await watchEvents(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: first.metadata!.resourceVersion });
    const events = await w.until((e) => e.length >= 2);
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED b', 'DELETED a']);
    expect(Number(events[1]!.object.metadata.resourceVersion)).toBeGreaterThan(Number(first.metadata!.resourceVersion));
  });

  it('sends bookmarks when asked', async () => {
    const ns = await freshNamespace();
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    const w = await watchEvents(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: list.metadata!.resourceVersion, allowWatchBookmarks: true });
    const events = await w.until((e) => e.some((x) => x.type === 'BOOKMARK'));
    const bm = events.find((x) => x.type === 'BOOKMARK')!;
    expect(bm.object).toEqual({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: server.resourceVersion } });
  });

  it('answers 410 Expired after compact(), and a relist recovers', async () => {
    const ns = await freshNamespace();
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    server.compact();
    const w = await watchEvents(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: list.metadata!.resourceVersion });
    const events = await w.until((e) => e.length >= 1);
    expect(events[0]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    await w.until(() => w.closed().isClosed);

    const relist = await core.listNamespacedConfigMap({ namespace: ns });
    const again = await watchEvents(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: relist.metadata!.resourceVersion });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'later' } } });
    const ok = await again.until((e) => e.length >= 1);
    expect(ok[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'later' } } });
  });

  it('answers 410 when the history limit has dropped the resourceVersion', async () => {
    const ns = await freshNamespace();
    const start = await core.listNamespacedConfigMap({ namespace: ns });
    for (let i = 0; i < 55; i++) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `h${i}` } } });
    const w = await watchEvents(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: start.metadata!.resourceVersion });
    const events = await w.until((e) => e.length >= 1);
    expect(events[0]).toMatchObject({ type: 'ERROR', object: { code: 410 } });
  });

  it('filters by selector, turning "stopped matching" into DELETED', async () => {
    const ns = await freshNamespace();
    await core.createNamespacedService({ namespace: ns, body: svc('sel', {}, { watch: 'me' }) });
    await core.createNamespacedService({ namespace: ns, body: svc('other', {}, { watch: 'no' }) });
    const w = await watchEvents(`/api/v1/namespaces/${ns}/services`, { labelSelector: 'watch=me' });
    await w.until((e) => e.length >= 1);
    await core.patchNamespacedService({ name: 'sel', namespace: ns, body: { metadata: { labels: { watch: 'no' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await core.patchNamespacedService({ name: 'other', namespace: ns, body: { metadata: { labels: { watch: 'me' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const events = await w.until((e) => e.length >= 3);
    expect(events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.metadata.labels.watch}`)).toEqual(['ADDED sel me', 'DELETED sel me', 'ADDED other me']);
  });

  it('ends at timeoutSeconds and leaks no watch when clients go away', async () => {
    const ns = await freshNamespace();
    const base = server.openWatches;
    const timed = await watchEvents(`/api/v1/namespaces/${ns}/configmaps`, { timeoutSeconds: 1 });
    await timed.until(() => timed.closed().isClosed, 4000);
    const dropped = await watchEvents(`/api/v1/namespaces/${ns}/configmaps`, {});
    await new Promise((r) => setTimeout(r, 50));
    expect(server.openWatches).toBe(base + 1);
    dropped.ctl.abort();
    const deadline = Date.now() + 3000;
    while (server.openWatches !== base && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(server.openWatches).toBe(base);
  });
});

describe('informer', () => {
  it('lists, watches, resumes after a dropped watch, and relists after a 410', async () => {
    const ns = await freshNamespace();
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'seed' } } });
    const informer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${ns}/configmaps`, () => core.listNamespacedConfigMap({ namespace: ns }));
    const seen: string[] = [];
    let connects = 0;
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    informer.on('connect', () => connects++);
    informer.on('error', () => setTimeout(() => void informer.start(), 20));
    await informer.start();
    try {
      const until = async (pred: () => boolean) => {
        const deadline = Date.now() + 5000;
        while (!pred()) {
          if (Date.now() > deadline) throw new Error(`timed out: ${seen.join(', ')} (connects ${connects})`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      await until(() => seen.includes('add seed') && server.openWatches > 0);
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'live' } } });
      await until(() => seen.includes('add live'));

      // A dropped watch resumes from the last resourceVersion: no relist, no duplicate adds.
      server.dropWatches();
      await core.patchNamespacedConfigMap({ name: 'live', namespace: ns, body: { data: { a: '1' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      await until(() => seen.includes('update live'));
      expect(seen.filter((s) => s === 'add seed')).toHaveLength(1);

      // After compaction the resume gets 410 and the informer relists, catching up on a delete it missed.
      informer.stop();
      await new Promise((r) => setTimeout(r, 50));
      await core.deleteNamespacedConfigMap({ name: 'seed', namespace: ns });
      server.compact();
      await informer.start();
      await until(() => seen.includes('delete seed'));
      expect(informer.list().map((o) => o.metadata?.name)).toEqual(['live']);
    } finally {
      await informer.stop();
    }
  });
});

describe('services', () => {
  it('defaults a ClusterIP service and allocates from the service CIDR', async () => {
    const ns = await freshNamespace();
    const s = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'plain' }, spec: { ports: [{ port: 53, protocol: 'UDP' }, { name: 'x', port: 80 }].map((p, i) => ({ ...p, name: p.name ?? `p${i}` })) } } });
    expect(s.spec).toMatchObject({ type: 'ClusterIP', sessionAffinity: 'None', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', internalTrafficPolicy: 'Cluster' });
    expect(s.spec?.clusterIP).toMatch(/^198\.19\.\d+\.\d+$/);
    expect(s.spec?.clusterIPs).toEqual([s.spec?.clusterIP]);
    expect(s.spec?.ports?.map((p) => [p.protocol, p.targetPort])).toEqual([['UDP', 53], ['TCP', 80]]);
    expect(s.spec?.externalTrafficPolicy).toBeUndefined();
  });

  it('allocates both families for PreferDualStack and none for headless or ExternalName', async () => {
    const ns = await freshNamespace();
    const dual = await core.createNamespacedService({ namespace: ns, body: svc('dual', { ipFamilyPolicy: 'PreferDualStack' }) });
    expect(dual.spec?.ipFamilies).toEqual(['IPv4', 'IPv6']);
    expect(dual.spec?.clusterIPs?.[1]).toMatch(/^fd00:198:19::/);
    const v6 = await core.createNamespacedService({ namespace: ns, body: svc('v6', { ipFamilies: ['IPv6'] }) });
    expect(v6.spec?.clusterIP).toMatch(/^fd00:198:19::/);
    const headless = await core.createNamespacedService({ namespace: ns, body: svc('headless', { clusterIP: 'None' }) });
    expect(headless.spec?.clusterIPs).toEqual(['None']);
    const ext = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'ext' }, spec: { type: 'ExternalName', externalName: 'example.com' } } });
    expect(ext.spec?.clusterIP).toBeUndefined();
    expect(ext.spec?.ipFamilies).toBeUndefined();
  });

  it('honours a requested ClusterIP and refuses one that is taken or out of range', async () => {
    const ns = await freshNamespace();
    const dns = await core.createNamespacedService({ namespace: ns, body: svc('dns', { clusterIP: '198.19.0.10' }) });
    expect(dns.spec?.clusterIP).toBe('198.19.0.10');
    const taken = await apiError(core.createNamespacedService({ namespace: ns, body: svc('dns2', { clusterIP: '198.19.0.10' }) }));
    expect(taken.code).toBe(422);
    expect(taken.body.message).toContain('provided IP is already allocated');
    const outside = await apiError(core.createNamespacedService({ namespace: ns, body: svc('dns3', { clusterIP: '10.0.0.10' }) }));
    expect(outside.code).toBe(422);
    await core.deleteNamespacedService({ name: 'dns', namespace: ns });
    const reused = await core.createNamespacedService({ namespace: ns, body: svc('dns4', { clusterIP: '198.19.0.10' }) });
    expect(reused.spec?.clusterIP).toBe('198.19.0.10');
  });

  it('allocates NodePorts, honours requested ones, and releases them on type change', async () => {
    const ns = await freshNamespace();
    const np = await core.createNamespacedService({ namespace: ns, body: svc('np', { type: 'NodePort', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, nodePort: 30081 }] }) });
    const [a, b] = np.spec!.ports!;
    expect(a!.nodePort).toBeGreaterThanOrEqual(30000);
    expect(a!.nodePort).toBeLessThanOrEqual(32767);
    expect(b!.nodePort).toBe(30081);
    expect(np.spec?.externalTrafficPolicy).toBe('Cluster');

    const clash = await apiError(core.createNamespacedService({ namespace: ns, body: svc('clash', { type: 'NodePort', ports: [{ port: 80, nodePort: 30081 }] }) }));
    expect(clash.code).toBe(422);
    expect(clash.body.message).toContain('provided port is already allocated');

    // PUT without the allocated values keeps them, as kubectl replace relies on.
    const fetched = await core.readNamespacedService({ name: 'np', namespace: ns });
    const put = await core.replaceNamespacedService({ name: 'np', namespace: ns, body: { metadata: fetched.metadata, spec: { type: 'NodePort', selector: { app: 'np' }, ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] } } });
    expect(put.spec?.ports?.map((p) => p.nodePort)).toEqual([a!.nodePort, 30081]);
    expect(put.spec?.clusterIP).toBe(np.spec?.clusterIP);

    const back = await core.patchNamespacedService({ name: 'np', namespace: ns, body: { spec: { type: 'ClusterIP' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    expect(back.spec?.ports?.every((p) => p.nodePort === undefined)).toBe(true);
    const now = await core.createNamespacedService({ namespace: ns, body: svc('reuse', { type: 'NodePort', ports: [{ port: 80, nodePort: 30081 }] }) });
    expect(now.spec?.ports?.[0]?.nodePort).toBe(30081);
  });

  it('gives a LoadBalancer with Local traffic a healthCheckNodePort, and ClientIP affinity its timeout', async () => {
    const ns = await freshNamespace();
    const lb = await core.createNamespacedService({ namespace: ns, body: svc('lb', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', sessionAffinity: 'ClientIP' }) });
    expect(lb.spec?.healthCheckNodePort).toBeGreaterThanOrEqual(30000);
    expect(lb.spec?.ports?.[0]?.nodePort).toBeGreaterThanOrEqual(30000);
    expect(lb.spec?.allocateLoadBalancerNodePorts).toBe(true);
    expect(lb.spec?.sessionAffinityConfig?.clientIP?.timeoutSeconds).toBe(10800);
    expect(lb.status?.loadBalancer).toEqual({});
  });

  it('rejects a RequireDualStack service on a single-stack server', async () => {
    const single = new EmbeddedApiServer({ serviceCIDRs: ['10.96.0.0/24'] });
    try {
      const s = single.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { ports: [{ port: 1 }] } });
      expect(s.spec).toMatchObject({ ipFamilies: ['IPv4'] });
      expect(() => single.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'b' }, spec: { ipFamilyPolicy: 'RequireDualStack', ports: [{ port: 1 }] } })).toThrow(/not configured for dual-stack/);
    } finally {
      await single.stop();
    }
  });
});

describe('service CIDRs', () => {
  const CIDRS = 'networking.k8s.io/v1';
  const cidr = (name: string, cidrs: unknown) => ({ apiVersion: CIDRS, kind: 'ServiceCIDR', metadata: { name }, spec: { cidrs } });

  it('starts with the default one, named kubernetes, from the Service ranges', async () => {
    const list = await (await fetch(`${server.url}/apis/networking.k8s.io/v1/servicecidrs`)).json() as any;
    expect(list.kind).toBe('ServiceCIDRList');
    expect(list.items.map((i: any) => [i.metadata.name, i.spec.cidrs])).toEqual([['kubernetes', ['198.19.0.0/16', 'fd00:198:19::/112']]]);
    expect(list.items[0].status.conditions).toMatchObject([{ type: 'Ready', status: 'True' }]);
    const single = new EmbeddedApiServer({ serviceCIDRs: ['10.96.0.0/12'] });
    expect(single.get(CIDRS, 'servicecidrs', undefined, 'kubernetes').spec).toEqual({ cidrs: ['10.96.0.0/12'] });
  });

  it('creates, watches and deletes more; refuses what the real validation refuses', async () => {
    const w = await watchEvents('/apis/networking.k8s.io/v1/servicecidrs', { resourceVersion: server.resourceVersion });
    server.create(cidr('extra', ['10.97.0.0/16', 'fd00:97::/112']));
    server.delete(CIDRS, 'servicecidrs', undefined, 'extra');
    await w.until((e) => e.length === 2);
    expect(w.events.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'extra'], ['DELETED', 'extra']]);
    for (const bad of [undefined, [], ['10.97.0.0/16', 'fd00:97::/112', '10.98.0.0/16'], ['10.97.0.1/16'], ['10.97.0.0'], ['10.97.0.0/16', '10.98.0.0/16'], [42]]) {
      expect(() => server.create(cidr('bad', bad)), JSON.stringify(bad)).toThrow(/spec\.cidrs/);
    }
  });
});

describe('discovery', () => {
  it('serves the legacy discovery documents client libraries read', async () => {
    const base = server.url;
    const groups = await (await fetch(`${base}/apis`)).json() as any;
    expect(groups.kind).toBe('APIGroupList');
    expect(groups.groups.map((g: any) => g.name)).toEqual(expect.arrayContaining(['apps', 'discovery.k8s.io', 'rbac.authorization.k8s.io', 'coordination.k8s.io', 'events.k8s.io', 'networking.k8s.io']));
    const v1 = await (await fetch(`${base}/api/v1`)).json() as any;
    const services = v1.resources.find((r: any) => r.name === 'services');
    expect(services).toMatchObject({ singularName: 'service', namespaced: true, kind: 'Service', shortNames: ['svc'] });
    expect(v1.resources.map((r: any) => r.name)).toContain('services/status');
    const version = await (await fetch(`${base}/version`)).json() as any;
    expect(version).toMatchObject({ major: '1', minor: '32' });
  });
});
