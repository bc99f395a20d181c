// Shared by the proxy unit tests: the node context they assume and a FamilyProxy on a fake nft.
import { pino } from 'pino';
import { FamilyProxy } from '../../modules/proxy/family.ts';
import { proxyMetrics } from '../../modules/proxy/metrics.ts';
import type { FamilyNode } from '../../modules/proxy/node.ts';
import { DEFAULT_MASQ } from '../../modules/proxy/plan-base.ts';
import type { IPFamily } from '../../src/kube/objects.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import type { FakeNft } from './fake-nft.ts';

export function node(family: IPFamily): FamilyNode {
  return family === 4
    ? { family, nodePortIPs: ['198.18.0.2'], nodeIP: '198.18.0.2', clusterCIDRs: ['198.19.1.0/24', '198.19.2.0/24'], serviceCIDRs: ['198.19.0.0/24'] }
    : { family, nodePortIPs: ['fd00:198:18::2'], nodeIP: 'fd00:198:18::2', clusterCIDRs: ['fd00:198:19:1::/64', 'fd00:198:19:2::/64'], serviceCIDRs: ['fd00:198:19::/112'] };
}

export function familyProxy(family: IPFamily, nft: FakeNft, deleteChainsNow = true): FamilyProxy {
  return new FamilyProxy(family, {
    table: 'nodeway',
    masq: DEFAULT_MASQ,
    nft,
    log: pino({ level: 'silent' }),
    metrics: proxyMetrics(new Registry()),
    deleteChainsNow,
    chunkOps: 100_000,
  });
}
