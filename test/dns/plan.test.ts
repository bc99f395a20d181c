// The DNS module's plan (plan.ts) and its tracker-driven apply: the desired state is a printable
// value of what the node serves; a sync re-indexes only Services whose records differ, so a change
// DNS does not show forgets no encoded answer, and after any sequence of changes the module
// answers as an engine built fresh from the same view.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsModule } from '../../modules/dns/module.ts';
import { dnsConfig } from '../../modules/dns/options.ts';
import { desiredToJSON, planDns } from '../../modules/dns/plan.ts';
import { newQuery } from '../../modules/dns/query.ts';
import { TYPE } from '../../modules/dns/wire.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import type { ServiceView } from '../../src/view/types.ts';
import { emptyChanges } from '../../src/view/view.ts';
import { decode, nodeView, query, svc } from './fixtures.ts';
import { freePort } from './harness.ts';
import { dnsModule } from '../../modules/dns/index.ts';

const Z = 'cluster.local';
const log = pino({ level: 'silent' });
const open: DnsModule[] = [];

afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});

async function module(config: Record<string, unknown> = {}): Promise<DnsModule> {
  const m = new DnsModule({ config: { dnsListen: [`127.0.0.1:${await freePort()}`], dnsUpstream: ['127.0.0.1:9'], ...config }, nodeName: 'n1', log, registry: new Registry() });
  open.push(m);
  return m;
}

function answer(m: DnsModule, name: string, type: number): string {
  const r = m.engine.handle(query(name, type), newQuery(), false);
  if (r instanceof Promise) return 'forwarded';
  const msg = decode(r);
  const rrs = [...msg.answers, ...msg.authority, ...msg.additional].map((x) => JSON.stringify({ ...x, data: x.data.kind === 'soa' ? { ...x.data, serial: 0 } : x.data }));
  return `${msg.flags & 0xf} ${rrs.join(' ')}`;
}

const full = () => ({ ...emptyChanges(), full: true, self: true });
const changed = (...keys: string[]) => ({ ...emptyChanges(), services: new Set(keys) });

