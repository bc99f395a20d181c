// The two ends of bench/netpol-forward.ts, run inside lab pods with the pinned Node.
//   server PORT...              accepts and closes (the client's FIN closes it), prints "listening"
//   client HOST PORT SECONDS CONCURRENCY
//                               CONCURRENCY loops, each: connect, FIN, wait for the server's close,
//                               again; prints {"ok","failed","seconds","errors"} as JSON.
import { connect, createServer } from 'node:net';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'server') {
  let up = 0;
  for (const port of args.map(Number)) {
    const srv = createServer((s) => {
      s.on('error', () => {});
      s.resume();
    });
    srv.listen({ port, host: '0.0.0.0', backlog: 4096 }, () => {
      if (++up === args.length) console.log('listening');
    });
  }
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else if (mode === 'client') {
  const [host, port, seconds, concurrency] = [args[0]!, Number(args[1]), Number(args[2]), Number(args[3])];
  let ok = 0, failed = 0;
  const errors = new Map<string, number>();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const loop = (done: () => void) => {
    if (performance.now() >= end) return done();
    const s = connect({ host, port });
    let connected = false;
    s.on('connect', () => {
      connected = true;
      s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => errors.set(e.code ?? e.message, (errors.get(e.code ?? e.message) ?? 0) + 1));
    s.on('close', (hadError) => {
      if (connected && !hadError) ok++;
      else failed++;
      loop(done);
    });
    s.resume();
  };
  await Promise.all(Array.from({ length: concurrency }, () => new Promise<void>((r) => loop(r))));
  console.log(JSON.stringify({ ok, failed, seconds: (performance.now() - t0) / 1000, errors: Object.fromEntries(errors) }));
} else {
  console.error('usage: server PORT... | client HOST PORT SECONDS CONCURRENCY');
  process.exit(2);
}
