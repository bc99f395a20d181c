// The record index and lookup: every record type of the spec, the CoreDNS extensions, and
// every NXDOMAIN vs NODATA rule of reference §1.9.
import { describe, expect, it } from 'vitest';
import { resolve, type AuthAnswer } from '../../modules/dns/lookup.ts';
import type { RR } from '../../modules/dns/message.ts';
import { reverseName } from '../../modules/dns/names.ts';
import { planIndex, ptrOwners, updateIndex, type RecordIndex } from '../../modules/dns/records.ts';
import { RCODE, TYPE } from '../../modules/dns/wire.ts';
import { index, inputs, SETTINGS, svc } from './fixtures.ts';

const Z = 'cluster.local';

const SERVICES = [
  svc({ name: 'web', clusterIPs: ['10.96.0.20', 'fd00::20'], ports: [{ name: 'http', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }, { name: '', port: 8080 }] }),
  svc({ name: 'v4only', clusterIPs: ['10.96.0.21'], ports: [{ name: 'http', port: 80 }] }),
  svc({ name: 'empty', clusterIPs: ['10.96.0.22'], ports: [{ name: '', port: 80 }] }),
  svc({
    name: 'hdls',
    headless: true,
    ports: [{ name: 'pg', port: 5432 }, { name: 'metrics', port: 9187 }],
    endpoints: [
      { ip: '10.244.1.5', hostname: 'db-0' },
      { ip: '10.244.2.6' },
      { ip: '10.244.3.7', hostname: 'dup' },
      { ip: '10.244.3.8', hostname: 'dup' },
    ],
  }),
  svc({ name: 'hdls6', headless: true, ports: [{ name: 'pg', port: 5432 }], endpoints: [{ ip: 'fd00:244::7', hostname: 'v6-0' }] }),
  svc({ name: 'unready', headless: true, ports: [{ name: 'pg', port: 5432 }] }),
  svc({ name: 'ext', externalName: 'www.Example.com.' }),
  svc({ name: 'ext-in', externalName: 'web.default.svc.cluster.local' }),
  svc({ name: 'ext-loop', externalName: 'ext-loop.default.svc.cluster.local' }),
  svc({ name: 'ext-ip', externalName: '1.2.3.4' }),
  svc({ ns: 'ns2', name: 'web2', clusterIPs: ['10.96.1.1'], endpoints: [{ ip: '10.244.1.5', hostname: 'db-0' }] }),
];
const NAMESPACES = ['default', 'kube-system', 'empty-ns'];
const IDX = index({ services: SERVICES, namespaces: NAMESPACES });

function text(r: RR): string {
  const d = r.data;
  switch (d.kind) {
    case 'ip':
      return `${r.name} ${r.ttl} ${d.ip}`;
    case 'name':
      return `${r.name} ${r.ttl} ${r.type === TYPE.CNAME ? 'CNAME' : r.type === TYPE.NS ? 'NS' : 'PTR'} ${d.name}`;
    case 'srv':
      return `${r.name} ${r.ttl} SRV ${d.priority} ${d.weight} ${d.port} ${d.target}`;
    case 'txt':
      return `${r.name} ${r.ttl} TXT ${d.texts.join(' ')}`;
    case 'soa':
      return `${r.name} ${r.ttl} SOA ${d.mname} ${d.rname} ${d.minimum}`;
    default:
      return `${r.name} ${r.type}`;
  }
}

function ask(name: string, type: number, idx: RecordIndex | null = IDX): AuthAnswer | null {
  return resolve(idx, idx?.settings ?? SETTINGS, name, type);
}

function records(name: string, type: number, idx?: RecordIndex): string[] {
  const a = ask(name, type, idx);
  expect(a, `${name} should be answered`).not.toBeNull();
  expect(a!.rcode, `${name} rcode`).toBe(RCODE.NOERROR);
  return a!.answers.map(text);
}

