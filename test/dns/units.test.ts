// Small pure pieces: who may ask (ACL), the flags, upstream lists, the IP ↔ name rules.
import { describe, expect, it } from 'vitest';
import { ALLOW, ClientACL, DENY, SERVFAIL_ONLY } from '../../modules/dns/access.ts';
import { dnsModule } from '../../modules/dns/index.ts';
import { dashedIP, ipFromDashed, ipFromReverse, reverseName } from '../../modules/dns/names.ts';
import { dnsConfig } from '../../modules/dns/options.ts';
import { loadUpstreams, parseAddress, parseResolvConf } from '../../modules/dns/resolvconf.ts';
import { ConfigError, CORE_OPTIONS, parseArgs } from '../../src/runtime/config.ts';
import { nodeView } from './fixtures.ts';

describe('client ACL', () => {
  const peer = { name: 'n2', self: false, podCIDRs: ['10.244.2.0/24', 'fd00:244:2::/64'], internalIPs: ['198.18.0.3'], externalIPs: [], annotations: {}, zone: '', deleting: false };
  it('serves only SERVFAIL to unknown clients until it knows the cluster, loopback always', () => {
    const acl = new ClientACL(['192.0.2.0/24']);
    expect(acl.check('127.0.0.1')).toBe(ALLOW);
    expect(acl.check('::1')).toBe(ALLOW);
    expect(acl.check('192.0.2.7')).toBe(ALLOW);
    expect(acl.check('10.244.2.9')).toBe(SERVFAIL_ONLY);
  });
  it('allows this node, other nodes, pod CIDRs and known pod IPs; drops the rest', () => {
    const acl = new ClientACL();
    acl.check('10.244.2.9'); // memoised before the update: must be forgotten
    acl.update(nodeView({ services: [], peers: [peer], pods: { '10.9.9.9': [{ namespace: 'a', name: 'p', nodeName: 'n2', hostNetwork: false }] } }) as never);
    expect(acl.check('198.18.0.2')).toBe(ALLOW); // self
    expect(acl.check('198.18.0.3')).toBe(ALLOW); // peer
    expect(acl.check('10.244.1.20')).toBe(ALLOW); // own pod CIDR
    expect(acl.check('10.244.2.9')).toBe(ALLOW);
    expect(acl.check('fd00:244:2::5')).toBe(ALLOW);
    expect(acl.check('::ffff:10.244.2.9')).toBe(ALLOW);
    expect(acl.check('10.9.9.9')).toBe(ALLOW); // pod outside any CIDR (CNI without node pod CIDRs)
    expect(acl.check('203.0.113.5')).toBe(DENY);
    expect(acl.check('198.18.0.99')).toBe(DENY);
    expect(acl.check('garbage')).toBe(DENY);
  });
});

describe('flags', () => {
  const specs = [...CORE_OPTIONS, ...dnsModule.options];
  it('parses every DNS flag, repeatable ones too', () => {
    const { config } = parseArgs(
      ['--cluster-domain', 'Example.Internal.', '--cluster-dns', '198.19.0.10', '--cluster-dns', 'fd00:198:19::a', '--dns-listen', '127.0.0.1:5353', '--dns-listen', '[::1]:5353',
        '--dns-upstream', '192.0.2.1', '--dns-upstream', '[2001:db8::1]:5353', '--dns-ttl', '5', '--dns-pods', 'verified', '--dns-allow', '192.0.2.0/24', '--dns-cache-size', '100', '--cluster-cidr', '10.244.0.0/16',
        '--dns-cache-success-ttl', '3600', '--dns-cache-denial-ttl', '1800', '--dns-cache-min-ttl', '0', '--dns-cache-servfail-ttl', '0'],
      specs,
      {},
    );
    const c = dnsConfig(config);
    expect(c).toMatchObject({
      zone: 'example.internal',
      clusterDNS: ['198.19.0.10', 'fd00:198:19::a'],
      listen: [{ host: '198.19.0.10', port: 53 }, { host: 'fd00:198:19::a', port: 53 }, { host: '127.0.0.1', port: 5353 }, { host: '::1', port: 5353 }],
      upstream: ['192.0.2.1', '[2001:db8::1]:5353'],
      ttl: 5,
      pods: 'verified',
      allow: ['192.0.2.0/24', '10.244.0.0/16'],
      cacheSize: 100,
      cachePolicy: { success: 3600, denial: 1800, min: 0, servfail: 0 },
    });
  });
  it('has the CoreDNS/kubeadm defaults', () => {
    const c = dnsConfig(parseArgs(['--dns-listen', '127.0.0.1:53'], specs, {}).config);
    expect([c.zone, c.ttl, c.pods, c.upstream, c.cacheSize]).toEqual(['cluster.local', 30, 'insecure', ['/etc/resolv.conf'], 9984]);
    expect(c.cachePolicy).toEqual({ success: 30, denial: 30, min: 5, servfail: 5 }); // kubeadm's `cache 30`
  });
  it('names the bad flag', () => {
    const bad = (args: string[], re: RegExp) => expect(() => dnsConfig(parseArgs(args, specs, {}).config)).toThrow(re);
    bad(['--cluster-dns', '10.0.0.300'], /--cluster-dns: "10\.0\.0\.300" is not an IP address/);
    bad(['--dns-listen', 'localhost:53'], /--dns-listen: .* is not ADDR:PORT/);
    bad(['--dns-upstream', 'dns.google'], /--dns-upstream: .* neither/);
    bad(['--dns-ttl', '99999', '--dns-listen', '127.0.0.1:53'], /--dns-ttl: 99999 is above 3600/);
    bad(['--dns-pods', 'sometimes'], /--dns-pods: "sometimes" is not one of/);
    bad(['--cluster-domain', 'a..b'], /--cluster-domain/);
    bad(['--dns-allow', '10.0.0.0/40'], /--dns-allow/);
    expect(() => dnsConfig(parseArgs([], specs, {}).config)).toThrow(ConfigError);
  });
});

