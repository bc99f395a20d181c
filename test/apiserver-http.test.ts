// The embedded apiserver's HTTP edges: bad input, audit, tables, discovery, finalizers, dry runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedApiServer, type WatchEvent } from '../testbed/apiserver/index.ts';

let server: EmbeddedApiServer;
let base: string;

beforeAll(async () => {
  server = new EmbeddedApiServer({ audit: true, bookmarkIntervalMs: 50 });
  base = await server.start();
});

afterAll(async () => {
  await server?.stop();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { 'content-type': 'application/json', ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, type: res.headers.get('content-type') };
}

describe('bad input', () => {
  it('answers invalid JSON, a wrong kind and a namespace mismatch with 400 Status objects', async () => {
    const broken = await call('POST', '/api/v1/namespaces/default/configmaps', '{"metadata": ');
    expect(broken.status).toBe(400);
    expect(broken.json).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'BadRequest', code: 400 });

    const wrongKind = await call('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.json.message).toContain('must be of type ConfigMap');

    const otherNs = await call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'x', namespace: 'kube-system' } });
    expect(otherNs.status).toBe(400);

    const notObject = await call('POST', '/api/v1/namespaces/default/configmaps', '[1,2]');
    expect(notObject.status).toBe(400);

    const badName = await call('POST', '/api/v1/namespaces/default/services', { metadata: { name: 'Bad_Name' }, spec: { ports: [{ port: 1 }] } });
    expect(badName.status).toBe(422);
    expect(badName.json.details.causes[0].field).toBe('metadata.name');
  });

  it('refuses a body over 3 MiB with 413 and keeps serving', async () => {
    const huge = JSON.stringify({ metadata: { name: 'huge' }, data: { a: 'x'.repeat(3 * 1024 * 1024 + 10) } });
    const res = await call('POST', '/api/v1/namespaces/default/configmaps', huge);
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ kind: 'Status', reason: 'RequestEntityTooLarge', code: 413 });
    expect(server.find('v1', 'configmaps', 'default', 'huge')).toBeUndefined();
    expect((await call('GET', '/api/v1/namespaces/default')).status).toBe(200);
  });

  it('answers unknown paths 404, wrong methods 405 and unknown patch types 415', async () => {
    expect((await call('GET', '/api/v1/widgets')).status).toBe(404);
    expect((await call('GET', '/apis/nope.io/v1')).status).toBe(404);
    expect((await call('GET', '/api/v1/services/x')).status).toBe(404);
    expect((await call('POST', '/api/v1/namespaces/default/configmaps/x', {})).status).toBe(405);
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'p415' } });
    const patch = await call('PATCH', '/api/v1/namespaces/default/configmaps/p415', { data: {} }, { 'content-type': 'text/plain' });
    expect(patch.status).toBe(415);
  });

  it('rejects label selectors it cannot parse', async () => {
    const res = await call('GET', '/api/v1/pods?labelSelector=a%20in%20(');
    expect(res.status).toBe(400);
  });
});

