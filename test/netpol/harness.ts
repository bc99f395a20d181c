// The upstream NetworkPolicy model on the real dataplane, dual-stack: two lab nodes running the
// built agent (proxy, mesh, netpol) over the WireGuard mesh, namespaces x, y, z × pods a, b, c
// made by the CNI plugins from the agent's conflist, TCP/UDP echo servers on 80 and 81, one
// dual-stack ClusterIP Service per pod, and a mirror World for the reference evaluator.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { KubeObject } from '../../testbed/apiserver/index.ts';
import { addCniPod } from '../../testbed/lab/cni.ts';
import { LabCluster } from '../../testbed/lab/cluster.ts';
import { cleanupStaleLabs } from '../../testbed/lab/index.ts';
import { startSliceController } from '../../testbed/lab/slice-controller.ts';
import { workloadPaths } from '../../testbed/lab/workloads.ts';
import { endOf, referenceAllowed } from './reference.ts';
import { World } from './world.ts';

export const HEALTH = '127.0.0.1:10256';
export const CLUSTER_CIDRS = ['198.18.128.0/17', 'fd00:198:18:100::/56'];
const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'batch-probe.ts');
const BIN = existsSync('/opt/cni/bin/bridge') ? '/opt/cni/bin' : '/usr/lib/cni';

export interface ModelPod { key: string; ns: string; name: string; node: string; ips: string[]; netns: string; svcIPs: string[] }
export type Proto = 'tcp' | 'udp';
export type Family = 4 | 6;

export class NetpolLab {
  cluster!: LabCluster;
  readonly pods: ModelPod[] = [];
  readonly w = new World();
  private tmp = '';
  private stopSlices = () => {};
  private readonly labels = new Map<string, Record<string, string>>();
  private readonly tag: string;

  /** `tag`: a short name (interfaces, netns prefix) unique to the test file. */
  constructor(tag: string) {
    this.tag = tag;
  }

