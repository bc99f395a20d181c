// The proxy's flags, and their parsed form. Validation happens here, once, so that a bad value
// stops start-up with a one-line error instead of failing every sync.
import type { IPFamily } from '../../src/kube/objects.ts';
import { parseCIDR } from '../../src/net/ip.ts';
import type { Config, OptionSpec } from '../../src/runtime/config.ts';
import { masqMark, type LocalDetect } from './plan-base.ts';

export interface ProxyConfig {
  table: string;
  /** 'primary' = the node's primary IP per family; else CIDRs the local addresses must fall in. */
  nodePortAddresses: 'primary' | { family: IPFamily; cidr: string }[];
  /** Empty = derive from the nodes' podCIDRs. */
  clusterCIDRs: { family: IPFamily; cidr: string }[];
  masqueradeAll: boolean;
  /** The packet mark bit that asks for masquerade (kube-proxy's --iptables-masquerade-bit). */
  masqueradeBit: number;
  detectLocal: LocalDetect;
  /** A change queued this long without being applied makes the proxy unhealthy. */
  healthTimeoutS: number;
}

const TABLE_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
// The kernel's interface names (15 bytes), without the characters nft would need quoted.
const IFNAME_RE = /^[A-Za-z0-9_.+=-]{1,15}$/;
const ifname = (v: string) => (IFNAME_RE.test(v) ? undefined : 'expected an interface name: 1-15 of [A-Za-z0-9_.+=-]');
export const DETECT_LOCAL_MODES = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'] as const;

function checkCIDRs(list: string[], what: string): string | undefined {
  for (const c of list) if (!parseCIDR(c)) return `${JSON.stringify(c)} is not a CIDR (${what})`;
  return undefined;
}

export const PROXY_OPTIONS: OptionSpec[] = [
  {
    flag: 'nft-table',
    key: 'nftTable',
    kind: 'string',
    default: 'nodeway',
    help: 'name of the proxy\'s nftables tables (one "ip" and one "ip6")',
    check: (v: string) => (TABLE_RE.test(v) ? undefined : 'expected a letter then up to 63 letters, digits, - or _'),
  },
  {
    flag: 'nodeport-addresses',
    key: 'nodePortAddresses',
    kind: 'list',
    default: ['primary'],
    help: 'where NodePorts answer: "primary" (the node\'s primary IP per family) or CIDRs of local addresses; 0.0.0.0/0 or ::/0 = every local address but loopback, as is a family with no CIDR or no node IP (kube-proxy)',
    check: (v: string[]) => {
      if (v.includes('primary')) return v.length === 1 ? undefined : '"primary" cannot be combined with CIDRs';
      return v.length === 0 ? 'expected "primary" or at least one CIDR' : checkCIDRs(v, 'or "primary"');
    },
  },
  {
    flag: 'cluster-cidr',
    key: 'clusterCIDR',
    kind: 'list',
    default: [],
    help: 'pod CIDRs of the cluster (traffic from elsewhere to a ClusterIP is masqueraded); default: every node\'s podCIDRs',
    check: (v: string[]) => checkCIDRs(v, 'cluster CIDR'),
  },
  { flag: 'masquerade-all', key: 'masqueradeAll', kind: 'bool', default: false, help: 'masquerade all traffic to ClusterIPs' },
  {
    flag: 'masquerade-bit', key: 'masqueradeBit', kind: 'int', default: 14, min: 0, max: 31,
    help: 'bit of the packet mark that asks for masquerade (kube-proxy\'s --iptables-masquerade-bit); change it when another component uses bit 14',
  },
  {
    flag: 'detect-local-mode', key: 'detectLocalMode', kind: 'string', default: 'ClusterCIDR', choices: DETECT_LOCAL_MODES,
    help: 'how pod traffic is told apart (not masqueraded to ClusterIPs; short-circuited by eTP=Local): ClusterCIDR (--cluster-cidr, else every node\'s podCIDRs), NodeCIDR (this node\'s podCIDRs), BridgeInterface (--pod-bridge-interface), InterfaceNamePrefix (--pod-interface-name-prefix)',
  },
  {
    flag: 'proxy-health-timeout', key: 'proxyHealthTimeout', kind: 'int', default: 60, min: 1, max: 86_400,
    help: 'seconds a Service change may wait unapplied before /healthz and the health-check node ports answer 503 (kube-proxy: 2 × --sync-period = 60)',
  },
  { flag: 'pod-bridge-interface', key: 'podBridgeInterface', kind: 'string', default: 'nodeway-br0', help: 'the pods\' bridge, for --detect-local-mode BridgeInterface', check: ifname },
  { flag: 'pod-interface-name-prefix', key: 'podInterfaceNamePrefix', kind: 'string', default: 'veth', help: 'host-side name prefix of pod interfaces, for --detect-local-mode InterfaceNamePrefix', check: ifname },
];

function detectLocal(config: Config): LocalDetect {
  const mode = (config.detectLocalMode as string | undefined) ?? 'ClusterCIDR';
  if (mode === 'BridgeInterface') return { mode, iface: (config.podBridgeInterface as string | undefined) ?? 'nodeway-br0' };
  if (mode === 'InterfaceNamePrefix') return { mode, prefix: (config.podInterfaceNamePrefix as string | undefined) ?? 'veth' };
  return { mode: mode === 'NodeCIDR' ? 'NodeCIDR' : 'ClusterCIDR' };
}

export function masqOptions(c: ProxyConfig): { masqueradeAll: boolean; mark: string; detectLocal: LocalDetect } {
  return { masqueradeAll: c.masqueradeAll, mark: masqMark(c.masqueradeBit), detectLocal: c.detectLocal };
}

function cidrs(list: string[]): { family: IPFamily; cidr: string }[] {
  return list.map((c) => parseCIDR(c)!).map((c) => ({ family: c.family, cidr: c.text }));
}

export function proxyConfig(config: Config): ProxyConfig {
  const npa = (config.nodePortAddresses as string[] | undefined) ?? ['primary'];
  return {
    table: (config.nftTable as string | undefined) ?? 'nodeway',
    nodePortAddresses: npa.includes('primary') ? 'primary' : cidrs(npa),
    clusterCIDRs: cidrs((config.clusterCIDR as string[] | undefined) ?? []),
    masqueradeAll: (config.masqueradeAll as boolean | undefined) ?? false,
    masqueradeBit: (config.masqueradeBit as number | undefined) ?? 14,
    detectLocal: detectLocal(config),
    healthTimeoutS: (config.proxyHealthTimeout as number | undefined) ?? 60,
  };
}
