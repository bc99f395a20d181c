// `nodeway lab`: a three-node cluster of network namespaces running the real agent with all
// three modules, nodes with default routes as real nodes have, pods made by the standard CNI
// plugins from the agent's own conflist, echo servers, a Service of every kind — and every
// traffic path through them measured (testbed/lab/paths.ts): answered/sent, by which pods, with
// which source. The whole-agent suite (test/e2e/whole-agent.test.ts) builds the same lab.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../apiserver/types.ts';
import { type CniPod, addCniPod } from './cni.ts';
import { LabCluster } from './cluster.ts';
import type { LabNode } from './endpoints.ts';
import { type Family, matrix, type PathResult, type PathWorld, problems, runMatrix, summary } from './paths.ts';
import { startSliceController } from './slice-controller.ts';
import { waitFor } from './wait.ts';

export const CLUSTER_DNS = '198.19.0.10';
export const CLUSTER_DNS_V6 = 'fd00:198:19::a';
export const CLUSTER_CIDR = '198.18.128.0/17';
export const CLUSTER_CIDR_V6 = 'fd00:198:18:100::/56';
/** Where the outside host's "load balancer" sends the LoadBalancer IP and the externalIP. */
export const LB_IP = { 4: '198.18.64.10', 6: 'fd00:198:18:40::10' } as const;
export const EXTERNAL_IP = { 4: '198.18.64.20', 6: 'fd00:198:18:40::20' } as const;
export const NODES = ['node-1', 'node-2', 'node-3'];
/** Requests per path: each a new connection, so a new pick; 6 pods all seen but with chance 6·(5/6)^72 ≈ 1e-5. */
export const REQUESTS = 72;
const HEALTH = '127.0.0.1:10256';
const DOMAIN = 'cluster.local';
const PORT = 8080;

export type ProgressEvent =
  | { step: string; status: 'start' }
  | { step: string; status: 'ok'; detail?: string }
  | { step: string; status: 'fail'; detail: string };
export type Progress = (e: ProgressEvent) => void;

export interface LabFacts {
  prefix: string;
  apiserver: string;
  kubeconfig: string;
  nodes: { name: string; ip: string; podCIDR: string; ns: string; iface: string }[];
  outside: { ns: string; ip: string };
  services: { name: string; clusterIP: string; nodePort?: number }[];
  checks: { what: string; result: string }[];
}

export interface DemoOptions {
  /** IPv6 too: dual-stack nodes, pods and Services (default: when the host has IPv6). */
  ipv6?: boolean;
  /** Namespace prefix (default 'lab'). */
  prefix?: string;
  /** WireGuard interfaces are PREFIX1..3 (default nwl<pid>-): their UAPI sockets are files every namespace shares, so two labs must not share names. */
  wgPrefix?: string;
  /** Requests per path (default REQUESTS). */
  requests?: number;
  /** Build and settle only; the caller runs the paths. */
  skipPaths?: boolean;
  /**
   * Nodes whose firewall drops forwarded traffic, as Docker and ufw leave it (`iptables -P
   * FORWARD DROP`: with iptables-nft, chain FORWARD of table `ip filter`), set before the agents start.
   */
  forwardDrop?: boolean;
}

/** The ruleset `iptables -P FORWARD DROP` (and ip6tables) leaves with iptables-nft. */
export const FORWARD_DROP = ['ip', 'ip6'].map((f) => `table ${f} filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n`).join('');

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

function service(name: string, spec: Record<string, unknown>, dual: boolean): KubeObject {
  const stack = dual ? { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } : {};
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ...stack, ...spec } } as KubeObject;
}

type Fam = { 4?: string; 6?: string };

function byFamily(ips: string[]): Fam {
  const out: Fam = {};
  for (const ip of ips) out[ip.includes(':') ? 6 : 4] ??= ip;
  return out;
}