  /** Nodes with their extra agent flags; the pods spread over them in turn. */
  async start(nodes: Record<string, string[]>): Promise<void> {
    await cleanupStaleLabs();
    this.tmp = mkdtempSync(join(tmpdir(), `nodeway-${this.tag}-`));
    this.cluster = await LabCluster.create({ prefix: this.tag, ipv6: true });
    this.stopSlices = startSliceController(this.cluster.api);
    const names = Object.keys(nodes);
    for (const n of names) await this.cluster.addNode(n);
    names.forEach((n, i) => this.cluster.startAgent(n, [
      '--modules', 'proxy,mesh,netpol', '--health-listen', HEALTH, '--log-level', 'info', '--min-sync-interval', '20',
      ...CLUSTER_CIDRS.flatMap((c) => ['--cluster-cidr', c]), '--state-dir', join(this.tmp, n, 'state'), '--cni-conf-dir', join(this.tmp, n, 'net.d'),
      '--cni-bin-dir', BIN, '--wg-interface', this.wg(i), ...nodes[n]!,
    ]));
    for (const n of names) {
      const node = this.cluster.nodes.get(n)!.node;
      const end = Date.now() + 60_000;
      while ((await this.cluster.httpGet(node, `http://${HEALTH}/readyz`)).status !== 200) {
        if (Date.now() > end) throw new Error(`${n} never ready: ${(await this.cluster.httpGet(node, `http://${HEALTH}/readyz`)).body}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    for (const ns of ['x', 'y', 'z']) {
      this.cluster.api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } as KubeObject);
      this.w.ns(ns);
    }
    let k = 0;
    for (const ns of ['x', 'y', 'z']) for (const name of ['a', 'b', 'c']) {
      const node = names[k++ % names.length]!;
      const cn = this.cluster.nodes.get(node)!;
      const netns = `${this.cluster.lab.prefix}-${node}-${ns}${name}`;
      const cni = await addCniPod(cn.node, netns, join(this.tmp, node, 'net.d'), BIN);
      if (cni.ips.length !== 2) throw new Error(`${netns}: expected an address of each family, got ${cni.ips.join(', ')}`);
      await this.cluster.lab.startEchoServer(netns, { name: `${ns}/${name}`, tcp: [80, 81], udp: [80, 81] });
      const p: ModelPod = { key: `${ns}/${name}`, ns, name, node, ips: cni.ips, netns, svcIPs: [] };
      this.labels.set(p.key, { pod: name });
      this.cluster.api.create(this.podObject(p));
      this.mirror(p);
      const svc = this.cluster.api.create({
        apiVersion: 'v1', kind: 'Service', metadata: { name: `s-${ns}-${name}`, namespace: ns },
        spec: { selector: { pod: name }, ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], ports: [80, 81].flatMap((n) => ['TCP', 'UDP'].map((pr) => ({ name: `service-port-${pr.toLowerCase()}-${n}`, protocol: pr, port: n, targetPort: n }))) },
      } as KubeObject) as unknown as { spec: { clusterIPs: string[] } };
      p.svcIPs = svc.spec.clusterIPs;
      if (p.svcIPs.length !== 2) throw new Error(`s-${ns}-${name}: expected two ClusterIPs, got ${p.svcIPs.join(', ')}`);
      this.pods.push(p);
    }
  }

  async destroy(): Promise<void> {
    this.stopSlices();
    await this.cluster?.destroy();
    for (const i of [0, 1, 2]) rmSync(`/var/run/wireguard/${this.wg(i)}.sock`, { force: true });
    if (this.tmp) rmSync(this.tmp, { recursive: true, force: true });
  }

  /**
   * The WireGuard interface of the i-th node: its UAPI socket is a file every namespace shares,
   * so the name carries the pid (two runs of one test at once, e.g. by two people, must not meet).
   */
  private wg(i: number): string {
    return `${this.tag}${process.pid}w${i + 1}`.slice(-15);
  }

  pod(key: string): ModelPod {
    return this.pods.find((p) => p.key === key)!;
  }

  ip(key: string, family: Family): string {
    return this.pod(key).ips.find((a) => (family === 6) === a.includes(':'))!;
  }

  private podObject(p: ModelPod): KubeObject {
    return {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: p.name, namespace: p.ns, labels: this.labels.get(p.key)! },
      spec: { nodeName: p.node, containers: [80, 81].flatMap((n) => ['tcp', 'udp'].map((pr) => ({ name: `cont-${n}-${pr}`, image: 'agnhost', ports: [{ name: `serve-${n}-${pr}`, containerPort: n, protocol: pr.toUpperCase() }] }))) },
      status: { phase: 'Running', podIP: p.ips[0], podIPs: p.ips.map((ip) => ({ ip })), conditions: [{ type: 'Ready', status: 'True' }] },
    } as KubeObject;
  }

  private mirror(p: ModelPod): void {
    this.w.pod(p.ns, p.name, {
      node: p.node, ips: p.ips, labels: this.labels.get(p.key)!,
      ports: [80, 81].flatMap((n) => ['TCP', 'UDP'].map((pr) => ({ name: `serve-${n}-${pr.toLowerCase()}`, containerPort: n, protocol: pr }))),
    });
  }

  setPodLabels(key: string, labels: Record<string, string>): void {
    const p = this.pod(key);
    this.labels.set(key, labels);
    const cur = this.cluster.api.get('v1', 'pods', p.ns, p.name);
    const obj = this.podObject(p);
    this.cluster.api.update({ ...obj, metadata: { ...obj.metadata, resourceVersion: cur.metadata?.resourceVersion } });
    this.mirror(p);
  }

  setNamespaceLabels(ns: string, labels: Record<string, string>): void {
    const cur = this.cluster.api.get('v1', 'namespaces', undefined, ns);
    this.cluster.api.update({ ...cur, metadata: { ...cur.metadata, labels: { 'kubernetes.io/metadata.name': ns, ...labels } } });
    this.w.ns(ns, labels);
  }

  /** Creates or replaces a NetworkPolicy in the API server and in the reference's world. */
  policy(ns: string, name: string, spec: Record<string, unknown>): void {
    const obj = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec } as KubeObject;
    try {
      const cur = this.cluster.api.get('networking.k8s.io/v1', 'networkpolicies', ns, name);
      this.cluster.api.update({ ...obj, metadata: { ...obj.metadata, resourceVersion: cur.metadata?.resourceVersion } });
    } catch {
      this.cluster.api.create(obj);
    }
    this.w.np(ns, name, spec);
  }

  deletePolicies(): void {
    for (const key of [...this.w.networkPolicies.keys()]) {
      const [ns, name] = key.split('/') as [string, string];
      this.cluster.api.delete('networking.k8s.io/v1', 'networkpolicies', ns, name);
      this.w.networkPolicies.delete(key);
    }
  }

  /** Every ordered pair through the Service (ClusterIP of `family`). */
  async matrix(port: number, proto: Proto, family: Family): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    await Promise.all(this.pods.map(async (from) => {
      const targets = this.pods.map((to) => [proto, to.svcIPs.find((a) => (family === 6) === a.includes(':')), port]);
      const r = await this.cluster.lab.exec(from.netns, workloadPaths().node, [PROBE, JSON.stringify(targets), '1000'], { timeoutMs: 20_000 });
      const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { outcome: string });
      if (lines.length !== this.pods.length) throw new Error(`probe from ${from.key}: ${r.stderr || r.stdout}`);
      lines.forEach((l, i) => out.set(`${from.key}>${this.pods[i]!.key}`, l.outcome === 'ok'));
    }));
    return out;
  }

  expected(port: number, proto: Proto, family: Family): Map<string, boolean> {
    const out = new Map<string, boolean>();
    for (const f of this.pods) for (const t of this.pods) {
      out.set(`${f.key}>${t.key}`, referenceAllowed(this.w, endOf(this.w, this.ip(f.key, family)), endOf(this.w, this.ip(t.key, family)), proto.toUpperCase(), port));
    }
    return out;
  }

  /** Waits (bounded) for the dataplane to converge to the reference's table, then asserts the whole table. */
  async expectTable(port: number, proto: Proto, family: Family, cells: Record<string, boolean> = {}): Promise<void> {
    const want = this.expected(port, proto, family);
    for (const [k, v] of Object.entries(cells)) expect(want.get(k), `the reference's verdict on ${k} is the upstream one`).toBe(v);
    const show = (m: Map<string, boolean>) => [...m].filter(([, v]) => !v).map(([k]) => k).sort();
    const end = Date.now() + 15_000;
    let got = await this.matrix(port, proto, family);
    while (show(got).join() !== show(want).join() && Date.now() < end) got = await this.matrix(port, proto, family);
    expect(show(got), `denied IPv${family} ${proto}/${port} (probed vs expected)`).toEqual(show(want));
  }

  /** A metric's value from a node's /metrics (the sum of the series whose labels include `labels`). */
  async metric(node: string, name: string, labels: Record<string, string> = {}): Promise<number> {
    const r = await this.cluster.httpGet(this.cluster.nodes.get(node)!.node, `http://${HEALTH}/metrics`);
    let sum = 0;
    for (const line of r.body.split('\n')) {
      const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
    }
    return sum;
  }
}