const NODATA = 'NODATA';
const NXDOMAIN = 'NXDOMAIN';

function outcome(name: string, type: number, idx?: RecordIndex): string {
  const a = ask(name, type, idx);
  if (!a) return 'FORWARD';
  if (a.rcode === RCODE.NXDOMAIN) {
    expect(a.answers).toHaveLength(0);
    expect(a.authority.map((r) => r.type)).toEqual([TYPE.SOA]);
    return NXDOMAIN;
  }
  if (a.rcode === RCODE.NOERROR && a.answers.length === 0) {
    expect(a.authority.map((r) => r.type)).toEqual([TYPE.SOA]);
    return NODATA;
  }
  return a.rcode === RCODE.NOERROR ? 'ANSWER' : `RCODE${a.rcode}`;
}

describe('ClusterIP services (spec 2.3)', () => {
  it('answers A and AAAA per cluster IP family, and both for ANY', () => {
    expect(records(`web.default.svc.${Z}`, TYPE.A)).toEqual([`web.default.svc.${Z} 30 10.96.0.20`]);
    expect(records(`web.default.svc.${Z}`, TYPE.AAAA)).toEqual([`web.default.svc.${Z} 30 fd00::20`]);
    expect(records(`web.default.svc.${Z}`, TYPE.ANY)).toHaveLength(2);
  });
  it('answers SRV for named ports only, with the cluster IPs as additional records', () => {
    const a = ask(`_http._tcp.web.default.svc.${Z}`, TYPE.SRV)!;
    expect(a.answers.map(text)).toEqual([`_http._tcp.web.default.svc.${Z} 30 SRV 0 100 80 web.default.svc.${Z}`]);
    expect(a.additional.map(text)).toEqual([`web.default.svc.${Z} 30 10.96.0.20`, `web.default.svc.${Z} 30 fd00::20`]);
    expect(records(`_dns._udp.web.default.svc.${Z}`, TYPE.SRV)).toEqual([`_dns._udp.web.default.svc.${Z} 30 SRV 0 100 53 web.default.svc.${Z}`]);
    expect(outcome(`_dns._tcp.web.default.svc.${Z}`, TYPE.SRV)).toBe(NXDOMAIN); // protocol mismatch
    expect(outcome(`_nope._tcp.web.default.svc.${Z}`, TYPE.SRV)).toBe(NXDOMAIN);
    expect(outcome(`_http._tcp.empty.default.svc.${Z}`, TYPE.SRV)).toBe(NXDOMAIN); // no named ports
    expect(outcome(`http.tcp.web.default.svc.${Z}`, TYPE.SRV)).toBe(NXDOMAIN); // not _port._proto
  });
  it('answers A/AAAA at _port._proto names with the addresses behind the matching port, as CoreDNS does', () => {
    // CoreDNS findServices yields one (cluster IP, port) per matching port; its A/AAAA handlers
    // then answer those IPs at the question name.
    expect(records(`_http._tcp.web.default.svc.${Z}`, TYPE.A)).toEqual([`_http._tcp.web.default.svc.${Z} 30 10.96.0.20`]);
    expect(records(`_http._tcp.web.default.svc.${Z}`, TYPE.AAAA)).toEqual([`_http._tcp.web.default.svc.${Z} 30 fd00::20`]);
    expect(outcome(`_http._tcp.v4only.default.svc.${Z}`, TYPE.AAAA)).toBe(NODATA);
    expect(outcome(`_http._tcp.web.default.svc.${Z}`, TYPE.TXT)).toBe(NODATA);
    expect(outcome(`_nope._tcp.web.default.svc.${Z}`, TYPE.A)).toBe(NXDOMAIN);
    // Headless: the ready endpoints carrying that port, each address once.
    expect(records(`_pg._tcp.hdls.default.svc.${Z}`, TYPE.A).sort()).toEqual(['10.244.1.5', '10.244.2.6', '10.244.3.7', '10.244.3.8'].map((ip) => `_pg._tcp.hdls.default.svc.${Z} 30 ${ip}`));
  });
  it('answers bare-name SRV with one record per port (CoreDNS extension)', () => {
    expect(records(`web.default.svc.${Z}`, TYPE.SRV)).toEqual([
      `web.default.svc.${Z} 30 SRV 0 33 80 web.default.svc.${Z}`,
      `web.default.svc.${Z} 30 SRV 0 33 53 web.default.svc.${Z}`,
      `web.default.svc.${Z} 30 SRV 0 33 8080 web.default.svc.${Z}`,
    ]);
  });
  it('answers PTR for cluster IPs, IPv6 in nibble form', () => {
    expect(records(`20.0.96.10.in-addr.arpa`, TYPE.PTR)).toEqual([`20.0.96.10.in-addr.arpa 30 PTR web.default.svc.${Z}`]);
    const v6 = reverseName('fd00::20');
    expect(v6).toBe('0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa');
    expect(records(v6, TYPE.PTR)).toEqual([`${v6} 30 PTR web.default.svc.${Z}`]);
  });
  it('still resolves a ClusterIP service with no endpoints', () => {
    expect(records(`empty.default.svc.${Z}`, TYPE.A)).toEqual([`empty.default.svc.${Z} 30 10.96.0.22`]);
  });
});