describe('garbage', () => {
  it('answers random methods, paths, content types and bodies with Status errors, never a crash', async () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pick = <T,>(xs: T[]): T => xs[rand(xs.length)]!;
    const paths = ['/api/v1/namespaces/default/services', '/api/v1/namespaces/default/services/x', '/api/v1/nodes/n/status', '/apis/apps/v1/namespaces/default/deployments/d',
      '/api/v1/namespaces/%zz/pods', '/apis/discovery.k8s.io/v1/endpointslices?limit=-1', '/api/v1/namespaces/default/configmaps?continue=bogus', '/api/v1/pods?fieldSelector=spec.nodeName%3D%3D', '/api/v1/namespaces/default/services?watch=true&resourceVersion=abc'];
    const bodies = ['', 'null', '{', '[]', '"str"', '{"metadata":"x"}', '{"metadata":{"name":7}}', '{"kind":"Service","apiVersion":"v2"}', '{"spec":{"ports":"no"}}', '{"metadata":{"name":"x"},"spec":{"type":"Weird","ports":[{"port":99999}]}}', '\u0000\u0001', '[{"op":"move","from":"/nope","path":"/x"}]'];
    const types = ['application/json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml', 'application/vnd.kubernetes.protobuf', 'text/plain'];
    for (let i = 0; i < 200; i++) {
      const method = pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
      const res = await fetch(`${base}${pick(paths)}`, { method, headers: { 'content-type': pick(types) }, body: method === 'GET' ? undefined : pick(bodies) });
      const text = await res.text();
      if (res.status >= 400) {
        const status = JSON.parse(text);
        expect(status.kind, text).toBe('Status');
        expect(res.status, text).toBeLessThan(500);
        expect(status.code).toBe(res.status);
      }
    }
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

describe('audit', () => {
  it('records each resource request with its RBAC verb', async () => {
    server.clearAuditLog();
    const ns = '/api/v1/namespaces/default';
    await call('POST', `${ns}/configmaps`, { metadata: { name: 'aud', labels: { audit: 'yes' } } });
    await call('GET', `${ns}/configmaps/aud`);
    await call('GET', `${ns}/configmaps`);
    await call('GET', `${ns}/configmaps?watch=true&timeoutSeconds=1`);
    const cur = (await call('GET', `${ns}/configmaps/aud`)).json;
    await call('PUT', `${ns}/configmaps/aud`, { ...cur, data: { a: '1' } });
    await call('PATCH', `${ns}/configmaps/aud`, { data: { b: '2' } }, { 'content-type': 'application/merge-patch+json' });
    await call('DELETE', `${ns}/configmaps/aud`);
    await call('DELETE', `${ns}/configmaps?labelSelector=audit%3Dyes`);
    server.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'audited' } });
    await call('PATCH', '/api/v1/nodes/audited/status', { status: { phase: 'Running' } }, { 'content-type': 'application/merge-patch+json' });
    await call('GET', '/apis/apps/v1/daemonsets');
    await call('GET', '/api/v1/namespaces/default/configmaps/missing');
    const log = server.auditLog();
    expect(log.map((e) => e.verb)).toEqual(['create', 'get', 'list', 'watch', 'get', 'update', 'patch', 'delete', 'deletecollection', 'patch', 'list', 'get']);
    expect(log[0]).toEqual({ verb: 'create', apiGroup: '', resource: 'configmaps', namespace: 'default', code: 201 });
    expect(log[9]).toEqual({ verb: 'patch', apiGroup: '', resource: 'nodes', subresource: 'status', name: 'audited', code: 200 });
    expect(log[10]).toEqual({ verb: 'list', apiGroup: 'apps', resource: 'daemonsets', code: 200 });
    expect(log[11]).toMatchObject({ verb: 'get', name: 'missing', code: 404 });
  });
});

describe('objects', () => {
  it('deletes a collection by selector and returns what it deleted', async () => {
    for (const [name, team] of [['c1', 'a'], ['c2', 'a'], ['c3', 'b']]) server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name!, labels: { team: team! } } });
    const res = await call('DELETE', '/api/v1/namespaces/default/configmaps?labelSelector=team%3Da');
    expect(res.status).toBe(200);
    expect(res.json.kind).toBe('ConfigMapList');
    expect(res.json.items.map((i: any) => i.metadata.name)).toEqual(['c1', 'c2']);
    expect(server.list('v1', 'configmaps', 'default', { labelSelector: 'team' }).items.map((i) => i.metadata?.name)).toEqual(['c3']);
  });

  it('marks objects with finalizers for deletion, and deletes them once the finalizers are gone', async () => {
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fin', finalizers: ['example.com/hold'] } });
    const del = await call('DELETE', '/api/v1/namespaces/default/configmaps/fin');
    expect(del.status).toBe(202);
    expect(del.json.metadata.deletionTimestamp).toBeTruthy();
    expect(server.get('v1', 'ConfigMap', 'default', 'fin').metadata?.deletionTimestamp).toBeTruthy();
    const rel = await call('PATCH', '/api/v1/namespaces/default/configmaps/fin', { metadata: { finalizers: null } }, { 'content-type': 'application/merge-patch+json' });
    expect(rel.status).toBe(200);
    expect(server.find('v1', 'ConfigMap', 'default', 'fin')).toBeUndefined();
  });

  it('takes the contents of a deleted namespace with it, and protects the built-in ones', async () => {
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    const svc = server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'doomed' }, spec: { ports: [{ port: 80 }] } });
    const events: WatchEvent[] = [];
    const stop = server.watch('v1', 'services', { namespace: 'doomed', resourceVersion: server.resourceVersion }, (e) => events.push(e));
    try {
      const res = await call('DELETE', '/api/v1/namespaces/doomed');
      expect(res.status).toBe(200);
      expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['DELETED s']);
      expect(server.find('v1', 'Namespace', undefined, 'doomed')).toBeUndefined();
      // Its ClusterIP went back to the pool.
      const again = server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'reuse' }, spec: { clusterIP: (svc.spec as any).clusterIP, ports: [{ port: 80 }] } });
      expect((again.spec as any).clusterIP).toBe((svc.spec as any).clusterIP);
    } finally {
      stop();
    }
    const def = await call('DELETE', '/api/v1/namespaces/default');
    expect(def.status).toBe(403);
  });

  it('stores nothing and allocates nothing on dryRun=All', async () => {
    const body = { metadata: { name: 'dry' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 31999 }] } };
    const res = await call('POST', '/api/v1/namespaces/default/services?dryRun=All', body);
    expect(res.status).toBe(201);
    expect(res.json.spec.ports[0].nodePort).toBe(31999);
    expect(server.find('v1', 'Service', 'default', 'dry')).toBeUndefined();
    const real = await call('POST', '/api/v1/namespaces/default/services', body);
    expect(real.status).toBe(201);
  });

  it('creates on PUT for kinds that allow it (leases), folds secret stringData, and defaults namespaces', async () => {
    const lease = await call('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1', { metadata: { name: 'node-1' }, spec: { holderIdentity: 'node-1' } });
    expect(lease.status).toBe(201);
    const cm = await call('PUT', '/api/v1/namespaces/default/configmaps/absent', { metadata: { name: 'absent' } });
    expect(cm.status).toBe(404);
    const secret = server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { user: 'me' } });
    expect(secret).toMatchObject({ type: 'Opaque', data: { user: Buffer.from('me').toString('base64') } });
    expect(secret.stringData).toBeUndefined();
    const ns = server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh' } });
    expect(ns).toMatchObject({ metadata: { labels: { 'kubernetes.io/metadata.name': 'fresh' } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
  });
});

