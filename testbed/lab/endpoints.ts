import type { Lab } from './lab.ts';
import type { LabProcess, SpawnOptions } from './process.ts';
import type { ExecOptions, ExecResult } from './run.ts';
import type { EchoServerOptions, ProbeResult, ProbeTarget } from './workloads.ts';

/** A namespace name, or anything that lives in one (node, host, pod). */
export type NsRef = string | { readonly ns: string };

export function nsName(ref: NsRef): string {
  return typeof ref === 'string' ? ref : ref.ns;
}

interface EndpointInit {
  lab: Lab;
  name: string;
  ns: string;
  ipv4: string;
  ipv6: string | undefined;
}

/** One network namespace of the lab with its addresses, and shortcuts to run things in it. */
export class LabEndpoint {
  readonly lab: Lab;
  readonly name: string;
  readonly ns: string;
  readonly ipv4: string;
  readonly ipv6: string | undefined;

  constructor(init: EndpointInit) {
    this.lab = init.lab;
    this.name = init.name;
    this.ns = init.ns;
    this.ipv4 = init.ipv4;
    this.ipv6 = init.ipv6;
  }

  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult> {
    return this.lab.exec(this, cmd, args, opts);
  }

  spawn(cmd: string, args: string[], opts?: SpawnOptions): LabProcess {
    return this.lab.spawn(this, cmd, args, opts);
  }

  nft(script: string): Promise<ExecResult> {
    return this.lab.nft(this, script);
  }

  ping(addr: string, timeoutS?: number): Promise<boolean> {
    return this.lab.ping(this, addr, timeoutS);
  }

  startEchoServer(opts?: EchoServerOptions): Promise<LabProcess> {
    return this.lab.startEchoServer(this, opts);
  }

  probe(target: ProbeTarget): Promise<ProbeResult> {
    return this.lab.probe(this, target);
  }

  probeMany(target: ProbeTarget, count: number): Promise<ProbeResult[]> {
    return this.lab.probeMany(this, target, count);
  }
}

export interface NodeInit extends EndpointInit {
  kind: 'node' | 'host';
  index: number;
  podCidrV4: string | undefined;
  podCidrV6: string | undefined;
}

/** A Kubernetes node (or an outside host) on the lab's switch, reached through its eth0. */
export class LabNode extends LabEndpoint {
  readonly kind: 'node' | 'host';
  /** 1-based among nodes (hosts count separately); picks the node's pod CIDR. */
  readonly index: number;
  readonly iface = 'eth0';
  readonly podCidrV4: string | undefined;
  readonly podCidrV6: string | undefined;
  readonly pods: LabPod[] = [];

  constructor(init: NodeInit) {
    super(init);
    this.kind = init.kind;
    this.index = init.index;
    this.podCidrV4 = init.podCidrV4;
    this.podCidrV6 = init.podCidrV6;
  }
}

export interface PodInit extends EndpointInit {
  node: LabNode;
  hostIface: string;
}

/** A pod: its own namespace, a /32 (/128) on eth0, and a veth peer on its node. */
export class LabPod extends LabEndpoint {
  readonly node: LabNode;
  /** The node-side end of the pod's veth, inside the node namespace. */
  readonly hostIface: string;
  readonly iface = 'eth0';

  constructor(init: PodInit) {
    super(init);
    this.node = init.node;
    this.hostIface = init.hostIface;
  }
}