export interface RunningLab {
  cluster: LabCluster;
  /** `nodeway run` flags of each node's agent (also what `nodeway cleanup` needs). */
  agentFlags: string[][];
  /** The WireGuard interface of each node. */
  ifaces: string[];
  /** Every Service address and every endpoint address, as the rules must hold them. */
  programmed: { vips: string[]; endpoints: string[] };
  facts: LabFacts;
  /** What the paths run against (testbed/lab/paths.ts). */
  world: PathWorld;
  /** The paths' results, unless skipPaths. */
  results: PathResult[];
  stop(): Promise<void>;
}

/**
 * Waits until every node has programmed what the paths need — peers with a handshake, every
 * Service address and every endpoint in the proxy's rules, no module owing a change — by
 * reading state, never by sending the traffic that is measured.
 */
export async function settled(cluster: LabCluster, nodes: LabNode[], ifaces: string[], vips: string[], endpoints: string[], peers = nodes.length - 1): Promise<void> {
  for (const [i, n] of nodes.entries()) {
    await until(`${n.name}: WireGuard peers with a handshake`, async () => {
      const d = await cluster.lab.exec(n, 'wg', ['show', ifaces[i]!, 'latest-handshakes']);
      const hs = d.stdout.trim().split('\n').filter(Boolean).map((l) => Number(l.split('\t')[1]));
      return hs.length === peers && hs.every((t) => t > 0) ? true : undefined;
    }, 30_000);
    await until(`${n.name}: every Service address and endpoint in the proxy rules, no module owing a change`, async () => {
      const rules = (await cluster.lab.exec(n, 'nft', ['list', 'ruleset'])).stdout;
      const missing = [...vips, ...endpoints].filter((ip) => !rules.includes(ip));
      if (missing.length) return undefined;
      const ready = await cluster.httpGet(n, `http://${HEALTH}/readyz`);
      if (ready.status !== 200) return undefined;
      const body = JSON.parse(ready.body) as { modules: { pendingSince: number; synced: boolean }[] };
      return body.modules.every((m) => m.synced && m.pendingSince === 0) ? true : undefined;
    }, 30_000);
  }
}

