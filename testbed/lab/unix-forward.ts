// Forwards TCP connections made inside a network namespace to a Unix socket. A Unix socket
// is a file, reachable from every namespace, so an agent in a lab node can talk to an API
// server listening in the test process (root namespace) without any interface in between.
// Usage: node unix-forward.ts --listen HOST:PORT --socket PATH [--exit-with-stdin]
import { connect, createServer } from 'node:net';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const listen = arg('listen');
const socket = arg('socket');
if (!listen || !socket) {
  process.stderr.write('usage: unix-forward.ts --listen HOST:PORT --socket PATH\n');
  process.exit(2);
}
const i = listen.lastIndexOf(':');
const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
const port = Number(listen.slice(i + 1));

const server = createServer((client) => {
  const upstream = connect({ path: socket });
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.on('error', (err) => {
  process.stderr.write(`unix-forward: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, host, () => process.stdout.write(`ready ${listen} -> ${socket}\n`));
if (process.argv.includes('--exit-with-stdin')) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