describe('dns plan', () => {
  it('prints what the node serves: records per Service, capture, sockets, upstreams, stub domains, hosts, clients', () => {
    const view = nodeView({
      services: [
        svc({ name: 'web', clusterIPs: ['10.96.0.5'], ports: [{ name: 'http', port: 80 }], endpoints: [{ ip: '10.244.1.7' }] }),
        svc({ ns: 'db', name: 'pg', headless: true, ports: [{ name: 'pg', port: 5432 }], endpoints: [{ ip: '10.244.1.8', hostname: 'pg-0' }, { ip: '10.244.1.9' }] }),
        svc({ name: 'out', externalName: 'Example.COM.' }),
      ],
      namespaces: ['default', 'db'],
    });
    const cfg = dnsConfig({ clusterDNS: ['10.96.0.10'], dnsListen: ['127.0.0.1:5353'], dnsUpstream: ['/etc/resolv.conf'], dnsStubDomains: ['corp.example=192.0.2.53'], dnsHosts: ['192.0.2.1 registry.local'] });
    const d = JSON.parse(JSON.stringify(desiredToJSON(planDns(cfg, view as never)))) as Record<string, unknown>;
    expect(d).toMatchObject({
      zone: Z,
      capture: ['10.96.0.10'],
      listen: ['10.96.0.10:53', '127.0.0.1:5353'],
      upstreams: ['/etc/resolv.conf'],
      stubs: [{ zone: 'corp.example', upstream: ['192.0.2.53'] }],
      hosts: { 'registry.local': ['192.0.2.1'] },
      clients: { ips: ['198.18.0.2'], cidrs: ['10.244.1.0/24'] },
      namespaces: ['db', 'default'],
    });
    expect(d.services).toEqual({
      'pg.db': {
        name: `pg.db.svc.${Z}`, kind: 'Headless', addresses: ['10.244.1.8', '10.244.1.9'], ports: ['pg/TCP 5432'],
        endpoints: { 'pg-0': { addresses: ['10.244.1.8'], ports: ['pg/TCP 5432'] }, '10-244-1-9': { addresses: ['10.244.1.9'], ports: ['pg/TCP 5432'] } },
      },
      'out.default': { name: `out.default.svc.${Z}`, kind: 'ExternalName', addresses: [], cname: 'example.com', ports: [], endpoints: {} },
      'web.default': { name: `web.default.svc.${Z}`, kind: 'ClusterIP', addresses: ['10.96.0.5'], ports: ['http/TCP 80'], endpoints: { '10-244-1-7': { addresses: ['10.244.1.7'], ports: ['http/TCP 80'] } } },
    });
    // The factory plans without creating the module (view --desired), and says the same.
    expect(JSON.stringify(dnsModule.plan!({ config: { clusterDNS: ['10.96.0.10'], dnsListen: ['127.0.0.1:5353'], dnsUpstream: ['/etc/resolv.conf'], dnsStubDomains: ['corp.example=192.0.2.53'], dnsHosts: ['192.0.2.1 registry.local'] }, nodeName: 'n1' }, view as never)))
      .toBe(JSON.stringify(d));
  });

  it('a Service change DNS does not show forgets no encoded answer; one it shows forgets only that Service\'s', async () => {
    const m = await module();
    const services = new Map<string, ServiceView>();
    for (let i = 0; i < 20; i++) services.set(`default/s${i}`, svc({ name: `s${i}`, clusterIPs: [`10.96.0.${i}`], ports: [{ name: 'http', port: 80 }], endpoints: [{ ip: `10.244.0.${i}` }] }));
    const view = { ...nodeView({ services: [], namespaces: ['default'] }), services };
    await m.sync(view as never, full());
    const names: [string, number][] = [];
    for (let i = 0; i < 20; i++) names.push([`s${i}.default.svc.${Z}`, TYPE.A], [`s${i}.default.svc.${Z}`, TYPE.SRV]);
    for (const [n, t] of names) answer(m, n, t);
    expect(m.metrics.sizes().templates).toBe(40);
    // Traffic policy, a trigger time: the proxy's business, not DNS's.
    const s3 = services.get('default/s3')!;
    const next = { ...s3, externalTrafficPolicy: 'Local' as const, triggerTime: 5, dnsEndpoints: s3.dnsEndpoints };
    services.set('default/s3', next);
    await m.sync(view as never, changed('default/s3'));
    expect(m.metrics.sizes().templates).toBe(40);
    // The index points at the view's new object: the old one is not kept alive.
    expect((m as unknown as { index: { services: Map<string, { view: ServiceView }> } }).index.services.get('s3.default')!.view).toBe(next);
    // A new port is a new SRV answer: s3's two answers go, the other 38 stay.
    services.set('default/s3', svc({ name: 's3', clusterIPs: ['10.96.0.3'], ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '10.244.0.3' }] }));
    await m.sync(view as never, changed('default/s3'));
    expect(m.metrics.sizes().templates).toBe(38);
    expect(answer(m, `s3.default.svc.${Z}`, TYPE.SRV)).toContain('8080');
    services.delete('default/s4');
    await m.sync(view as never, changed('default/s4'));
    expect(answer(m, `s4.default.svc.${Z}`, TYPE.A).startsWith('3 ')).toBe(true); // NXDOMAIN
  });

  it('answers as an engine built fresh after any sequence of changes, shown or not', async () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >>> 8) % n;
    };
    const m = await module();
    const services = new Map<string, ServiceView>();
    const namespaces = new Set(['default', 'ns2']);
    const view = { ...nodeView({ services: [] }), services, namespaces };
    await m.sync(view as never, full());
    const names: [string, number][] = [];
    for (const ns of ['default', 'ns2', 'ns3']) {
      for (let i = 0; i < 8; i++) {
        const base = `s${i}.${ns}.svc.${Z}`;
        names.push([base, TYPE.A], [base, TYPE.SRV], [`h0.${base}`, TYPE.A], [`_http._tcp.${base}`, TYPE.SRV]);
      }
    }
    for (let y = 0; y < 8; y++) names.push([`${y}.0.244.10.in-addr.arpa`, TYPE.PTR], [`${y}.0.96.10.in-addr.arpa`, TYPE.PTR]);
    for (let step = 0; step < 60; step++) {
      for (const [n, t] of names) answer(m, n, t);
      const keys = new Set<string>();
      for (let k = 0; k < 1 + rand(3); k++) {
        const ns = ['default', 'ns2', 'ns3'][rand(3)]!;
        const key = `${ns}/s${rand(8)}`;
        const cur = services.get(key);
        const r = rand(5);
        if (r === 0) services.delete(key);
        else if (r === 1 && cur) services.set(key, { ...cur, externalTrafficPolicy: cur.externalTrafficPolicy === 'Local' ? 'Cluster' : 'Local', dnsEndpoints: cur.dnsEndpoints });
        else {
          const ports = [{ name: rand(2) ? 'http' : 'web', port: 80 }];
          const eps = Array.from({ length: rand(3) }, () => ({ ip: `10.244.0.${rand(8)}`, hostname: rand(2) ? 'h0' : '' }));
          services.set(key, rand(2) ? svc({ ns, name: key.split('/')[1]!, clusterIPs: [`10.96.0.${rand(8)}`], ports, endpoints: eps }) : svc({ ns, name: key.split('/')[1]!, headless: true, ports, endpoints: eps }));
        }
        keys.add(key);
      }
      const c = changed(...keys);
      if (rand(8) === 0) {
        const ns = 'ns3';
        if (namespaces.has(ns)) namespaces.delete(ns);
        else namespaces.add(ns);
        c.namespaces = new Set([ns]);
      }
      await m.sync(view as never, c);
      const fresh = await module();
      await fresh.sync(view as never, full());
      for (const [n, t] of names) expect(answer(m, n, t), `${n} type ${t} after step ${step}`).toBe(answer(fresh, n, t));
      await fresh.close();
      open.pop();
    }
  });
});
