// One Service → its chains, sets and map elements in one family's table. Pure. Follows
// kube-proxy's syncProxyRules decision by decision (reference/kube-proxy.md §1.4–§1.9) with
// deliberate differences: endpoints without affinity are picked by `dnat to numgen … map` in a
// shared map (no per-endpoint chains, no per-Service sets), a plain ClusterIP port has no chain
// at all (pickChain), the masquerade mark is set inline, and hairpin traffic is found by one set
// lookup in postrouting.
import type { IPFamily, Protocol } from '../../src/kube/objects.ts';
import type { EndpointView, FamilyEndpoints, PortView, ServiceView } from '../../src/view/types.ts';
import { emptyServicePlan, type ChainSpec, type ServicePlan } from './model.ts';
import { affinitySetName, endpointChainName, portBase, portChainNames } from './names.ts';
import { C, S, addrType, endpointPicksMap, ipKw, localMatch, masqCondition, pickChainName, type MasqOptions } from './plan-base.ts';
import { disjointCIDRs, familyIP, inAnyCIDR } from '../../src/net/ip.ts';
import { validName, validPort, validPortName, validProtocol } from './validate.ts';

export interface PlanContext {
  family: IPFamily;
  /** The node's primary IP of this family: the LB source-range exception (kube-proxy's allowFromNode). */
  nodeIP: string;
  masq: MasqOptions;
}

/** Something left out of the plan, for one log line and one metric increment each. */
export interface Skipped {
  reason: 'service' | 'port' | 'endpoint' | 'address' | 'source-range';
  detail: string;
}

export interface PlanResult {
  /** null: this family programs nothing for the Service. */
  plan: ServicePlan | null;
  skipped: Skipped[];
}

interface Endpoint {
  ip: string;
  port: number;
}

function hostPort(family: IPFamily, ep: Endpoint): string {
  return family === 4 ? `${ep.ip}:${ep.port}` : `[${ep.ip}]:${ep.port}`;
}

function validEndpoints(list: EndpointView[], family: IPFamily, what: string, skipped: Skipped[]): Endpoint[] {
  const out: Endpoint[] = [];
  for (const ep of list) {
    const ip = familyIP(ep.ip, family);
    if (!ip || !validPort(ep.port)) {
      skipped.push({ reason: 'endpoint', detail: `${what}: endpoint ${ep.ip}:${ep.port}` });
      continue;
    }
    out.push({ ip, port: ep.port });
  }
  return out;
}

/** Rules that pick one endpoint and DNAT to it. */
function endpointRules(family: IPFamily, proto: string, eps: Endpoint[], affinity: ((ep: Endpoint) => { chain: string; set: string }) | null): Pick<ChainSpec, 'rules' | 'pick'> {
  const saddr = `${ipKw(family)} saddr`;
  if (!affinity) {
    if (eps.length === 1) return { rules: [`meta l4proto ${proto} dnat to ${hostPort(family, eps[0]!)}`] };
    return { rules: [], pick: { kind: 'dnat', proto, prefix: `meta l4proto ${proto} dnat to `, values: eps.map((ep) => `${ep.ip} . ${ep.port}`) } };
  }
  const rules = eps.map((ep) => `${saddr} @${affinity(ep).set} goto ${affinity(ep).chain}`);
  if (eps.length === 1) return { rules: [...rules, `goto ${affinity(eps[0]!).chain}`] };
  return { rules, pick: { kind: 'goto', proto: '', prefix: '', values: eps.map((ep) => `goto ${affinity(ep).chain}`) } };
}

function fam(port: PortView, family: IPFamily): FamilyEndpoints {
  return family === 4 ? port.v4 : port.v6;
}

