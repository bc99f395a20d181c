// The embedded apiserver driven by the real kubectl binary, plain, with a token and over TLS.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { EmbeddedApiServer, type ApiServerOptions } from '../testbed/apiserver/index.ts';
import { selfSigned } from './support/tls.ts';

const run = promisify(execFile);
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nodeway-apiserver-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Cluster {
  server: EmbeddedApiServer;
  dir: string;
  kubeconfig: string;
  kubectl: (...args: string[]) => Promise<string>;
  kubectlFails: (...args: string[]) => Promise<string>;
}

async function cluster(opts: ApiServerOptions = {}): Promise<Cluster> {
  const server = new EmbeddedApiServer(opts);
  cleanups.push(() => server.stop());
  await server.start();
  const dir = tempDir();
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, server.kubeconfig());
  const base = ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache')];
  const env = { ...process.env, HOME: dir, KUBECONFIG: '' };
  const kubectl = async (...args: string[]) => (await run('kubectl', [...base, ...args], { env, timeout: 20_000 })).stdout;
  const kubectlFails = async (...args: string[]) => {
    try {
      await run('kubectl', [...base, ...args], { env, timeout: 20_000 });
    } catch (err) {
      return String((err as { stderr?: string }).stderr);
    }
    throw new Error(`kubectl ${args.join(' ')} succeeded`);
  };
  return { server, dir, kubeconfig, kubectl, kubectlFails };
}

const MANIFEST = `
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports:
- {name: http, port: 8080, protocol: TCP}
endpoints:
- addresses: [10.244.1.5]
  conditions: {ready: true}
  nodeName: node-1
---
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {node-role.kubernetes.io/worker: ""}
status:
  addresses:
  - {type: InternalIP, address: 192.0.2.10}
  conditions:
  - {type: Ready, status: "True"}
`;

