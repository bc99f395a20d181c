// Shared by the proxy benchmarks: a synthetic cluster driven through the real watch cache and
// node view, a kube-proxy-shaped ruleset (its nftables mode: per-service and per-endpoint
// chains, a mark-for-masquerade jump, hairpin rule per endpoint) rendered from the same view,
// and a private network namespace to run nft in.
import { spawnSync } from 'node:child_process';
import { pino } from 'pino';
import { WatchCache } from '../src/kube/cache.ts';
import { KINDS, type EndpointSlice, type Namespace, type Node, type Pod, type Service } from '../src/kube/objects.ts';
import type { ServiceView } from '../src/view/types.ts';
import { NodeView } from '../src/view/view.ts';
import { hash8 } from '../modules/proxy/names.ts';
import { service } from '../test/proxy/fixtures.ts';

export const NODE = 'bench-node';
export const NODE_IP = '198.18.0.1';
export const silent = pino({ level: 'silent' });

/** Re-runs this script inside a fresh network namespace (root's nft is never touched). */
export function inPrivateNetns(): void {
  if (process.env.NODEWAY_BENCH_NETNS === '1') {
    spawnSync('ip', ['link', 'set', 'lo', 'up']);
    spawnSync('ip', ['addr', 'add', `${NODE_IP}/32`, 'dev', 'lo']);
    return;
  }
  const r = spawnSync('unshare', ['-n', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODEWAY_BENCH_NETNS: '1' },
  });
  process.exit(r.status ?? 1);
}

export function clusterIPOf(i: number): string {
  return `198.19.${(i >> 8) & 255}.${i & 255}`;
}

/** Endpoint j of Service i: pods back several Services, as in real clusters (65k pod IPs). */
export function endpointIPOf(i: number, j: number): string {
  const k = ((i * 10 + j) % 65_000) + 256;
  return `198.18.${k >> 8}.${k & 255}`;
}

export function svcObj(i: number): Service {
  return service(`svc-${i}`, { namespace: 'bench', clusterIPs: [clusterIPOf(i)], ports: [{ name: 'http' }] });
}

export function sliceObj(i: number, ips: string[], port = 8080): EndpointSlice {
  return {
    namespace: 'bench',
    name: `svc-${i}-abcde`,
    serviceName: `svc-${i}`,
    proxyName: '',
    headless: false,
    family: 4,
    ports: [{ name: 'http', protocol: 'TCP', port }],
    endpoints: ips.map((ip, j) => ({
      ip,
      ready: true,
      serving: true,
      terminating: false,
      nodeName: j === 0 ? NODE : 'other',
      hostname: '',
      zone: '',
      zoneHints: null,
      nodeHints: null,
    })),
  };
}

export function endpointIPs(i: number, per: number): string[] {
  return Array.from({ length: per }, (_, j) => endpointIPOf(i, j));
}

/** A listed watch cache and its published node view with `services` × `per` endpoints. */
export function cluster(services: number, per: number): { cache: WatchCache; view: NodeView } {
  const cache = new WatchCache(KINDS);
  const view = new NodeView(cache, NODE);
  const node: Node = {
    name: NODE,
    labels: {},
    annotations: {},
    addresses: [{ type: 'InternalIP', address: NODE_IP }],
    podCIDRs: ['198.18.128.0/24'],
    deleting: false,
    unschedulable: false,
  };
  cache.replace('nodes', new Map([[NODE, node]]));
  cache.replace('namespaces', new Map<string, Namespace>([['bench', { name: 'bench', labels: { 'kubernetes.io/metadata.name': 'bench' } }]]));
  cache.replace('pods', new Map<string, Pod>());
  cache.replace('servicecidrs', new Map());
  cache.replace('services', new Map(Array.from({ length: services }, (_, i) => [`bench/svc-${i}`, svcObj(i)])));
  cache.replace('endpointslices', new Map(Array.from({ length: services }, (_, i) => [`bench/svc-${i}-abcde`, sliceObj(i, endpointIPs(i, per))])));
  view.flush();
  return { cache, view };
}

// ---- kube-proxy-shaped ruleset (reference/kube-proxy.md §1.2–§1.4: base chains as in its newer
// proxier_test.go baseRules, service and endpoint chains as in v1.33–1.35) ----

const T = 'ip kube-proxy';