describe('headless services (spec 2.4)', () => {
  it('answers one A/AAAA per ready endpoint', () => {
    expect(records(`hdls.default.svc.${Z}`, TYPE.A)).toEqual(
      ['10.244.1.5', '10.244.2.6', '10.244.3.7', '10.244.3.8'].map((ip) => `hdls.default.svc.${Z} 30 ${ip}`),
    );
    expect(records(`hdls6.default.svc.${Z}`, TYPE.AAAA)).toEqual([`hdls6.default.svc.${Z} 30 fd00:244::7`]);
  });
  it('answers hostname and dashed-IP endpoint names; several IPs under one hostname', () => {
    expect(records(`db-0.hdls.default.svc.${Z}`, TYPE.A)).toEqual([`db-0.hdls.default.svc.${Z} 30 10.244.1.5`]);
    expect(records(`10-244-2-6.hdls.default.svc.${Z}`, TYPE.A)).toEqual([`10-244-2-6.hdls.default.svc.${Z} 30 10.244.2.6`]);
    expect(records(`dup.hdls.default.svc.${Z}`, TYPE.A)).toHaveLength(2);
    expect(records(`v6-0.hdls6.default.svc.${Z}`, TYPE.AAAA)).toEqual([`v6-0.hdls6.default.svc.${Z} 30 fd00:244::7`]);
  });
  it('answers SRV per (endpoint name × named port), deduplicated, with addresses as additional', () => {
    const a = ask(`_pg._tcp.hdls.default.svc.${Z}`, TYPE.SRV)!;
    expect(a.answers.map(text)).toEqual([
      `_pg._tcp.hdls.default.svc.${Z} 30 SRV 0 33 5432 db-0.hdls.default.svc.${Z}`,
      `_pg._tcp.hdls.default.svc.${Z} 30 SRV 0 33 5432 10-244-2-6.hdls.default.svc.${Z}`,
      `_pg._tcp.hdls.default.svc.${Z} 30 SRV 0 33 5432 dup.hdls.default.svc.${Z}`,
    ]);
    expect(a.additional.map(text)).toEqual([
      `db-0.hdls.default.svc.${Z} 30 10.244.1.5`,
      `10-244-2-6.hdls.default.svc.${Z} 30 10.244.2.6`,
      `dup.hdls.default.svc.${Z} 30 10.244.3.7`,
      `dup.hdls.default.svc.${Z} 30 10.244.3.8`,
    ]);
    expect(records(`hdls.default.svc.${Z}`, TYPE.SRV)).toHaveLength(6); // bare name: 3 names × 2 ports
  });
  it('answers PTR for endpoint IPs with their endpoint names, across services', () => {
    expect(records(`6.2.244.10.in-addr.arpa`, TYPE.PTR)).toEqual([`6.2.244.10.in-addr.arpa 30 PTR 10-244-2-6.hdls.default.svc.${Z}`]);
    expect(records(`5.1.244.10.in-addr.arpa`, TYPE.PTR)).toEqual([
      `5.1.244.10.in-addr.arpa 30 PTR db-0.hdls.default.svc.${Z}`,
      `5.1.244.10.in-addr.arpa 30 PTR db-0.web2.ns2.svc.${Z}`,
    ]);
    expect(records(reverseName('fd00:244::7'), TYPE.PTR)).toEqual([`${reverseName('fd00:244::7')} 30 PTR v6-0.hdls6.default.svc.${Z}`]);
  });
});

