// The dns module: authoritative cluster DNS on every node, everything else forwarded.
import type { ModuleFactory } from '../index.ts';
import { removeCapture } from './capture.ts';
import { DnsModule } from './module.ts';
import { DNS_OPTIONS } from './options.ts';

export const dnsModule: ModuleFactory = {
  name: 'dns',
  options: DNS_OPTIONS,
  create: (ctx) => new DnsModule(ctx),
  cleanup: async (ctx) => {
    await removeCapture();
    ctx.log.info({ module: 'dns' }, 'removed the DNS capture table and link');
  },
};
