// Across a restart the cluster zone keeps answering: the module saves the zone to its snapshot
// file, and a new module answers from it (TTL 5 s) before its first sync instead of SERVFAIL,
// then from the live view (issue #15 item 13). Without a snapshot: SERVFAIL, as before.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ALLOW, DENY, SERVFAIL_ONLY, type ClientACL } from '../../modules/dns/access.ts';
import { DnsModule } from '../../modules/dns/module.ts';
import { dnsConfig } from '../../modules/dns/options.ts';
import { newQuery } from '../../modules/dns/query.ts';
import { RCODE, TYPE } from '../../modules/dns/wire.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import { decode, nodeView, query, rcodeOf, svc } from './fixtures.ts';
import { freePort } from './harness.ts';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'nodeway-dns-snapshot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const none = { services: new Set<string>(), peers: new Set<string>(), pods: new Set<string>(), namespaces: new Set<string>(), self: false, serviceCIDRs: false, servicesAt: new Map<string, number>(), policies: new Set<string>() };

async function module(snapshot: string): Promise<DnsModule> {
  return new DnsModule({ config: { dnsListen: [`127.0.0.1:${await freePort()}`], dnsUpstream: ['127.0.0.1:9'], ...(snapshot ? { dnsSnapshot: snapshot } : {}) }, nodeName: 'n1', log, registry: new Registry() });
}

async function ask(m: DnsModule, name: string, type: number = TYPE.A) {
  return decode(await m.engine.handle(query(name, type), newQuery(), false));
}

const SERVICES = [
  svc({ name: 'web', clusterIPs: ['10.96.0.20', 'fd00::20'], ports: [{ name: 'http', port: 80 }] }),
  svc({ name: 'db', headless: true, ports: [{ name: 'pg', port: 5432 }], endpoints: [{ ip: '10.244.1.5', hostname: 'db-0' }] }),
  svc({ name: 'ext', externalName: 'web.default.svc.cluster.local' }),
];

