// The install manifests (deploy/): they agree with each other and with the agent's flags, the
// real kubectl accepts them (kustomize and the single file) against the embedded API server, and
// their ClusterRole is exactly what the agent uses: the built agent runs with every module in a
// lab node against an auditing API server, and every request it made must be allowed by the
// ClusterRole, and every permission the ClusterRole grants must have been used.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moduleOptions } from '../../modules/index.ts';
import { ANN } from '../../modules/mesh/annotations.ts';
import { socketPath } from '../../modules/mesh/device.ts';
import { EmbeddedApiServer, type AuditEntry } from '../../testbed/apiserver/index.ts';
import { LabCluster } from '../../testbed/lab/cluster.ts';
import type { LabProcess } from '../../testbed/lab/process.ts';
import { CORE_OPTIONS, parseArgs } from '../../src/runtime/config.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPLOY = join(ROOT, 'deploy');
const KUBECTL = '/usr/bin/kubectl';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown };
interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] }

function docs(text: string): Obj[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(String(d.errors[0]));
    return d.toJSON() as Obj | null;
  }).filter((o): o is Obj => o !== null);
}

const id = (o: Obj) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const byId = (list: Obj[]) => new Map(list.map((o) => [id(o), o]));

/** Asynchronous: the embedded API server answers from this very process. */
async function kubectl(args: string[], kubeconfig?: string): Promise<{ code: number; out: string }> {
  const r = await execa(KUBECTL, [...(kubeconfig ? ['--kubeconfig', kubeconfig] : []), ...args], { reject: false, all: true, timeout: 30_000 });
  return { code: r.exitCode ?? -1, out: r.all ?? '' };
}