function planPort(svc: ServiceView, port: PortView, ctx: PlanContext, addrs: Addresses, plan: ServicePlan, skipped: Skipped[]): void {
  const { family } = ctx;
  const fe = fam(port, family);
  const proto = port.protocol.toLowerCase();
  const base = portBase(svc.namespace, svc.name, port.protocol as Protocol, port.name);
  const names = portChainNames(base);
  const what = `${svc.key}:${port.name || port.port}/${port.protocol}`;
  const ip = ipKw(family);

  const clusterEps = fe.usesCluster ? validEndpoints(fe.cluster, family, what, skipped) : [];
  const localEps = fe.usesLocal ? validEndpoints(fe.local, family, what, []) : [];
  // Any endpoint anywhere, whatever the policy: decides drop (policy has none) vs reject (none at all).
  const hasEndpoints = fe.hasAny;
  const itpLocal = svc.internalTrafficPolicy === 'Local';
  const etpLocal = svc.externalTrafficPolicy === 'Local' && fe.externallyAccessible;
  const usesClusterChain = clusterEps.length > 0;
  const usesLocalChain = localEps.length > 0;
  const internalChain = itpLocal ? names.local : names.cluster;
  const hasInternalEndpoints = hasEndpoints && (itpLocal ? usesLocalChain : usesClusterChain);
  const hasExternalEndpoints = hasEndpoints && (etpLocal ? usesLocalChain : usesClusterChain);
  // The external chain exists even without external endpoints: pods and the host still short-circuit.
  const usesExternalChain = hasEndpoints && fe.externallyAccessible;
  // With endpoints somewhere but none for this policy: drop; with none at all: reject.
  const filterVerdict = hasEndpoints ? 'drop' : `goto ${C.reject}`;
  if (itpLocal && hasEndpoints && !usesLocalChain) plan.noLocal.internal = true;
  if (etpLocal && hasEndpoints && !usesLocalChain) plan.noLocal.external = true;

  const affinity =
    svc.affinityTimeout > 0
      ? (ep: Endpoint) => ({ chain: endpointChainName(base, ep.ip, ep.port), set: affinitySetName(base, ep.ip, ep.port, svc.affinityTimeout) })
      : null;
  const mark = ctx.masq.mark;
  const masqRule = `${ip} daddr ${addrs.clusterIP} ${proto} dport ${port.port} ${masqCondition(family, ctx.masq)}meta mark set meta mark | ${mark}`;
  const policyChain = (name: string, eps: Endpoint[]): ChainSpec => {
    const pick = endpointRules(family, proto, eps, affinity);
    const rules = [...(name === internalChain && hasInternalEndpoints ? [masqRule] : []), ...pick.rules];
    return pick.pick ? { hook: '', rules, pick: pick.pick } : { hook: '', rules };
  };
  // A plain ClusterIP port needs no chain of its own (see pickChain).
  const direct = !affinity && !itpLocal && !fe.externallyAccessible && usesClusterChain;
  if (usesClusterChain && !direct) plan.chains.set(names.cluster, policyChain(names.cluster, clusterEps));
  if (usesLocalChain) plan.chains.set(names.local, policyChain(names.local, localEps));
  if (affinity) {
    const seen = new Set<string>();
    for (const ep of [...clusterEps, ...localEps]) {
      const { chain, set } = affinity(ep);
      if (seen.has(chain)) continue;
      seen.add(chain);
      plan.sets.set(set, { kind: 'set', body: `type ${addrType(family)}; flags dynamic,timeout; timeout ${svc.affinityTimeout}s;` });
      plan.chains.set(chain, { hook: '', rules: [`update @${set} { ${ip} saddr } meta l4proto ${proto} dnat to ${hostPort(family, ep)}`] });
    }
  }
  // An endpoint reaching itself through the Service must be masqueraded, or it would answer
  // its own address directly and the client would drop the reply (kube-proxy marks saddr ==
  // endpoint in every endpoint chain). A remote one gets here only through an external
  // address (a ClusterIP is DNATed on the client's own node): e.g. a pod short-circuited by
  // eTP=Local to itself via another node's NodePort. A host-network endpoint on this node is
  // the node itself: its traffic never comes back in through a veth.
  for (const ep of validEndpoints(fe.reachable.filter((e) => e.local || fe.externallyAccessible), family, what, [])) {
    if (ep.ip !== ctx.nodeIP) plan.elements.push({ set: S.hairpin, key: `${ep.ip} . ${ep.ip}`, value: '' });
  }

  if (usesExternalChain) {
    const rules: string[] = [];
    const goCluster = (prefix: string) => (usesClusterChain ? [`${prefix}goto ${names.cluster}`] : []);
    if (etpLocal) {
      rules.push(...goCluster(`${localMatch(family, ctx.masq.detectLocal).local} `)); // short-circuit pod traffic
      rules.push(`fib saddr type local meta mark set meta mark | ${mark}`); // masquerade local traffic
      rules.push(...goCluster('fib saddr type local ')); // short-circuit local traffic
      if (usesLocalChain) rules.push(`goto ${names.local}`);
    } else {
      rules.push(`meta mark set meta mark | ${mark}`, ...goCluster(''));
    }
    plan.chains.set(names.external, { hook: '', rules });
  }

  const comment = `${svc.namespace}/${svc.name}:${port.name || port.port}`;
  const key = (addr: string) => `${addr} . ${proto} . ${port.port}`;
  plan.elements.push({ set: S.clusterIPs, key: addrs.clusterIP, value: '' });
  if (direct) plan.elements.push({ set: S.serviceIPs, key: key(addrs.clusterIP), value: `goto ${pickChainName(clusterEps.length)}`, picks: { set: endpointPicksMap(proto), key: `${addrs.clusterIP} . ${port.port}`, values: clusterEps.map((ep) => `${ep.ip} . ${ep.port}`) } });
  else if (hasInternalEndpoints) plan.elements.push({ set: S.serviceIPs, key: key(addrs.clusterIP), value: `goto ${internalChain}` });
  else plan.elements.push({ set: S.noEndpointServices, key: key(addrs.clusterIP), value: filterVerdict, comment });

  for (const ext of [...addrs.externalIPs, ...addrs.lbIPs]) {
    if (usesExternalChain) plan.elements.push({ set: S.serviceIPs, key: key(ext), value: `goto ${names.external}` });
    if (!hasExternalEndpoints) plan.elements.push({ set: S.noEndpointServices, key: key(ext), value: filterVerdict, comment });
  }
  if (addrs.lbIPs.length > 0 && addrs.sourceRanges.length > 0) {
    // A VIP-style LB may loop traffic back with the VIP as source: allowed when the node itself is.
    const allowFromNode = ctx.nodeIP !== '' && inAnyCIDR(ctx.nodeIP, addrs.sourceRanges);
    const allowed = disjointCIDRs([...addrs.sourceRanges, ...(allowFromNode ? addrs.lbIPs : [])], family).cidrs;
    plan.chains.set(names.firewall, { hook: '', rules: [`${ip} saddr != { ${allowed.join(', ')} } drop`] });
    for (const lb of addrs.lbIPs) plan.elements.push({ set: S.firewallIPs, key: key(lb), value: `goto ${names.firewall}` });
  }
  if (port.nodePort > 0) {
    const npKey = `${proto} . ${port.nodePort}`;
    if (usesExternalChain) plan.elements.push({ set: S.serviceNodePorts, key: npKey, value: `goto ${names.external}` });
    if (!hasExternalEndpoints) plan.elements.push({ set: S.noEndpointNodePorts, key: npKey, value: filterVerdict, comment });
  }
}