describe('ExternalName (spec 2.5)', () => {
  it('answers a CNAME; outside targets are chased upstream, inside ones here', () => {
    const a = ask(`ext.default.svc.${Z}`, TYPE.A)!;
    expect(a.answers.map(text)).toEqual([`ext.default.svc.${Z} 30 CNAME www.example.com`]);
    expect(a.chase).toBe('www.example.com');
    expect(ask(`ext.default.svc.${Z}`, TYPE.CNAME)!.chase).toBeUndefined();
    expect(records(`ext-in.default.svc.${Z}`, TYPE.A)).toEqual([`ext-in.default.svc.${Z} 30 CNAME web.default.svc.${Z}`, `web.default.svc.${Z} 30 10.96.0.20`]);
    expect(records(`ext-loop.default.svc.${Z}`, TYPE.A)).toEqual([`ext-loop.default.svc.${Z} 30 CNAME ext-loop.default.svc.${Z}`]);
    expect(outcome(`ext-ip.default.svc.${Z}`, TYPE.A)).toBe(NODATA);
  });
  it('has nothing below it and no SRV', () => {
    expect(outcome(`x.ext.default.svc.${Z}`, TYPE.A)).toBe(NXDOMAIN);
    expect(outcome(`_http._tcp.ext.default.svc.${Z}`, TYPE.SRV)).toBe(NXDOMAIN);
  });
});

describe('schema version, apex, NS (spec 2.2, CoreDNS)', () => {
  it('answers dns-version TXT 1.1.0 with TTL 28800', () => {
    expect(records(`dns-version.${Z}`, TYPE.TXT)).toEqual([`dns-version.${Z} 28800 TXT 1.1.0`]);
    expect(outcome(`dns-version.${Z}`, TYPE.A)).toBe(NODATA);
  });
  it('answers SOA and NS at the apex, with glue for ns.dns', () => {
    expect(records(Z, TYPE.SOA)).toEqual([`${Z} 30 SOA ns.dns.${Z} hostmaster.${Z} 30`]);
    const ns = ask(Z, TYPE.NS)!;
    expect(ns.answers.map(text)).toEqual([`${Z} 30 NS ns.dns.${Z}`]);
    expect(ns.additional.map(text)).toEqual([`ns.dns.${Z} 30 10.96.0.10`]);
    expect(records(`ns.dns.${Z}`, TYPE.A)).toEqual([`ns.dns.${Z} 30 10.96.0.10`]);
  });
  it('uses the configured TTL everywhere, and as SOA minimum', () => {
    const idx = index({ services: SERVICES, namespaces: NAMESPACES }, { ttl: 5 });
    expect(records(`web.default.svc.${Z}`, TYPE.A, idx)).toEqual([`web.default.svc.${Z} 5 10.96.0.20`]);
    expect(ask(`nope.default.svc.${Z}`, TYPE.A, idx)!.authority.map(text)).toEqual([`${Z} 5 SOA ns.dns.${Z} hostmaster.${Z} 5`]);
  });
});

