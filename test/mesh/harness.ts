// A mesh lab: the embedded API server, lab nodes each running the built agent with the mesh
// module (wireguard-go as the real WireGuard), and pods made by executing the standard CNI
// plugins with the conflist the agent wrote, as a container runtime does. Every address is in
// 198.18.0.0/15; every interface, namespace and UAPI socket carries this run's prefix.
import { sleep, waitFor as waitUntil } from '../support/wait.ts';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAgent } from '../support/agent.ts';
import { EmbeddedApiServer } from '../../testbed/apiserver/index.ts';
import { Lab, LabNode, LabProcess } from '../../testbed/lab/index.ts';
import { bridgeToUnixSocket } from '../../testbed/lab/unix-bridge.ts';
import { nsExec, pingCommand, run } from '../../testbed/lab/run.ts';
import { probeArgs, probeBudgetMs, parseProbeLine, workloadPaths, type ProbeResult, type ProbeTarget, echoServerArgs } from '../../testbed/lab/workloads.ts';
import { ANN } from '../../modules/mesh/annotations.ts';
import { parseDump, type DeviceState } from '../../modules/mesh/wg.ts';

export const CNI_BIN = '/usr/lib/cni';
export const CLUSTER_CIDR = '198.18.128.0/17';
const API_LISTEN = '127.0.0.1:6443';

export { sleep };

export function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  return waitUntil(what, fn, timeoutMs, everyMs);
}

/** The agent bundled as the product builds it; modules/index.ts wires the mesh module. */
export { buildAgent };

export interface MeshNode {
  name: string;
  lab: LabNode;
  iface: string;
  stateDir: string;
  confDir: string;
  podCIDR: string | undefined;
  agent: LabProcess | undefined;
  pods: Pod[];
}

export interface Pod {
  name: string;
  ns: string;
  node: MeshNode;
  ip: string;
  containerId: string;
}

export class MeshLab {
  readonly api = new EmbeddedApiServer();
  readonly tag = randomBytes(3).toString('hex');
  readonly tmp = mkdtempSync(join(tmpdir(), 'nodeway-mesh-lab-'));
  readonly nodes = new Map<string, MeshNode>();
  lab!: Lab;
  outside!: LabNode;
  private proxy: Server | undefined;
  private socket = '';
  private kubeconfig = '';
  private agentBin = '';
  private readonly extra: LabProcess[] = [];

  async start(): Promise<void> {
    this.agentBin = await buildAgent();
    await this.api.start();
    const { port } = new URL(this.api.url);
    this.socket = join(this.tmp, 'api.sock');
    // The agents live in lab namespaces; the API server listens on this namespace's loopback.
    // A Unix socket is a file every namespace can reach: lab node 127.0.0.1:6443 → socket → here.
    this.proxy = createServer((c) => {
      const u = connect(Number(port), '127.0.0.1');
      c.pipe(u).pipe(c);
      const end = () => (c.destroy(), u.destroy());
      c.on('error', end);
      u.on('error', end);
      c.on('close', end);
      u.on('close', end);
    });
    await new Promise<void>((r) => this.proxy!.listen(this.socket, r));
    this.kubeconfig = join(this.tmp, 'kubeconfig');
    writeFileSync(this.kubeconfig, this.api.kubeconfig());
    this.lab = await Lab.create({ prefix: 'mesh', ipv6: false });
    this.outside = await this.lab.addHost('outside');
  }

