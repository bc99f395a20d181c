// Every traffic path through the whole agent (proxy, dns and mesh on every node), as a user's
// traffic takes it: from a pod, from a node's host network (= a hostNetwork pod) and from a
// host outside the cluster, to each kind of Service address, a pod on another node and a name
// through the cluster DNS. Each path is N requests, each a new connection (a new pick), and
// the result says how many were answered, by which pods, and from which source address the
// backend saw them. Nothing here retries: a path that answers 71 of 72 says 71/72.
import type { Lab } from './lab.ts';
import type { ProbeResult, ProbeTarget } from './workloads.ts';

export type Family = 4 | 6;

export interface EchoPod {
  name: string;
  node: string;
  ns: string;
  ips: Partial<Record<Family, string>>;
}

export interface PathWorld {
  families: Family[];
  /** Node names in order; paths addressed at "this node" use [0], at "another node" [1]. */
  nodes: { name: string; ns: string; ips: Partial<Record<Family, string>>; gateways: Partial<Record<Family, string>> }[];
  outside: { ns: string; ips: Partial<Record<Family, string>> };
  /** A pod that is no endpoint, on nodes[0]. */
  client: { ns: string; ips: Partial<Record<Family, string>> };
  echo: EchoPod[];
  port: number;
  svc: {
    clusterIP: Partial<Record<Family, string>>;
    nodePortCluster: number;
    nodePortLocal: number;
    lbIP: Partial<Record<Family, string>>;
    /** The node the outside host routes the LoadBalancer IP to (the load balancer's pick). */
    lbVia: number;
    externalIP: Partial<Record<Family, string>>;
    externalVia: number;
    dns: Partial<Record<Family, string>>;
    dnsName: string;
    /** Reverse names: the ClusterIP's (the Service's name), and every name of a pod that backs Services. */
    ptr: { clusterIP: string; pod: string; podNames: Partial<Record<Family, string[]>> };
  };
}

export interface PathSpec {
  family: Family;
  from: string;
  to: string;
  ns: string;
  probe?: ProbeTarget;
  /** A question (PTR: `name` is the IP, asked as `dig -x`) and the exact records every answer must hold. */
  dns?: { server: string; name: string; type: 'A' | 'AAAA' | 'PTR'; answer: string[] };
  /** Pods that may answer; every one must be seen when `all` is set. */
  endpoints: string[];
  all: boolean;
  /** The client address the backend must see (probe paths). */
  source?: string;
}

export interface PathResult {
  spec: PathSpec;
  sent: number;
  answered: number;
  by: Map<string, number>;
  sources: Set<string>;
  /** Lines of the attempts that were not answered, first few. */
  failures: string[];
}

