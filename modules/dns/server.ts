// The sockets: UDP and TCP (RFC 7766 framing, pipelining, idle timeout) on every listen address.
// Each packet is checked against the client ACL, handed to the engine, and the reply sent back;
// nothing a client sends can throw out of here.
import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { ALLOW, DENY, type ClientACL } from './access.ts';
import type { Engine, Reply } from './engine.ts';
import type { DnsMetrics } from './metrics.ts';
import { newQuery, parseQuery } from './query.ts';
import { errorReply, ZONE_FORWARD, type Zone } from './template.ts';
import { RCODE } from './wire.ts';

export interface ListenAddr {
  host: string;
  port: number;
}

export const listenText = (a: ListenAddr): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 1024;
const TCP_MAX_INFLIGHT = 64;
const UDP_RCVBUF = 4 << 20;

interface Listener {
  udp: dgram.Socket;
  tcp: net.Server;
}

export class DnsServer {
  private readonly engine: Engine;
  private readonly metrics: DnsMetrics;
  private readonly acl: ClientACL;
  private readonly log: Logger;
  private readonly listeners = new Map<string, Listener>();
  private readonly conns = new Set<net.Socket>();

  constructor(engine: Engine, metrics: DnsMetrics, acl: ClientACL, log: Logger) {
    this.engine = engine;
    this.metrics = metrics;
    this.acl = acl;
    this.log = log;
  }

  get addresses(): string[] {
    return [...this.listeners.keys()];
  }

  /** The ports really bound, in listen order (differs from the asked one only for port 0). */
  boundPorts(): number[] {
    return [...this.listeners.values()].map((l) => l.udp.address().port);
  }

  /** Listens on every address in `addrs` not yet listened on, and stops listening on the others. */
  async listen(addrs: ListenAddr[]): Promise<void> {
    const want = new Map(addrs.map((a) => [listenText(a), a]));
    for (const [k, l] of this.listeners) {
      if (want.has(k)) continue;
      this.listeners.delete(k);
      closeListener(l);
    }
    // One address that cannot be bound (not on any link yet) does not keep the others closed.
    const failed: string[] = [];
    for (const [k, a] of want) {
      if (this.listeners.has(k)) continue;
      try {
        this.listeners.set(k, await this.open(a));
      } catch (err) {
        failed.push((err as Error).message);
        continue;
      }
      this.log.info({ listen: k }, 'DNS listening (UDP and TCP)');
    }
    if (failed.length) throw new Error(failed.join('; '));
  }