describe('upstreams', () => {
  it('reads nameserver lines of resolv.conf, dropping zone indexes and duplicates', () => {
    expect(parseResolvConf('# c\nsearch x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0 ; c\nnameserver 10.0.0.2\nnameserver bogus\noptions ndots:5\n')).toEqual([
      { host: '10.0.0.2', port: 53 },
      { host: 'fe80::1', port: 53 },
    ]);
  });
  it('parses addresses with and without ports', () => {
    expect(parseAddress('192.0.2.1')).toEqual({ host: '192.0.2.1', port: 53 });
    expect(parseAddress('192.0.2.1:5353')).toEqual({ host: '192.0.2.1', port: 5353 });
    expect(parseAddress('2001:db8::1')).toEqual({ host: '2001:db8::1', port: 53 });
    expect(parseAddress('[2001:DB8::1]:54')).toEqual({ host: '2001:db8::1', port: 54 });
    expect(parseAddress('x:53')).toBeNull();
    expect(parseAddress('192.0.2.1:0')).toBeNull();
  });
  it('merges files and addresses in order, reporting unreadable files', () => {
    const files: Record<string, string> = { '/etc/resolv.conf': 'nameserver 10.0.0.2\n' };
    const r = loadUpstreams(['/etc/resolv.conf', '192.0.2.1', '/missing', '10.0.0.2'], (f) => {
      if (!(f in files)) throw Object.assign(new Error('no'), { code: 'ENOENT' });
      return files[f]!;
    });
    expect(r.addrs).toEqual([{ host: '10.0.0.2', port: 53 }, { host: '192.0.2.1', port: 53 }]);
    expect(r.errors).toEqual(['/missing: ENOENT']);
  });
});

describe('names', () => {
  it('dashes IPs like CoreDNS and reads them back', () => {
    expect(dashedIP('10.0.0.1')).toBe('10-0-0-1');
    expect(dashedIP('2001:db8::')).toBe('2001-db8--0');
    expect(dashedIP('::1')).toBe('0--1');
    expect(ipFromDashed('10-0-0-1')).toBe('10.0.0.1');
    expect(ipFromDashed('2001-db8--0')).toBe('2001:db8::');
    expect(ipFromDashed('fd00--1')).toBe('fd00::1');
    expect(ipFromDashed('10-0-0')).toBe('');
    expect(ipFromDashed('web')).toBe('');
  });
  it('maps IPs to reverse names and back', () => {
    for (const ip of ['10.96.0.1', '2001:db8::1', 'fd00:198:19::a', '::']) expect(ipFromReverse(reverseName(ip))).toBe(ip);
    expect(reverseName('2001:db8::1')).toBe('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
    expect(ipFromReverse('1.0.96.10.in-addr.arpa.extra')).toBe('');
    expect(ipFromReverse('x.0.96.10.in-addr.arpa')).toBe('');
    expect(ipFromReverse('0.96.10.in-addr.arpa')).toBe('');
    expect(ipFromReverse('g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa')).toBe('');
  });
});
