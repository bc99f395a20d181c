// The netpol module: NetworkPolicy (and ClusterNetworkPolicy) enforcement in nftables.
// Wired into the agent by modules/index.ts.
import { exec } from '../../src/sys/exec.ts';
import type { ModuleFactory } from '../index.ts';
import { NetpolModule } from './module.ts';
import { NETPOL_OPTIONS, netpolConfig } from './options.ts';
import { plan } from './plan.ts';
import { desiredToJSON } from './print.ts';

export const netpolModule: ModuleFactory = {
  name: 'netpol',
  options: NETPOL_OPTIONS,
  create: (ctx) => new NetpolModule(ctx),
  plan: (_ctx, view) => desiredToJSON(plan(view)),
  async cleanup(ctx) {
    const { table } = netpolConfig(ctx.config);
    for (const family of ['ip', 'ip6']) {
      const r = await exec('nft', ['delete', 'table', family, table]);
      if (!r.ok && !/No such file or directory/.test(r.stderr)) throw new Error(`nft delete table ${family} ${table}: ${r.stderr.split('\n')[0]}`);
    }
  },
};

export { NetpolModule };
