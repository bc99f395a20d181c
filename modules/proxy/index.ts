// The proxy module: Service load balancing in nftables, a drop-in for kube-proxy's nftables
// mode. Wired into the agent by modules/index.ts.
import type { ModuleFactory } from '../index.ts';
import { ProxyModule, proxyDesired } from './module.ts';
import { localAddresses } from './node.ts';
import { nftCli } from './nft.ts';
import { PROXY_OPTIONS, proxyConfig } from './options.ts';

export const proxyModule: ModuleFactory = {
  name: 'proxy',
  options: PROXY_OPTIONS,
  create: (ctx) => new ProxyModule(ctx),
  plan: (ctx, view) => proxyDesired(proxyConfig(ctx.config), view, localAddresses()),
  async cleanup(ctx) {
    const { table } = proxyConfig(ctx.config);
    const nft = nftCli();
    for (const family of ['ip', 'ip6'] as const) await nft.deleteTable(family, table);
  },
};

export { ProxyModule };