/** Builds the lab and proves every path; on failure everything built so far is torn down. */
export async function startLab(dir: string, progress: Progress, opts: DemoOptions = {}): Promise<RunningLab> {
  const dual = opts.ipv6 ?? existsSync('/proc/net/if_inet6');
  const wgPrefix = opts.wgPrefix ?? `nwl${process.pid}-`;
  const ifaces = NODES.map((_, i) => `${wgPrefix}${i + 1}`);
  mkdirSync(dir, { recursive: true });
  const cluster = await step(progress, 'API server and lab network', () => LabCluster.create({ prefix: opts.prefix ?? 'lab', ipv6: dual }), (c) => `API server ${c.api.url}, namespaces ${c.lab.prefix}-*`);
  let stopController = () => {};
  const stop = async () => {
    stopController();
    await cluster.destroy();
    // wireguard-go killed with its namespace leaves its UAPI socket behind.
    for (const i of ifaces) rmSync(`/var/run/wireguard/${i}.sock`, { force: true });
  };
  try {
    const api = cluster.api;
    stopController = startSliceController(api);
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeconfig(), { mode: 0o600 });
    // The address kubelet would hand pods as their resolver; every agent answers it locally.
    const dnsIPs = dual ? [CLUSTER_DNS, CLUSTER_DNS_V6] : [CLUSTER_DNS];
    const dns = service('kube-dns', { clusterIP: CLUSTER_DNS, clusterIPs: dnsIPs, ports: [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }] }, dual);
    api.create({ ...dns, metadata: { name: 'kube-dns', namespace: 'kube-system' } } as KubeObject);
    const bin = cniBinDir();
    const nodes = await step(progress, 'three nodes (network namespaces on a bridge, 198.18.0.0/24), each with a default route', async () => {
      const out: LabNode[] = [];
      for (const name of NODES) out.push((await cluster.addNode(name, { zone: name === 'node-3' ? 'zone-b' : 'zone-a' })).node);
      return out;
    }, (ns) => ns.map((n) => `${n.name} ${n.ipv4}`).join(', '));
    const outside = await cluster.lab.addHost('outside');
    // Real nodes have a default route; host traffic to a ClusterIP or a LoadBalancer IP takes
    // it before the proxy rewrites the destination. It points at a lab host that forwards
    // nothing, so no packet leaves the lab.
    const router = await cluster.lab.addHost('router');
    for (const n of nodes) {
      await cluster.lab.exec(n, 'ip', ['route', 'add', 'default', 'via', router.ipv4], { check: true });
      if (dual && router.ipv6) await cluster.lab.exec(n, 'ip', ['-6', 'route', 'add', 'default', 'via', router.ipv6], { check: true });
    }
    // The outside host's load balancer: the LoadBalancer IP to node-2, the externalIP to node-3.
    for (const f of dual ? ([4, 6] as const) : ([4] as const)) {
      const via = (n: LabNode) => (f === 4 ? n.ipv4 : n.ipv6!);
      await cluster.lab.exec(outside, 'ip', [`-${f}`, 'route', 'add', LB_IP[f], 'via', via(nodes[1]!)], { check: true });
      await cluster.lab.exec(outside, 'ip', [`-${f}`, 'route', 'add', EXTERNAL_IP[f], 'via', via(nodes[2]!)], { check: true });
    }
    if (opts.forwardDrop) for (const n of nodes) await cluster.lab.nft(n, FORWARD_DROP);
    const agentFlags = nodes.map((n, i) => {
      const d = join(dir, n.name);
      return [
        // Every module, as the DaemonSet runs them (netpol on, with no policy in the demo).
        '--health-listen', HEALTH, '--log-level', 'info',
        ...dnsIPs.flatMap((ip) => ['--cluster-dns', ip]),
        '--cluster-cidr', dual ? `${CLUSTER_CIDR},${CLUSTER_CIDR_V6}` : CLUSTER_CIDR,
        '--state-dir', join(d, 'state'), '--cni-conf-dir', join(d, 'net.d'), '--cni-bin-dir', bin,
        '--wg-interface', ifaces[i]!, '--dns-upstream', '127.0.0.1:5301',
      ];
    });
    await step(progress, 'the agent on every node (proxy, dns, mesh, netpol)', async () => {
      nodes.forEach((n, i) => {
        cluster.startAgent(n.name, agentFlags[i]!, { onLine: (line) => writeLog(dir, n.name, line) });
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

    const pods = await step(progress, 'two echo pods per node and a client pod on node-1 (CNI plugins + the agent\'s conflist)', async () => {
      const made: { pod: CniPod; node: LabNode }[] = [];
      for (const n of nodes) {
        for (const k of [1, 2]) {
          const name = `echo-${n.name.slice(-1)}${k}`;
          const pod = await addCniPod(n, `${cluster.lab.prefix}-${n.name}-${name}`, join(dir, n.name, 'net.d'), bin);
          await cluster.lab.startEchoServer(pod.ns, { name, tcp: [PORT], udp: [PORT] });
          api.create({
            apiVersion: 'v1', kind: 'Pod',
            metadata: { name, namespace: 'default', labels: { app: 'echo' } },
            spec: { nodeName: n.name, hostname: name, subdomain: 'echo-headless', containers: [{ name: 'echo', image: 'nodeway-lab/echo', ports: [{ name: 'http', containerPort: PORT }] }] },
            status: { phase: 'Running', podIP: pod.ip, podIPs: pod.ips.map((ip) => ({ ip })), conditions: [{ type: 'Ready', status: 'True' }] },
          } as KubeObject);
          made.push({ pod: { ...pod, name }, node: n });
        }
      }
      return made;
    }, (m) => m.map((p) => `${p.pod.name} ${p.pod.ips.join(' ')}`).join(', '));
    const client = await addCniPod(nodes[0]!, `${cluster.lab.prefix}-node-1-client`, join(dir, 'node-1', 'net.d'), bin);

    const svcs = await step(progress, 'Services: echo (ClusterIP, TCP and UDP), echo-nodeport, echo-local (NodePort, Local policy), echo-lb (LoadBalancer), echo-external (externalIP), echo-headless', async () => {
      const ports = [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'udp', protocol: 'UDP', port: 80, targetPort: PORT }];
      const c = api.create(service('echo', { selector: { app: 'echo' }, ports }, dual));
      const np = api.create(service('echo-nodeport', { type: 'NodePort', selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: PORT }] }, dual));
      const local = api.create(service('echo-local', { type: 'NodePort', externalTrafficPolicy: 'Local', selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: PORT }] }, dual));
      const lbIPs = dual ? [LB_IP[4], LB_IP[6]] : [LB_IP[4]];
      const lb = api.create(service('echo-lb', { type: 'LoadBalancer', selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: PORT }] }, dual));
      api.updateStatus({ ...lb, status: { loadBalancer: { ingress: lbIPs.map((ip) => ({ ip })) } } } as KubeObject);
      const extIPs = dual ? [EXTERNAL_IP[4], EXTERNAL_IP[6]] : [EXTERNAL_IP[4]];
      api.create(service('echo-external', { selector: { app: 'echo' }, externalIPs: extIPs, ports: [{ name: 'http', port: 80, targetPort: PORT }] }, dual));
      api.create(service('echo-headless', { clusterIP: 'None', selector: { app: 'echo' }, ports: [{ name: 'http', port: PORT }] }, dual));
      const spec = (o: KubeObject) => (o as unknown as { spec: { clusterIP: string; clusterIPs?: string[]; ports: { nodePort?: number }[] } }).spec;
      return {
        clusterIP: byFamily(spec(c).clusterIPs ?? [spec(c).clusterIP]), nodeIP: spec(np).clusterIP, lbClusterIP: spec(lb).clusterIP,
        nodePort: spec(np).ports[0]!.nodePort!, localPort: spec(local).ports[0]!.nodePort!, lbIPs, extIPs,
      };
    }, (s) => `echo ${Object.values(s.clusterIP).join(' ')} port 80, NodePorts ${s.nodePort} (Cluster) and ${s.localPort} (Local), LoadBalancer ${s.lbIPs.join(' ')}, externalIP ${s.extIPs.join(' ')}`);

    const fams = (dual ? [4, 6] : [4]) as Family[];
    // A pod's reverse names (CoreDNS's endpoint PTRs): one per Service it backs, its hostname
    // under the headless Service it names as subdomain, its dashed IP under the others.
    const ptrPod = pods.find((p) => p.node.name === 'node-2')!;
    const dashed = (ip: string) => ip.replace(/[.:]/g, '-').replace(/-$/, '-0').replace(/^-/, '0-');
    const ptrNames = (pod: string, ip: string) => [
      `${pod}.echo-headless.default.svc.${DOMAIN}.`,
      ...['echo', 'echo-nodeport', 'echo-local', 'echo-lb', 'echo-external'].map((svc) => `${dashed(ip)}.${svc}.default.svc.${DOMAIN}.`),
    ];
    const gw = (n: LabNode): Fam => ({ 4: n.podCidrV4 ? n.podCidrV4.replace(/\.0\/24$/, '.1') : undefined, ...(dual && n.podCidrV6 ? { 6: n.podCidrV6.replace(/::\/64$/, '::1') } : {}) });
    const world: PathWorld = {
      families: fams,
      nodes: nodes.map((n) => ({ name: n.name, ns: n.ns, ips: { 4: n.ipv4, ...(dual ? { 6: n.ipv6 } : {}) }, gateways: gw(n) })),
      outside: { ns: outside.ns, ips: { 4: outside.ipv4, ...(dual ? { 6: outside.ipv6 } : {}) } },
      client: { ns: client.ns, ips: byFamily(client.ips) },
      echo: pods.map((p) => ({ name: p.pod.name, node: p.node.name, ns: p.pod.ns, ips: byFamily(p.pod.ips) })),
      port: PORT,
      svc: {
        clusterIP: svcs.clusterIP, nodePortCluster: svcs.nodePort, nodePortLocal: svcs.localPort,
        lbIP: byFamily(svcs.lbIPs), lbVia: 1, externalIP: byFamily(svcs.extIPs), externalVia: 2,
        dns: byFamily(dnsIPs), dnsName: `echo.default.svc.${DOMAIN}`,
        ptr: { clusterIP: `echo.default.svc.${DOMAIN}.`, pod: ptrPod.pod.name!, podNames: Object.fromEntries(fams.map((f) => [f, ptrNames(ptrPod.pod.name!, byFamily(ptrPod.pod.ips)[f]!)])) },
      },
    };

    const programmed = { vips: [...Object.values(svcs.clusterIP), ...svcs.lbIPs, ...svcs.extIPs], endpoints: pods.flatMap((p) => p.pod.ips) };
    await step(progress, 'every node programmed: peers with a handshake, every Service address and endpoint in the rules', () =>
      settled(cluster, nodes, ifaces, programmed.vips, programmed.endpoints));

    const checks: { what: string; result: string }[] = [];
    const n = opts.requests ?? REQUESTS;
    let results: PathResult[] = [];
    if (!opts.skipPaths) {
      // One line per path as it completes: the counts are the proof, a failure names itself.
      progress({ step: `every path, ${n} requests each (each a new connection), no retries`, status: 'start' });
      results = await runMatrix(cluster.lab, matrix(world), n, 4, (r) => {
        const bad = problems(r);
        const step = `IPv${r.spec.family} ${r.spec.from} → ${r.spec.to}`;
        progress(bad.length ? { step, status: 'fail', detail: `${summary(r)}: ${bad.join('; ')}` } : { step, status: 'ok', detail: summary(r) });
      });
      const answered = results.reduce((a, r) => a + r.answered, 0);
      const sent = results.reduce((a, r) => a + r.sent, 0);
      const bad = results.filter((r) => problems(r).length > 0);
      checks.push({ what: `${results.length} paths (${fams.map((f) => `IPv${f}`).join(' and ')}), ${n} requests each`, result: `${answered}/${sent} answered${bad.length ? `; ${bad.length} paths failed` : ', every path by every pod its policy allows'}` });
      if (bad.length) {
        const err = new Error(`${bad.length} of ${results.length} paths failed: ${bad.map((r) => `IPv${r.spec.family} ${r.spec.from} → ${r.spec.to}`).join(', ')}`);
        progress({ step: 'every path', status: 'fail', detail: err.message });
        throw err;
      }
    }

    const facts: LabFacts = {
      prefix: cluster.lab.prefix,
      apiserver: api.url,
      kubeconfig,
      nodes: nodes.map((x, i) => ({ name: x.name, ip: x.ipv4, podCIDR: x.podCidrV4 ?? '', ns: x.ns, iface: ifaces[i]! })),
      outside: { ns: outside.ns, ip: outside.ipv4 },
      services: [
        { name: 'echo', clusterIP: Object.values(svcs.clusterIP).join(', ') },
        { name: 'echo-nodeport', clusterIP: svcs.nodeIP, nodePort: svcs.nodePort },
        { name: 'echo-local (Local policy)', clusterIP: '', nodePort: svcs.localPort },
        { name: 'echo-lb', clusterIP: `${svcs.lbClusterIP}, LoadBalancer ${svcs.lbIPs.join(', ')}` },
        { name: 'echo-external', clusterIP: `externalIP ${svcs.extIPs.join(', ')}` },
        { name: 'echo-headless', clusterIP: 'None' },
        { name: 'kube-dns (kube-system)', clusterIP: dnsIPs.join(', ') },
      ],
      checks,
    };
    return { cluster, agentFlags, ifaces, programmed, facts, world, results, stop };
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
