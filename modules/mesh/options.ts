// The mesh's flags and the typed config the rest of the module reads. Validation lives in the
// OptionSpec checks, so a bad value fails at start-up with the flag's name, never mid-sync.
import type { Config, OptionSpec } from '../../src/runtime/config.ts';
import { type CIDR, parseCIDR } from '../../src/net/ip.ts';

export type UserspaceMode = 'auto' | 'always' | 'never';

export interface MeshConfig {
  iface: string;
  port: number;
  stateDir: string;
  cniConfDir: string;
  cniBinDir: string;
  clusterCIDRs: CIDR[];
  /** 0 = from the path. */
  mtu: number;
  userspace: UserspaceMode;
  /** The pods' bridge; the agent owns it so routes can use its gateway address as source. */
  bridge: string;
}

// wg-quick's rule, and the kernel's 15-byte limit.
const IFNAME = /^[a-zA-Z0-9_=+.-]{1,15}$/;

export const MESH_OPTIONS: OptionSpec[] = [
  {
    flag: 'wg-interface', key: 'wgInterface', kind: 'string', default: 'nodeway0',
    help: 'WireGuard interface of the pod mesh',
    check: (v: string) => (IFNAME.test(v) ? undefined : 'must be 1-15 characters of [a-zA-Z0-9_=+.-]'),
  },
  { flag: 'wg-port', key: 'wgPort', kind: 'int', default: 51820, min: 1, max: 65535, help: 'UDP port WireGuard listens on' },
  { flag: 'state-dir', key: 'stateDir', kind: 'string', default: '/var/lib/nodeway', help: 'persistent state (the WireGuard private key, IPAM leases)' },
  { flag: 'cni-conf-dir', key: 'cniConfDir', kind: 'string', default: '/etc/cni/net.d', help: 'where the container runtime reads CNI configs' },
  { flag: 'cni-bin-dir', key: 'cniBinDir', kind: 'string', default: '/opt/cni/bin', help: 'where the container runtime finds CNI plugins' },
  {
    flag: 'cluster-cidr', key: 'clusterCIDR', kind: 'list',
    help: 'pod network(s) of the cluster: not masqueraded, and routed into the mesh even before a node has a key',
    check: (v: string[]) => {
      const bad = v.find((c) => !parseCIDR(c));
      return bad === undefined ? undefined : `${JSON.stringify(bad)} is not a CIDR`;
    },
  },
  {
    flag: 'mtu', key: 'mtu', kind: 'int', default: 0, min: 0, max: 65535,
    help: 'MTU of the WireGuard interface and pods; 0 = underlay path MTU minus 60 (IPv4) or 80 (IPv6)',
    check: (v: number) => (v === 0 || v >= 576 ? undefined : 'must be 0 (auto) or at least 576'),
  },
  { flag: 'wg-userspace', key: 'wgUserspace', kind: 'string', default: 'auto', choices: ['auto', 'always', 'never'], help: 'wireguard-go instead of the kernel: auto = when the kernel has no WireGuard' },
];

const DEFAULTS = Object.fromEntries(MESH_OPTIONS.filter((o) => o.default !== undefined).map((o) => [o.key, o.default]));

/** Reads the mesh's keys out of the agent config; defaults fill what the caller's parser did not. */
export function meshConfig(config: Config): MeshConfig {
  const c = { ...DEFAULTS, ...config };
  return {
    iface: c.wgInterface as string,
    port: c.wgPort as number,
    stateDir: c.stateDir as string,
    cniConfDir: c.cniConfDir as string,
    cniBinDir: c.cniBinDir as string,
    clusterCIDRs: ((c.clusterCIDR as string[] | undefined) ?? []).map((s) => parseCIDR(s)).filter((x): x is CIDR => x !== null),
    mtu: c.mtu as number,
    userspace: c.wgUserspace as UserspaceMode,
    bridge: 'nodeway-br0',
  };
}