function kpBase(): string[] {
  const base = (n: string, spec: string, rules: string[]) => [`add chain ${T} ${n} { ${spec} }`, `flush chain ${T} ${n}`, ...rules.map((r) => `add rule ${T} ${n} ${r}`)];
  const chain = (n: string, rules: string[]) => [`add chain ${T} ${n}`, `flush chain ${T} ${n}`, ...rules.map((r) => `add rule ${T} ${n} ${r}`)];
  return [
    `add table ${T} { comment "rules for kube-proxy"; }`,
    `add map ${T} service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `add map ${T} service-nodeports { type inet_proto . inet_service : verdict; }`,
    `add map ${T} no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `add map ${T} no-endpoint-nodeports { type inet_proto . inet_service : verdict; }`,
    `add map ${T} firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `add set ${T} cluster-ips { type ipv4_addr; }`,
    `add set ${T} nodeport-ips { type ipv4_addr; }`,
    `flush map ${T} service-ips`,
    `flush map ${T} no-endpoint-services`,
    `flush set ${T} cluster-ips`,
    ...chain('mark-for-masquerade', ['mark set mark or 0x4000']),
    ...chain('masquerading', ['mark and 0x4000 == 0 return', 'mark set mark xor 0x4000', 'masquerade fully-random']),
    ...chain('services', ['ip daddr . meta l4proto . th dport vmap @service-ips', 'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports']),
    ...chain('service-endpoints-check', ['ip daddr . meta l4proto . th dport vmap @no-endpoint-services']),
    ...chain('nodeport-endpoints-check', ['ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports']),
    ...chain('cluster-ips-check', ['ip daddr @cluster-ips reject']),
    ...chain('firewall-check', ['ip daddr . meta l4proto . th dport vmap @firewall-ips']),
    ...chain('reject-chain', ['reject']),
    ...base('filter-prerouting-pre-dnat', 'type filter hook prerouting priority -110;', ['ct state new jump firewall-check']),
    ...base('filter-output-pre-dnat', 'type filter hook output priority -110;', ['ct state new jump firewall-check']),
    ...base('filter-input', 'type filter hook input priority 0;', ['ct state new jump nodeport-endpoints-check', 'ct state new jump service-endpoints-check']),
    ...base('filter-forward', 'type filter hook forward priority 0;', ['ct state new jump service-endpoints-check', 'ct state new jump cluster-ips-check']),
    ...base('filter-output', 'type filter hook output priority 0;', ['ct state new jump service-endpoints-check', 'ct state new jump cluster-ips-check']),
    ...base('nat-prerouting', 'type nat hook prerouting priority -100;', ['jump services']),
    ...base('nat-output', 'type nat hook output priority -100;', ['jump services']),
    ...base('nat-postrouting', 'type nat hook postrouting priority 100;', ['jump masquerading']),
  ];
}

function kpChainBase(v: ServiceView): string {
  const p = v.ports[0]!;
  return `${v.namespace}/${v.name}/${p.protocol.toLowerCase()}/${p.name}`;
}

/** The chains kube-proxy writes for one Service (ClusterIP, Cluster policy), as it writes them. */
export function kpServiceLines(v: ServiceView): { chains: string[]; decls: string[]; rules: string[]; elements: string[] } {
  const p = v.ports[0]!;
  const base = kpChainBase(v);
  const svcChain = `service-${hash8(base)}-${base}`;
  const eps = p.v4.cluster;
  const cip = v.clusterIPs[0]!;
  const epChains = eps.map((e) => {
    const eb = `${base}__${e.ip}/${e.port}`;
    return `endpoint-${hash8(eb)}-${eb}`;
  });
  const chains = [svcChain, ...epChains];
  const decls = chains.flatMap((c) => [`add chain ${T} ${c}`, `flush chain ${T} ${c}`]);
  const rules = [`add rule ${T} ${svcChain} ip daddr ${cip} tcp dport ${p.port} ip saddr != 198.18.128.0/17 jump mark-for-masquerade`];
  if (eps.length) rules.push(`add rule ${T} ${svcChain} numgen random mod ${eps.length} vmap { ${epChains.map((c, i) => `${i} : goto ${c}`).join(' , ')} }`);
  eps.forEach((e, i) => {
    rules.push(`add rule ${T} ${epChains[i]} ip saddr ${e.ip} jump mark-for-masquerade`);
    rules.push(`add rule ${T} ${epChains[i]} meta l4proto tcp dnat to ${e.ip}:${e.port}`);
  });
  const elements = [`add element ${T} cluster-ips { ${cip} }`];
  elements.push(eps.length ? `add element ${T} service-ips { ${cip} . tcp . ${p.port} : goto ${svcChain} }` : `add element ${T} no-endpoint-services { ${cip} . tcp . ${p.port} comment "${v.key}:${p.name}" : goto reject-chain }`);
  return { chains, decls, rules, elements };
}

/** kube-proxy's full sync: every chain re-declared, flushed and refilled, maps flushed and refilled. */
export function kpFullScript(views: Iterable<ServiceView>): string {
  const decls: string[] = [];
  const rules: string[] = [];
  const elements: string[] = [];
  for (const v of views) {
    const s = kpServiceLines(v);
    decls.push(...s.decls);
    rules.push(...s.rules);
    elements.push(...s.elements);
  }
  return `${[...kpBase(), ...decls, ...rules, ...elements].join('\n')}\n`;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export function ms(x: number): string {
  return x >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(1)} ms`;
}

/** "ours vs baseline: 0.12× (8.3× faster)". */
export function ratio(ours: number, base: number): string {
  const r = ours / base;
  return `${r.toFixed(3)}× of baseline (${r < 1 ? `${(1 / r).toFixed(1)}× better` : `${r.toFixed(1)}× worse`})`;
}
