// A small Kubernetes cluster made of network namespaces: the embedded API server in this
// process, nodes as lab namespaces that reach it through a Unix-socket bridge, Node objects
// that describe them, and the real agent run inside each node. Shared by the end-to-end tests
// and the `nodeway lab` demo.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedApiServer } from '../apiserver/index.ts';
import type { LabNode } from './endpoints.ts';
import { Lab, type LabOptions } from './lab.ts';
import type { LabProcess, SpawnOptions } from './process.ts';
import { bridgeToUnixSocket } from './unix-bridge.ts';
import { workloadPaths } from './workloads.ts';

/** Where every lab node finds the API server (its own loopback, bridged to the Unix socket). */
export const LAB_APISERVER = '127.0.0.1:6443';

export interface ClusterNodeOptions {
  zone?: string;
  /** Node.spec.podCIDRs; default: the lab's pod CIDRs for this node. */
  podCIDRs?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Create the Node object (default true). */
  register?: boolean;
}

export interface ClusterNode {
  node: LabNode;
  kubeconfig: string;
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'nodeway') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the nodeway package root');
    dir = up;
  }
}

export class LabCluster {
  readonly lab: Lab;
  readonly api: EmbeddedApiServer;
  readonly dir: string;
  readonly nodes = new Map<string, ClusterNode>();

  private constructor(lab: Lab, api: EmbeddedApiServer, dir: string) {
    this.lab = lab;
    this.api = api;
    this.dir = dir;
  }

  static async create(opts: LabOptions & { apiserverAudit?: boolean } = {}): Promise<LabCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'nodeway-lab-'));
    const api = new EmbeddedApiServer({ socketPath: join(dir, 'apiserver.sock'), bookmarkIntervalMs: 5_000, audit: opts.apiserverAudit });
    let lab: Lab | undefined;
    try {
      await api.start();
      lab = await Lab.create(opts);
      return new LabCluster(lab, api, dir);
    } catch (err) {
      await lab?.destroy();
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** A lab node with an API server bridge, a kubeconfig file and (by default) its Node object. */
  async addNode(name: string, opts: ClusterNodeOptions = {}): Promise<ClusterNode> {
    const node = await this.lab.addNode(name);
    await bridgeToUnixSocket(this.lab, node, LAB_APISERVER, join(this.dir, 'apiserver.sock'));
    const kubeconfig = join(this.dir, `${name}.kubeconfig`);
    writeFileSync(kubeconfig, this.api.kubeconfig({ server: `http://${LAB_APISERVER}`, user: `system:node:${name}` }));
    const cn = { node, kubeconfig };
    this.nodes.set(name, cn);
    if (opts.register ?? true) this.api.create(this.nodeObject(cn, opts));
    return cn;
  }

  nodeObject(cn: ClusterNode, opts: ClusterNodeOptions = {}): Record<string, unknown> {
    const { node } = cn;
    const podCIDRs = opts.podCIDRs ?? [node.podCidrV4, node.podCidrV6].filter((c): c is string => Boolean(c));
    const labels: Record<string, string> = { 'kubernetes.io/hostname': node.name, ...opts.labels };
    if (opts.zone) labels['topology.kubernetes.io/zone'] = opts.zone;
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node.name, labels, annotations: opts.annotations ?? {} },
      spec: { podCIDR: podCIDRs[0], podCIDRs },
      status: {
        addresses: [
          { type: 'InternalIP', address: node.ipv4 },
          ...(node.ipv6 ? [{ type: 'InternalIP', address: node.ipv6 }] : []),
          { type: 'Hostname', address: node.name },
        ],
      },
    };
  }

  /** The built agent (bin/nodeway → dist/nodeway.mjs; run `npm run build` first) inside a node. */
  startAgent(name: string, args: string[], opts?: SpawnOptions): LabProcess {
    const cn = this.nodes.get(name);
    if (!cn) throw new Error(`no lab node ${name}`);
    const bin = join(repoRoot(), 'bin', 'nodeway');
    if (!existsSync(join(repoRoot(), 'dist', 'nodeway.mjs'))) throw new Error('dist/nodeway.mjs is missing: run npm run build');
    return this.lab.spawn(cn.node, bin, ['run', '--node-name', name, '--kubeconfig', cn.kubeconfig, ...args], opts);
  }

  /** Runs a nodeway subcommand (view, cleanup …) inside a node and returns its output. */
  async nodeway(name: string, args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const cn = this.nodes.get(name);
    if (!cn) throw new Error(`no lab node ${name}`);
    const r = await this.lab.exec(cn.node, join(repoRoot(), 'bin', 'nodeway'), [...args, '--node-name', name, '--kubeconfig', cn.kubeconfig], { timeoutMs: 60_000 });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
  }

  /** HTTP GET from inside a namespace (health endpoints, NodePorts): status and body. */
  async httpGet(where: LabNode | string, url: string): Promise<{ status: number; body: string }> {
    const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(5000) }).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })), (e) => console.log(JSON.stringify({ status: 0, body: String(e.cause?.code ?? e) })))`;
    const r = await this.lab.exec(where, workloadPaths().node, ['-e', script], { timeoutMs: 10_000 });
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{"status":0,"body":""}') as { status: number; body: string };
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
    await this.api.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