describe('the zone snapshot', () => {
  it('lives under the state dir when its path is relative (the shipped config), elsewhere when absolute', () => {
    const base = { dnsListen: ['127.0.0.1:53'] };
    expect(dnsConfig({ ...base, dnsSnapshot: 'dns-zone.json', stateDir: '/srv/nw' }).snapshot).toBe('/srv/nw/dns-zone.json');
    expect(dnsConfig({ ...base, dnsSnapshot: '/run/z.json', stateDir: '/srv/nw' }).snapshot).toBe('/run/z.json');
    expect(dnsConfig(base).snapshot).toBe('');
  });

  it('answers the last zone after a restart until the first sync, then the live one', async () => {
    const file = join(dir, 'a', 'zone.json');
    const a = await module(file);
    await a.sync(nodeView({ services: SERVICES, namespaces: ['default'] }) as never, { ...none, full: true });
    await a.close(); // writes the snapshot
    const b = await module(file);
    try {
      const web = await ask(b, 'web.default.svc.cluster.local');
      expect(web.answers.map((r) => [r.ttl, r.data])).toEqual([[5, { kind: 'ip', ip: '10.96.0.20' }]]);
      expect((await ask(b, 'web.default.svc.cluster.local', TYPE.AAAA)).answers).toHaveLength(1);
      expect((await ask(b, '_pg._tcp.db.default.svc.cluster.local', TYPE.SRV)).answers).toHaveLength(1);
      expect((await ask(b, 'db-0.db.default.svc.cluster.local')).answers.map((r) => r.data)).toEqual([{ kind: 'ip', ip: '10.244.1.5' }]);
      expect((await ask(b, 'ext.default.svc.cluster.local')).answers).toHaveLength(2);
      expect((await ask(b, '20.0.96.10.in-addr.arpa', TYPE.PTR)).answers).toHaveLength(1);
      expect(rcodeOf(await ask(b, 'nope.default.svc.cluster.local'))).toBe(RCODE.NXDOMAIN);
      expect(b.metrics.stale).toBe(1);
      // Pods (the node's pod CIDR) are answered too, not only loopback; outsiders still are not.
      const acl = (b as unknown as { acl: ClientACL }).acl;
      expect([acl.check('10.244.1.7'), acl.check('198.18.0.2'), acl.check('192.0.2.1')]).toEqual([ALLOW, ALLOW, DENY]);
      // The watch lists: the live zone replaces the snapshot at once.
      await b.sync(nodeView({ services: [svc({ name: 'web', clusterIPs: ['10.96.0.21'] })], namespaces: ['default'] }) as never, { ...none, full: true });
      expect((await ask(b, 'web.default.svc.cluster.local')).answers.map((r) => [r.ttl, r.data])).toEqual([[30, { kind: 'ip', ip: '10.96.0.21' }]]);
      expect(rcodeOf(await ask(b, 'db-0.db.default.svc.cluster.local'))).toBe(RCODE.NXDOMAIN);
      expect(b.metrics.stale).toBe(0);
    } finally {
      await b.close();
    }
    // That sync's zone is what the next run starts from.
    const c = await module(file);
    expect((await ask(c, 'web.default.svc.cluster.local')).answers.map((r) => r.data)).toEqual([{ kind: 'ip', ip: '10.96.0.21' }]);
    await c.close();
  });

  it('is marked for writing when the zone or who may ask changes, not for any other Node change', async () => {
    const m = await module(join(dir, 'marks', 'zone.json'));
    const dirty = () => (m as unknown as { snapshotDirty: boolean }).snapshotDirty;
    const view = (o: { web?: string; self?: { internalIPs: string[] } } = {}) =>
      nodeView({ services: [svc({ name: 'web', clusterIPs: [o.web ?? '10.96.0.20'] }), ...SERVICES.slice(1)], namespaces: ['default'], ...(o.self ? { self: o.self } : {}) }) as never;
    try {
      await m.sync(view(), { ...none, full: true });
      await (m as unknown as { snapshotWrite: Promise<void> }).snapshotWrite;
      expect(dirty()).toBe(false);
      // The node's own Node changed (the mesh published its key): same addresses, same zone.
      await m.sync(view(), { ...none, full: false, self: true });
      expect(dirty()).toBe(false);
      // A Service change DNS does not show (the same records).
      await m.sync(view(), { ...none, full: false, services: new Set(['default/web']) });
      expect(dirty()).toBe(false);
      await m.sync(view({ self: { internalIPs: ['198.18.0.3'] } }), { ...none, full: false, self: true });
      expect(dirty()).toBe(true);
      (m as unknown as { snapshotDirty: boolean }).snapshotDirty = false;
      await m.sync(view({ web: '10.96.0.21', self: { internalIPs: ['198.18.0.3'] } }), { ...none, full: false, services: new Set(['default/web']) });
      expect(dirty()).toBe(true);
    } finally {
      await m.close();
    }
  });

  it('answers SERVFAIL before the first sync without a usable snapshot', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"version":1,"zone":"cluster.local","services":[{"ns":3}],"namespaces":[],"savedAt":');
    for (const file of ['', join(dir, 'missing.json'), bad]) {
      const m = await module(file);
      expect(rcodeOf(await ask(m, 'web.default.svc.cluster.local'))).toBe(RCODE.SERVFAIL);
      expect((m as unknown as { acl: ClientACL }).acl.check('10.244.1.7')).toBe(SERVFAIL_ONLY);
      await m.close();
    }
    const other = join(dir, 'other-zone.json');
    const a = new DnsModule({ config: { dnsListen: [`127.0.0.1:${await freePort()}`], dnsUpstream: ['127.0.0.1:9'], dnsSnapshot: other, clusterDomain: 'example.internal' }, nodeName: 'n1', log, registry: new Registry() });
    await a.sync(nodeView({ services: SERVICES, namespaces: ['default'] }) as never, { ...none, full: true });
    await a.close();
    const b = await module(other);
    expect(rcodeOf(await ask(b, 'web.default.svc.cluster.local'))).toBe(RCODE.SERVFAIL);
    await b.close();
  });
});