const single = () => docs(readFileSync(join(DEPLOY, 'nodeway.yaml'), 'utf8'));
const find = (kind: string, name: string) => {
  const o = single().find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in deploy/nodeway.yaml`);
  return o;
};
const clusterRole = () => (find('ClusterRole', 'nodeway') as unknown as { rules: Rule[] }).rules;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const daemonSet = () => find('DaemonSet', 'nodeway') as any;
const configText = () => (find('ConfigMap', 'nodeway') as unknown as { data: Record<string, string> }).data['config.yaml']!;

describe('deploy/ manifests', () => {
  it('nodeway.yaml is the kustomization\'s files, and kubectl kustomize yields the same objects', async () => {
    const check = spawnSync(process.execPath, [join(DEPLOY, 'build.mjs'), '--check'], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    const k = await kubectl(['kustomize', DEPLOY]);
    expect(k.code, k.out).toBe(0);
    const fromKustomize = byId(docs(k.out));
    const fromSingle = byId(single());
    expect([...fromKustomize.keys()].sort()).toEqual([...fromSingle.keys()].sort());
    for (const [key, o] of fromSingle) expect(fromKustomize.get(key), key).toEqual(o);
    expect([...fromSingle.keys()].sort()).toEqual([
      'apps/v1 DaemonSet nodeway/nodeway',
      'rbac.authorization.k8s.io/v1 ClusterRole /nodeway',
      'rbac.authorization.k8s.io/v1 ClusterRoleBinding /nodeway',
      'v1 ConfigMap nodeway/nodeway',
      'v1 Namespace /nodeway',
      'v1 Service kube-system/kube-dns',
      'v1 ServiceAccount nodeway/nodeway',
    ]);
  });

  it('the config file is one the agent accepts, and the DaemonSet, kube-dns Service and config agree', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nodeway-deploy-'));
    try {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, configText());
      const { config } = parseArgs(['--config', file], [...CORE_OPTIONS, ...moduleOptions()], {});
      expect(config.modules).toEqual(['proxy', 'dns', 'mesh', 'netpol']);
      expect(config.apiserver).toMatch(/^https:\/\//);
      const dns = find('Service', 'kube-dns') as unknown as { spec: { clusterIP: string; selector?: unknown } };
      expect(config.clusterDNS).toEqual([dns.spec.clusterIP]);
      const ds = daemonSet();
      const spec = ds.spec.template.spec;
      const agent = spec.containers.find((c: { name: string }) => c.name === 'nodeway');
      expect(agent.command).toEqual(['/opt/nodeway/bin/nodeway', 'run', '--config', '/etc/nodeway/config.yaml']);
      const health = agent.ports.find((p: { name: string }) => p.name === 'health');
      expect(String(config.healthListen).split(':').pop()).toBe(String(health.containerPort));
      expect(health.containerPort).toBe(10256);
      expect(agent.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
      expect(agent.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
      expect(agent.ports.find((p: { name: string }) => p.name === 'wireguard').containerPort).toBe(config.wgPort);
      // Every host directory the agent is configured with is a mount of the matching host path.
      const mounts = new Map<string, string>(agent.volumeMounts.map((m: { mountPath: string; name: string }) => [m.mountPath, m.name]));
      const hostPath = (volume: string) => spec.volumes.find((v: { name: string }) => v.name === volume)?.hostPath?.path;
      for (const key of ['stateDir', 'cniConfDir', 'cniBinDir']) {
        const path = config[key] as string;
        expect(mounts.get(path), key).toBeDefined();
        expect(hostPath(mounts.get(path)!), key).toBe(path);
      }
      // docs/k3s.md patches the CNI host paths by index.
      expect(spec.volumes[2].name).toBe('cni-conf');
      expect(spec.volumes[3].name).toBe('cni-bin');
      expect(hostPath(mounts.get('/run/wireguard')!)).toBe('/run/wireguard');
      // /dev/net as a directory created when missing: a host without /dev/net/tun (kernel
      // WireGuard only, Proxmox LXC) still starts the pod; no hostPath must exist as a device.
      expect(hostPath(mounts.get('/dev/net')!)).toBe('/dev/net');
      expect(mounts.has('/dev/net/tun')).toBe(false);
      for (const v of spec.volumes) expect(v.hostPath?.type ?? 'DirectoryOrCreate', v.name).toMatch(/^(Directory|DirectoryOrCreate)$/);
      // The conntrack sysctls: the host's /proc/sys/net, where procSysDir says.
      expect(hostPath(mounts.get(`${config.procSysDir}/net`)!)).toBe('/proc/sys/net');
      expect(spec).toMatchObject({ hostNetwork: true, dnsPolicy: 'Default', priorityClassName: 'system-node-critical', serviceAccountName: 'nodeway', tolerations: [{ operator: 'Exists' }] });
      expect(spec.securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
      // No NET_RAW: nothing opens a raw socket (the image test runs the agent with these two only).
      expect(agent.securityContext).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BIND_SERVICE'] } });
      // The extra /metrics addresses are the container's metrics ports, and kube-dns names 9153.
      const port = (n: string) => agent.ports.find((p: { name: string }) => p.name === n)?.containerPort;
      expect((config.metricsListen as string[]).map((a) => Number(a.split(':').pop()))).toEqual([port('metrics'), port('dns-metrics')]);
      expect(port('metrics')).toBe(10249);
      expect((dns.spec as unknown as { ports: { name: string; port: number }[] }).ports.find((p) => p.name === 'metrics')?.port).toBe(port('dns-metrics'));
      expect(config.apiVersion).toBeUndefined();
      expect(configText()).toMatch(/^apiVersion: nodeway\.dev\/v1alpha1$/m);
      expect(agent.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
      expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
      const init = spec.initContainers.find((c: { name: string }) => c.name === 'install-cni-plugins');
      expect(hostPath(init.volumeMounts[0].name)).toBe(config.cniBinDir);
      expect(init.image).toBe(agent.image);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('kubectl apply against the embedded API server', () => {
    let api: EmbeddedApiServer;
    let dir: string;
    let kubeconfig: string;

    beforeAll(async () => {
      // kubeadm's Service CIDR, so the kube-dns address is checked against the real default.
      api = new EmbeddedApiServer({ serviceCIDRs: ['10.96.0.0/12'] });
      await api.start();
      dir = mkdtempSync(join(tmpdir(), 'nodeway-deploy-'));
      kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(kubeconfig, api.kubeconfig());
    });

    afterAll(async () => {
      await api?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('kubectl apply -k deploy/ creates every object', async () => {
      const r = await kubectl(['apply', '-k', DEPLOY], kubeconfig);
      expect(r.code, r.out).toBe(0);
      for (const o of single()) {
        const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') as [string, string] : ['', o.apiVersion];
        const plural = `${o.kind.toLowerCase()}s`.replace(/ss$/, 'sses');
        const got = api.get(group ? `${group}/${version}` : version, plural, o.metadata.namespace, o.metadata.name) as Obj;
        expect(got.metadata.labels?.['app.kubernetes.io/name'], id(o)).toBe('nodeway');
      }
      const dns = api.get('v1', 'services', 'kube-system', 'kube-dns') as { spec: { clusterIP: string } };
      expect(dns.spec.clusterIP).toBe('10.96.0.10');
    });

    it('kubectl apply -f deploy/nodeway.yaml is accepted on top (nothing differs)', async () => {
      const r = await kubectl(['apply', '-f', join(DEPLOY, 'nodeway.yaml')], kubeconfig);
      expect(r.code, r.out).toBe(0);
      expect(r.out).not.toMatch(/created/);
      const again = await kubectl(['apply', '-f', join(DEPLOY, 'nodeway.yaml'), '--dry-run=server'], kubeconfig);
      expect(again.code, again.out).toBe(0);
    });

    it('the single file also applies to an empty cluster', async () => {
      const fresh = new EmbeddedApiServer({ serviceCIDRs: ['10.96.0.0/12'] });
      await fresh.start();
      try {
        const kc = join(dir, 'fresh.kubeconfig');
        writeFileSync(kc, fresh.kubeconfig());
        const r = await kubectl(['apply', '-f', join(DEPLOY, 'nodeway.yaml')], kc);
        expect(r.code, r.out).toBe(0);
        expect(r.out.match(/created/g)?.length).toBe(single().length);
      } finally {
        await fresh.stop();
      }
    });
  });
});

/** Does one rule allow this request? (RBAC: any rule allowing it is enough.) */
function allows(r: Rule, e: Pick<AuditEntry, 'verb' | 'apiGroup' | 'resource' | 'subresource'>): boolean {
  const res = e.subresource ? `${e.resource}/${e.subresource}` : e.resource;
  return (r.apiGroups.includes('*') || r.apiGroups.includes(e.apiGroup)) &&
    (r.resources.includes('*') || r.resources.includes(res)) &&
    (r.verbs.includes('*') || r.verbs.includes(e.verb));
}

describe('the ClusterRole is what the agent uses (all modules, audited)', () => {
  let cluster: LabCluster;
  let agent: LabProcess | undefined;
  let tmp: string;
  const IFACE = 'nwrbac1';

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'nodeway.mjs'))) throw new Error('run npm run build first');
    tmp = mkdtempSync(join(tmpdir(), 'nodeway-rbac-'));
    cluster = await LabCluster.create({ ipv6: false, apiserverAudit: true });
    await cluster.addNode('n1');
    agent = cluster.startAgent('n1', [
      '--modules', 'proxy,dns,mesh,netpol', '--health-listen', '127.0.0.1:10256',
      '--cluster-dns', '198.19.0.10', '--cluster-cidr', '198.18.128.0/17',
      '--state-dir', join(tmp, 'state'), '--cni-conf-dir', join(tmp, 'net.d'), '--cni-bin-dir', '/usr/lib/cni',
      '--wg-interface', IFACE, '--dns-upstream', '127.0.0.1:5301',
    ]);
  }, 60_000);

  afterAll(async () => {
    await cluster?.destroy();
    rmSync(socketPath(IFACE), { force: true });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it('every request the agent made is allowed, and every permission granted was used', async () => {
    // Ready = every module synced once; the mesh then has published its annotations and set
    // NetworkUnavailable=False (both writes happen before its first sync succeeds).
    const deadline = Date.now() + 30_000;
    let ready = { status: 0, body: '' };
    while (Date.now() < deadline) {
      ready = await cluster.httpGet(cluster.nodes.get('n1')!.node, 'http://127.0.0.1:10256/readyz');
      if (ready.status === 200) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(ready.status, `${ready.body}\n${agent?.output ?? ''}`).toBe(200);
    const node = cluster.api.get('v1', 'nodes', undefined, 'n1') as { metadata: { annotations?: Record<string, string> }; status?: { conditions?: { type: string; status: string }[] } };
    expect(node.metadata.annotations?.[ANN.publicKey]).toBeTruthy();
    expect(node.status?.conditions?.find((c) => c.type === 'NetworkUnavailable')?.status).toBe('False');

    const log = cluster.api.auditLog();
    const used = new Map<string, AuditEntry>();
    for (const e of log) used.set(`${e.verb} ${e.apiGroup}/${e.resource}${e.subresource ? `/${e.subresource}` : ''}`, e);
    const rules = clusterRole();

    const denied = [...used].filter(([, e]) => !rules.some((r) => allows(r, e))).map(([k]) => k);
    expect(denied, 'requests the ClusterRole does not allow').toEqual([]);

    const unused: string[] = [];
    for (const r of rules) {
      expect(r.resourceNames ?? [], 'no resourceNames: the agent names no object in advance').toEqual([]);
      expect(r.nonResourceURLs ?? []).toEqual([]);
      for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) {
        const [resource, subresource] = res.split('/') as [string, string | undefined];
        const grant = { verb: v as AuditEntry['verb'], apiGroup: g, resource, subresource };
        if (![...used.values()].some((e) => allows({ apiGroups: [g], resources: [res], verbs: [v] }, e) && allows({ apiGroups: [e.apiGroup], resources: [e.subresource ? `${e.resource}/${e.subresource}` : e.resource], verbs: [e.verb] }, grant))) {
          unused.push(`${v} ${g}/${res}`);
        }
      }
    }
    // Pods are read by netpol (on here), dnsPods: verified and a config without clusterCIDR.
    expect(unused, 'permissions the agent never used').toEqual([]);
    // The writes are to its own Node only (RBAC cannot express that; the agent keeps to it).
    for (const e of log.filter((x) => x.verb === 'patch' || x.verb === 'get')) expect(e).toMatchObject({ resource: 'nodes', name: 'n1' });
    // No write to the Node itself: annotations and the condition both go through nodes/status.
    expect(log.filter((x) => x.verb === 'patch').map((x) => x.subresource)).toEqual(log.filter((x) => x.verb === 'patch').map(() => 'status'));
    // The Grafana dashboard in deploy/ names only metrics this agent registers (every module on).
    const metrics = await cluster.httpGet(cluster.nodes.get('n1')!.node, 'http://127.0.0.1:10256/metrics');
    const registered = new Set([...metrics.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!));
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'nodeway.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[]; templating: { list: { query?: unknown }[] } };
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.map((v) => (typeof v.query === 'object' && v.query ? (v.query as { query: string }).query : '')),
    ];
    const named = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:nodeway|kubeproxy|coredns|process)_[a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''))));
    expect(named.size).toBeGreaterThan(25);
    expect([...named].filter((n) => !registered.has(n)), 'dashboard metrics the agent does not register').toEqual([]);
    expect(dashboard.panels.filter((p) => p.targets?.length).length).toBeGreaterThan(20);
    expect([...used.keys()].sort()).toEqual([
      'get /nodes',
      'list /namespaces', 'list /nodes', 'list /pods', 'list /services', 'list discovery.k8s.io/endpointslices',
      'list networking.k8s.io/networkpolicies', 'list networking.k8s.io/servicecidrs', 'list policy.networking.k8s.io/clusternetworkpolicies',
      'patch /nodes/status',
      'watch /namespaces', 'watch /nodes', 'watch /pods', 'watch /services', 'watch discovery.k8s.io/endpointslices',
      'watch networking.k8s.io/networkpolicies', 'watch networking.k8s.io/servicecidrs', 'watch policy.networking.k8s.io/clusternetworkpolicies',
    ]);
  });
});
