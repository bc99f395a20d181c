import { NODE_NET_V4, NODE_NET_V6, parseCidr, podAddrV4, podAddrV6, podCidrV4, podCidrV6 } from './addresses.ts';
import { listNetnsSync, removeNetns, removeNetnsSync, trackLive, untrackLive } from './cleanup.ts';
import { LabNode, LabPod, nsName, type NsRef } from './endpoints.ts';
import { checkName, ifname, makePrefix } from './names.ts';
import { LabProcess, type SpawnOptions } from './process.ts';
import { type ExecOptions, type ExecResult, ipBatch, listNetns, nsExec, pingCommand, run, sysctl } from './run.ts';
import {
  type EchoServerOptions,
  type ProbeResult,
  type ProbeTarget,
  echoServerArgs,
  parseProbeLine,
  probeArgs,
  probeBudgetMs,
  workloadPaths,
} from './workloads.ts';
import { podNodeSideLines, podSideLines, portLines, stationLines, switchLines } from './wiring.ts';

export interface LabOptions {
  /** Up to 8 [a-z0-9] characters put into every namespace name, to tell labs apart. */
  prefix?: string;
  /** Give nodes, hosts and pods IPv6 addresses too (default true). */
  ipv6?: boolean;
}

export interface AddressOptions {
  /** "198.18.0.7" or with a length ("198.18.0.7/24"); auto-assigned when left out. */
  ipv4?: string;
  ipv6?: string;
}

/**
 * A throw-away network: a "switch" namespace holding a bridge, nodes and hosts
 * joined to it by veths, and pods behind their nodes. Nothing in it has a
 * route out, so no packet can leave the lab.
 */
export class Lab {
  readonly prefix: string;
  readonly ipv6: boolean;
  readonly switchNs: string;
  readonly nodes: LabNode[] = [];
  readonly hosts: LabNode[] = [];
  readonly pods: LabPod[] = [];
  private readonly namespaces: string[] = [];
  private readonly processes = new Set<LabProcess>();
  private readonly switchIfs = new Set<string>();
  private readonly nodeIfs = new Map<string, Set<string>>();
  private readonly usedAddrs = new Set<string>();
  private nextHostOctet = 2;
  private destroying: Promise<void> | undefined;

  private constructor(prefix: string, ipv6: boolean) {
    this.prefix = prefix;
    this.ipv6 = ipv6;
    this.switchNs = `${prefix}-switch`;
  }

