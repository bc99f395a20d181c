// The encoded-answer cache under churn: after any sequence of Service and namespace changes the
// engine answers exactly as one built fresh from the same view, while answers that the changes
// cannot affect stay encoded (issue #11 item 6).
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../modules/dns/engine.ts';
import { DnsMetrics } from '../../modules/dns/metrics.ts';
import { reverseName } from '../../modules/dns/names.ts';
import { newQuery } from '../../modules/dns/query.ts';
import { planIndex, updateIndex, type DnsSettings, type RecordIndex } from '../../modules/dns/records.ts';
import { Forwarder } from '../../modules/dns/upstream.ts';
import { TYPE } from '../../modules/dns/wire.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import type { ServiceView } from '../../src/view/types.ts';
import { decode, query, SETTINGS, svc } from './fixtures.ts';

const log = pino({ level: 'silent' });
const Z = 'cluster.local';

function engine(idx: RecordIndex): { e: Engine; metrics: DnsMetrics } {
  const metrics = new DnsMetrics(new Registry(), 'dns://test', Z);
  const forwarder = new Forwarder({ log, metrics });
  const e = new Engine({ settings: idx.settings, forwarder, metrics, cacheSize: 10 });
  e.setIndex(idx);
  return { e, metrics };
}

/** The reply as text, SOA serials blanked (an answer kept encoded keeps the serial it was made with). */
function answer(e: Engine, name: string, type: number): string {
  const r = e.handle(query(name, type), newQuery(), false);
  if (r instanceof Promise) return 'forwarded';
  const m = decode(r);
  const rrs = [...m.answers, ...m.authority, ...m.additional].map((x) => JSON.stringify({ ...x, data: x.data.kind === 'soa' ? { ...x.data, serial: 0 } : x.data }));
  return `${m.flags & 0xf} ${rrs.join(' ')}`;
}

const NAMESPACES = ['default', 'ns2', 'ns3', 'gone'];

function names(): [string, number][] {
  const out: [string, number][] = [];
  for (const ns of NAMESPACES) {
    out.push([`${ns}.svc.${Z}`, TYPE.A], [`10-244-0-1.${ns}.pod.${Z}`, TYPE.A]);
    for (let i = 0; i < 12; i++) {
      const base = `s${i}.${ns}.svc.${Z}`;
      out.push([base, TYPE.A], [base, TYPE.AAAA], [base, TYPE.SRV], [`h0.${base}`, TYPE.A], [`_http._tcp.${base}`, TYPE.SRV], [`_http._tcp.${base}`, TYPE.A]);
    }
  }
  for (let x = 0; x < 4; x++) for (let y = 0; y < 20; y++) out.push([reverseName(`10.96.${x}.${y}`), TYPE.PTR]);
  for (let y = 0; y < 10; y++) out.push([reverseName(`10.244.0.${y}`), TYPE.PTR]);
  for (let i = 0; i < 12; i++) out.push([`ext${i}.default.svc.${Z}`, TYPE.A]);
  out.push([Z, TYPE.SOA], [`dns-version.${Z}`, TYPE.TXT]);
  return out;
}

describe('encoded answers under churn', () => {
  it('answer as a freshly built engine after any sequence of changes', () => {
    let seed = 11;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >>> 8) % n; // the low bits of an LCG cycle too fast to mix
    };
    const settings: DnsSettings = { ...SETTINGS };
    const current = new Map<string, ServiceView>();
    for (let i = 0; i < 12; i++) current.set(`default/ext${i}`, svc({ name: `ext${i}`, externalName: `s${i}.ns2.svc.cluster.local` }));
    const namespaces = new Set(['default', 'ns2']);
    const inp = { services: current, namespaces, podsByIP: new Map() };
    const idx = planIndex(inp, settings, 1);
    const { e } = engine(idx);
    const all = names();
    for (let step = 0; step < 60; step++) {
      for (const [n, t] of all) answer(e, n, t); // every answer encoded before the change
      const changed = new Set<string>();
      for (let k = 0; k < 1 + rand(3); k++) {
        const ns = ['default', 'ns2', 'ns3'][rand(3)]!;
        const name = `s${rand(12)}`;
        const key = `${ns}/${name}`;
        if (rand(4) === 0) current.delete(key);
        else {
          const ip = `10.96.${rand(4)}.${rand(20)}`;
          const ports = [{ name: rand(2) ? 'http' : 'web', port: 80 }];
          const eps = Array.from({ length: rand(3) }, () => ({ ip: `10.244.0.${rand(10)}`, hostname: rand(2) ? `h${rand(2)}` : '' }));
          current.set(key, rand(2) ? svc({ ns, name, clusterIPs: [ip], ports, endpoints: eps }) : svc({ ns, name, headless: true, ports, endpoints: eps }));
        }
        changed.add(key);
      }
      let nsChanged = false;
      if (rand(10) === 0) {
        const ns = ['ns3', 'gone'][rand(2)]!;
        if (namespaces.has(ns)) namespaces.delete(ns);
        else namespaces.add(ns);
        nsChanged = true;
      }
      e.setIndex(idx, updateIndex(idx, inp, changed, nsChanged, step + 2));
      const fresh = engine(planIndex(inp, settings, step + 2)).e;
      for (const [n, t] of all) expect(answer(e, n, t), `${n} type ${t} after step ${step}`).toBe(answer(fresh, n, t));
    }
  });

  it('keeps the answers a change cannot affect encoded', () => {
    const services = new Map<string, ServiceView>();
    for (let i = 0; i < 100; i++) services.set(`default/s${i}`, svc({ name: `s${i}`, clusterIPs: [`10.96.0.${i}`] }));
    const inp = { services, namespaces: new Set(['default']), podsByIP: new Map() };
    const idx = planIndex(inp, SETTINGS, 1);
    const { e, metrics } = engine(idx);
    for (let i = 0; i < 100; i++) answer(e, `s${i}.default.svc.${Z}`, TYPE.A);
    expect(metrics.sizes().templates).toBe(100);
    services.set('default/s7', svc({ name: 's7', clusterIPs: ['10.96.1.7'] }));
    e.setIndex(idx, updateIndex(idx, inp, ['default/s7'], false, 2));
    expect(metrics.sizes().templates).toBe(99);
    expect(answer(e, `s7.default.svc.${Z}`, TYPE.A)).toContain('10.96.1.7');
    // A rebuild (full sync) trusts nothing.
    e.setIndex(planIndex(inp, SETTINGS, 3));
    expect(metrics.sizes().templates).toBe(0);
  });
});