/** The matrix for a world: every path that exists in it, per family. */
export function matrix(w: PathWorld): PathSpec[] {
  const out: PathSpec[] = [];
  const all = w.echo.map((p) => p.name);
  const onNode = (i: number) => w.echo.filter((p) => p.node === w.nodes[i]!.name).map((p) => p.name);
  const [a, b] = [w.nodes[0]!, w.nodes[1]!];
  for (const f of w.families) {
    const tcp = (host: string, port: number): ProbeTarget => ({ proto: 'tcp', host, port });
    const remote = w.echo.find((p) => p.node === b.name)!;
    const sources = [
      { from: `pod on ${a.name}`, ns: w.client.ns, ip: w.client.ips[f]!, pod: true },
      { from: `${a.name} host network`, ns: a.ns, ip: a.ips[f]!, pod: false },
    ];
    for (const s of sources) {
      // Pods keep their address to ClusterIPs and pod IPs; host traffic is masqueraded (the
      // proxy's off-cluster rule) or routed (the mesh route's source) to this node's gateway.
      const own = s.pod ? s.ip : a.gateways[f]!;
      out.push({ family: f, from: s.from, to: 'ClusterIP TCP', ns: s.ns, probe: tcp(w.svc.clusterIP[f]!, 80), endpoints: all, all: true, source: own });
      out.push({ family: f, from: s.from, to: 'ClusterIP UDP', ns: s.ns, probe: { proto: 'udp', host: w.svc.clusterIP[f]!, port: 80 }, endpoints: all, all: true, source: own });
      // External addresses with Cluster policy are masqueraded by the node that takes them in.
      out.push({ family: f, from: s.from, to: `NodePort (Cluster) on ${a.name}, this node`, ns: s.ns, probe: tcp(a.ips[f]!, w.svc.nodePortCluster), endpoints: all, all: true, source: a.gateways[f] });
      out.push({ family: f, from: s.from, to: `NodePort (Cluster) on ${b.name}, another node`, ns: s.ns, probe: tcp(b.ips[f]!, w.svc.nodePortCluster), endpoints: all, all: true, source: b.gateways[f] });
      // Local policy: this node's own pods and hosts short-circuit to every endpoint (pods
      // unmasqueraded, the host masqueraded); another node sees this node's address and keeps it.
      out.push({ family: f, from: s.from, to: `NodePort (Local) on ${a.name}, this node`, ns: s.ns, probe: tcp(a.ips[f]!, w.svc.nodePortLocal), endpoints: all, all: true, source: own });
      out.push({ family: f, from: s.from, to: `NodePort (Local) on ${b.name}, another node`, ns: s.ns, probe: tcp(b.ips[f]!, w.svc.nodePortLocal), endpoints: onNode(1), all: true, source: a.ips[f] });
      out.push({ family: f, from: s.from, to: 'LoadBalancer IP', ns: s.ns, probe: tcp(w.svc.lbIP[f]!, 80), endpoints: all, all: true, source: a.gateways[f] });
      out.push({ family: f, from: s.from, to: 'externalIP', ns: s.ns, probe: tcp(w.svc.externalIP[f]!, 80), endpoints: all, all: true, source: a.gateways[f] });
      out.push({ family: f, from: s.from, to: `pod ${remote.name} on ${b.name}`, ns: s.ns, probe: tcp(remote.ips[f]!, w.port), endpoints: [remote.name], all: true, source: own });
      out.push({
        family: f, from: s.from, to: `${w.svc.dnsName} via the cluster DNS ${w.svc.dns[f]}`, ns: s.ns,
        dns: { server: w.svc.dns[f]!, name: w.svc.dnsName, type: f === 4 ? 'A' : 'AAAA', answer: [w.svc.clusterIP[f]!] }, endpoints: [], all: false,
      });
      if (s.pod) {
        // Reverse lookups a pod makes: a ClusterIP is its Service's name; a pod IP that backs
        // Services has a name under each (CoreDNS's endpoint PTRs).
        const dns = w.svc.dns[f]!;
        out.push({ family: f, from: s.from, to: `PTR of ClusterIP ${w.svc.clusterIP[f]} via the cluster DNS ${dns}`, ns: s.ns, dns: { server: dns, name: w.svc.clusterIP[f]!, type: 'PTR', answer: [w.svc.ptr.clusterIP] }, endpoints: [], all: false });
        const pod = w.echo.find((p) => p.name === w.svc.ptr.pod)!;
        out.push({ family: f, from: s.from, to: `PTR of pod ${pod.name} ${pod.ips[f]} via the cluster DNS ${dns}`, ns: s.ns, dns: { server: dns, name: pod.ips[f]!, type: 'PTR', answer: w.svc.ptr.podNames[f]! }, endpoints: [], all: false });
      }
    }
    const o = { from: 'outside host', ns: w.outside.ns, ip: w.outside.ips[f]! };
    out.push({ family: f, from: o.from, to: `NodePort (Cluster) on ${a.name}`, ns: o.ns, probe: tcp(a.ips[f]!, w.svc.nodePortCluster), endpoints: all, all: true, source: a.gateways[f] });
    out.push({ family: f, from: o.from, to: `NodePort (Cluster) on ${b.name}`, ns: o.ns, probe: tcp(b.ips[f]!, w.svc.nodePortCluster), endpoints: all, all: true, source: b.gateways[f] });
    out.push({ family: f, from: o.from, to: `NodePort (Local) on ${a.name}`, ns: o.ns, probe: tcp(a.ips[f]!, w.svc.nodePortLocal), endpoints: onNode(0), all: true, source: o.ip });
    out.push({ family: f, from: o.from, to: `NodePort (Local) on ${b.name}`, ns: o.ns, probe: tcp(b.ips[f]!, w.svc.nodePortLocal), endpoints: onNode(1), all: true, source: o.ip });
    const lbNode = w.nodes[w.svc.lbVia]!;
    const exNode = w.nodes[w.svc.externalVia]!;
    out.push({ family: f, from: o.from, to: `LoadBalancer IP (routed to ${lbNode.name})`, ns: o.ns, probe: tcp(w.svc.lbIP[f]!, 80), endpoints: all, all: true, source: lbNode.gateways[f] });
    out.push({ family: f, from: o.from, to: `externalIP (routed to ${exNode.name})`, ns: o.ns, probe: tcp(w.svc.externalIP[f]!, 80), endpoints: all, all: true, source: exNode.gateways[f] });
  }
  return out;
}

function hostOf(client: string | undefined): string {
  if (!client) return '';
  const m = /^\[(.*)\]:\d+$/.exec(client) ?? /^(.*):\d+$/.exec(client);
  return m ? m[1]! : client;
}