describe('NXDOMAIN vs NODATA (reference 1.9)', () => {
  const table: [string, number, string][] = [
    [`v4only.default.svc.${Z}`, TYPE.AAAA, NODATA],
    [`v4only.default.svc.${Z}`, TYPE.TXT, NODATA],
    [`v4only.default.svc.${Z}`, TYPE.MX, NODATA],
    [`v4only.default.svc.${Z}`, TYPE.HINFO, NODATA],
    [`v4only.default.svc.${Z}`, TYPE.CNAME, NODATA],
    [`v4only.default.svc.${Z}`, TYPE.SOA, NODATA],
    [`v4only.default.svc.${Z}`, TYPE.NS, NODATA],
    [`missing.default.svc.${Z}`, TYPE.A, NXDOMAIN],
    [`web.nsnoexist.svc.${Z}`, TYPE.A, NXDOMAIN],
    [`default.svc.${Z}`, TYPE.A, NODATA],
    [`default.svc.${Z}`, TYPE.NS, NODATA],
    [`empty-ns.svc.${Z}`, TYPE.A, NODATA],
    [`ns2.svc.${Z}`, TYPE.A, NODATA], // has Services, no Namespace object seen
    [`foo.svc.${Z}`, TYPE.NS, NXDOMAIN],
    [`svc.${Z}`, TYPE.A, NODATA],
    [`pod.${Z}`, TYPE.A, NODATA],
    [`foo.${Z}`, TYPE.NS, NXDOMAIN],
    [`foo.${Z}`, TYPE.A, NXDOMAIN],
    [Z, TYPE.A, NODATA],
    [Z, TYPE.AAAA, NODATA],
    [Z, TYPE.SRV, NODATA],
    [Z, TYPE.HINFO, NODATA],
    [`unready.default.svc.${Z}`, TYPE.A, NXDOMAIN],
    [`unready.default.svc.${Z}`, TYPE.AAAA, NXDOMAIN],
    [`unready.default.svc.${Z}`, TYPE.SRV, NXDOMAIN],
    [`_pg._tcp.unready.default.svc.${Z}`, TYPE.SRV, NXDOMAIN],
    [`hdls.default.svc.${Z}`, TYPE.AAAA, NODATA],
    [`hdls.default.svc.${Z}`, TYPE.TXT, NODATA],
    [`bogusendpoint.hdls.default.svc.${Z}`, TYPE.A, NXDOMAIN],
    [`v6-0.hdls6.default.svc.${Z}`, TYPE.A, NODATA],
    [`_pg._udp.hdls.default.svc.${Z}`, TYPE.SRV, NXDOMAIN],
    [`_pg._tcp.hdls.default.svc.${Z}`, TYPE.TXT, NODATA],
    [`x.ext.default.svc.${Z}`, TYPE.A, NXDOMAIN],
    [`a.b.c.web.default.svc.${Z}`, TYPE.A, NXDOMAIN],
    [`a.b.c.d.web.default.svc.${Z}`, TYPE.A, NXDOMAIN],
    [`*.default.svc.${Z}`, TYPE.A, NXDOMAIN],
    [`*.web.default.svc.${Z}`, TYPE.A, NXDOMAIN],
    [`dns.${Z}`, TYPE.A, NODATA], // empty non-terminal above ns.dns
    [`x.dns.${Z}`, TYPE.A, NXDOMAIN],
    [`x.dns-version.${Z}`, TYPE.TXT, NXDOMAIN],
    [`example.com.default.svc.${Z}`, TYPE.A, NXDOMAIN], // the ndots:5 search path
    [`www.google.com.${Z}`, TYPE.AAAA, NXDOMAIN],
    [`20.0.96.10.in-addr.arpa`, TYPE.A, NODATA],
  ];
  it.each(table)('%s type %i → %s', (name, type, want) => {
    expect(outcome(name, type)).toBe(want);
  });
  it('puts the reverse zone SOA on negative answers there', () => {
    expect(ask('20.0.96.10.in-addr.arpa', TYPE.A)!.authority[0]!.name).toBe('in-addr.arpa');
  });
  it('forwards reverse names that are not cluster IPs, partial reverse names and other zones', () => {
    expect(outcome('1.1.168.192.in-addr.arpa', TYPE.PTR)).toBe('FORWARD');
    expect(outcome('96.10.in-addr.arpa', TYPE.PTR)).toBe('FORWARD');
    expect(outcome('020.0.96.10.in-addr.arpa', TYPE.PTR)).toBe('FORWARD');
    expect(outcome('example.com', TYPE.A)).toBe('FORWARD');
    expect(outcome('local', TYPE.SOA)).toBe('FORWARD');
    expect(outcome('xcluster.local', TYPE.A)).toBe('FORWARD');
  });
  it('answers SERVFAIL for the cluster zone until the view is ready, and forwards reverse names', () => {
    const a = ask(`web.default.svc.${Z}`, TYPE.A, null)!;
    expect(a.rcode).toBe(RCODE.SERVFAIL);
    expect(a.transient).toBe(true);
    expect(ask('20.0.96.10.in-addr.arpa', TYPE.PTR, null)).toBeNull();
  });
});

