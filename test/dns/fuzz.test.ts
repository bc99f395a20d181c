// Hostile input: many thousands of random and mutated packets, straight into the engine and over
// real UDP/TCP sockets, and random upstream replies into the reply reader. Nothing may throw,
// every reply must be a well-formed message for the query's ID, and the server must still answer.
import dgram from 'node:dgram';
import net from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientACL } from '../../modules/dns/access.ts';
import { Engine } from '../../modules/dns/engine.ts';
import { upstreamTemplate } from '../../modules/dns/fwdcache.ts';
import { DecodeError, decodeMessage } from '../../modules/dns/message.ts';
import { DnsMetrics } from '../../modules/dns/metrics.ts';
import { newQuery } from '../../modules/dns/query.ts';
import { DnsServer } from '../../modules/dns/server.ts';
import { Forwarder } from '../../modules/dns/upstream.ts';
import { TYPE } from '../../modules/dns/wire.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import { decode, index, query, svc } from './fixtures.ts';

const log = pino({ level: 'silent' });

function prng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

const NAMES = ['web.default.svc.cluster.local', 'hdls.default.svc.cluster.local', '_http._tcp.web.default.svc.cluster.local', 'x.cluster.local', '5.1.244.10.in-addr.arpa', 'cluster.local', 'ext.default.svc.cluster.local', '10-1-2-3.default.pod.cluster.local'];
const TYPES = [TYPE.A, TYPE.AAAA, TYPE.SRV, TYPE.PTR, TYPE.TXT, TYPE.ANY, TYPE.SOA, TYPE.NS, TYPE.AXFR, 65, 0, 65535];

/** Random bytes, or a valid query mutated in one of several ways. */
function packet(rand: (n: number) => number): Buffer {
  const kind = rand(6);
  if (kind === 0) return Buffer.from(Array.from({ length: rand(600) }, () => rand(256)));
  const base = query(NAMES[rand(NAMES.length)]!, TYPES[rand(TYPES.length)]!, { id: rand(65536), edns: rand(2) ? 512 + rand(4000) : undefined });
  const p = Buffer.from(base);
  switch (kind) {
    case 1:
      for (let i = 0, n = 1 + rand(4); i < n; i++) p[rand(p.length)] = rand(256);
      return p;
    case 2:
      return p.subarray(0, rand(p.length + 1));
    case 3:
      return Buffer.concat([p, Buffer.from(Array.from({ length: rand(80) }, () => rand(256)))]);
    case 4:
      // counts: many records announced, few or none present
      p.writeUInt16BE(rand(65536), 4 + 2 * rand(4));
      return p;
    default:
      for (let i = 0, n = rand(8); i < n; i++) p[rand(p.length)]! ^= 1 << rand(8);
      p[2]! &= 0x7f; // keep it a query
      return p;
  }
}

function checkReply(req: Buffer, reply: Buffer): void {
  const m = decodeMessage(reply);
  expect(m.flags & 0x8000).toBe(0x8000);
  expect(m.id).toBe(req.readUInt16BE(0));
  expect(m.questions.length).toBeLessThanOrEqual(1);
}

function setup() {
  const metrics = new DnsMetrics(new Registry(), 'dns://fuzz', 'cluster.local');
  const forwarder = new Forwarder({ log, metrics, timeoutMs: 50 });
  const big = svc({ name: 'hdls', headless: true, ports: [{ name: 'p', port: 1 }], endpoints: Array.from({ length: 300 }, (_, i) => ({ ip: `10.244.${i >> 8}.${i & 255}`, hostname: i % 2 ? `h${i}` : '' })) });
  const idx = index({ services: [big, svc({ name: 'web', clusterIPs: ['10.96.0.20', 'fd00::20'], ports: [{ name: 'http', port: 80 }] }), svc({ name: 'ext', externalName: 'www.example.com' })], namespaces: ['default'] });
  const engine = new Engine({ settings: idx.settings, forwarder, metrics, cacheSize: 100 });
  engine.setIndex(idx);
  return { metrics, forwarder, engine };
}