interface Addresses {
  clusterIP: string;
  externalIPs: string[];
  lbIPs: string[];
  sourceRanges: string[];
}

function familyAddresses(svc: ServiceView, family: IPFamily, skipped: Skipped[]): Addresses | null {
  const clusterIP = svc.clusterIPs.map((a) => familyIP(a, family)).find((a) => a !== '');
  if (!clusterIP) return null;
  const pick = (list: string[], what: string) => {
    const out: string[] = [];
    for (const a of list) {
      const c = familyIP(a, family);
      if (c) out.push(c);
      else if (familyIP(a, family === 4 ? 6 : 4) === '') skipped.push({ reason: 'address', detail: `${svc.key}: ${what} ${a}` });
    }
    return [...new Set(out)];
  };
  const ranges = disjointCIDRs(svc.loadBalancerSourceRanges, family);
  for (const r of ranges.bad) skipped.push({ reason: 'source-range', detail: `${svc.key}: ${r}` });
  return { clusterIP, externalIPs: pick(svc.externalIPs, 'externalIP'), lbIPs: pick(svc.loadBalancerIPs, 'load balancer IP'), sourceRanges: ranges.cidrs };
}

export function planService(svc: ServiceView, ctx: PlanContext): PlanResult {
  const skipped: Skipped[] = [];
  if (!svc.proxied) return { plan: null, skipped };
  if (!validName(svc.namespace) || !validName(svc.name)) {
    return { plan: null, skipped: [{ reason: 'service', detail: `${JSON.stringify(svc.key)}: name` }] };
  }
  if (!Number.isInteger(svc.affinityTimeout) || svc.affinityTimeout < 0 || svc.affinityTimeout > 86400) {
    return { plan: null, skipped: [{ reason: 'service', detail: `${svc.key}: affinity timeout ${svc.affinityTimeout}` }] };
  }
  const addrs = familyAddresses(svc, ctx.family, skipped);
  if (!addrs) return { plan: null, skipped };
  const plan = emptyServicePlan();
  const seen = new Set<string>();
  for (const port of svc.ports) {
    const id = `${port.protocol}/${port.name}`;
    if (!validProtocol(port.protocol) || !validPort(port.port) || !validPort(port.nodePort, true) || !validPortName(port.name) || seen.has(id)) {
      skipped.push({ reason: 'port', detail: `${svc.key}: port ${JSON.stringify(port.name)} ${port.port}/${port.protocol}` });
      continue;
    }
    seen.add(id);
    planPort(svc, port, ctx, addrs, plan, skipped);
  }
  return { plan, skipped };
}