describe('pod records (CoreDNS pods insecure|verified|disabled)', () => {
  const pods = { '10.244.1.9': [{ namespace: 'default', name: 'p', nodeName: 'n1', hostNetwork: false }], '198.18.0.2': [{ namespace: 'default', name: 'h', nodeName: 'n1', hostNetwork: true }] };
  const insecure = index({ services: SERVICES, namespaces: NAMESPACES, pods });
  const verified = index({ services: SERVICES, namespaces: NAMESPACES, pods }, { pods: 'verified' });
  const disabled = index({ services: SERVICES, namespaces: NAMESPACES, pods }, { pods: 'disabled' });
  it('insecure: any IP in an existing namespace', () => {
    expect(records(`10-1-2-3.default.pod.${Z}`, TYPE.A, insecure)).toEqual([`10-1-2-3.default.pod.${Z} 30 10.1.2.3`]);
    expect(records(`fd00--1.default.pod.${Z}`, TYPE.AAAA, insecure)).toEqual([`fd00--1.default.pod.${Z} 30 fd00::1`]);
    expect(outcome(`10-1-2-3.default.pod.${Z}`, TYPE.AAAA, insecure)).toBe(NODATA);
    expect(outcome(`10-1-2-3.nsnoexist.pod.${Z}`, TYPE.A, insecure)).toBe(NXDOMAIN);
    expect(outcome(`10-1-2.default.pod.${Z}`, TYPE.A, insecure)).toBe(NXDOMAIN);
    expect(outcome(`10-1-2-300.default.pod.${Z}`, TYPE.A, insecure)).toBe(NXDOMAIN);
    expect(outcome(`x.10-1-2-3.default.pod.${Z}`, TYPE.A, insecure)).toBe(NXDOMAIN);
    expect(outcome(`default.pod.${Z}`, TYPE.A, insecure)).toBe(NODATA);
    expect(outcome(`nsnoexist.pod.${Z}`, TYPE.A, insecure)).toBe(NXDOMAIN);
  });
  it('verified: only IPs of pods in that namespace (not host-network ones)', () => {
    expect(records(`10-244-1-9.default.pod.${Z}`, TYPE.A, verified)).toEqual([`10-244-1-9.default.pod.${Z} 30 10.244.1.9`]);
    expect(outcome(`10-244-1-9.kube-system.pod.${Z}`, TYPE.A, verified)).toBe(NXDOMAIN);
    expect(outcome(`10-1-2-3.default.pod.${Z}`, TYPE.A, verified)).toBe(NXDOMAIN);
    expect(outcome(`198-18-0-2.default.pod.${Z}`, TYPE.A, verified)).toBe(NXDOMAIN);
  });
  it('disabled: nothing below pod.<zone>', () => {
    expect(outcome(`10-1-2-3.default.pod.${Z}`, TYPE.A, disabled)).toBe(NXDOMAIN);
    expect(outcome(`pod.${Z}`, TYPE.A, disabled)).toBe(NODATA);
  });
});

