// Lab workload for policy tests: probes many targets at once from inside one pod and prints
// one JSON line per target, so a 9 × 8 matrix costs nine processes, not seventy-two.
//   node batch-probe.ts '[["tcp","198.19.0.10",80], ["udp","198.19.0.11",81]]' [timeoutMs]
// TCP: connected = ok. UDP: a reply datagram = ok (the lab echo server answers every one).
import dgram from 'node:dgram';
import net from 'node:net';

type Target = [proto: 'tcp' | 'udp', host: string, port: number];

function tcp(host: string, port: number, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (r: string) => {
      s.destroy();
      resolve(r);
    };
    s.setTimeout(ms, () => done('timeout'));
    s.on('connect', () => done('ok'));
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
  });
}

function udp(host: string, port: number, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const t = setTimeout(() => done('timeout'), ms);
    const done = (r: string) => {
      clearTimeout(t);
      s.close();
      resolve(r);
    };
    s.on('message', () => done('ok'));
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
    s.connect(port, host, () => s.send('probe'));
  });
}

const targets = JSON.parse(process.argv[2] ?? '[]') as Target[];
const ms = Number(process.argv[3] ?? 1000);
const results = await Promise.all(targets.map(([p, h, n]) => (p === 'tcp' ? tcp(h, n, ms) : udp(h, n, ms))));
for (const [i, [p, h, n]] of targets.entries()) process.stdout.write(`${JSON.stringify({ proto: p, host: h, port: n, outcome: results[i] })}\n`);
