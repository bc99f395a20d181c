// Lab workload: one or more bounded connection attempts, each printed as one
// line, so tests can tell an answer from a REJECT (refused) and a DROP (timeout).
//
//   node probe.ts tcp|udp|http HOST PORT [--timeout MS] [--count N] [--interval MS]
//                 [--source ADDR] [--sport PORT] [--payload TEXT]
//
// Lines: "ok <answer>", "http-<status> <body>", "refused", "timeout",
// "unreachable", "reset", "noreply", "error <code>". Exit 0 when all were ok.
import dgram from 'node:dgram';
import net from 'node:net';

type Proto = 'tcp' | 'udp' | 'http';

interface Args {
  proto: Proto;
  host: string;
  port: number;
  timeoutMs: number;
  count: number;
  intervalMs: number;
  source: string | undefined;
  sport: number | undefined;
  payload: string;
}

function usage(msg: string): never {
  process.stderr.write(
    `probe: ${msg}\nusage: probe tcp|udp|http HOST PORT [--timeout MS] [--count N] [--interval MS] [--source ADDR] [--sport PORT] [--payload TEXT]\n`,
  );
  process.exit(2);
}

function int(v: string | undefined, what: string, min: number, max: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min || n > max) usage(`bad ${what} ${v}`);
  return n;
}

function parse(argv: string[]): Args {
  const [proto, host, port, ...rest] = argv;
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'http') usage(`bad protocol ${proto}`);
  if (!host) usage('missing host');
  const a: Args = {
    proto,
    host: host.replace(/^\[(.*)\]$/, '$1'),
    port: int(port, 'port', 1, 65535),
    timeoutMs: 1_000,
    count: 1,
    intervalMs: 0,
    source: undefined,
    sport: undefined,
    payload: 'probe\n',
  };
  for (let i = 0; i < rest.length; i++) {
    const k = rest[i];
    const v = rest[++i];
    if (k === '--timeout') a.timeoutMs = int(v, 'timeout', 1, 60_000);
    else if (k === '--count') a.count = int(v, 'count', 1, 10_000);
    else if (k === '--interval') a.intervalMs = int(v, 'interval', 0, 60_000);
    else if (k === '--source') a.source = v ?? usage('missing source');
    else if (k === '--sport') a.sport = int(v, 'source port', 1, 65535);
    else if (k === '--payload') a.payload = v ?? usage('missing payload');
    else usage(`unknown argument ${k}`);
  }
  return a;
}

function classify(code: string | undefined, connected: boolean): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return connected ? 'reset' : 'refused';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EACCES':
    case 'EPERM':
      return 'unreachable';
    default:
      return `error ${code ?? 'unknown'}`;
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0]?.trim() ?? '';
}

function httpResult(raw: string): string {
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})[^\n]*\n/.exec(raw);
  if (!m) return raw ? `error bad-http ${JSON.stringify(firstLine(raw))}` : 'noreply';
  const sep = raw.indexOf('\r\n\r\n');
  const body = sep >= 0 ? firstLine(raw.slice(sep + 4)) : '';
  return m[1]?.startsWith('2') ? `ok ${body}` : `http-${m[1]} ${body}`;
}

function tcpOnce(a: Args): Promise<string> {
  return new Promise((resolve) => {
    let connected = false;
    let data = '';
    let settled = false;
    const sock = net.connect({
      host: a.host,
      port: a.port,
      ...(a.source ? { localAddress: a.source } : {}),
      ...(a.sport ? { localPort: a.sport } : {}),
    });
    const finish = (r: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const answered = () => (a.proto === 'http' ? httpResult(data) : data ? `ok ${firstLine(data)}` : 'noreply');
    const timer = setTimeout(() => finish(connected ? (data ? answered() : 'noreply') : 'timeout'), a.timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      connected = true;
      const req =
        a.proto === 'http'
          ? `GET / HTTP/1.1\r\nHost: ${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}\r\nConnection: close\r\n\r\n`
          : a.payload;
      sock.write(req);
    });
    sock.on('data', (chunk: string) => {
      data = (data + chunk).slice(0, 64 * 1024);
      if (a.proto !== 'http' && data.includes('\n')) finish(answered());
    });
    sock.on('end', () => finish(answered()));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(data ? answered() : classify(e.code, connected)));
  });
}

function udpOnce(a: Args): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const v6 = net.isIPv6(a.host) || (a.source !== undefined && net.isIPv6(a.source));
    const sock = dgram.createSocket(v6 ? 'udp6' : 'udp4');
    const finish = (r: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        sock.close();
      } catch {
        // already closed
      }
      resolve(r);
    };
    const timer = setTimeout(() => finish('timeout'), a.timeoutMs);
    // A connected socket is what lets the kernel report ICMP port unreachable.
    sock.on('error', (e: NodeJS.ErrnoException) => finish(classify(e.code, false)));
    sock.on('message', (msg) => finish(`ok ${firstLine(msg.toString('utf8'))}`));
    sock.bind({ port: a.sport ?? 0, ...(a.source ? { address: a.source } : {}) }, () => {
      sock.connect(a.port, a.host, (err?: Error) => {
        if (err) return finish(classify((err as NodeJS.ErrnoException).code, false));
        sock.send(a.payload, (e) => {
          if (e) finish(classify((e as NodeJS.ErrnoException).code, false));
        });
      });
    });
  });
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  // Hard bound: whatever happens, the probe is gone shortly after its budget.
  const budget = a.count * (a.timeoutMs + a.intervalMs) + 2_000;
  setTimeout(() => {
    process.stdout.write('error deadline\n');
    process.exit(3);
  }, budget).unref();
  process.on('uncaughtException', (e) => {
    process.stdout.write(`error ${JSON.stringify(String(e))}\n`);
    process.exit(3);
  });
  let allOk = true;
  for (let i = 0; i < a.count; i++) {
    if (i > 0 && a.intervalMs > 0) await new Promise((r) => setTimeout(r, a.intervalMs));
    const r = await (a.proto === 'udp' ? udpOnce(a) : tcpOnce(a));
    if (!r.startsWith('ok')) allOk = false;
    process.stdout.write(`${r}\n`);
  }
  process.exitCode = allOk ? 0 : 1;
}

void main();