  static async create(opts: LabOptions = {}): Promise<Lab> {
    let prefix = makePrefix(opts.prefix);
    const existing = await listNetns();
    while (existing.some((n) => n.startsWith(`${prefix}-`))) prefix = makePrefix(opts.prefix);
    const lab = new Lab(prefix, opts.ipv6 ?? true);
    trackLive(lab);
    try {
      await lab.addNamespace(lab.switchNs);
      // The switch only forwards frames; its own IPv6 would just add noise.
      await sysctl(lab.switchNs, { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 });
      await ipBatch(lab.switchNs, switchLines());
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  /** A Kubernetes node: forwarding on, a pod CIDR of its own, no default route. */
  addNode(name: string, opts: AddressOptions = {}): Promise<LabNode> {
    return this.addStation('node', name, opts);
  }

  /** A machine outside the cluster on the same L2 segment, e.g. a NodePort client. */
  addHost(name: string, opts: AddressOptions = {}): Promise<LabNode> {
    return this.addStation('host', name, opts);
  }

  /**
   * A pod behind a node, wired like Calico/ptp CNI: a /32 (/128) on the pod's
   * eth0, a default route to a link-local gateway (169.254.1.1, fe80::1) on the
   * node side of the veth, and a host route on the node. Addresses default to
   * the node's pod CIDR.
   */
  async addPod(node: LabNode, name: string, opts: AddressOptions = {}): Promise<LabPod> {
    if (node.kind !== 'node' || node.lab !== this) throw new Error(`${node.name} is not a node of this lab`);
    checkName('pod', name);
    const ns = `${this.prefix}-${node.name}-${name}`;
    let n = 2;
    while (this.usedAddrs.has(podAddrV4(node.index, n)) || this.usedAddrs.has(podAddrV6(node.index, n))) n++;
    if (n > 254 && !opts.ipv4) throw new Error(`pod CIDR of ${node.name} is full`);
    const v4 = parseCidr(opts.ipv4 ?? podAddrV4(node.index, n), 32, 4);
    const v6 = this.ipv6 ? parseCidr(opts.ipv6 ?? podAddrV6(node.index, n), 128, 6) : undefined;
    this.claim(v4.addr, v6?.addr);
    await this.addNamespace(ns);
    await this.quietIpv6(ns);
    const hostIface = ifname(`vp-${name}`, this.nodeIfs.get(node.ns) ?? new Set());
    const wiring = { podNs: ns, hostIface, v4: v4.addr, v6: v6?.addr, nodeV4: node.ipv4, nodeV6: node.ipv6 };
    await ipBatch(node.ns, podNodeSideLines(wiring));
    await ipBatch(ns, podSideLines(wiring));
    const pod = new LabPod({ lab: this, name, ns, ipv4: v4.addr, ipv6: v6?.addr, node, hostIface });
    node.pods.push(pod);
    this.pods.push(pod);
    return pod;
  }

  /** `ip route add DEST via VIA` inside a lab namespace. */
  async addRoute(where: NsRef, dest: string, via: string): Promise<void> {
    await ipBatch(this.own(where), [`route add ${dest} via ${via}`]);
  }

  /**
   * Routes every node's pod CIDRs via that node's address on every other node
   * (and on hosts when asked): flat pod networking without any overlay.
   */
  async routePodCidrs(opts: { hosts?: boolean } = {}): Promise<void> {
    const targets = opts.hosts ? [...this.nodes, ...this.hosts] : this.nodes;
    for (const t of targets) {
      const lines: string[] = [];
      for (const n of this.nodes) {
        if (n === t) continue;
        if (n.podCidrV4) lines.push(`route replace ${n.podCidrV4} via ${n.ipv4}`);
        if (n.podCidrV6 && n.ipv6 && t.ipv6) lines.push(`route replace ${n.podCidrV6} via ${n.ipv6}`);
      }
      await ipBatch(t.ns, lines);
    }
  }

  /** Runs a command inside a lab namespace; a non-zero exit is returned, not thrown (unless opts.check). */
  exec(where: NsRef, cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult> {
    return nsExec(this.own(where), cmd, args, opts);
  }

  /** Starts a long-running command inside a lab namespace; destroy() stops it. */
  spawn(where: NsRef, cmd: string, args: string[], opts?: SpawnOptions): LabProcess {
    if (this.destroying) throw new Error(`lab ${this.prefix} is destroyed`);
    const p = new LabProcess(this.own(where), cmd, args, opts);
    this.processes.add(p);
    void p.wait().then(() => this.processes.delete(p));
    return p;
  }

  /** Loads an nft script (`nft -f -`) inside a lab namespace; throws with nft's message if it fails. */
  nft(where: NsRef, script: string): Promise<ExecResult> {
    return this.exec(where, 'nft', ['-f', '-'], { input: script, check: true });
  }

  async ping(where: NsRef, addr: string, timeoutS = 2): Promise<boolean> {
    const [cmd = 'ping', ...pre] = pingCommand();
    const r = await this.exec(where, cmd, [...pre, '-q', '-c', '1', '-W', String(timeoutS), addr], {
      timeoutMs: (timeoutS + 3) * 1_000,
    });
    return r.exitCode === 0;
  }

  /** Starts testbed/lab/echo-server.ts and waits until it listens. */
  async startEchoServer(where: NsRef, opts: EchoServerOptions = {}): Promise<LabProcess> {
    const name = opts.name ?? (typeof where === 'string' ? where : ((where as { name?: string }).name ?? where.ns));
    const p = this.spawn(where, workloadPaths().node, echoServerArgs(name, opts));
    try {
      await p.waitForLine(/^ready /, opts.readyTimeoutMs ?? 10_000);
    } catch (e) {
      await p.stop(0);
      throw e;
    }
    return p;
  }

  /** One attempt of testbed/lab/probe.ts from inside a namespace. */
  async probe(from: NsRef, target: ProbeTarget): Promise<ProbeResult> {
    const [r] = await this.probeMany(from, target, 1);
    if (!r) throw new Error('probe printed nothing');
    return r;
  }

  /** count sequential attempts, one result each (for load-balancing and affinity checks). */
  async probeMany(from: NsRef, target: ProbeTarget, count: number): Promise<ProbeResult[]> {
    const r = await this.exec(from, workloadPaths().node, probeArgs(target, count), {
      timeoutMs: probeBudgetMs(target, count),
    });
    const results = r.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(parseProbeLine);
    if (r.exitCode > 1 || results.length !== count) {
      throw new Error(`probe ${probeArgs(target, count).slice(1).join(' ')} failed (exit ${r.exitCode}): ${r.stderr || r.stdout}`);
    }
    return results;
  }

  /** Every namespace this lab made, switch first. */
  get namespaceNames(): readonly string[] {
    return this.namespaces;
  }

  /** Live processes started with spawn(). */
  get runningProcesses(): readonly LabProcess[] {
    return [...this.processes];
  }

  /**
   * Stops every process and deletes every namespace this lab made, and any
   * other namespace named "<prefix>-…" (e.g. made by a CNI plugin under test);
   * deleting a namespace takes its veths along. Idempotent and never throws.
   */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      await Promise.all([...this.processes].map((p) => p.stop(500).catch(() => undefined)));
      for (const ns of await this.allNamespaces()) await removeNetns(ns);
      untrackLive(this);
    })().catch(() => untrackLive(this));
    return this.destroying;
  }

