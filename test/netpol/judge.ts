// Judging a flow the way a cluster of nodeway agents would: each node plans from the same
// view; the source's node judges egress, the destination's node ingress (one node both).
import type { Protocol } from '../../src/kube/objects.ts';
import { ipFamily } from '../../src/net/ip.ts';
import { evaluate } from '../../modules/netpol/evaluate.ts';
import type { Desired } from '../../modules/netpol/model.ts';
import { plan } from '../../modules/netpol/plan.ts';
import type { World } from './world.ts';

export function plans(w: World): Map<string, Desired> {
  const nodes = new Set([...w.pods.values()].map((p) => p.nodeName));
  return new Map([...nodes].map((n) => [n, plan({ nodeName: n, policy: w })]));
}

export function judge(w: World, src: string, dst: string, proto: Protocol | string, port: number, ps = plans(w)): boolean {
  const fam = ipFamily(src) === 6 ? 'v6' : 'v4';
  const nodeOf = (ip: string) => [...w.pods.values()].find((p) => p.ips.includes(ip) && !p.hostNetwork && p.phase !== 'Succeeded' && p.phase !== 'Failed')?.nodeName;
  const nodes = new Set([nodeOf(src), nodeOf(dst)].filter((n): n is string => !!n));
  for (const n of nodes) if (!evaluate(ps.get(n)![fam], { src, dst, proto, port }).allowed) return false;
  return true;
}
