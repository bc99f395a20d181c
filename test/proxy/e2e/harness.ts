// A proxy lab: the embedded API server, node "a" running the built agent with the proxy module,
// node "b" holding remote pods, and two hosts outside the cluster on the same segment. Every
// address is in 198.18.0.0/15; ClusterIPs come from 198.19.0.0/24 (no pod CIDR is there).
import { sleep, waitFor as waitUntil } from '../../support/wait.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAgent } from '../../support/agent.ts';
import { EmbeddedApiServer, type KubeObject } from '../../../testbed/apiserver/index.ts';
import { Lab, type LabNode, type LabPod, type LabProcess, type NsRef, type ProbeResult, type ProbeTarget } from '../../../testbed/lab/index.ts';
import { bridgeToUnixSocket } from '../../../testbed/lab/unix-bridge.ts';
import { nsExec } from '../../../testbed/lab/run.ts';
import { workloadPaths } from '../../../testbed/lab/workloads.ts';

const API_LISTEN = '127.0.0.1:6443';
export const HEALTH = '127.0.0.1:10256';
export const LB_NET = '198.18.10.0/24';
export const LB_NET6 = 'fd00:198:18:10::/64';
export const ZONE = 'zone-a';

export { sleep };

export function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  return waitUntil(what, fn, timeoutMs, everyMs);
}

/** The agent bundled as the product builds it; modules/index.ts wires the proxy module. */
export { buildAgent };

export interface EpSpec {
  ip: string;
  node: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zones?: string[];
}

export interface PortSpec {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port: number;
}

export class ProxyLab {
  readonly api = new EmbeddedApiServer({ serviceCIDRs: ['198.19.0.0/24', 'fd00:198:19::/112'], bookmarkIntervalMs: 1000 });
  readonly tmp = mkdtempSync(join(tmpdir(), 'nodeway-proxy-lab-'));
  lab!: Lab;
  a!: LabNode;
  b!: LabNode;
  out!: LabNode;
  out2!: LabNode;
  agent: LabProcess | undefined;
  agentLog = '';
  private bin = '';
  private kubeconfig = '';
  private socketServer: Server | undefined;