  /**
   * Port 0: the kernel picks a free UDP port, and TCP must then take that same port, which may
   * be held on TCP by someone else (a listener, or a client connection's port, TIME_WAIT
   * included, on a busy host): then both are dropped and another UDP port is drawn.
   */
  private async open(a: ListenAddr): Promise<Listener> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.openOnce(a);
      } catch (err) {
        if (a.port !== 0 || attempt >= 20 || (err as { code?: string }).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  private async openOnce(a: ListenAddr): Promise<Listener> {
    const v6 = net.isIPv6(a.host);
    // Replies only go to the IP literal a query came from: skip dgram's per-send lookup (a
    // regex and a nextTick on every packet).
    const udp = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6, lookup: literal });
    const tcp = net.createServer({ noDelay: true }, (s) => this.onConnection(s));
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: a.host, port: a.port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      try {
        udp.setRecvBufferSize(UDP_RCVBUF);
      } catch {}
      udp.on('error', (err) => this.log.warn({ err: err.message }, 'DNS UDP socket error'));
      this.serveUdp(udp, v6);
      // Port 0 (tests): TCP takes the port UDP was given.
      const port = udp.address().port;
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: a.host, port, ipv6Only: v6, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      tcp.on('error', (err) => this.log.warn({ err: err.message }, 'DNS TCP server error'));
    } catch (err) {
      closeListener({ udp, tcp });
      throw Object.assign(new Error(`cannot listen for DNS on ${listenText(a)}: ${(err as Error).message}`), { code: (err as { code?: string }).code });
    }
    return { udp, tcp };
  }

  private serveUdp(sock: dgram.Socket, v6: boolean): void {
    const q = newQuery();
    const engine = this.engine;
    const metrics = this.metrics;
    const acl = this.acl;
    const send = (b: Buffer, port: number, address: string) => {
      try {
        sock.send(b, port, address);
      } catch {}
    };
    sock.on('message', (msg, rinfo) => {
      const t0 = performance.now();
      const access = acl.check(rinfo.address);
      if (access === DENY) return metrics.drop('acl');
      let reply: Reply;
      try {
        reply = access === ALLOW ? engine.handle(msg, q, false) : servfail(msg, q);
      } catch (err) {
        this.metrics.panics++;
        this.log.error({ err: String(err) }, 'DNS handler failed; answering SERVFAIL');
        reply = parseQuery(msg, q) ? errorReply(msg, q, RCODE.SERVFAIL) : null;
      }
      if (reply === null) return;
      metrics.request(false, v6, q.qtype, msg.length, q.dnssec);
      if (!(reply instanceof Promise)) {
        send(reply, rinfo.port, rinfo.address);
        metrics.response(engine.lastZone, reply[3]! & 0xf, (performance.now() - t0) / 1000, reply.length, false);
        return;
      }
      const port = rinfo.port;
      const address = rinfo.address;
      reply.then(
        (b) => {
          if (!b) return;
          send(b, port, address);
          metrics.response(ZONE_FORWARD, b[3]! & 0xf, (performance.now() - t0) / 1000, b.length, false);
        },
        (err) => this.log.error({ err: String(err) }, 'DNS forward failed'),
      );
    });
  }

  private onConnection(sock: net.Socket): void {
    const access = this.acl.check(sock.remoteAddress ?? '');
    if (access === DENY) {
      this.metrics.drop('acl');
      sock.destroy();
      return;
    }
    this.conns.add(sock);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    sock.on('error', () => sock.destroy());
    const v6 = sock.remoteFamily === 'IPv6';
    const q = newQuery();
    let buf: Buffer = Buffer.alloc(0);
    let inflight = 0;
    const write = (b: Buffer | null, t0: number, zone: Zone) => {
      if (!b || sock.destroyed) return;
      const frame = Buffer.allocUnsafe(b.length + 2);
      frame.writeUInt16BE(b.length, 0);
      b.copy(frame, 2);
      sock.write(frame);
      this.metrics.response(zone, b[3]! & 0xf, (performance.now() - t0) / 1000, b.length, true);
    };
    // Past TCP_MAX_INFLIGHT forwarded questions the connection stops being read (the kernel's
    // window pushes back on the client) and is read again as answers go out: nothing is dropped.
    let paused = false;
    const done = () => {
      inflight--;
      if (paused && !sock.destroyed) drain();
    };
    const drain = () => {
      while (buf.length >= 2) {
        if (inflight >= TCP_MAX_INFLIGHT) {
          if (!paused) {
            paused = true;
            sock.pause();
          }
          return;
        }
        const len = buf.readUInt16BE(0);
        if (len < 12) {
          this.metrics.drop('malformed');
          sock.destroy();
          return;
        }
        if (buf.length < len + 2) break;
        const msg = Buffer.from(buf.subarray(2, len + 2));
        buf = buf.subarray(len + 2);
        const t0 = performance.now();
        let reply: Reply;
        try {
          reply = access === ALLOW ? this.engine.handle(msg, q, true) : servfail(msg, q);
        } catch (err) {
          this.metrics.panics++;
        this.log.error({ err: String(err) }, 'DNS handler failed; answering SERVFAIL');
          reply = parseQuery(msg, q) ? errorReply(msg, q, RCODE.SERVFAIL) : null;
        }
        if (reply === null) continue;
        this.metrics.request(true, v6, q.qtype, msg.length, q.dnssec);
        if (!(reply instanceof Promise)) write(reply, t0, this.engine.lastZone);
        else {
          inflight++;
          reply.then(
            (b) => {
              write(b, t0, ZONE_FORWARD);
              done();
            },
            done,
          );
        }
      }
      if (paused) {
        paused = false;
        sock.resume();
      }
    };
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      drain();
    });
  }

  async close(): Promise<void> {
    for (const l of this.listeners.values()) closeListener(l);
    this.listeners.clear();
    for (const c of this.conns) c.destroy();
  }
}

function servfail(msg: Buffer, q: ReturnType<typeof newQuery>): Buffer | null {
  if (!parseQuery(msg, q)) return null;
  return errorReply(msg, q, q.error || RCODE.SERVFAIL);
}

function literal(address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, address, typeof family === 'number' ? family : net.isIPv6(address) ? 6 : 4);
}

function closeListener(l: Listener): void {
  try {
    l.udp.close();
  } catch {}
  l.tcp.close();
}
