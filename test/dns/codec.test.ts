// The packet codec: message encode/decode (checked against dns2 as an independent decoder), the
// hot-path query reader, and template rendering (ID, case, EDNS, truncation, TTL aging).
import dns2 from 'dns2';
import { describe, expect, it } from 'vitest';
import { authMessage } from '../../modules/dns/engine.ts';
import { DEFAULT_CACHE_POLICY, upstreamTemplate } from '../../modules/dns/fwdcache.ts';
import { resolve } from '../../modules/dns/lookup.ts';
import { DecodeError, decodeMessage, encodeMessage, ipRR, readName, rr, type Message } from '../../modules/dns/message.ts';
import { newQuery, parseQuery } from '../../modules/dns/query.ts';
import { errorReply, makeTemplate, render, replyLimit, ZONE_CLUSTER } from '../../modules/dns/template.ts';
import { FLAG, RCODE, TYPE, cacheKey, lowerName, nameToWire } from '../../modules/dns/wire.ts';
import { decode, index, query, rcodeOf, SETTINGS, svc } from './fixtures.ts';

const { Packet } = dns2 as unknown as { Packet: { parse(b: Buffer): { header: Record<string, number>; questions: { name: string }[]; answers: Record<string, unknown>[]; authorities: Record<string, unknown>[]; additionals: Record<string, unknown>[] } } };

function sample(): Message {
  const n = 'web.default.svc.cluster.local';
  return {
    id: 7,
    flags: FLAG.QR | FLAG.AA | FLAG.RA,
    questions: [{ name: n, type: TYPE.SRV, class: 1 }],
    answers: [
      rr(n, TYPE.SRV, 30, { kind: 'srv', priority: 0, weight: 50, port: 80, target: `a.${n}` }),
      rr(n, TYPE.SRV, 30, { kind: 'srv', priority: 0, weight: 50, port: 80, target: `b.${n}` }),
      rr(n, TYPE.CNAME, 30, { kind: 'name', name: 'x.example.com' }),
      rr(n, TYPE.TXT, 30, { kind: 'txt', texts: ['1.1.0', 'hello world'] }),
      rr(n, TYPE.MX, 30, { kind: 'mx', preference: 10, exchange: 'mail.default.svc.cluster.local' }),
    ],
    authority: [rr('cluster.local', TYPE.SOA, 30, { kind: 'soa', mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 5, refresh: 7200, retry: 1800, expire: 86400, minimum: 30 })],
    additional: [ipRR(`a.${n}`, '10.0.0.1', 30), ipRR(`b.${n}`, 'fd00::1', 30)],
    edns: { udpSize: 1232, version: 0, dnssecOk: false, extRcode: 0 },
  };
}

describe('message codec', () => {
  it('round-trips every record kind, and dns2 reads the same message', () => {
    const m = sample();
    const e = encodeMessage(m);
    expect(decodeMessage(e.bytes)).toEqual(m);
    const p = Packet.parse(e.bytes);
    expect(p.header.ancount).toBe(5);
    expect(p.questions[0]!.name).toBe('web.default.svc.cluster.local');
    expect(p.answers[0]).toMatchObject({ priority: 0, weight: 50, port: 80, target: 'a.web.default.svc.cluster.local' });
    expect(p.additionals[1]).toMatchObject({ address: 'fd00::1' });
    expect(e.rrEnds).toHaveLength(8);
    expect(e.rrEnds.at(-1)! + 11).toBe(e.bytes.length);
  });
  it('compresses names against earlier ones, case-insensitively', () => {
    const m = sample();
    const plain = m.questions[0]!.name.length + 2;
    const e = encodeMessage({ ...m, answers: [ipRR('WEB.default.svc.cluster.local', '10.0.0.1', 30)], authority: [], additional: [], edns: undefined });
    // header + question + (pointer + type/class/ttl/len + 4)
    expect(e.bytes.length).toBe(12 + plain + 4 + 2 + 10 + 4);
  });
  it('escapes odd label bytes and reads them back', () => {
    const wire = nameToWire('a\\046b.c\\255')!;
    expect([...wire]).toEqual([3, 0x61, 0x2e, 0x62, 2, 0x63, 0xff, 0]);
    expect(readName(wire, 0).name).toBe('a\\046b.c\\255');
    expect(nameToWire('a..b')).toBeNull();
    expect(nameToWire(`${'a'.repeat(64)}.com`)).toBeNull();
    expect(nameToWire(Array(130).fill('ab').join('.'))).toBeNull();
    expect(lowerName('WeB.Default')).toBe('web.default');
  });
  it('refuses forward and looping pointers, bad label types and overlong names', () => {
    const loop = Buffer.from([0xc0, 0x00]);
    expect(() => readName(loop, 0)).toThrow(DecodeError);
    const fwd = Buffer.from([0xc0, 0x02, 0x01, 0x61, 0x00]);
    expect(() => readName(fwd, 0)).toThrow(DecodeError);
    expect(() => readName(Buffer.from([0x41, 0x00]), 0)).toThrow(DecodeError);
    const chain: number[] = [];
    for (let i = 0; i < 200; i++) chain.push(1, 0x61);
    chain.push(0);
    expect(() => readName(Buffer.from(chain), 0)).toThrow(/too long/);
    expect(() => decodeMessage(Buffer.from([0, 1, 0, 0, 0, 1]))).toThrow(DecodeError);
  });
});

