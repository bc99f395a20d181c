// explain-policy: is a new flow from SRC to DST allowed, and by which policy rule? Plans the
// nodes of both ends from the same view and runs their chains (evaluate.ts), as the kernel
// would: egress on the source's node, ingress on the destination's.
import type { Pod, Protocol } from '../../src/kube/objects.ts';
import { canonicalIP, ipFamily } from '../../src/net/ip.ts';
import type { PolicyView } from '../../src/view/types.ts';
import { evaluate, type Stage } from './evaluate.ts';
import { eligible, plan } from './plan.ts';

export interface Explanation {
  allowed: boolean;
  src: { ip: string; pod?: string; node?: string };
  dst: { ip: string; pod?: string; node?: string };
  flow: string;
  stages: (Omit<Stage, 'rule'> & { node: string; rule: string[] })[];
  note?: string;
}

/** "ns/name" of a pod, or an IP; `family` picks the pod's address when it has two. */
function resolve(view: PolicyView, ref: string, family?: 4 | 6): { ip: string; pod?: Pod } {
  const ip = canonicalIP(ref);
  if (ip) {
    const pod = [...view.pods.values()].find((p) => eligible(p) && p.ips.includes(ip));
    return pod ? { ip, pod } : { ip };
  }
  const pod = view.pods.get(ref);
  if (!pod) throw new Error(`${ref}: neither an IP nor a pod (namespace/name) in the cluster`);
  if (!eligible(pod)) throw new Error(`${ref}: host-network, finished or without an IP: policies do not apply to it`);
  const chosen = pod.ips.find((x) => !family || ipFamily(x) === family);
  if (!chosen) throw new Error(`${ref} has no IPv${family} address`);
  return { ip: chosen, pod };
}

export function parsePortProto(s: string): { port: number; proto: Protocol } {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(s);
  const port = m ? Number(m[1]) : 0;
  if (!m || port < 1 || port > 65535) throw new Error(`${JSON.stringify(s)}: expected PORT[/tcp|udp|sctp]`);
  return { port, proto: (m[2] ?? 'tcp').toUpperCase() as Protocol };
}

export function explain(view: PolicyView, srcRef: string, dstRef: string, portProto: string): Explanation {
  const { port, proto } = parsePortProto(portProto);
  const dst = resolve(view, dstRef);
  const src = resolve(view, srcRef, ipFamily(dst.ip) || undefined);
  if (ipFamily(src.ip) !== ipFamily(dst.ip)) throw new Error('source and destination are of different IP families');
  const fam = ipFamily(dst.ip) === 6 ? 'v6' : 'v4';
  const name = (p?: Pod) => (p ? `${p.namespace}/${p.name}` : undefined);
  const out: Explanation = {
    allowed: true,
    src: { ip: src.ip, pod: name(src.pod), node: src.pod?.nodeName },
    dst: { ip: dst.ip, pod: name(dst.pod), node: dst.pod?.nodeName },
    flow: `${src.ip} → ${dst.ip} ${proto}/${port}`,
    stages: [],
  };
  const nodes = [...new Set([src.pod?.nodeName, dst.pod?.nodeName].filter((n): n is string => !!n))];
  for (const node of nodes) {
    const v = evaluate(plan({ nodeName: node, policy: view })[fam], { src: src.ip, dst: dst.ip, proto, port });
    for (const s of v.stages) out.stages.push({ ...s, node, rule: s.rule.why });
    if (!v.allowed) out.allowed = false;
  }
  if (out.stages.length === 0) out.note = 'no NetworkPolicy isolates either end: allowed';
  return out;
}