/** Sends n requests along one path (one process, n fresh connections or queries). */
export async function runPath(lab: Lab, spec: PathSpec, n: number): Promise<PathResult> {
  const r: PathResult = { spec, sent: n, answered: 0, by: new Map(), sources: new Set(), failures: [] };
  if (spec.dns) {
    const q = spec.dns;
    // One dig, n questions; each answer is its header block (status) and its answer section. A
    // question that got no reply prints no header, so it is not counted.
    const args = [`@${q.server}`, '+noall', '+comments', '+answer', '+tries=1', '+time=2'];
    for (let i = 0; i < n; i++) args.push(...(q.type === 'PTR' ? ['-x', q.name] : [q.name, q.type]));
    const x = await lab.exec(spec.ns, 'dig', args, { timeoutMs: n * 2_500 + 5_000 });
    const want = [...q.answer].sort().join(' ');
    for (const block of x.stdout.split(/^;; ->>HEADER<<-/m).slice(1)) {
      const status = /status: (\w+)/.exec(block)?.[1];
      const got = block.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 5 && !f[0]!.startsWith(';') && f[3] === q.type).map((f) => f.slice(4).join(' '));
      if (status === 'NOERROR' && got.sort().join(' ') === want) r.answered++;
      else if (r.failures.length < 3) r.failures.push(`${status}: ${got.join(' ') || 'no records'}`);
    }
    if (r.answered < n && r.failures.length < 3) r.failures.push(...x.stdout.split('\n').filter((l) => /timed out|no servers|error/.test(l)).slice(0, 3 - r.failures.length));
    return r;
  }
  let results: ProbeResult[];
  try {
    // 3 s per request: one connection with its own TCP retransmits is still one request (a loaded
    // 2-core CI machine running wireguard-go in userspace does drop now and then).
    results = await lab.probeMany(spec.ns, { ...spec.probe!, timeoutMs: 3_000 }, n);
  } catch (err) {
    r.failures.push(String((err as Error).message).split('\n')[0]!);
    return r;
  }
  for (const [i, x] of results.entries()) {
    if (x.outcome !== 'ok' || !x.name) {
      if (r.failures.length < 3) r.failures.push(`#${i + 1} ${x.line}`);
      continue;
    }
    r.answered++;
    r.by.set(x.name, (r.by.get(x.name) ?? 0) + 1);
    r.sources.add(hostOf(x.client));
  }
  return r;
}

/** What is wrong with a result, as sentences; [] = the path works. */
export function problems(r: PathResult): string[] {
  const s = r.spec;
  const out: string[] = [];
  if (r.answered !== r.sent) out.push(`${r.answered}/${r.sent} answered (${r.failures.join('; ')})`);
  const stray = [...r.by.keys()].filter((k) => !s.endpoints.includes(k));
  if (stray.length) out.push(`answered by ${stray.join(', ')}, which this path must not reach`);
  if (s.all) {
    const missing = s.endpoints.filter((e) => !r.by.has(e));
    if (missing.length) out.push(`never answered by ${missing.join(', ')}`);
  }
  if (s.source !== undefined && r.sources.size && (r.sources.size !== 1 || !r.sources.has(s.source))) {
    out.push(`backend saw ${[...r.sources].join(', ')}, expected ${s.source}`);
  }
  return out;
}

/** "72/72 answered, by all 6 pods, source 198.18.129.1" */
export function summary(r: PathResult): string {
  const s = r.spec;
  const parts = [`${r.answered}/${r.sent} answered`];
  if (s.dns) parts.push(`with ${s.dns.answer.join(', ')}`);
  else if (s.endpoints.length > 1) {
    const seen = s.endpoints.filter((e) => r.by.has(e)).length;
    parts.push(seen === s.endpoints.length ? `by all ${seen} ${s.endpoints.length === 2 ? 'local pods' : 'pods'}` : `by ${seen} of ${s.endpoints.length} pods`);
  } else if (s.endpoints.length === 1) parts.push(`by ${s.endpoints[0]}`);
  if (r.sources.size) parts.push(`backend saw ${[...r.sources].join(', ')}`);
  return parts.join(', ');
}

/** Runs paths `parallel` at a time (each path's own requests stay sequential). */
export async function runMatrix(lab: Lab, specs: PathSpec[], n: number, parallel = 4, onResult?: (r: PathResult) => void): Promise<PathResult[]> {
  const results: PathResult[] = new Array(specs.length);
  let next = 0;
  const worker = async () => {
    while (next < specs.length) {
      const i = next++;
      results[i] = await runPath(lab, specs[i]!, n);
      onResult?.(results[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, specs.length) }, worker));
  return results;
}
