// The benchmark's DNS server, in its own process so the harness never shares its event loop:
//   node bench/dns-server.ts PORT UPSTREAM_PORT SERVICES PODS_PER_HEADLESS   → prints "ready"
import pino from 'pino';
import { DnsModule } from '../modules/dns/module.ts';
import { Registry } from '../src/runtime/metrics.ts';
import { nodeView } from '../test/dns/fixtures.ts';
import { synthetic } from './dns-zone.ts';

const [port = '5353', upstream = '5354', services = '2000', podsPer = '5'] = process.argv.slice(2);
const s = synthetic(Number(services), Number(podsPer));
const m = new DnsModule({
  config: { dnsListen: [`127.0.0.1:${port}`], dnsUpstream: [`127.0.0.1:${upstream}`], dnsTTL: 30, dnsPods: 'insecure', dnsCacheSize: 100_000 },
  nodeName: 'bench',
  log: pino({ level: 'warn' }),
  registry: new Registry(),
});
await m.sync(nodeView({ services: s.services, namespaces: s.namespaces }) as never, { full: true, services: new Set(), peers: new Set(), pods: new Set(), namespaces: new Set(), self: true, serviceCIDRs: true, policies: new Set() });
console.log('ready');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));