  /** For process exit handlers, where nothing asynchronous runs any more. */
  destroySync(): void {
    for (const p of this.processes) p.killNow();
    for (const ns of [...new Set([...this.namespaces, ...listNetnsSync().filter((n) => this.isOurs(n))])].reverse()) {
      removeNetnsSync(ns);
    }
  }

  private async allNamespaces(): Promise<string[]> {
    let listed: string[] = [];
    try {
      listed = (await listNetns()).filter((n) => this.isOurs(n));
    } catch {
      // fall back to what we tracked
    }
    // Pods before nodes before the switch: the reverse of creation.
    return [...new Set([...this.namespaces, ...listed])].reverse();
  }

  private isOurs(ns: string): boolean {
    return ns.startsWith(`${this.prefix}-`);
  }

  // Only lab namespaces: a slip must never run lab commands on the host itself.
  // Namespaces others made under our prefix count (and destroy() removes them).
  private own(where: NsRef): string {
    const ns = nsName(where);
    if (!this.namespaces.includes(ns) && !this.isOurs(ns)) throw new Error(`${ns} is not a namespace of lab ${this.prefix}`);
    return ns;
  }

  private async addNamespace(ns: string): Promise<void> {
    if (this.destroying) throw new Error(`lab ${this.prefix} is destroyed`);
    if (this.namespaces.includes(ns)) throw new Error(`namespace ${ns} already exists in this lab`);
    await run('ip', ['netns', 'add', ns], { check: true });
    this.namespaces.push(ns);
  }

  // Interfaces created after this skip duplicate address detection, so
  // addresses work at once instead of after a second of "tentative".
  private async quietIpv6(ns: string): Promise<void> {
    await sysctl(ns, { 'net.ipv6.conf.default.accept_dad': 0, 'net.ipv6.conf.all.accept_dad': 0 });
  }

  private claim(v4: string, v6: string | undefined): void {
    for (const a of [v4, v6]) if (a && this.usedAddrs.has(a)) throw new Error(`address ${a} is already used in this lab`);
    this.usedAddrs.add(v4);
    if (v6) this.usedAddrs.add(v6);
  }

  private autoOctet(): number {
    while (this.usedAddrs.has(`${NODE_NET_V4.base}${this.nextHostOctet}`)) this.nextHostOctet++;
    if (this.nextHostOctet > 254) throw new Error('lab node network 198.18.0.0/24 is full');
    return this.nextHostOctet;
  }

  private async addStation(kind: 'node' | 'host', name: string, opts: AddressOptions): Promise<LabNode> {
    checkName(kind, name);
    if (name === 'switch') throw new Error('"switch" is reserved');
    const ns = `${this.prefix}-${name}`;
    const octet = opts.ipv4 ? undefined : this.autoOctet();
    const v4 = parseCidr(opts.ipv4 ?? `${NODE_NET_V4.base}${octet}`, NODE_NET_V4.len, 4);
    const v6 = this.ipv6 ? parseCidr(opts.ipv6 ?? `${NODE_NET_V6.base}${(octet ?? Number(v4.addr.split('.')[3])).toString(16)}`, NODE_NET_V6.len, 6) : undefined;
    this.claim(v4.addr, v6?.addr);
    const index = kind === 'node' ? this.nodes.length + 1 : this.hosts.length + 1;
    if (kind === 'node' && index > 127) throw new Error('at most 127 nodes per lab');
    await this.addNamespace(ns);
    await this.quietIpv6(ns);
    if (kind === 'node') {
      await sysctl(ns, { 'net.ipv4.ip_forward': 1, 'net.ipv6.conf.all.forwarding': 1 });
    }
    const swIf = ifname(`v-${name}`, this.switchIfs);
    await ipBatch(this.switchNs, portLines(swIf, ns));
    await ipBatch(ns, stationLines(v4, v6));
    this.nodeIfs.set(ns, new Set(['lo', 'eth0']));
    const node = new LabNode({
      lab: this,
      name,
      ns,
      kind,
      index,
      ipv4: v4.addr,
      ipv6: v6?.addr,
      podCidrV4: kind === 'node' ? podCidrV4(index) : undefined,
      podCidrV6: kind === 'node' && v6 ? podCidrV6(index) : undefined,
    });
    (kind === 'node' ? this.nodes : this.hosts).push(node);
    return node;
  }
}

/** Runs fn against a fresh lab and destroys the lab whether fn returns or throws. */
export async function withLab<T>(fn: (lab: Lab) => Promise<T>, opts?: LabOptions): Promise<T> {
  const lab = await Lab.create(opts);
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}