describe('incremental index', () => {
  /** Everything the index answers, as text, for comparison. */
  function dump(idx: RecordIndex): string[] {
    const out: string[] = [];
    for (const [k, e] of [...idx.services].sort()) out.push(`svc ${k} ${e.fqdn} ${e.view.key}`);
    for (const [ip, owners] of [...idx.reverse].sort()) {
      const svcs = [owners].flat().map((e) => e.view.key).sort().join(',');
      out.push(`ptr ${ip} ${svcs} ${ptrOwners(idx, ip).map((o) => `${o.svc.view.key}/${o.host}`).join(',')}`);
    }
    out.push(`ns ${[...idx.servicesPerNs].sort().join(',')} ${[...idx.namespaces].sort().join(',')}`);
    return out;
  }

  it('equals a full rebuild after any sequence of adds, updates and deletes', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const current = new Map(SERVICES.map((s) => [s.key, s]));
    const inp = { services: current, namespaces: new Set(NAMESPACES), podsByIP: new Map() };
    const idx = planIndex(inp, SETTINGS, 1);
    for (let step = 0; step < 300; step++) {
      const changed = new Set<string>();
      for (let k = 0; k < 1 + rand(3); k++) {
        const name = `s${rand(12)}`;
        const ns = ['default', 'ns2', 'ns3'][rand(3)]!;
        const key = `${ns}/${name}`;
        if (rand(4) === 0) current.delete(key);
        else {
          const ip = `10.96.${rand(4)}.${rand(20)}`;
          const eps = Array.from({ length: rand(3) }, () => ({ ip: `10.244.0.${rand(10)}`, hostname: rand(2) ? `h${rand(3)}` : '' }));
          current.set(key, rand(2) ? svc({ ns, name, clusterIPs: [ip], endpoints: eps }) : svc({ ns, name, headless: true, endpoints: eps }));
        }
        changed.add(key);
      }
      updateIndex(idx, inp, changed, false, step);
      expect(dump(idx)).toEqual(dump(planIndex(inp, SETTINGS, step)));
    }
  });

  it('follows namespace changes', () => {
    const inp = inputs({ services: [], namespaces: ['a'] });
    const idx = planIndex(inp, SETTINGS, 1);
    expect(outcome(`b.svc.${Z}`, TYPE.A, idx)).toBe(NXDOMAIN);
    inp.namespaces.add('b');
    updateIndex(idx, inp, [], true, 2);
    expect(outcome(`b.svc.${Z}`, TYPE.A, idx)).toBe(NODATA);
  });

  it('a new Service resolves after an update', () => {
    const inp = inputs({ services: [], namespaces: ['default'] });
    const idx = planIndex(inp, SETTINGS, 1);
    expect(outcome(`late.default.svc.${Z}`, TYPE.A, idx)).toBe(NXDOMAIN);
    const s = svc({ name: 'late', clusterIPs: ['10.96.9.9'] });
    inp.services.set(s.key, s);
    updateIndex(idx, inp, [s.key], false, 2);
    expect(records(`late.default.svc.${Z}`, TYPE.A, idx)).toEqual([`late.default.svc.${Z} 30 10.96.9.9`]);
    expect(records('9.9.96.10.in-addr.arpa', TYPE.PTR, idx)).toEqual([`9.9.96.10.in-addr.arpa 30 PTR late.default.svc.${Z}`]);
  });
});