  /** The n-th node gets 198.18.(128+n).0/24; podCIDR null = none assigned yet. */
  async addNode(name: string, podCIDR?: string | null): Promise<MeshNode> {
    const lab = await this.lab.addNode(name);
    const cidr = podCIDR === null ? undefined : (podCIDR ?? `198.18.${128 + lab.index}.0/24`);
    const dir = join(this.tmp, name);
    const n: MeshNode = {
      name, lab, iface: `nwm-${this.tag}-${lab.index}`, stateDir: join(dir, 'state'), confDir: join(dir, 'net.d'), podCIDR: cidr, agent: undefined, pods: [],
    };
    this.nodes.set(name, n);
    this.api.create({
      apiVersion: 'v1', kind: 'Node', metadata: { name },
      spec: cidr ? { podCIDR: cidr, podCIDRs: [cidr] } : {},
    });
    this.api.patch('v1', 'nodes', undefined, name, { status: {
        addresses: [{ type: 'InternalIP', address: lab.ipv4 }, { type: 'Hostname', address: name }],
        conditions: [{ type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated', message: 'no network yet' }],
      } }, 'merge', { subresource: 'status' });
    await bridgeToUnixSocket(this.lab, lab, API_LISTEN, this.socket);
    return n;
  }

  setPodCIDR(n: MeshNode, cidr: string): void {
    this.api.patch('v1', 'nodes', undefined, n.name, { spec: { podCIDR: cidr, podCIDRs: [cidr] } }, 'merge');
    n.podCIDR = cidr;
  }

  startAgent(n: MeshNode, extraArgs: string[] = []): LabProcess {
    const args = [
      '--enable-source-maps', this.agentBin, 'run', '--modules', 'mesh', '--node-name', n.name,
      '--kubeconfig', this.kubeconfig, '--apiserver', `http://${API_LISTEN}`,
      '--state-dir', n.stateDir, '--cni-conf-dir', n.confDir, '--cni-bin-dir', CNI_BIN,
      '--health-listen', '127.0.0.1:10256', '--wg-interface', n.iface, '--cluster-cidr', CLUSTER_CIDR,
      '--log-level', 'debug', ...extraArgs,
    ];
    n.agent = this.lab.spawn(n.lab, workloadPaths().node, args);
    return n.agent;
  }

  async stopAgent(n: MeshNode, how: 'term' | 'kill' = 'term'): Promise<void> {
    const a = n.agent;
    n.agent = undefined;
    if (!a) return;
    if (how === 'kill') a.killNow();
    await a.stop(5_000);
  }

  /** `nodeway cleanup --modules mesh` with the node's flags. */
  async cleanupNode(n: MeshNode): Promise<string> {
    const r = await nsExec(n.lab.ns, workloadPaths().node, [
      this.agentBin, 'cleanup', '--modules', 'mesh', '--node-name', n.name, '--state-dir', n.stateDir,
      '--cni-conf-dir', n.confDir, '--wg-interface', n.iface, '--log-level', 'info',
    ]);
    if (r.exitCode !== 0) throw new Error(`cleanup failed: ${r.stderr}`);
    return r.stderr;
  }

  async dump(n: MeshNode): Promise<DeviceState> {
    const r = await nsExec(n.lab.ns, 'wg', ['show', n.iface, 'dump']);
    if (r.exitCode !== 0) throw new Error(`wg show ${n.iface}: ${r.stderr}`);
    return parseDump(r.stdout);
  }

  /** What a failing test needs to see: devices, routes, rules, recent agent logs. */
  async diag(nodes: MeshNode[] = [...this.nodes.values()]): Promise<string> {
    const out: string[] = [];
    for (const n of nodes) {
      for (const c of [['wg', 'show', n.iface], ['ip', 'route'], ['ip', '-s', 'link'], ['nft', 'list', 'ruleset']]) {
        const r = await nsExec(n.lab.ns, c[0]!, c.slice(1));
        out.push(`== ${n.name}: ${c.join(' ')}\n${r.stdout}${r.stderr}`);
      }
      out.push(`== ${n.name} agent log (tail)\n${n.agent?.lines.slice(-15).join('\n') ?? '(not running)'}`);
    }
    return out.join('\n');
  }

  annotations(name: string): Record<string, string> {
    return (this.api.get('v1', 'nodes', undefined, name).metadata?.annotations ?? {}) as Record<string, string>;
  }

  publicKey(name: string): string | undefined {
    return this.annotations(name)[ANN.publicKey];
  }

  /** GET on the agent's health server, from inside its node. */
  async http(n: MeshNode, path: string): Promise<{ status: number; body: string }> {
    const script = `fetch('http://127.0.0.1:10256${path}').then(async (r) => { process.stdout.write(r.status + '\\n' + await r.text()); }, (e) => { process.stdout.write('0\\n' + e.message); })`;
    const r = await nsExec(n.lab.ns, workloadPaths().node, ['-e', script]);
    const [status = '0', ...body] = r.stdout.split('\n');
    return { status: Number(status), body: body.join('\n') };
  }

  /** Waits for the conflist, then creates a pod the way a runtime does: loopback, then the chain. */
  async addPod(n: MeshNode, name: string): Promise<Pod> {
    const file = join(n.confDir, '10-nodeway.conflist');
    const text = await waitFor(`conflist on ${n.name}`, () => (existsSync(file) ? readFileSync(file, 'utf8') : undefined));
    const conf = JSON.parse(text) as { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
    const ns = `${this.lab.prefix}-${n.name}-${name}`;
    await run('ip', ['netns', 'add', ns], { check: true });
    const containerId = `${this.tag}${n.name}${name}`;
    const env = (ifname: string) => ({
      CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: `/var/run/netns/${ns}`, CNI_IFNAME: ifname, CNI_PATH: CNI_BIN,
    });
    await this.plugin(n, { cniVersion: conf.cniVersion, name: 'cni-loopback', type: 'loopback' }, env('lo'));
    let prev: Record<string, unknown> | undefined;
    for (const p of conf.plugins) {
      prev = await this.plugin(n, { ...p, name: conf.name, cniVersion: conf.cniVersion, ...(prev ? { prevResult: prev } : {}) }, env('eth0'));
    }
    const ips = (prev?.ips ?? []) as { address: string }[];
    const ip = ips[0]?.address.split('/')[0];
    if (!ip) throw new Error(`CNI ADD gave ${name} no address: ${JSON.stringify(prev)}`);
    const pod: Pod = { name, ns, node: n, ip, containerId };
    n.pods.push(pod);
    return pod;
  }

  async delPod(pod: Pod): Promise<void> {
    const text = readFileSync(join(pod.node.confDir, '10-nodeway.conflist'), 'utf8');
    const conf = JSON.parse(text) as { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
    const env = { CNI_COMMAND: 'DEL', CNI_CONTAINERID: pod.containerId, CNI_NETNS: `/var/run/netns/${pod.ns}`, CNI_IFNAME: 'eth0', CNI_PATH: CNI_BIN };
    for (const p of [...conf.plugins].reverse()) await this.plugin(pod.node, { ...p, name: conf.name, cniVersion: conf.cniVersion }, env);
    await run('ip', ['netns', 'del', pod.ns]);
    pod.node.pods = pod.node.pods.filter((p) => p !== pod);
  }

  private async plugin(n: MeshNode, conf: Record<string, unknown>, env: Record<string, string>): Promise<Record<string, unknown>> {
    const r = await run('ip', ['netns', 'exec', n.lab.ns, join(CNI_BIN, String(conf.type))], { input: JSON.stringify(conf), env });
    if (r.exitCode !== 0) throw new Error(`CNI ${env.CNI_COMMAND} ${String(conf.type)} on ${n.name}: ${r.stdout} ${r.stderr}`);
    return r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : {};
  }

  exec(ns: string, cmd: string, args: string[], timeoutMs = 15_000) {
    return nsExec(ns, cmd, args, { timeoutMs });
  }

  /**
   * Pods of `a` and `b` can talk, by the state that makes them: each device peers the other
   * with its pod CIDR and has a handshake with it (WireGuard reports one only for a session it
   * can send on: crossed initiations show none), and each agent has reported that handshake
   * in its metrics — from a device read made after the sync that set the peer finished, so
   * every applier (routes, nft, conflist) ran. Traffic is sent after this, never retried into
   * success.
   */
  async sessionUp(a: MeshNode, b: MeshNode, timeoutMs = 20_000): Promise<void> {
    await waitFor(`a session between ${a.name} and ${b.name}`, async () => {
      for (const [x, y] of [[a, b], [b, a]] as const) {
        const key = this.publicKey(y.name);
        if (!key) return false;
        const p = (await this.dump(x)).peers.get(key);
        if (!p?.latestHandshake || (y.podCIDR && !p.allowedIPs.includes(y.podCIDR))) return false;
        const metrics = (await this.http(x, '/metrics')).body;
        const series = `nodeway_mesh_peer_handshake_age_seconds{peer="${y.name}",public_key="${key}"} `;
        const line = metrics.split('\n').find((l) => l.startsWith(series));
        if (!line || Number(line.slice(series.length)) < 0) return false;
      }
      return true;
    }, timeoutMs, 200);
  }

  /** `count` pings, 0.2 s apart, each given a second: how many were sent and answered. */
  async pings(ns: string, ip: string, count = 5): Promise<{ sent: number; received: number }> {
    const [cmd = 'ping', ...pre] = pingCommand();
    const r = await nsExec(ns, cmd, [...pre, '-q', '-c', String(count), '-i', '0.2', '-W', '1', ip], { timeoutMs: (count + 5) * 1000 });
    // iputils: "5 packets transmitted, 5 received"; BusyBox: "… 5 packets received".
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout);
    if (!m) throw new Error(`no ping summary from ${ns} to ${ip}: ${r.stdout} ${r.stderr}`);
    return { sent: Number(m[1]), received: Number(m[2]) };
  }

  async ping(ns: string, ip: string, timeoutS = 1): Promise<boolean> {
    const [cmd = 'ping', ...pre] = pingCommand();
    const r = await nsExec(ns, cmd, [...pre, '-q', '-c', '1', '-W', String(timeoutS), ip], { timeoutMs: (timeoutS + 3) * 1000 });
    return r.exitCode === 0;
  }

  /** A long-running process in any namespace of this lab (pods included); stopped at the end. */
  spawn(ns: string, cmd: string, args: string[]): LabProcess {
    const p = new LabProcess(ns, cmd, args);
    this.extra.push(p);
    return p;
  }

  async echoServer(ns: string, name: string, tcp: number): Promise<LabProcess> {
    const p = this.spawn(ns, workloadPaths().node, echoServerArgs(name, { tcp: [tcp] }));
    await p.waitForLine(/^ready /, 10_000);
    return p;
  }

  async probe(ns: string, t: ProbeTarget): Promise<ProbeResult> {
    const r = await nsExec(ns, workloadPaths().node, probeArgs(t, 1), { timeoutMs: probeBudgetMs(t, 1) });
    return parseProbeLine(r.stdout.split('\n')[0] ?? '');
  }

  async destroy(): Promise<void> {
    await Promise.all(this.extra.map((p) => p.stop(200).catch(() => undefined)));
    // Namespaces go with their processes (agents, wireguard-go) and veths.
    await this.lab?.destroy();
    // UAPI sockets are files in a directory every namespace shares.
    for (const f of existsSync('/var/run/wireguard') ? readdirSync('/var/run/wireguard') : []) {
      if (f.startsWith(`nwm-${this.tag}-`)) rmSync(join('/var/run/wireguard', f), { force: true });
    }
    await this.api.stop();
    await new Promise<void>((r) => (this.proxy ? this.proxy.close(() => r()) : r()));
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
