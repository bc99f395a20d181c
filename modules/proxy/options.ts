// The proxy's flags, and their parsed form. Validation happens here, once, so that a bad value
// stops start-up with a one-line error instead of failing every sync.
import type { IPFamily } from '../../src/kube/objects.ts';
import { parseCIDR } from '../../src/net/ip.ts';
import type { Config, OptionSpec } from '../../src/runtime/config.ts';

export interface ProxyConfig {
  table: string;
  /** 'primary' = the node's primary IP per family; else CIDRs the local addresses must fall in. */
  nodePortAddresses: 'primary' | { family: IPFamily; cidr: string }[];
  /** Empty = derive from the nodes' podCIDRs. */
  clusterCIDRs: { family: IPFamily; cidr: string }[];
  masqueradeAll: boolean;
}

const TABLE_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

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
];

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
  };
}