describe('query reader', () => {
  const q = newQuery();
  it('reads the question and builds a lower-case key', () => {
    expect(parseQuery(query('WeB.Default.svc.cluster.local', TYPE.AAAA), q)).toBe(true);
    expect(q.error).toBe(0);
    expect(q.qtype).toBe(TYPE.AAAA);
    expect(q.key).toBe(`${nameToWire('web.default.svc.cluster.local')!.toString('latin1')}\u0000${String.fromCharCode(TYPE.AAAA)}`);
    expect(q.key).toBe(cacheKey(nameToWire('web.default.svc.cluster.local')!, TYPE.AAAA));
    expect(q.edns).toBe(false);
  });
  it('reads EDNS0: buffer size (at least 512) and version', () => {
    parseQuery(query('a.b', TYPE.A, { edns: 4096 }), q);
    expect([q.edns, q.udpSize, q.error]).toEqual([true, 4096, 0]);
    parseQuery(query('a.b', TYPE.A, { edns: 100 }), q);
    expect(q.udpSize).toBe(512);
    const v1 = query('a.b', TYPE.A, { edns: 1232 });
    v1[v1.length - 5] = 1; // version byte of the OPT TTL
    parseQuery(v1, q);
    expect(q.error).toBe(RCODE.BADVERS);
    const reply = decode(errorReply(v1, q, q.error));
    expect(rcodeOf(reply)).toBe(RCODE.BADVERS);
  });
  it('ignores responses and runts; FORMERR for bad counts, names and records; NOTIMP for other opcodes', () => {
    const good = query('a.b', TYPE.A);
    expect(parseQuery(good.subarray(0, 11), q)).toBe(false);
    const resp = Buffer.from(good);
    resp[2]! |= 0x80;
    expect(parseQuery(resp, q)).toBe(false);
    const two = Buffer.from(good);
    two[5] = 2;
    parseQuery(two, q);
    expect(q.error).toBe(RCODE.FORMERR);
    const none = Buffer.from(good);
    none[5] = 0;
    parseQuery(none, q);
    expect(q.error).toBe(RCODE.FORMERR);
    const ptr = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    parseQuery(ptr, q);
    expect(q.error).toBe(RCODE.FORMERR);
    parseQuery(good.subarray(0, good.length - 1), q);
    expect(q.error).toBe(RCODE.FORMERR);
    const notify = Buffer.from(good);
    notify[2] = 4 << 3;
    parseQuery(notify, q);
    expect(q.error).toBe(RCODE.NOTIMP);
    const twoOpt = Buffer.concat([query('a.b', TYPE.A, { edns: 1232 }), Buffer.from([0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0])]);
    twoOpt[11] = 2;
    parseQuery(twoOpt, q);
    expect(q.error).toBe(RCODE.FORMERR);
    const cut = query('a.b', TYPE.A, { edns: 1232 });
    parseQuery(cut.subarray(0, cut.length - 3), q);
    expect(q.error).toBe(RCODE.FORMERR);
  });
  it('answers FORMERR with the question when it could be read, and without it otherwise', () => {
    const two = query('a.b', TYPE.A);
    two[5] = 2;
    parseQuery(two, q);
    const r = decode(errorReply(two, q, RCODE.FORMERR));
    expect(rcodeOf(r)).toBe(RCODE.FORMERR);
    expect(r.questions).toHaveLength(0);
    expect(r.id).toBe(0x1234);
  });
});