describe('kubectl', () => {
  it('creates from a file and gets, prints YAML and lists across namespaces', async () => {
    const c = await cluster();
    const file = join(c.dir, 'objects.yaml');
    writeFileSync(file, MANIFEST);
    const created = await c.kubectl('create', '-f', file);
    expect(created).toContain('service/web created');
    expect(created).toContain('endpointslice.discovery.k8s.io/web-1 created');
    expect(created).toContain('node/node-1 created');

    const table = await c.kubectl('get', 'svc,endpointslices,nodes', '-A');
    const svc = c.server.get('v1', 'Service', 'default', 'web') as any;
    const nodePort = svc.spec.ports[0].nodePort;
    expect(table).toMatch(new RegExp(`default\\s+service/web\\s+NodePort\\s+${svc.spec.clusterIP.replaceAll('.', '\\.')}\\s+<none>\\s+80:${nodePort}/TCP`));
    expect(table).toMatch(/default\s+endpointslice.discovery.k8s.io\/web-1\s+IPv4\s+8080\s+10\.244\.1\.5/);
    expect(table).toMatch(/node\/node-1\s+Ready\s+worker/);

    const yaml = parseYaml(await c.kubectl('get', 'svc', 'web', '-o', 'yaml'));
    expect(yaml).toMatchObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { type: 'NodePort', externalTrafficPolicy: 'Cluster', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP', nodePort }] } });

    const short = await c.kubectl('get', 'no', '-o', 'name');
    expect(short.trim()).toBe('node/node-1');
  });

  it('patches with merge and strategic patches and through the status subresource', async () => {
    const c = await cluster();
    const file = join(c.dir, 'objects.yaml');
    writeFileSync(file, MANIFEST);
    await c.kubectl('create', '-f', file);

    expect(await c.kubectl('patch', 'svc', 'web', '--type=merge', '-p', '{"metadata":{"labels":{"tier":"front"}}}')).toContain('service/web patched');
    await c.kubectl('patch', 'svc', 'web', '-p', '{"spec":{"ports":[{"name":"https","port":443,"targetPort":8443}]}}');
    const svc = c.server.get('v1', 'Service', 'default', 'web') as any;
    expect(svc.metadata.labels).toEqual({ app: 'web', tier: 'front' });
    expect(svc.spec.ports.map((p: any) => `${p.name}:${p.port}`)).toEqual(['http:80', 'https:443']);
    expect(svc.spec.ports[1].nodePort).toBeGreaterThanOrEqual(30000);

    await c.kubectl('patch', 'node', 'node-1', '--subresource=status', '-p', '{"status":{"conditions":[{"type":"Ready","status":"False","reason":"KubeletDown"}]}}');
    const node = c.server.get('v1', 'Node', undefined, 'node-1') as any;
    expect(node.status.conditions).toEqual([{ type: 'Ready', status: 'False', reason: 'KubeletDown' }]);
    expect(await c.kubectl('get', 'node', 'node-1')).toMatch(/node-1\s+NotReady/);
  });

  it('applies twice (create, then configure), applies server-side, and deletes', async () => {
    const c = await cluster();
    const file = join(c.dir, 'cm.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: "1", gone: "x"}\n');
    expect(await c.kubectl('apply', '-f', file)).toContain('configmap/cfg created');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: "2", b: "3"}\n');
    expect(await c.kubectl('apply', '-f', file)).toContain('configmap/cfg configured');
    expect((c.server.get('v1', 'ConfigMap', 'default', 'cfg') as any).data).toEqual({ a: '2', b: '3' });
    expect(await c.kubectl('apply', '-f', file)).toContain('configmap/cfg unchanged');

    const ssa = join(c.dir, 'ssa.yaml');
    writeFileSync(ssa, 'apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {ports: [{port: 443}]}\n');
    expect(await c.kubectl('apply', '--server-side', '-f', ssa)).toContain('service/api serverside-applied');
    expect((c.server.get('v1', 'Service', 'default', 'api') as any).spec.clusterIP).toMatch(/^198\.19\./);

    expect(await c.kubectl('delete', 'configmap', 'cfg')).toContain('configmap "cfg" deleted');
    expect(await c.kubectlFails('get', 'configmap', 'cfg')).toContain('configmaps "cfg" not found');
    expect(await c.kubectl('delete', '-f', ssa)).toContain('service "api" deleted');
    expect(c.server.find('v1', 'Service', 'default', 'api')).toBeUndefined();
  });

  it('watches with get -w and picks up a change', async () => {
    const c = await cluster();
    c.server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'watched' }, spec: { ports: [{ port: 80 }] } });
    const child = spawn('kubectl', ['--kubeconfig', c.kubeconfig, '--cache-dir', join(c.dir, 'cache'), 'get', 'svc', '-w'], { env: { ...process.env, HOME: c.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (re: RegExp) => {
      const deadline = Date.now() + 15_000;
      while (!re.test(out)) {
        if (Date.now() > deadline) throw new Error(`kubectl get -w printed: ${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await waitFor(/watched\s+ClusterIP/);
    c.server.patch('v1', 'services', 'default', 'watched', { spec: { type: 'NodePort' } });
    await waitFor(/watched\s+NodePort\s+\S+\s+<none>\s+80:3\d{4}\/TCP/);
    c.server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'second' }, spec: { ports: [{ port: 81 }] } });
    await waitFor(/second\s+ClusterIP/);
    child.kill('SIGTERM');
  });

  it('runs the create generators, whose typed clients send protobuf bodies', async () => {
    const c = await cluster();
    expect(await c.kubectl('create', 'namespace', 'team')).toContain('namespace/team created');
    await c.kubectl('-n', 'team', 'create', 'configmap', 'cfg', '--from-literal=a=1', '--from-literal=empty=');
    await c.kubectl('-n', 'team', 'create', 'secret', 'generic', 'pw', '--from-literal=p=q');
    await c.kubectl('-n', 'team', 'create', 'serviceaccount', 'robot');
    await c.kubectl('-n', 'team', 'create', 'service', 'nodeport', 'np', '--tcp=80:8080');
    await c.kubectl('-n', 'team', 'create', 'deployment', 'web', '--image=nginx:1.27', '--port=80', '--replicas=0');
    await c.kubectl('-n', 'team', 'create', 'role', 'reader', '--verb=get,list', '--resource=pods,services');
    await c.kubectl('-n', 'team', 'create', 'rolebinding', 'rb', '--role=reader', '--serviceaccount=team:robot');
    await c.kubectl('create', 'clusterrolebinding', 'crb', '--clusterrole=view', '--user=me');

    const get = (apiVersion: string, kind: string, name: string, ns: string | undefined = 'team') => c.server.get(apiVersion, kind, ns, name) as any;
    expect(get('v1', 'Namespace', 'team', undefined).status.phase).toBe('Active');
    expect(get('v1', 'ConfigMap', 'cfg').data).toEqual({ a: '1', empty: '' });
    expect(get('v1', 'Secret', 'pw')).toMatchObject({ type: 'Opaque', data: { p: Buffer.from('q').toString('base64') } });
    const np = get('v1', 'Service', 'np');
    expect(np.spec).toMatchObject({ type: 'NodePort', selector: { app: 'np' }, ports: [{ name: '80-8080', port: 80, targetPort: 8080, protocol: 'TCP' }] });
    expect(np.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
    const deploy = get('apps/v1', 'Deployment', 'web');
    expect(deploy.spec).toMatchObject({ replicas: 0, selector: { matchLabels: { app: 'web' } }, strategy: { type: 'RollingUpdate' } });
    expect(deploy.spec.template.spec.containers).toMatchObject([{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }]);
    expect(get('rbac.authorization.k8s.io/v1', 'Role', 'reader').rules).toEqual([{ apiGroups: [''], resources: ['pods', 'services'], verbs: ['get', 'list'] }]);
    expect(get('rbac.authorization.k8s.io/v1', 'RoleBinding', 'rb')).toMatchObject({ roleRef: { kind: 'Role', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'robot', namespace: 'team' }] });
    expect(get('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'crb', undefined).subjects).toEqual([{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'me' }]);

    expect(await c.kubectl('delete', 'namespace', 'team')).toContain('namespace "team" deleted');
    expect(c.server.list('v1', 'ConfigMap').items.filter((i) => i.metadata?.namespace === 'team')).toEqual([]);
  });

  it('lists api-resources with short names and kinds', async () => {
    const c = await cluster();
    const out = await c.kubectl('api-resources');
    expect(out).toMatch(/^services\s+svc\s+v1\s+true\s+Service$/m);
    expect(out).toMatch(/^endpointslices\s+discovery\.k8s\.io\/v1\s+true\s+EndpointSlice$/m);
    expect(out).toMatch(/^daemonsets\s+ds\s+apps\/v1\s+true\s+DaemonSet$/m);
    expect(out).toMatch(/^nodes\s+no\s+v1\s+false\s+Node$/m);
    expect(out).toMatch(/^networkpolicies\s+netpol\s+networking\.k8s\.io\/v1\s+true\s+NetworkPolicy$/m);
    expect(out).toMatch(/^servicecidrs\s+networking\.k8s\.io\/v1\s+false\s+ServiceCIDR$/m);
    // The default ServiceCIDR, as the real apiserver makes it from its Service ranges.
    expect(await c.kubectl('get', 'servicecidrs')).toMatch(/^kubernetes\s+198\.19\.0\.0\/16,fd00:198:19::\/112\s+\d+s$/m);
    const ns = await c.kubectl('get', 'ns', '-o', 'name');
    expect(ns.trim().split('\n').sort()).toEqual(['namespace/default', 'namespace/kube-node-lease', 'namespace/kube-public', 'namespace/kube-system']);
  });
});

describe('authentication and TLS', () => {
  it('requires the bearer token when one is set (client-node over http)', async () => {
    const server = new EmbeddedApiServer({ token: 'sekret' });
    cleanups.push(() => server.stop());
    await server.start();
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfig());
    const names = (await kc.makeApiClient(CoreV1Api).listNamespace()).items.map((n) => n.metadata?.name);
    expect(names).toContain('default');

    const anonymous = await fetch(`${server.url}/api/v1/namespaces`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' });
    const wrong = await fetch(`${server.url}/api/v1/namespaces`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
  });

  it('serves https with a self-signed certificate that kubectl and client-node verify, token required', async () => {
    const c = await cluster({ tls: selfSigned(), token: 'tls-token' });
    expect(c.server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await c.kubectl('get', 'ns', 'kube-system', '-o', 'name')).toContain('namespace/kube-system');

    const kc = new KubeConfig();
    kc.loadFromString(c.server.kubeconfig());
    const list = await kc.makeApiClient(CoreV1Api).listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toContain('kube-node-lease');

    // kubectl sends credentials only over TLS, so the wrong-token case is checked here.
    const bad = join(c.dir, 'bad-kubeconfig');
    writeFileSync(bad, c.server.kubeconfig().replace('tls-token', 'wrong'));
    const stderr = await c.kubectlFails('--kubeconfig', bad, 'get', 'ns');
    expect(stderr).toMatch(/Unauthorized|must be logged in|provide credentials/);
  });
});
