// Forwarding through the engine to fake upstreams on loopback: cache (positive, negative, aging,
// bound), TCP on truncation, failover, SERVFAIL, coalescing, overload, loop detection, and the
// upstream half of ExternalName answers.
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Engine } from '../../modules/dns/engine.ts';
import { DnsMetrics } from '../../modules/dns/metrics.ts';
import { newQuery } from '../../modules/dns/query.ts';
import { ClientACL } from '../../modules/dns/access.ts';
import { DnsServer } from '../../modules/dns/server.ts';
import { Forwarder, type UpstreamAddr } from '../../modules/dns/upstream.ts';
import { FLAG, RCODE, TYPE } from '../../modules/dns/wire.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import { FakeUpstream } from './fake-upstream.ts';
import { decode, index, query, rcodeOf, svc } from './fixtures.ts';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function upstream(setup?: (u: FakeUpstream) => void): Promise<FakeUpstream> {
  const u = await new FakeUpstream().start();
  setup?.(u);
  cleanups.push(() => u.stop());
  return u;
}

function engine(ups: UpstreamAddr[], opts: { timeoutMs?: number; deadlineMs?: number; maxConcurrent?: number; cacheSize?: number } = {}) {
  let now = 1_000_000;
  const metrics = new DnsMetrics(new Registry(), 'dns://test', 'cluster.local');
  const forwarder = new Forwarder({ log, metrics, timeoutMs: opts.timeoutMs ?? 300, deadlineMs: opts.deadlineMs, maxConcurrent: opts.maxConcurrent });
  forwarder.setUpstreams(ups);
  cleanups.push(() => forwarder.close());
  const idx = index({ services: [svc({ name: 'ext', externalName: 'www.example.com' }), svc({ name: 'web', clusterIPs: ['10.96.0.20'] })], namespaces: ['default'] });
  const e = new Engine({ settings: idx.settings, forwarder, metrics, cacheSize: opts.cacheSize ?? 100, now: () => now });
  e.setIndex(idx);
  const ask = async (name: string, type: number = TYPE.A, tcp = false, edns?: number, bits: { do?: boolean; cd?: boolean } = {}) => {
    const r = await e.handle(query(name, type, { edns, ...bits }), newQuery(), tcp);
    return decode(r);
  };
  return { e, ask, metrics, forwarder, tick: (ms: number) => (now += ms) };
}

const at = (u: FakeUpstream): UpstreamAddr => ({ host: u.host, port: u.port });