describe('fuzzing', () => {
  it('the engine survives 30,000 random and mutated packets with well-formed replies', async () => {
    const { engine, forwarder } = setup();
    const rand = prng(42);
    const q = newQuery();
    const pending: Promise<void>[] = [];
    let replies = 0;
    for (let i = 0; i < 30_000; i++) {
      const p = packet(rand);
      const r = engine.handle(p, q, rand(2) === 0);
      if (r === null) continue;
      if (r instanceof Promise) {
        pending.push(r.then((b) => void (b && checkReply(p, b))));
        continue;
      }
      checkReply(p, r);
      replies++;
    }
    await Promise.all(pending);
    forwarder.close();
    expect(replies).toBeGreaterThan(10_000);
  });

  it('the upstream reply reader never throws on random or mutated replies', () => {
    const rand = prng(7);
    const good = query('example.com', TYPE.A);
    for (let i = 0; i < 20_000; i++) {
      const b = i % 2 ? Buffer.from(Array.from({ length: rand(300) }, () => rand(256))) : Buffer.from(good);
      if (i % 2 === 0) for (let k = 0; k < 1 + rand(6); k++) b[rand(b.length)] = rand(256);
      expect(() => upstreamTemplate(b)).not.toThrow();
      try {
        decodeMessage(b);
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
      }
    }
  });

  describe('over sockets', () => {
    let server: DnsServer;
    let port = 0;
    let forwarder: Forwarder;
    beforeAll(async () => {
      const s = setup();
      forwarder = s.forwarder;
      server = new DnsServer(s.engine, s.metrics, new ClientACL(), log);
      await server.listen([{ host: '127.0.0.1', port: 0 }]);
      port = server.boundPorts()[0]!;
    });
    afterAll(async () => {
      await server?.close();
      forwarder?.close();
    });

    it('keeps answering after 10,000 hostile UDP packets and 200 garbage TCP streams', async () => {
      const rand = prng(99);
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      let got = 0;
      sock.on('message', (m) => {
        got++;
        decodeMessage(m);
      });
      for (let i = 0; i < 10_000; i++) {
        sock.send(packet(rand), port, '127.0.0.1');
        if (i % 200 === 0) await new Promise((r) => setImmediate(r));
      }
      const streams = Array.from({ length: 200 }, (_, i) =>
        new Promise<void>((resolve) => {
          const c = net.connect(port, '127.0.0.1');
          c.on('error', () => resolve());
          c.on('close', () => resolve());
          c.on('data', () => {});
          c.on('connect', () => {
            const body = i % 2 ? Buffer.from(Array.from({ length: rand(300) }, () => rand(256))) : packet(rand);
            const framed = i % 3 === 0 ? body : Buffer.concat([Buffer.from([body.length >> 8, body.length & 255]), body]);
            c.end(framed);
            setTimeout(() => c.destroy(), 200);
          });
        }),
      );
      await Promise.all(streams);
      await new Promise((r) => setTimeout(r, 300));
      sock.close();
      expect(got).toBeGreaterThan(1000);
      // Still serving, over both transports.
      const udp = dgram.createSocket('udp4');
      const reply = await new Promise<Buffer>((resolve) => {
        udp.on('message', (m) => resolve(m));
        udp.send(query('web.default.svc.cluster.local', TYPE.A, { id: 77 }), port, '127.0.0.1');
      });
      udp.close();
      expect(decode(reply).answers).toHaveLength(1);
      const tcp = await new Promise<Buffer>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1');
        const q = query('web.default.svc.cluster.local', TYPE.AAAA, { id: 78 });
        let acc = Buffer.alloc(0);
        c.on('data', (d: Buffer) => {
          acc = Buffer.concat([acc, d]);
          if (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
            c.destroy();
            resolve(acc.subarray(2));
          }
        });
        c.on('error', reject);
        c.write(Buffer.concat([Buffer.from([0, q.length]), q]));
      });
      expect(decode(tcp).answers[0]!.data).toEqual({ kind: 'ip', ip: 'fd00::20' });
    });
  });
});
