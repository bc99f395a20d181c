// Runs a FakeUpstream as its own process (inside a lab namespace): HOST PORT NAME=IP… ; prints "ready".
import { FakeUpstream } from './fake-upstream.ts';

const [host = '127.0.0.1', port = '5300', ...records] = process.argv.slice(2);
const u = new FakeUpstream(host);
for (const r of records) {
  const [name, ip] = r.split('=');
  if (name && ip) u.add(name, ip);
}
await u.start(Number(port));
console.log(`ready ${u.port}`);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
