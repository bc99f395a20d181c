// Lab workload for strict mode: one long-lived TCP connection.
//   node hold-conn.ts serve PORT          echoes every byte back on every connection (both families)
//   node hold-conn.ts connect HOST PORT   sends a byte every 100 ms on one connection and prints
//                                         "echoes=N" every 250 ms (N: bytes echoed so far)
// Prints "ready" once listening / connected; "closed CODE" if the connection ends.
import net from 'node:net';

const [mode, a, b] = process.argv.slice(2);
if (mode === 'serve') {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  srv.listen({ port: Number(a), host: '::' }, () => process.stdout.write('ready\n'));
} else if (mode === 'connect') {
  let echoes = 0;
  const s = net.connect({ host: a, port: Number(b) });
  s.setNoDelay(true);
  s.on('connect', () => {
    process.stdout.write('ready\n');
    setInterval(() => s.write('x'), 100);
    setInterval(() => process.stdout.write(`echoes=${echoes}\n`), 250);
  });
  s.on('data', (d: Buffer) => void (echoes += d.length));
  s.on('error', (e: NodeJS.ErrnoException) => {
    process.stdout.write(`closed ${e.code ?? 'error'}\n`);
    process.exit(0);
  });
  s.on('close', () => {
    process.stdout.write('closed end\n');
    process.exit(0);
  });
} else {
  process.stderr.write('usage: hold-conn.ts serve PORT | connect HOST PORT\n');
  process.exit(2);
}
