// The netpol module: NetworkPolicy (and ClusterNetworkPolicy) enforcement in nftables.
// Wired into the agent by modules/index.ts.
import { execa } from 'execa';
import type { ModuleFactory } from '../index.ts';
import { NetpolModule } from './module.ts';
import { NETPOL_OPTIONS, netpolConfig } from './options.ts';

export const netpolModule: ModuleFactory = {
  name: 'netpol',
  options: NETPOL_OPTIONS,
  create: (ctx) => new NetpolModule(ctx),
  async cleanup(ctx) {
    const { table } = netpolConfig(ctx.config);
    for (const family of ['ip', 'ip6']) {
      const r = await execa('nft', ['delete', 'table', family, table], { reject: false });
      if (r.exitCode !== 0 && !/No such file or directory/.test(r.stderr)) throw new Error(`nft delete table ${family} ${table}: ${r.stderr.split('\n')[0]}`);
    }
  },
};

export { NetpolModule };