describe('forwarding', () => {
  it('forwards names outside the cluster, then answers from the cache with aged TTLs, kept 30 s at most', async () => {
    const u = await upstream((f) => f.add('example.com', '192.0.2.1'));
    const { ask, tick, metrics } = engine([at(u)]);
    const r1 = await ask('Example.COM');
    expect(r1.answers.map((a) => [a.name, a.ttl])).toEqual([['Example.COM', 30]]); // 300 upstream, capped
    expect(r1.flags & FLAG.RA).toBe(FLAG.RA);
    tick(10_000);
    const r2 = await ask('example.com');
    expect(r2.answers.map((a) => a.ttl)).toEqual([20]);
    expect(u.count('example.com')).toBe(1);
    expect(metrics.cache[0]).toBe(1);
    tick(20_000);
    await ask('example.com');
    expect(u.count('example.com')).toBe(2);
  });

  it('caches NXDOMAIN for the SOA minimum, 30 s at most, so a name created later resolves soon', async () => {
    const u = await upstream();
    const { ask, tick } = engine([at(u)]);
    expect(rcodeOf(await ask('nx.example'))).toBe(RCODE.NXDOMAIN);
    expect(rcodeOf(await ask('nx.example'))).toBe(RCODE.NXDOMAIN);
    expect(u.count('nx.example')).toBe(1);
    tick(29_000);
    await ask('nx.example');
    expect(u.count('nx.example')).toBe(1);
    u.add('nx.example', '192.0.2.77');
    tick(1_000);
    expect((await ask('nx.example')).answers).toHaveLength(1);
    expect(u.count('nx.example')).toBe(2);
  });

  it('caches an upstream SERVFAIL for 5 s', async () => {
    const u = await upstream((f) => (f.mode = 'servfail'));
    const { ask, tick } = engine([at(u)]);
    expect(rcodeOf(await ask('sf.example'))).toBe(RCODE.SERVFAIL);
    expect(rcodeOf(await ask('sf.example'))).toBe(RCODE.SERVFAIL);
    expect(u.count('sf.example')).toBe(1);
    u.mode = 'answer';
    u.add('sf.example', '192.0.2.8');
    tick(5_000);
    expect((await ask('sf.example')).answers).toHaveLength(1);
    expect(u.count('sf.example')).toBe(2);
  });

  it('passes the client\'s DO and CD bits upstream and caches per (DO, CD), so validating clients get RRSIGs', async () => {
    const u = await upstream((f) => f.add('signed.example', '192.0.2.30'));
    const { ask } = engine([at(u)]);
    const signed = await ask('signed.example', TYPE.A, false, undefined, { do: true });
    expect(signed.answers.map((a) => a.type)).toEqual([TYPE.A, 46]);
    expect(signed.edns?.dnssecOk).toBe(true);
    const plain = await ask('signed.example');
    expect(plain.answers.map((a) => a.type)).toEqual([TYPE.A]);
    expect(plain.edns).toBeUndefined();
    const cd = await ask('signed.example', TYPE.A, false, undefined, { do: true, cd: true });
    expect(cd.flags & FLAG.CD).toBe(FLAG.CD);
    expect(u.asked.map((s) => [s.do, s.cd])).toEqual([[true, false], [false, false], [true, true]]);
    // Each combination is cached on its own.
    expect((await ask('signed.example', TYPE.A, false, undefined, { do: true })).answers).toHaveLength(2);
    expect((await ask('signed.example')).answers).toHaveLength(1);
    expect(u.asked).toHaveLength(3);
  });

  it('keeps the cache within its bound', async () => {
    const u = await upstream((f) => f.add('a.test', '192.0.2.1').add('b.test', '192.0.2.2').add('c.test', '192.0.2.3'));
    const { ask, e } = engine([at(u)], { cacheSize: 2 });
    for (const n of ['a.test', 'b.test', 'c.test']) await ask(n);
    expect(e.cache.sizes().success).toBe(2);
    await ask('a.test');
    expect(u.count('a.test')).toBe(2);
  });

  it('retries over TCP when the upstream truncates, and truncates again for a small client', async () => {
    const u = await upstream((f) => {
      f.add('big.test', ...Array.from({ length: 60 }, (_, i) => `192.0.2.${i + 1}`));
      f.mode = 'truncate-udp';
    });
    const { ask } = engine([at(u)]);
    const tcp = await ask('big.test', TYPE.A, true);
    expect(tcp.answers).toHaveLength(60);
    expect(u.asked.map((s) => s.tcp)).toEqual([false, true]);
    const udp = await ask('big.test', TYPE.A, false);
    expect(udp.flags & FLAG.TC).toBe(FLAG.TC);
    expect(udp.answers.length).toBeLessThan(60);
    const big = await ask('big.test', TYPE.A, false, 4096);
    expect(big.answers).toHaveLength(60);
    expect(u.asked).toHaveLength(2); // both from the cache
  });

  it('fails over to the next upstream, and stops trying a dead one first', async () => {
    const dead = await upstream((f) => (f.mode = 'drop'));
    const good = await upstream((f) => f.add('x.test', '192.0.2.9').add('y.test', '192.0.2.10').add('z.test', '192.0.2.11'));
    const { ask } = engine([at(dead), at(good)], { timeoutMs: 200 });
    expect((await ask('x.test')).answers).toHaveLength(1);
    expect((await ask('y.test')).answers).toHaveLength(1);
    const t0 = Date.now();
    expect((await ask('z.test')).answers).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(200); // the dead one now rests: asking it first would wait its 200 ms timeout
    expect(dead.asked.map((s) => s.name)).toEqual(['x.test', 'y.test']);
  });

  it('asks the only upstream again when a packet is lost (CoreDNS: 2 tries per upstream within 5 s)', async () => {
    const u = await upstream((f) => f.add('lost.test', '192.0.2.40'));
    u.dropNext = 1;
    const { ask } = engine([at(u)], { timeoutMs: 150 });
    expect((await ask('lost.test')).answers).toHaveLength(1);
    expect(u.count('lost.test')).toBe(2);
  });

  it('gives up at the deadline, after at most 2 tries per upstream', async () => {
    const a = await upstream((f) => (f.mode = 'drop'));
    const b = await upstream((f) => (f.mode = 'drop'));
    const t0 = Date.now();
    expect(rcodeOf(await engine([at(a), at(b)], { timeoutMs: 100 }).ask('gone.test'))).toBe(RCODE.SERVFAIL);
    expect([a.count('gone.test'), b.count('gone.test')]).toEqual([2, 2]); // a, b, a, b
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    const c = await upstream((f) => (f.mode = 'drop'));
    const t1 = Date.now();
    expect(rcodeOf(await engine([at(c)], { timeoutMs: 1000, deadlineMs: 300 }).ask('gone.test'))).toBe(RCODE.SERVFAIL);
    expect(Date.now() - t1).toBeLessThan(900); // one try cut short by the deadline
    expect(c.count('gone.test')).toBe(1);
  });

  it('sends nothing after the try the deadline cuts short, even when the clock says a few ms are left', async () => {
    // Timers and Date.now() round differently: once under CI load the try's timer fired with 1 ms
    // left by Date.now(), and a second try went out that nobody waited for. Here Date.now() lags 5 ms
    // once the try has started.
    const c = await upstream((f) => (f.mode = 'drop'));
    const { e } = engine([at(c)], { timeoutMs: 1000, deadlineMs: 300 });
    const real = Date.now.bind(Date);
    const start = real();
    vi.spyOn(Date, 'now').mockImplementation(() => real() - (real() - start > 100 ? 5 : 0));
    cleanups.push(() => {
      vi.restoreAllMocks();
    });
    const r = await e.handle(query('late.test', TYPE.A), newQuery(), false);
    expect(rcodeOf(decode(r))).toBe(RCODE.SERVFAIL);
    expect(real() - start).toBeLessThan(900);
    expect(c.count('late.test')).toBe(1);
  });

  it('sends each question from its own socket, so source ports vary', async () => {
    const u = await upstream((f) => {
      for (let i = 0; i < 20; i++) f.add(`p${i}.test`, '192.0.2.50');
    });
    const { ask } = engine([at(u)]);
    for (let i = 0; i < 20; i++) expect((await ask(`p${i}.test`)).answers).toHaveLength(1);
    const ports = u.asked.map((s) => s.port);
    expect(ports).toHaveLength(20);
    // The kernel draws each ephemeral port at random from ~28k: a repeat among 20 is possible
    // (~0.7 %), three or more repeats practically not. One long-lived socket gives 1 port.
    expect(new Set(ports).size).toBeGreaterThanOrEqual(18);
  });

  it('tries the next upstream after SERVFAIL, and answers SERVFAIL when none answers', async () => {
    const bad = await upstream((f) => (f.mode = 'servfail'));
    const good = await upstream((f) => f.add('x.test', '192.0.2.9'));
    expect((await engine([at(bad), at(good)]).ask('x.test')).answers).toHaveLength(1);
    const dead = await upstream((f) => (f.mode = 'drop'));
    expect(rcodeOf(await engine([at(dead)], { timeoutMs: 100 }).ask('x.test'))).toBe(RCODE.SERVFAIL);
    expect(rcodeOf(await engine([]).ask('x.test'))).toBe(RCODE.SERVFAIL);
  });

  it('merges identical questions in flight, and refuses beyond the concurrency cap', async () => {
    const u = await upstream((f) => {
      f.add('x.test', '192.0.2.9').add('y.test', '192.0.2.10');
      f.delayMs = 50;
    });
    const { ask } = engine([at(u)], { maxConcurrent: 1 });
    const all = await Promise.all([ask('x.test'), ask('x.test'), ask('x.test'), ask('y.test')]);
    expect(all.slice(0, 3).every((m) => m.answers.length === 1)).toBe(true);
    expect(rcodeOf(all[3]!)).toBe(RCODE.REFUSED);
    expect(u.count('x.test')).toBe(1);
  });

  it('completes ExternalName answers with the upstream records of the target', async () => {
    const u = await upstream((f) => f.add('www.example.com', '192.0.2.53'));
    const { ask } = engine([at(u)]);
    const r = await ask('ext.default.svc.cluster.local');
    expect(r.answers.map((a) => `${a.name} ${a.type}`)).toEqual(['ext.default.svc.cluster.local 5', 'www.example.com 1']);
    expect(r.flags & FLAG.AA).toBe(FLAG.AA);
    const nx = await engine([at(await upstream())]).ask('ext.default.svc.cluster.local');
    expect(rcodeOf(nx)).toBe(RCODE.NXDOMAIN);
    expect(nx.answers).toHaveLength(1);
  });

  it('answers a reverse name from the index once the IP becomes a cluster IP, despite a cached upstream answer', async () => {
    const u = await upstream();
    const { ask, e } = engine([at(u)]);
    expect(rcodeOf(await ask('9.9.96.10.in-addr.arpa', TYPE.PTR))).toBe(RCODE.NXDOMAIN);
    expect(rcodeOf(await ask('9.9.96.10.in-addr.arpa', TYPE.PTR))).toBe(RCODE.NXDOMAIN);
    expect(u.count('9.9.96.10.in-addr.arpa')).toBe(1); // cached
    e.setIndex(index({ services: [svc({ name: 'late', clusterIPs: ['10.96.9.9'] })], namespaces: ['default'] }));
    const r = await ask('9.9.96.10.in-addr.arpa', TYPE.PTR);
    expect(r.answers.map((a) => a.data)).toEqual([{ kind: 'name', name: 'late.default.svc.cluster.local' }]);
  });

  it('never forwards the cluster zone, even when it does not exist', async () => {
    const u = await upstream();
    const { ask } = engine([at(u)]);
    expect(rcodeOf(await ask('nope.default.svc.cluster.local'))).toBe(RCODE.NXDOMAIN);
    expect(u.asked).toHaveLength(0);
  });

  it('answers every question pipelined on one TCP connection, past 64 in flight', async () => {
    const N = 150;
    const u = await upstream((f) => {
      for (let i = 0; i < N; i++) f.add(`t${i}.test`, '192.0.2.60');
      f.delayMs = 100;
    });
    const metrics = new DnsMetrics(new Registry(), 'dns://test', 'cluster.local');
    const forwarder = new Forwarder({ log, metrics, timeoutMs: 2000 });
    forwarder.setUpstreams([at(u)]);
    const idx = index({ services: [], namespaces: [] });
    const e = new Engine({ settings: idx.settings, forwarder, metrics, cacheSize: 1000 });
    e.setIndex(idx);
    const server = new DnsServer(e, metrics, new ClientACL(), log);
    await server.listen([{ host: '127.0.0.1', port: 0 }]);
    cleanups.push(() => server.close(), () => forwarder.close());
    const sock = net.connect({ host: '127.0.0.1', port: server.boundPorts()[0]! });
    cleanups.push(() => void sock.destroy());
    const ids = new Set<number>();
    const got = new Promise<void>((res, rej) => {
      let buf = Buffer.alloc(0);
      sock.on('error', rej);
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const m = decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
          if (m.answers.length === 1) ids.add(m.id);
          if (ids.size === N) res();
        }
      });
    });
    await new Promise<void>((res) => sock.once('connect', () => res()));
    sock.write(Buffer.concat(Array.from({ length: N }, (_, i) => {
      const q = query(`t${i}.test`, TYPE.A, { id: i });
      return Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
    })));
    await got;
    expect(ids.size).toBe(N);
    expect(metrics.drops[2]).toBe(0);
  });

  it('detects an upstream that sends our queries back to us and stops using it', async () => {
    const metrics = new DnsMetrics(new Registry(), 'dns://test', 'cluster.local');
    const forwarder = new Forwarder({ log, metrics, timeoutMs: 300 });
    const idx = index({ services: [], namespaces: [] });
    const e = new Engine({ settings: idx.settings, forwarder, metrics, cacheSize: 10 });
    e.setIndex(idx);
    const server = new DnsServer(e, metrics, new ClientACL(), log);
    await server.listen([{ host: '127.0.0.1', port: 0 }]);
    cleanups.push(() => server.close(), () => forwarder.close());
    const port = Number(server.boundPorts()[0]);
    forwarder.setUpstreams([{ host: '127.0.0.1', port }]); // ourselves: every forwarded query loops
    for (let i = 0; i < 50 && metrics.loops === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(metrics.loops).toBe(1);
    expect(forwarder.addresses).toEqual([]);
    expect(rcodeOf(decode(await e.handle(query('example.com', TYPE.A), newQuery(), false)))).toBe(RCODE.SERVFAIL);
  });
});
