// What users migrating from CoreDNS customise (issue #13 item 12): extra host entries, node names
// (k3s NodeHosts), and per-zone upstreams (stub domains), from the config.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../modules/dns/engine.ts';
import { hostsTable } from '../../modules/dns/hosts.ts';
import { dnsModule } from '../../modules/dns/index.ts';
import { DnsMetrics } from '../../modules/dns/metrics.ts';
import { DnsModule } from '../../modules/dns/module.ts';
import { reverseName } from '../../modules/dns/names.ts';
import { dnsConfig } from '../../modules/dns/options.ts';
import { newQuery } from '../../modules/dns/query.ts';
import { Forwarder } from '../../modules/dns/upstream.ts';
import { RCODE, TYPE } from '../../modules/dns/wire.ts';
import { CORE_OPTIONS, parseArgs } from '../../src/runtime/config.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import type { PeerView } from '../../src/view/types.ts';
import { FakeUpstream } from './fake-upstream.ts';
import { decode, index, nodeView, query, rcodeOf, svc } from './fixtures.ts';
import { freePort } from './harness.ts';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function upstream(setup: (u: FakeUpstream) => void): Promise<FakeUpstream> {
  const u = await new FakeUpstream().start();
  setup(u);
  cleanups.push(() => u.stop());
  return u;
}

function forwarder(metrics: DnsMetrics, u?: FakeUpstream): Forwarder {
  const f = new Forwarder({ log, metrics, timeoutMs: 300 });
  f.setUpstreams(u ? [{ host: u.host, port: u.port }] : []);
  cleanups.push(() => f.close());
  return f;
}

async function ask(e: Engine, name: string, type: number = TYPE.A) {
  return decode(await e.handle(query(name, type), newQuery(), false));
}

describe('host entries', () => {
  it('answer before the cluster zone and the upstreams, with PTR, and fall through for other names', async () => {
    const u = await upstream((f) => f.add('elsewhere.test', '192.0.2.1').add('registry.local', '192.0.2.99'));
    const metrics = new DnsMetrics(new Registry(), 'dns://test', 'cluster.local');
    const idx = index({ services: [svc({ name: 'web', clusterIPs: ['10.96.0.20'] })], namespaces: ['default'] });
    const e = new Engine({ settings: idx.settings, forwarder: forwarder(metrics, u), metrics, cacheSize: 100 });
    e.setIndex(idx);
    expect((await ask(e, 'registry.local')).answers.map((a) => a.data)).toEqual([{ kind: 'ip', ip: '192.0.2.99' }]); // upstream, before
    e.setHosts(hostsTable(['192.168.1.10 registry.local Registry.Example.', 'fd00::10 registry.local', '10.96.0.20 web-alias'], [], 60));
    const a = await ask(e, 'REGISTRY.local');
    expect(a.answers.map((r) => [r.name, r.ttl, r.data])).toEqual([['REGISTRY.local', 60, { kind: 'ip', ip: '192.168.1.10' }]]);
    expect(a.flags & 0x0400).toBe(0x0400); // authoritative, as CoreDNS's hosts plugin
    expect((await ask(e, 'registry.local', TYPE.AAAA)).answers.map((r) => r.data)).toEqual([{ kind: 'ip', ip: 'fd00::10' }]);
    const mx = await ask(e, 'registry.example', TYPE.MX);
    expect([rcodeOf(mx), mx.answers.length]).toEqual([RCODE.NOERROR, 0]); // the name exists: NODATA
    expect((await ask(e, reverseName('192.168.1.10'), TYPE.PTR)).answers.map((r) => r.data)).toEqual([
      { kind: 'name', name: 'registry.local' },
      { kind: 'name', name: 'registry.example' },
    ]);
    // The hosts table comes before the cluster zone's PTR, as the plugin order has it.
    expect((await ask(e, reverseName('10.96.0.20'), TYPE.PTR)).answers.map((r) => r.data)).toEqual([{ kind: 'name', name: 'web-alias' }]);
    expect((await ask(e, 'elsewhere.test')).answers).toHaveLength(1);
    expect((await ask(e, 'web.default.svc.cluster.local')).answers).toHaveLength(1);
    expect(u.count('registry.local')).toBe(1);
  });
});