describe('rendering templates', () => {
  const big = svc({ name: 'big', headless: true, endpoints: Array.from({ length: 100 }, (_, i) => ({ ip: `10.244.${i >> 8}.${i & 255}` })) });
  const idx = index({ services: [big, svc({ name: 'web', clusterIPs: ['10.96.0.20'], ports: [{ name: 'http', port: 80 }] })], namespaces: ['default'] });
  const tpl = (name: string, type: number) => makeTemplate(authMessage(name, type, resolve(idx, SETTINGS, name, type)!), ZONE_CLUSTER);
  const q = newQuery();

  it('patches ID and RD, and echoes the question case into owner names', () => {
    const t = tpl('web.default.svc.cluster.local', TYPE.A);
    const wire = query('WEB.default.SVC.cluster.local', TYPE.A, { id: 0xbeef, rd: false });
    parseQuery(wire, q);
    const r = decode(render(t, wire, q, replyLimit(q, false)));
    expect(r.id).toBe(0xbeef);
    expect(r.flags & FLAG.RD).toBe(0);
    expect(r.flags & FLAG.AA).toBe(FLAG.AA);
    expect(r.questions[0]!.name).toBe('WEB.default.SVC.cluster.local');
    expect(r.answers[0]!.name).toBe('WEB.default.SVC.cluster.local');
    expect(r.edns).toBeUndefined();
  });
  it('appends an OPT when the query had one', () => {
    const t = tpl('web.default.svc.cluster.local', TYPE.A);
    const wire = query('web.default.svc.cluster.local', TYPE.A, { edns: 1232 });
    parseQuery(wire, q);
    const r = decode(render(t, wire, q, replyLimit(q, false)));
    expect(r.edns).toMatchObject({ udpSize: 1232, version: 0 });
    expect(r.answers).toHaveLength(1);
  });
  it('truncates at an RR boundary with TC to 512 bytes without EDNS, or to the EDNS size', () => {
    const t = tpl('big.default.svc.cluster.local', TYPE.A);
    expect(t.bytes.length).toBeGreaterThan(1600);
    const plain = query('big.default.svc.cluster.local', TYPE.A);
    parseQuery(plain, q);
    const out = render(t, plain, q, replyLimit(q, false));
    expect(out.length).toBeLessThanOrEqual(512);
    const r = decode(out);
    expect(r.flags & FLAG.TC).toBe(FLAG.TC);
    expect(r.answers.length).toBeGreaterThan(20);
    expect(r.answers.length).toBeLessThan(100);
    const edns = query('big.default.svc.cluster.local', TYPE.A, { edns: 1000 });
    parseQuery(edns, q);
    const e = render(t, edns, q, replyLimit(q, false));
    expect(e.length).toBeLessThanOrEqual(1000);
    expect(decode(e).edns).toBeDefined();
    parseQuery(plain, q);
    const tcp = decode(render(t, plain, q, replyLimit(q, true)));
    expect(tcp.flags & FLAG.TC).toBe(0);
    expect(tcp.answers).toHaveLength(100);
  });
  it('drops additional records that do not fit without setting TC', () => {
    const withExtra = {
      ...authMessage('a.cluster.local', TYPE.SRV, { rcode: 0, answers: [rr('a.cluster.local', TYPE.SRV, 5, { kind: 'srv', priority: 0, weight: 1, port: 1, target: 'b.cluster.local' })], authority: [], additional: Array.from({ length: 60 }, (_, i) => ipRR('b.cluster.local', `10.0.0.${i}`, 5)), zone: ZONE_CLUSTER }),
    };
    const t = makeTemplate(withExtra, ZONE_CLUSTER);
    const wire = query('a.cluster.local', TYPE.SRV);
    parseQuery(wire, q);
    const r = decode(render(t, wire, q, 512));
    expect(r.flags & FLAG.TC).toBe(0);
    expect(r.answers).toHaveLength(1);
    expect(r.additional.length).toBeGreaterThan(0);
    expect(r.additional.length).toBeLessThan(60);
  });
  it('ages upstream TTLs and strips the upstream OPT', () => {
    const up = encodeMessage({
      id: 9,
      flags: FLAG.QR | FLAG.RD | FLAG.RA,
      questions: [{ name: 'example.com', type: TYPE.A, class: 1 }],
      answers: [ipRR('example.com', '192.0.2.1', 300), ipRR('example.com', '192.0.2.2', 100)],
      authority: [],
      additional: [],
      edns: { udpSize: 4096, version: 0, dnssecOk: false, extRcode: 0 },
    }).bytes;
    const c = upstreamTemplate(up, { ...DEFAULT_CACHE_POLICY, success: 3600 })!;
    expect(c.ttl).toBe(100);
    expect(c.negative).toBe(false);
    const wire = query('EXAMPLE.com', TYPE.A, { id: 42 });
    parseQuery(wire, q);
    const r = decode(render(c.tpl, wire, q, 512, 40));
    expect(r.id).toBe(42);
    expect(r.answers.map((a) => a.ttl)).toEqual([60, 60]); // capped at the time it is kept (100 s), as CoreDNS does
    expect(r.edns).toBeUndefined();
    expect(r.answers[0]!.name).toBe('EXAMPLE.com');
    expect(decode(render(c.tpl, wire, q, 512, 500)).answers.map((a) => a.ttl)).toEqual([0, 0]);
  });
  it('caches as kubeadm\'s `cache 30` does: 30 s positive and negative at most, 5 s at least, SERVFAIL 5 s', () => {
    const base = { id: 1, questions: [{ name: 'nx.example', type: TYPE.A, class: 1 }], answers: [], authority: [], additional: [] };
    const soa = rr('example', TYPE.SOA, 900, { kind: 'soa', mname: 'a.example', rname: 'b.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 });
    const nx = upstreamTemplate(encodeMessage({ ...base, flags: FLAG.QR | RCODE.NXDOMAIN, authority: [soa] }).bytes)!;
    expect([nx.negative, nx.ttl]).toEqual([true, 30]);
    const pos = upstreamTemplate(encodeMessage({ ...base, flags: FLAG.QR, answers: [ipRR('nx.example', '1.2.3.4', 300), ipRR('nx.example', '1.2.3.5', 3)] }).bytes)!;
    expect([pos.negative, pos.ttl]).toEqual([false, 5]);
    const long = upstreamTemplate(encodeMessage({ ...base, flags: FLAG.QR, answers: [ipRR('nx.example', '1.2.3.4', 300)] }).bytes)!;
    expect(long.ttl).toBe(30);
    // Served TTLs never exceed what the cache keeps (no 300 → 8 jump on the next miss).
    const wire = query('nx.example', TYPE.A);
    parseQuery(wire, q);
    expect(decode(render(long.tpl, wire, q, 512)).answers.map((a) => a.ttl)).toEqual([30]);
    expect(decode(render(long.tpl, wire, q, 512, 10)).answers.map((a) => a.ttl)).toEqual([20]);
    expect(decode(render(nx.tpl, wire, q, 512)).authority.map((a) => a.ttl)).toEqual([30]);
    const sf = upstreamTemplate(encodeMessage({ ...base, flags: FLAG.QR | RCODE.SERVFAIL, authority: [] }).bytes)!;
    expect([sf.negative, sf.ttl]).toEqual([true, 5]);
    expect(upstreamTemplate(encodeMessage({ ...base, flags: FLAG.QR | RCODE.REFUSED, authority: [] }).bytes)!.ttl).toBe(0);
    expect(upstreamTemplate(encodeMessage({ ...base, flags: FLAG.QR | RCODE.NXDOMAIN, authority: [] }).bytes)!.ttl).toBe(0);
    expect(upstreamTemplate(encodeMessage({ ...base, flags: FLAG.QR | FLAG.TC, answers: [ipRR('nx.example', '1.2.3.4', 50)], authority: [] }).bytes)!.ttl).toBe(0);
    expect(upstreamTemplate(Buffer.from([1, 2, 3]))).toBeNull();
  });
  it('takes other cache lifetimes from the settings', () => {
    const base = { id: 1, questions: [{ name: 'nx.example', type: TYPE.A, class: 1 }], answers: [], authority: [], additional: [] };
    const soa = rr('example', TYPE.SOA, 900, { kind: 'soa', mname: 'a.example', rname: 'b.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 });
    const policy = { success: 3600, denial: 1800, min: 0, servfail: 0 };
    expect(upstreamTemplate(encodeMessage({ ...base, flags: FLAG.QR | RCODE.NXDOMAIN, authority: [soa] }).bytes, policy)!.ttl).toBe(60);
    expect(upstreamTemplate(encodeMessage({ ...base, flags: FLAG.QR, answers: [ipRR('nx.example', '1.2.3.4', 0)] }).bytes, policy)!.ttl).toBe(0);
    expect(upstreamTemplate(encodeMessage({ ...base, flags: FLAG.QR | RCODE.SERVFAIL, authority: [] }).bytes, policy)!.ttl).toBe(0);
  });
});
