// Golden transactions: what the proxy sends to `nft -f -` for representative Services, first
// load and one incremental change. UPDATE_GOLDEN=1 rewrites the files; review the diff.
import { DEFAULT_MASQ } from '../../modules/proxy/plan-base.ts';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FamilyProxy } from '../../modules/proxy/family.ts';
import { proxyMetrics } from '../../modules/proxy/metrics.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import { FakeNft } from './fake-nft.ts';
import { service, slice, view } from './fixtures.ts';
import { familyProxy, node } from './helpers.ts';
import { UPDATED_KEYS, dualStackServices, initialServices, updatedServices } from './scenario.ts';

const dir = new URL('./golden/', import.meta.url);

function golden(name: string, text: string): void {
  const file = new URL(name, dir);
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe('golden transactions', () => {
  it('first load of a fresh table, then one incremental change', async () => {
    const nft = new FakeNft();
    const fp = familyProxy(4, nft);
    await fp.sync(initialServices(), new Set(), true, node(4));
    golden('initial.nft', nft.take());
    await fp.sync(updatedServices(), UPDATED_KEYS, false, node(4));
    golden('update.nft', nft.take());
    // Nothing changed: nothing to send.
    await fp.sync(updatedServices(), UPDATED_KEYS, false, node(4));
    expect(nft.scripts).toEqual([]);
    // empty's endpoint replaced: an override, then its compaction.
    const replaced = updatedServices();
    replaced.set('default/empty', view(service('empty', { clusterIPs: ['198.19.0.20'] }), [slice('empty', 'empty-1', [{ port: 8080 }], [{ ip: '198.19.2.8' }])]));
    await fp.sync(replaced, new Set(['default/empty']), false, node(4));
    golden('override.nft', nft.take());
    await fp.compact();
    golden('compact.nft', nft.take());
  });

  it('dual-stack: each family its own table and transaction', async () => {
    for (const f of [4, 6] as const) {
      const nft = new FakeNft();
      await familyProxy(f, nft).sync(dualStackServices(), new Set(), true, node(f));
      golden(`dualstack-v${f}.nft`, nft.take());
    }
  });

  it('full resync over a live table: one transaction, no gap, affinity kept, leftovers removed', async () => {
    const nft = new FakeNft();
    nft.names_ = {
      exists: true,
      chains: new Set(['nat-prerouting', 'services', 'service-AAAAAAAA-default/gone/tcp/', 'endpoint-TE5VJLLP-default/sticky/sctp/__198.19.2.5/9000']),
      sets: new Map([
        ['service-ips', 'map'],
        ['cluster-ips', 'set'],
        ['affinity-GYVDQHTB-default/sticky/sctp/__198.19.2.5/9000', 'set'],
        ['affinity-AAAAAAAA-default/gone/tcp/__198.19.9.9/80', 'set'],
      ]),
    };
    await familyProxy(4, nft).sync(initialServices(), new Set(), true, node(4));
    golden('rewrite.nft', nft.take());
  });

  it('kernels before 6.2: removed chains are flushed now and deleted a second later', async () => {
    const nft = new FakeNft();
    let now = 0;
    const fp = new FamilyProxy(4, {
      table: 'nodeway',
      masq: DEFAULT_MASQ,
      nft,
      log: pino({ level: 'silent' }),
      metrics: proxyMetrics(new Registry()),
      deleteChainsNow: false,
      chunkOps: 100_000,
      now: () => now,
    });
    await fp.sync(initialServices(), new Set(), true, node(4));
    nft.take();
    await fp.sync(updatedServices(), UPDATED_KEYS, false, node(4));
    const update = nft.take();
    expect(update).not.toMatch(/delete chain/);
    expect(update).toMatch(/flush chain ip nodeway endpoint-\S+-default\/sticky/);
    now = 1500;
    await fp.sync(updatedServices(), new Set(), false, node(4));
    golden('stale-delete.nft', nft.take());
  });
});
