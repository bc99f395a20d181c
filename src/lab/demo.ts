// `nodeway lab`: a three-node cluster of network namespaces running the real agent with all
// three modules, pods made by the standard CNI plugins from the agent's own conflist, echo
// servers, a ClusterIP, a NodePort and a headless Service — and proof that it works.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../apiserver/types.ts';
import { type CniPod, addCniPod } from './cni.ts';
import { LabCluster } from './cluster.ts';
import type { LabNode } from './endpoints.ts';
import { startSliceController } from './slice-controller.ts';
import { waitFor } from './wait.ts';

export const CLUSTER_DNS = '198.19.0.10';
export const CLUSTER_CIDR = '198.18.128.0/17';
export const NODES = ['node-1', 'node-2', 'node-3'];
const HEALTH = '127.0.0.1:10256';
const DOMAIN = 'cluster.local';

export type ProgressEvent =
  | { step: string; status: 'start' }
  | { step: string; status: 'ok'; detail?: string }
  | { step: string; status: 'fail'; detail: string };
export type Progress = (e: ProgressEvent) => void;

export interface LabFacts {
  prefix: string;
  apiserver: string;
  kubeconfig: string;
  nodes: { name: string; ip: string; podCIDR: string; ns: string }[];
  outside: { ns: string; ip: string };
  services: { name: string; clusterIP: string; nodePort?: number }[];
  checks: { what: string; result: string }[];
}

function cniBinDir(): string {
  return existsSync('/opt/cni/bin/bridge') ? '/opt/cni/bin' : '/usr/lib/cni';
}

async function step<T>(progress: Progress, name: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> {
  progress({ step: name, status: 'start' });
  try {
    const v = await fn();
    progress({ step: name, status: 'ok', detail: detail?.(v) });
    return v;
  } catch (err) {
    progress({ step: name, status: 'fail', detail: String((err as Error)?.message ?? err).split('\n')[0]! });
    throw err;
  }
}

function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  return waitFor(what, fn, timeoutMs, 250);
}

function service(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec } as KubeObject;
}

export interface RunningLab {
  cluster: LabCluster;
  facts: LabFacts;
  stop(): Promise<void>;
}

