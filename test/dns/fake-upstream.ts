// A programmable upstream resolver on loopback (UDP and TCP, same port) for forwarding tests:
// answers from a table, or drops, fails, truncates over UDP, as a test asks. Never a real resolver.
import dgram from 'node:dgram';
import net from 'node:net';
import { decodeMessage, encodeMessage, ipRR, rr, type Message, type RR } from '../../modules/dns/message.ts';
import { FLAG, RCODE, TYPE, lowerName } from '../../modules/dns/wire.ts';

export type Mode = 'answer' | 'drop' | 'servfail' | 'truncate-udp';

export class FakeUpstream {
  port = 0;
  readonly host: string;
  mode: Mode = 'answer';
  /** lower-case name → records (any type; the question's type filters A/AAAA/TXT…). */
  readonly records = new Map<string, RR[]>();
  readonly seen: { name: string; type: number; tcp: boolean; do: boolean; cd: boolean; port: number }[] = [];
  delayMs = 0;
  /** Questions (not loop probes) to ignore before answering again (a lost packet). */
  dropNext = 0;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;

  constructor(host = '127.0.0.1') {
    this.host = host;
  }

  add(name: string, ...ips: string[]): this {
    this.records.set(name.toLowerCase(), ips.map((ip) => ipRR(name, ip, 300)));
    return this;
  }

  /** Questions seen, minus the forwarder's loop probes. */
  get asked(): FakeUpstream['seen'] {
    return this.seen.filter((s) => !s.name.endsWith('.nodeway-loop-check'));
  }

  count(name: string): number {
    return this.seen.filter((s) => s.name === name.toLowerCase()).length;
  }

  reply(req: Buffer, tcp: boolean, port = 0): Buffer | null {
    let m: Message;
    try {
      m = decodeMessage(req);
    } catch {
      return null;
    }
    const q = m.questions[0];
    if (!q) return null;
    const dnssec = m.edns?.dnssecOk ?? false;
    this.seen.push({ name: lowerName(q.name), type: q.type, tcp, do: dnssec, cd: (m.flags & FLAG.CD) !== 0, port });
    if (this.mode === 'drop') return null;
    if (this.dropNext > 0 && !lowerName(q.name).endsWith('.nodeway-loop-check')) {
      this.dropNext--;
      return null;
    }
    const out: Message = { id: m.id, flags: FLAG.QR | FLAG.RD | FLAG.RA, questions: m.questions, answers: [], authority: [], additional: [] };
    if (m.edns) out.edns = { udpSize: 1232, version: 0, dnssecOk: dnssec, extRcode: 0 };
    if (this.mode === 'servfail') {
      out.flags |= RCODE.SERVFAIL;
      return encodeMessage(out).bytes;
    }
    const recs = this.records.get(lowerName(q.name));
    if (!recs) {
      out.flags |= RCODE.NXDOMAIN;
      out.authority = [rr('test', TYPE.SOA, 600, { kind: 'soa', mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 })];
    } else out.answers = recs.filter((r) => r.type === q.type).map((r) => ({ ...r, name: q.name }));
    // A signed zone's stand-in: an RRSIG (type 46) only for clients that set DO, as real servers do.
    if (dnssec && out.answers.length) out.answers.push(rr(q.name, 46, 300, { kind: 'raw', bytes: Buffer.from('fake-signature') }));
    if (this.mode === 'truncate-udp' && !tcp) {
      out.flags |= FLAG.TC;
      out.answers = out.answers.slice(0, 1);
    }
    return encodeMessage(out).bytes;
  }

  /**
   * UDP and TCP on one port. An ephemeral UDP port may already be taken on TCP by someone
   * else: then both are dropped and another port is tried (an unheard listen error would be
   * an uncaught exception, and the test would hang on its promise).
   */
  async start(port = 0): Promise<this> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.startOn(port);
      } catch (err) {
        if (port !== 0 || attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  private async startOn(port: number): Promise<this> {
    const udp = dgram.createSocket(this.host.includes(':') ? 'udp6' : 'udp4');
    udp.on('message', (msg, rinfo) => {
      const r = this.reply(msg, false, rinfo.port);
      // A reply still delayed when stop() closed the socket is dropped: send would throw
      // ERR_SOCKET_DGRAM_NOT_RUNNING from a timer, an uncaught error failing whichever test runs.
      if (r) setTimeout(() => this.udp === udp && udp.send(r, rinfo.port, rinfo.address), this.delayMs);
    });
    await new Promise<void>((res) => udp.bind(port, this.host, () => res()));
    this.port = udp.address().port;
    this.udp = udp;
    const tcp = net.createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on('error', () => s.destroy());
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const req = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + req.length);
          const r = this.reply(Buffer.from(req), true);
          if (r) s.write(Buffer.concat([Buffer.from([r.length >> 8, r.length & 255]), r]));
        }
      });
    });
    try {
      await new Promise<void>((res, rej) => {
        tcp.once('error', rej);
        tcp.listen(this.port, this.host, () => res());
      });
    } catch (err) {
      udp.close();
      this.udp = undefined;
      throw err;
    }
    this.tcp = tcp;
    return this;
  }

  async stop(): Promise<void> {
    const udp = this.udp;
    this.udp = undefined;
    udp?.close();
    await new Promise<void>((res) => (this.tcp ? this.tcp.close(() => res()) : res()));
  }
}
