// The dns module: authoritative cluster DNS on every node, everything else forwarded.
import type { ModuleFactory } from '../index.ts';
import { removeCapture } from './capture.ts';
import { DnsModule } from './module.ts';
import { canonical } from './names.ts';
import { DNS_OPTIONS, dnsConfig } from './options.ts';
import { desiredToJSON, effectiveConfig, planDns } from './plan.ts';
import { ipv6Off } from '../../src/sys/ipv6.ts';

export const dnsModule: ModuleFactory = {
  name: 'dns',
  options: DNS_OPTIONS,
  create: (ctx) => new DnsModule(ctx),
  plan: (ctx, view) => desiredToJSON(planDns(effectiveConfig(dnsConfig(ctx.config), ipv6Off() !== ''), view)),
  cleanup: async (ctx) => {
    const clusterDNS = Array.isArray(ctx.config.clusterDNS) ? (ctx.config.clusterDNS as string[]) : [];
    await removeCapture(clusterDNS.map(canonical).filter(Boolean));
    ctx.log.info({ module: 'dns' }, 'removed the DNS capture table and link');
  },
};