describe('stub domains', () => {
  it('send names in a zone to that zone\'s upstreams, everything else to the default ones', async () => {
    const corp = await upstream((f) => f.add('db.corp.example', '10.10.0.5').add('x.db.corp.example', '10.10.0.6'));
    const def = await upstream((f) => f.add('www.example', '192.0.2.8'));
    const metrics = new DnsMetrics(new Registry(), 'dns://test', 'cluster.local');
    const idx = index({ services: [], namespaces: [] });
    const e = new Engine({ settings: idx.settings, forwarder: forwarder(metrics, def), stubs: [{ zone: 'corp.example', forwarder: forwarder(metrics, corp) }], metrics, cacheSize: 100 });
    e.setIndex(idx);
    expect((await ask(e, 'DB.corp.example')).answers.map((r) => r.data)).toEqual([{ kind: 'ip', ip: '10.10.0.5' }]);
    expect((await ask(e, 'x.db.corp.example')).answers).toHaveLength(1);
    expect((await ask(e, 'www.example')).answers).toHaveLength(1);
    expect(rcodeOf(await ask(e, 'notcorp.example'))).toBe(RCODE.NXDOMAIN);
    expect(corp.asked.map((s) => s.name)).toEqual(['db.corp.example', 'x.db.corp.example']);
    expect(def.asked.map((s) => s.name)).toEqual(['www.example', 'notcorp.example']);
  });
});

describe('the config', () => {
  const specs = [...CORE_OPTIONS, ...dnsModule.options];
  it('reads stub domains, host entries and node names', () => {
    const c = dnsConfig(parseArgs(['--dns-listen', '127.0.0.1:53', '--dns-stub-domain', 'Consul.=10.0.0.10:8600 10.0.0.11', '--dns-host', '192.168.1.10 registry.local', '--dns-node-hosts', '--dns-hosts-ttl', '30'], specs, {}).config);
    expect(c.stubs).toEqual([{ zone: 'consul', upstream: ['10.0.0.10:8600', '10.0.0.11'] }]);
    expect([c.hosts, c.nodeHosts, c.hostsTTL]).toEqual([['192.168.1.10 registry.local'], true, 30]);
  });
  it('names the bad item', () => {
    const bad = (args: string[], re: RegExp) => expect(() => parseArgs(args, specs, {})).toThrow(re);
    bad(['--dns-stub-domain', 'consul'], /--dns-stub-domain: "consul" is not ZONE=UPSTREAM/);
    bad(['--dns-stub-domain', 'consul=dns.google'], /--dns-stub-domain: "dns.google" is neither/);
    bad(['--dns-stub-domain', 'a..b=10.0.0.1'], /--dns-stub-domain: "a..b" is not a domain name/);
    bad(['--dns-host', 'registry.local 192.168.1.10'], /--dns-host: "registry.local" is not an IP address/);
    bad(['--dns-host', '192.168.1.10'], /--dns-host: no name after 192.168.1.10/);
  });
});

describe('node names (k3s NodeHosts)', () => {
  it('resolve every node to its internal IPs, following the Nodes', async () => {
    const port = await freePort();
    const m = new DnsModule({ config: { dnsListen: [`127.0.0.1:${port}`], dnsUpstream: ['127.0.0.1:9'], dnsNodeHosts: true }, nodeName: 'n1', log, registry: new Registry() });
    cleanups.push(() => m.close());
    expect(m.inputs.kinds).toContain('nodes');
    const peer = (name: string, ip: string): PeerView => ({ name, self: false, podCIDRs: [], internalIPs: [ip], externalIPs: [], annotations: {}, zone: '', deleting: false });
    const none = { services: new Set<string>(), peers: new Set<string>(), pods: new Set<string>(), namespaces: new Set<string>(), self: false, serviceCIDRs: false, servicesAt: new Map<string, number>(), policies: new Set<string>() };
    await m.sync(nodeView({ services: [], peers: [peer('n2', '198.18.0.3')], self: { name: 'n1', internalIPs: ['198.18.0.2'] } }) as never, { ...none, full: true });
    expect((await ask(m.engine, 'n2')).answers.map((r) => r.data)).toEqual([{ kind: 'ip', ip: '198.18.0.3' }]);
    expect((await ask(m.engine, 'n1')).answers.map((r) => r.data)).toEqual([{ kind: 'ip', ip: '198.18.0.2' }]);
    expect((await ask(m.engine, reverseName('198.18.0.3'), TYPE.PTR)).answers.map((r) => r.data)).toEqual([{ kind: 'name', name: 'n2' }]);
    await m.sync(nodeView({ services: [], peers: [peer('n2', '198.18.0.4'), peer('n3', '198.18.0.5')], self: { name: 'n1', internalIPs: ['198.18.0.2'] } }) as never, { ...none, full: false, peers: new Set(['n2', 'n3']) });
    expect((await ask(m.engine, 'n2')).answers.map((r) => r.data)).toEqual([{ kind: 'ip', ip: '198.18.0.4' }]);
    expect((await ask(m.engine, 'n3')).answers).toHaveLength(1);
  });
});