describe('watch over HTTP', () => {
  async function readEvents(path: string, count: number): Promise<any[]> {
    const ctl = new AbortController();
    const res = await fetch(`${base}${path}`, { signal: ctl.signal });
    expect(res.headers.get('content-type')).toBe('application/json');
    const reader = res.body!.getReader();
    let buf = '';
    const out: any[] = [];
    try {
      while (out.length < count) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += Buffer.from(value).toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          out.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
      }
    } finally {
      ctl.abort();
    }
    return out;
  }

  it('accepts watch=1 and marks the end of initial events with sendInitialEvents', async () => {
    server.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa1' } });
    const events = await readEvents('/api/v1/namespaces/default/serviceaccounts?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan', 2);
    expect(events[0]).toMatchObject({ type: 'ADDED', object: { kind: 'ServiceAccount', metadata: { name: 'sa1' } } });
    expect(events[1]).toMatchObject({ type: 'BOOKMARK', object: { metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } } });
  });

  it('delivers the same events, with the same resourceVersions, as the in-process watch', async () => {
    const from = server.resourceVersion;
    const inProcess: WatchEvent[] = [];
    const stop = server.watch('v1', 'ConfigMap', { namespace: 'default', resourceVersion: from }, (e) => inProcess.push(e));
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'same1' } });
    server.patch('v1', 'ConfigMap', 'default', 'same1', { data: { a: '1' } });
    server.delete('v1', 'ConfigMap', 'default', 'same1');
    stop();
    const http = await readEvents(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${from}`, 3);
    expect(http.map((e) => [e.type, e.object.metadata.resourceVersion])).toEqual(inProcess.map((e) => [e.type, e.object.metadata?.resourceVersion]));
    expect(inProcess.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
  });
});

describe('kubectl-facing documents', () => {
  it('prints Tables with the kind\'s columns when asked', async () => {
    server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'tbl' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30444 }] } });
    const res = await call('GET', '/api/v1/namespaces/default/services/tbl', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    expect(res.json.kind).toBe('Table');
    expect(res.json.columnDefinitions.map((c: any) => c.name)).toEqual(['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age', 'Selector']);
    expect(res.json.rows[0].cells.slice(0, 5)).toEqual(['tbl', 'NodePort', expect.stringMatching(/^198\.19\./), '<none>', '80:30444/TCP']);
    expect(res.json.rows[0].object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'tbl' } });
  });

  it('serves aggregated discovery when asked for it', async () => {
    const res = await call('GET', '/apis', undefined, { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' });
    expect(res.type).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    const apps = res.json.items.find((g: any) => g.metadata.name === 'apps');
    const ds = apps.versions[0].resources.find((r: any) => r.resource === 'daemonsets');
    expect(ds).toMatchObject({ scope: 'Namespaced', singularResource: 'daemonset', shortNames: ['ds'], responseKind: { group: 'apps', version: 'v1', kind: 'DaemonSet' } });
    expect(ds.subresources.map((s: any) => s.subresource)).toEqual(['status']);
    const core = await call('GET', '/api', undefined, { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' });
    expect(core.json.items[0].versions[0].resources.map((r: any) => r.resource)).toContain('endpoints');
  });
});
