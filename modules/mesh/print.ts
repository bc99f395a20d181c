// What `nodeway view --desired mesh` prints: the plan for a view, without the device. The
// endpoint each peer is dialled on and the MTU are decided against the device when applied,
// so the candidates and the MTU rule are printed instead. Reads the public key if the state
// dir has one (and this process may read it); never creates one.
import { readFile } from 'node:fs/promises';
import type { NodeView } from '../../src/view/view.ts';
import { formatEndpoint, isValidKey } from './annotations.ts';
import { keyPath, publicKeyOf } from './key.ts';
import { renderNft } from './nft.ts';
import type { MeshConfig } from './options.ts';
import { plan } from './plan.ts';

export function printDesired(cfg: MeshConfig, nodeName: string, view: NodeView, publicKey: string | undefined): unknown {
  const p = plan({ config: cfg, nodeName, nodes: view.peers.values(), publicKey: publicKey ?? '' });
  return {
    publicKey: publicKey ?? '(read from the state dir at the first sync)',
    podCIDRs: p.podCIDRs.map((c) => c.text),
    gateways: p.gateways.map((g) => g.cidr),
    tunnelAddrs: p.tunnelAddrs,
    mtu: cfg.mtu > 0 ? cfg.mtu : 'path MTU, probed when applied',
    peers: p.peers.map((x) => ({ node: x.node, publicKey: x.publicKey, candidates: x.candidates.map(formatEndpoint), forced: x.forced, allowedIPs: x.allowedIPs, keepalive: x.keepalive })),
    routes: p.routes,
    pending: p.pending,
    rejected: p.rejected,
    warnings: p.warnings,
    publish: p.publish,
    nft: renderNft({ iface: cfg.iface, podCIDRs: p.podCIDRs, clusterNets: p.clusterNets }).split('\n'),
  };
}

/** The stored key's public half, undefined when there is none yet or it cannot be read here. */
export async function storedPublicKey(stateDir: string): Promise<string | undefined> {
  const text = await readFile(keyPath(stateDir), 'utf8').catch(() => undefined);
  const key = text?.trim();
  return key && isValidKey(key) ? publicKeyOf(key) : undefined;
}