/** Builds the lab and proves it; on failure everything built so far is torn down. */
export async function startLab(dir: string, progress: Progress): Promise<RunningLab> {
  mkdirSync(dir, { recursive: true });
  const cluster = await step(progress, 'API server and lab network', () => LabCluster.create({ prefix: 'lab', ipv6: false }), (c) => `API server ${c.api.url}, namespaces ${c.lab.prefix}-*`);
  let stopController = () => {};
  const stop = async () => {
    stopController();
    await cluster.destroy();
    // wireguard-go killed with its namespace leaves its UAPI socket behind.
    for (const [i] of NODES.entries()) rmSync(`/var/run/wireguard/nwlab${i + 1}.sock`, { force: true });
  };
  try {
    const api = cluster.api;
    stopController = startSliceController(api);
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeconfig(), { mode: 0o600 });
    // The address kubelet would hand pods as their resolver; every agent answers it locally.
    const dns = service('kube-dns', { clusterIP: CLUSTER_DNS, ports: [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }] });
    api.create({ ...dns, metadata: { name: 'kube-dns', namespace: 'kube-system' } } as KubeObject);
    const bin = cniBinDir();
    const nodes = await step(progress, 'three nodes (network namespaces on a bridge, 198.18.0.0/24)', async () => {
      const out: LabNode[] = [];
      for (const name of NODES) out.push((await cluster.addNode(name, { zone: name === 'node-3' ? 'zone-b' : 'zone-a' })).node);
      return out;
    }, (ns) => ns.map((n) => `${n.name} ${n.ipv4}`).join(', '));
    const outside = await cluster.lab.addHost('outside');
    await step(progress, 'the agent on every node (proxy, dns, mesh)', async () => {
      nodes.forEach((n, i) => {
        const d = join(dir, n.name);
        cluster.startAgent(n.name, [
          '--modules', 'proxy,dns,mesh', '--health-listen', HEALTH, '--log-level', 'info',
          '--cluster-dns', CLUSTER_DNS, '--cluster-cidr', CLUSTER_CIDR,
          '--state-dir', join(d, 'state'), '--cni-conf-dir', join(d, 'net.d'), '--cni-bin-dir', bin,
          '--wg-interface', `nwlab${i + 1}`, '--dns-upstream', '127.0.0.1:5301',
        ], { onLine: (line) => writeLog(dir, n.name, line) });
      });
      for (const n of nodes) {
        // Not ready: the wait's error names what /readyz last said (module, missing program, error).
        await until(`${n.name} /readyz`, async () => {
          const r = await cluster.httpGet(n, `http://${HEALTH}/readyz`);
          if (r.status === 200) return true;
          throw new Error(r.status ? notReady(r.body) : `no answer (${r.body})`);
        }, 90_000);
      }
    }, () => 'all ready');

    const pods = await step(progress, 'two echo pods per node (CNI plugins + the agent\'s conflist)', async () => {
      const made: { pod: CniPod; node: LabNode }[] = [];
      for (const n of nodes) {
        for (const k of [1, 2]) {
          const name = `echo-${n.name.slice(-1)}${k}`;
          const pod = await addCniPod(n, `${cluster.lab.prefix}-${n.name}-${name}`, join(dir, n.name, 'net.d'), bin);
          await cluster.lab.startEchoServer(pod.ns, { name, tcp: [8080], udp: [8080] });
          api.create({
            apiVersion: 'v1', kind: 'Pod',
            metadata: { name, namespace: 'default', labels: { app: 'echo' } },
            spec: { nodeName: n.name, hostname: name, subdomain: 'echo-headless', containers: [{ name: 'echo', image: 'nodeway-lab/echo', ports: [{ name: 'http', containerPort: 8080 }] }] },
            status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }], conditions: [{ type: 'Ready', status: 'True' }] },
          } as KubeObject);
          made.push({ pod: { ...pod, name }, node: n });
        }
      }
      return made;
    }, (m) => m.map((p) => `${p.pod.name} ${p.pod.ip}`).join(', '));

    const svcs = await step(progress, 'Services: echo (ClusterIP), echo-nodeport (NodePort), echo-headless', async () => {
      const c = api.create(service('echo', { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }));
      const np = api.create(service('echo-nodeport', { type: 'NodePort', selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
      api.create(service('echo-headless', { clusterIP: 'None', selector: { app: 'echo' }, ports: [{ name: 'http', port: 8080 }] }));
      const spec = (o: KubeObject) => (o as unknown as { spec: { clusterIP: string; ports: { nodePort?: number }[] } }).spec;
      return { clusterIP: spec(c).clusterIP, nodeIP: spec(np).clusterIP, nodePort: spec(np).ports[0]!.nodePort! };
    }, (s) => `echo ${s.clusterIP}:80, NodePort ${s.nodePort}`);

    const checks: { what: string; result: string }[] = [];
    const client = pods[0]!.pod;
    const remote = pods[pods.length - 1]!;
    await step(progress, `${client.name} resolves echo.default.svc through the node-local DNS (${CLUSTER_DNS})`, async () => {
      const ip = await until('DNS answer', async () => {
        const r = await cluster.lab.exec(client.ns, 'dig', ['+short', '+time=1', '+tries=1', `@${CLUSTER_DNS}`, `echo.default.svc.${DOMAIN}`]);
        const a = r.stdout.trim();
        return a === svcs.clusterIP ? a : undefined;
      }, 20_000);
      checks.push({ what: `dig @${CLUSTER_DNS} echo.default.svc.${DOMAIN} (from ${client.name})`, result: ip });
      const headless = await until('headless answer', async () => {
        const r = await cluster.lab.exec(client.ns, 'dig', ['+short', '+time=1', '+tries=1', `@${CLUSTER_DNS}`, `echo-headless.default.svc.${DOMAIN}`]);
        const ips = r.stdout.trim().split('\n').filter(Boolean);
        return ips.length === pods.length ? ips : undefined;
      }, 20_000);
      checks.push({ what: `dig echo-headless.default.svc.${DOMAIN}`, result: `${headless.length} pod IPs` });
      return ip;
    }, (ip) => ip);
    await step(progress, `${client.name} reaches the echo Service by its ClusterIP`, async () => {
      const names = new Set<string>();
      await until('answers from several pods', async () => {
        for (const r of await cluster.lab.probeMany(client.ns, { proto: 'http', host: svcs.clusterIP, port: 80 }, 6)) if (r.outcome === 'ok' && r.name) names.add(r.name);
        return names.size >= 2 ? true : undefined;
      }, 30_000);
      checks.push({ what: `http://${svcs.clusterIP}/ from ${client.name}`, result: `answered by ${[...names].sort().join(', ')}` });
      return names;
    }, (n) => `answered by ${[...n].sort().join(', ')}`);
    await step(progress, `${client.name} on ${pods[0]!.node.name} reaches ${remote.pod.name} on ${remote.node.name} through WireGuard`, async () => {
      const r = await until('pod to pod', async () => {
        const x = await cluster.lab.probe(client.ns, { proto: 'tcp', host: remote.pod.ip, port: 8080 });
        return x.outcome === 'ok' ? x : undefined;
      }, 30_000);
      checks.push({ what: `tcp ${remote.pod.ip}:8080 from ${client.name} (${client.ip})`, result: `${r.name} saw client ${r.client}` });
      return r;
    }, (r) => `${r.name} saw ${r.client}`);
    await step(progress, `an outside host reaches the NodePort on ${nodes[1]!.name}`, async () => {
      const r = await until('NodePort', async () => {
        const x = await cluster.lab.probe(outside, { proto: 'http', host: nodes[1]!.ipv4, port: svcs.nodePort });
        return x.outcome === 'ok' ? x : undefined;
      }, 30_000);
      checks.push({ what: `http://${nodes[1]!.ipv4}:${svcs.nodePort}/ from outside (${outside.ipv4})`, result: `answered by ${r.name}` });
      return r;
    }, (r) => `answered by ${r.name}`);

    const facts: LabFacts = {
      prefix: cluster.lab.prefix,
      apiserver: api.url,
      kubeconfig,
      nodes: nodes.map((n) => ({ name: n.name, ip: n.ipv4, podCIDR: n.podCidrV4 ?? '', ns: n.ns })),
      outside: { ns: outside.ns, ip: outside.ipv4 },
      services: [
        { name: 'echo', clusterIP: svcs.clusterIP },
        { name: 'echo-nodeport', clusterIP: svcs.nodeIP, nodePort: svcs.nodePort },
        { name: 'echo-headless', clusterIP: 'None' },
        { name: 'kube-dns (kube-system)', clusterIP: CLUSTER_DNS },
      ],
      checks,
    };
    return { cluster, facts, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The modules a /readyz body says are not ready, each with why. */
export function notReady(body: string): string {
  try {
    const s = JSON.parse(body) as { cacheReady: boolean; modules: { name: string; synced: boolean; lastError: string; missing?: string[] }[] };
    const why = s.modules.filter((m) => !m.synced || m.missing?.length).map((m) => `${m.name}: ${m.missing?.[0] ?? (m.lastError || 'no sync yet')}`);
    return (s.cacheReady ? why : ['the watch cache has not listed every kind yet', ...why]).join('; ') || 'not ready';
  } catch {
    return body.slice(0, 200);
  }
}

function writeLog(dir: string, node: string, line: string): void {
  try {
    writeFileSync(join(dir, `${node}.log`), `${line}\n`, { flag: 'a' });
  } catch {
    // logs are best effort
  }
}
