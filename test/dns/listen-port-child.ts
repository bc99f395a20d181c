// Run by listen-port.test.ts under `unshare -n` (a network namespace of its own, gone with the
// process): the ephemeral range narrowed to 2 ports, the lower one held on TCP, then DnsServer
// asked for port 0 twenty times. Prints JSON: the ports bound and the errors.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import pino from 'pino';
import { ClientACL } from '../../modules/dns/access.ts';
import { Engine } from '../../modules/dns/engine.ts';
import { DnsMetrics } from '../../modules/dns/metrics.ts';
import { DnsServer } from '../../modules/dns/server.ts';
import { Forwarder } from '../../modules/dns/upstream.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import { index } from './fixtures.ts';

const LOW = 40000;
execFileSync('ip', ['link', 'set', 'lo', 'up']);
writeFileSync('/proc/sys/net/ipv4/ip_local_port_range', `${LOW} ${LOW + 1}`);
const held = net.createServer();
await new Promise<void>((r) => held.listen(LOW, '127.0.0.1', () => r()));
const log = pino({ level: 'silent' });
const ports: number[] = [];
const errors: string[] = [];
for (let i = 0; i < 20; i++) {
  const metrics = new DnsMetrics(new Registry(), 'dns://test', 'cluster.local');
  const idx = index({ services: [], namespaces: [] });
  const e = new Engine({ settings: idx.settings, forwarder: new Forwarder({ log, metrics }), metrics, cacheSize: 10 });
  e.setIndex(idx);
  const server = new DnsServer(e, metrics, new ClientACL(), log);
  try {
    await server.listen([{ host: '127.0.0.1', port: 0 }]);
    ports.push(...server.boundPorts());
  } catch (err) {
    errors.push((err as Error).message);
  }
  await server.close();
}
held.close();
process.stdout.write(JSON.stringify({ ports, errors }));