  async start(): Promise<void> {
    this.bin = await buildAgent();
    await this.api.start();
    const { port } = new URL(this.api.url);
    const socket = join(this.tmp, 'api.sock');
    // Lab node 127.0.0.1:6443 → Unix socket (a file every namespace reaches) → the API server here.
    this.socketServer = createServer((c) => {
      const u = connect(Number(port), '127.0.0.1');
      c.pipe(u).pipe(c);
      const end = () => (c.destroy(), u.destroy());
      c.on('error', end);
      u.on('error', end);
      c.on('close', end);
      u.on('close', end);
    });
    await new Promise<void>((r) => this.socketServer!.listen(socket, r));
    this.kubeconfig = join(this.tmp, 'kubeconfig');
    writeFileSync(this.kubeconfig, this.api.kubeconfig());
    this.lab = await Lab.create({ prefix: 'pxy' });
    this.a = await this.lab.addNode('a');
    this.b = await this.lab.addNode('b');
    this.out = await this.lab.addHost('out');
    this.out2 = await this.lab.addHost('out2');
    await this.lab.routePodCidrs();
    // ClusterIPs route somewhere on a real node (a default route); here to a neighbour nobody
    // answers for, so packets no rule takes reach the forward/output hooks as in a cluster.
    await this.a.exec('sh', ['-c', `ip route add 198.19.0.0/24 via 198.18.0.250 && ip route add ${LB_NET} via 198.18.0.250 && ip -6 route add fd00:198:19::/112 via fd00:198:18::fa && ip -6 route add ${LB_NET6} via fd00:198:18::fa`], { check: true });
    for (const h of [this.out, this.out2]) {
      await h.exec(
        'sh',
        ['-c', `ip route add 198.19.0.0/24 via ${this.a.ipv4} && ip route add ${LB_NET} via ${this.a.ipv4} && ip -6 route add ${LB_NET6} via ${this.a.ipv6} && ip -6 route add fd00:198:19::/112 via ${this.a.ipv6}`],
        { check: true },
      );
    }
    for (const n of [this.a, this.b]) {
      this.api.create({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n.name, labels: { 'topology.kubernetes.io/zone': n === this.a ? ZONE : 'zone-b' } },
        spec: { podCIDR: n.podCidrV4, podCIDRs: [n.podCidrV4, n.podCidrV6] },
      });
      this.api.patch('v1', 'nodes', undefined, n.name, { status: { addresses: [{ type: 'InternalIP', address: n.ipv4 }, { type: 'InternalIP', address: n.ipv6 }, { type: 'Hostname', address: n.name }] } }, 'merge', { subresource: 'status' });
    }
    await bridgeToUnixSocket(this.lab, this.a, API_LISTEN, socket);
  }

  async startAgent(extra: string[] = []): Promise<void> {
    const args = [
      '--enable-source-maps', this.bin, 'run', '--modules', 'proxy', '--node-name', 'a', '--kubeconfig', this.kubeconfig,
      '--apiserver', `http://${API_LISTEN}`, '--health-listen', HEALTH, '--min-sync-interval', '20', '--log-level', 'info', ...extra,
    ];
    const agent = this.lab.spawn(this.a, workloadPaths().node, args);
    this.agent = agent;
    await waitFor('the agent to be ready', async () => (await this.http(this.a, `http://${HEALTH}/readyz`)).status === 200, 20_000, 200);
  }

  async stopAgent(): Promise<void> {
    const a = this.agent;
    this.agent = undefined;
    await a?.stop(5_000);
  }

  /** `nodeway cleanup --modules proxy` on node a. */
  async cleanup(): Promise<string> {
    const r = await nsExec(this.a.ns, workloadPaths().node, [this.bin, 'cleanup', '--modules', 'proxy', '--node-name', 'a']);
    if (r.exitCode !== 0) throw new Error(`cleanup failed: ${r.stderr}`);
    return r.stderr;
  }

  async pod(node: LabNode, name: string, tcp = [8080], udp = [5353]): Promise<LabPod> {
    const p = await this.lab.addPod(node, name);
    await p.startEchoServer({ name, tcp, udp });
    return p;
  }

  service(name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}, status?: Record<string, unknown>): KubeObject {
    const obj = this.api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', labels }, spec });
    if (status) return this.api.updateStatus({ ...obj, status });
    return obj;
  }

  patchService(name: string, patch: Record<string, unknown>): KubeObject {
    return this.api.patch('v1', 'services', 'default', name, patch, 'merge');
  }

  /** Creates or replaces an EndpointSlice of a Service. */
  slice(service: string, name: string, family: 4 | 6, ports: PortSpec[], eps: EpSpec[]): void {
    const obj = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
      addressType: family === 4 ? 'IPv4' : 'IPv6',
      ports: ports.map((p) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.port })),
      endpoints: eps.map((e) => ({
        addresses: [e.ip],
        nodeName: e.node,
        conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
        ...(e.zones ? { hints: { forZones: e.zones.map((z) => ({ name: z })) } } : {}),
      })),
    };
    try {
      const cur = this.api.get('discovery.k8s.io/v1', 'endpointslices', 'default', name);
      this.api.update({ ...obj, metadata: { ...obj.metadata, resourceVersion: cur.metadata?.resourceVersion } });
    } catch {
      this.api.create(obj);
    }
  }

  deleteSlice(name: string): void {
    this.api.delete('discovery.k8s.io/v1', 'endpointslices', 'default', name);
  }

  probe(from: NsRef, t: ProbeTarget): Promise<ProbeResult> {
    return this.lab.probe(from, { timeoutMs: 600, ...t });
  }

  /** Probes until `ok(result)`; returns that result. */
  until(what: string, from: NsRef, t: ProbeTarget, ok: (r: ProbeResult) => boolean, timeoutMs = 10_000): Promise<ProbeResult> {
    let last = '';
    return waitFor(`${what} (last probe: ${JSON.stringify(last)})`, async () => {
      const r = await this.probe(from, t);
      last = r.line;
      if (!ok(r)) throw new Error(r.line);
      return r;
    }, timeoutMs, 50);
  }

  /** Names of the backends that answered `count` sequential attempts. */
  async backends(from: NsRef, t: ProbeTarget, count: number): Promise<Map<string, number>> {
    const rs = await this.lab.probeMany(from, { timeoutMs: 1000, ...t }, count);
    const out = new Map<string, number>();
    for (const r of rs) out.set(r.outcome === 'ok' ? r.name! : r.outcome, (out.get(r.outcome === 'ok' ? r.name! : r.outcome) ?? 0) + 1);
    return out;
  }

  async http(from: NsRef, url: string): Promise<{ status: number; body: string }> {
    const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(2000) }).then(async (r) => { process.stdout.write(r.status + '\\n' + await r.text()); }, (e) => { process.stdout.write('0\\n' + e.message); })`;
    const r = await this.lab.exec(from, workloadPaths().node, ['-e', script]);
    const [status = '0', ...body] = r.stdout.split('\n');
    return { status: Number(status), body: body.join('\n') };
  }

  async nft(...args: string[]): Promise<string> {
    return (await this.a.exec('nft', args, { check: true })).stdout;
  }

  async destroy(): Promise<void> {
    await this.stopAgent().catch(() => undefined);
    await this.lab?.destroy();
    await this.api.stop().catch(() => undefined);
    this.socketServer?.close();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

export function clusterIP(svc: KubeObject, family: 4 | 6 = 4): string {
  const ips = ((svc.spec as { clusterIPs?: string[] }).clusterIPs ?? []) as string[];
  return ips.find((ip) => (family === 4 ? !ip.includes(':') : ip.includes(':'))) ?? '';
}

export function nodePort(svc: KubeObject, i = 0): number {
  return ((svc.spec as { ports: { nodePort?: number }[] }).ports[i]?.nodePort ?? 0) as number;
}
