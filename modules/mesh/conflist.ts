// The CNI network config: a bridge with the node's pod gateway(s), host-local with one range
// set per family (one set yields one address, so dual-stack needs two), the tunnel MTU, and
// portmap for hostPort. Masquerade is the agent's nft table, not the bridge's iptables rules.
import type { CIDR } from '../../src/net/ip.ts';
import type { Gateway } from './plan.ts';

export const CONFLIST_NAME = '10-nodeway.conflist';
export const NETWORK_NAME = 'nodeway';

export interface ConflistInput {
  bridge: string;
  podCIDRs: CIDR[];
  gateways: Gateway[];
  mtu: number;
  /** host-local's lease directory; under the state dir, so two agents on a host never share one. */
  ipamDir: string;
  portmap: boolean;
  /** The spec version every installed plugin supports (cni.ts chooseCniVersion); default 1.0.0. */
  cniVersion?: string;
}

export function renderConflist(c: ConflistInput): string {
  const ranges = c.podCIDRs.map((p) => [{ subnet: p.text, gateway: c.gateways.find((g) => g.family === p.family)!.ip }]);
  const routes = c.podCIDRs.map((p) => ({ dst: p.family === 4 ? '0.0.0.0/0' : '::/0' }));
  const plugins: unknown[] = [
    {
      type: 'bridge',
      bridge: c.bridge,
      isGateway: true,
      ipMasq: false,
      hairpinMode: true,
      mtu: c.mtu,
      ipam: { type: 'host-local', ranges, routes, dataDir: c.ipamDir },
    },
  ];
  if (c.portmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true } });
  return `${JSON.stringify({ cniVersion: c.cniVersion ?? '1.0.0', name: NETWORK_NAME, plugins }, null, 2)}\n`;
}

/** The pod MTU a conflist carries (its bridge's), 0 when it has none or does not parse. */
export function conflistMTU(text: string): number {
  try {
    const mtu = (JSON.parse(text) as { plugins?: { type?: string; mtu?: unknown }[] }).plugins?.find((p) => p.type === 'bridge')?.mtu;
    return typeof mtu === 'number' ? mtu : 0;
  } catch {
    return 0;
  }
}
