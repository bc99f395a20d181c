// Lab workload: answers every TCP connection, HTTP request and UDP datagram
// with who it is and which client address it saw, so tests can see where a
// Service sent them and whether the source was NATed.
//
//   node echo-server.ts --name NAME [--tcp PORT,...] [--udp PORT,...] [--exit-with-stdin]
//
// Prints "ready name=NAME tcp=... udp=..." once every socket listens.
import dgram from 'node:dgram';
import net from 'node:net';

const RAW_WAIT_MS = 500; // a raw client that sends nothing still gets its line; HTTP clients speak well before
const HEADER_WAIT_MS = 2_000;
const IDLE_MS = 10_000;
const MAX_HEAD = 16 * 1024;

interface Args {
  name: string;
  tcp: number[];
  udp: number[];
  exitWithStdin: boolean;
}

function usage(msg: string): never {
  process.stderr.write(`echo-server: ${msg}\nusage: echo-server --name NAME [--tcp PORT,...] [--udp PORT,...] [--exit-with-stdin]\n`);
  process.exit(2);
}

function ports(v: string | undefined): number[] {
  if (!v) usage('missing port list');
  return v.split(',').map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) usage(`bad port ${p}`);
    return n;
  });
}

function parse(argv: string[]): Args {
  const a: Args = { name: 'echo', tcp: [], udp: [], exitWithStdin: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--name') a.name = argv[++i] ?? usage('missing name');
    else if (k === '--tcp') a.tcp.push(...ports(argv[++i]));
    else if (k === '--udp') a.udp.push(...ports(argv[++i]));
    else if (k === '--exit-with-stdin') a.exitWithStdin = true;
    else usage(`unknown argument ${k}`);
  }
  if (a.tcp.length + a.udp.length === 0) usage('give at least one --tcp or --udp port');
  return a;
}

function hostPort(addr: string | undefined, port: number | undefined): string {
  const a = (addr ?? '?').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  return a.includes(':') ? `[${a}]:${port ?? '?'}` : `${a}:${port ?? '?'}`;
}

function isHttpStart(buf: Buffer): boolean {
  return /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) /.test(buf.subarray(0, 10).toString('latin1'));
}

function serveTcp(name: string, sock: net.Socket): void {
  sock.on('error', () => {});
  sock.setTimeout(IDLE_MS, () => sock.destroy());
  const line = `name=${name} client=${hostPort(sock.remoteAddress, sock.remotePort)} local=${hostPort(sock.localAddress, sock.localPort)}`;
  let head = Buffer.alloc(0);
  let answered = false;
  const answer = (http: boolean) => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    if (!http) {
      sock.end(`${line}\n`);
      return;
    }
    const body = `${line}\n`;
    const isHead = head.subarray(0, 5).toString('latin1') === 'HEAD ';
    sock.end(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n` +
        (isHead ? '' : body),
    );
  };
  let timer = setTimeout(() => answer(false), RAW_WAIT_MS);
  sock.on('data', (chunk: Buffer) => {
    if (answered) return;
    head = Buffer.concat([head, chunk]).subarray(0, MAX_HEAD);
    if (!isHttpStart(head)) return answer(false);
    clearTimeout(timer);
    if (head.includes('\r\n\r\n') || head.includes('\n\n') || head.length >= MAX_HEAD) return answer(true);
    timer = setTimeout(() => answer(true), HEADER_WAIT_MS);
  });
  sock.on('end', () => answer(isHttpStart(head)));
}

function serveUdp(name: string, port: number, sock: dgram.Socket): void {
  sock.on('message', (_msg, rinfo) => {
    try {
      sock.send(`name=${name} client=${hostPort(rinfo.address, rinfo.port)} local=*:${port}\n`, rinfo.port, rinfo.address, () => {});
    } catch {
      // a send error must not take the server down
    }
  });
}

// Separate v4 and v6-only sockets keep client addresses in their own family.
const FAMILIES = [
  { host: '0.0.0.0', udp: 'udp4' as const, optional: false },
  { host: '::', udp: 'udp6' as const, optional: true },
];

function listenTcp(name: string, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((s) => serveTcp(name, s));
    srv.once('error', reject);
    srv.listen({ port, host, ipv6Only: host === '::' }, () => {
      srv.on('error', (e) => process.stderr.write(`tcp ${host} ${port}: ${e.message}\n`));
      resolve();
    });
  });
}

function listenUdp(name: string, port: number, family: 'udp4' | 'udp6', host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: family, ipv6Only: family === 'udp6' });
    sock.once('error', reject);
    sock.bind({ port, address: host }, () => {
      sock.removeListener('error', reject);
      sock.on('error', (e) => process.stderr.write(`udp ${host} ${port}: ${e.message}\n`));
      serveUdp(name, port, sock);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  process.on('uncaughtException', (e) => process.stderr.write(`echo-server: ${e.stack ?? e}\n`));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
  if (args.exitWithStdin) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
  for (const f of FAMILIES) {
    try {
      for (const p of args.tcp) await listenTcp(args.name, p, f.host);
      for (const p of args.udp) await listenUdp(args.name, p, f.udp, f.host);
    } catch (e) {
      if (!f.optional) {
        process.stderr.write(`echo-server: listen on ${f.host}: ${(e as Error).message}\n`);
        process.exit(1);
      }
      process.stderr.write(`echo-server: no IPv6 (${(e as Error).message})\n`);
    }
  }
  process.stdout.write(`ready name=${args.name} tcp=${args.tcp.join(',')} udp=${args.udp.join(',')}\n`);
}

void main();
