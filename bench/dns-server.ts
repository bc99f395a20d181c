// The benchmark's DNS server, in its own process so the harness never shares its event loop:
//   node bench/dns-server.ts PORT UPSTREAM_PORT SERVICES PODS_PER_HEADLESS [CHANGES_PER_SEC [selective|clear-all]]
// prints "ready". With CHANGES_PER_SEC, that many Services change every second, one sync each,
// as the runner would (see below); `clear-all` then also drops every encoded
// answer, as the module did before answers were invalidated by name (the churn bench's baseline).
import { emptyChanges } from '../src/view/view.ts';
import pino from 'pino';
import { DnsModule } from '../modules/dns/module.ts';
import { Registry } from '../src/runtime/metrics.ts';
import type { ServiceView } from '../src/view/types.ts';
import { nodeView } from '../test/dns/fixtures.ts';
import { synthetic } from './dns-zone.ts';

const [port = '5353', upstream = '5354', services = '2000', podsPer = '5', churn = '0', mode = 'selective'] = process.argv.slice(2);
const s = synthetic(Number(services), Number(podsPer));
const m = new DnsModule({
  config: { dnsListen: [`127.0.0.1:${port}`], dnsUpstream: [`127.0.0.1:${upstream}`], dnsTTL: 30, dnsPods: 'insecure', dnsCacheSize: 100_000 },
  nodeName: 'bench',
  log: pino({ level: 'warn' }),
  registry: new Registry(),
});
const view = nodeView({ services: s.services, namespaces: s.namespaces });
const none = emptyChanges();
await m.sync(view as never, { ...none, full: true, self: true, serviceCIDRs: true });

const perSec = Number(churn);
if (perSec > 0) {
  const list = s.services;
  let round = 0;
  const services = view.services as Map<string, ServiceView>;
  // One change per sync, spread over the second: the runner syncs at most every 100 ms. Changes
  // as they happen (a ClusterIP is immutable): a ClusterIP Service's port moves, or a headless
  // Service's first pod is replaced by one with a new IP.
  setInterval(() => {
    round++;
    const v = list[(round * 7) % list.length]!;
    const cur = services.get(v.key)!;
    const next: ServiceView = v.headless
      ? { ...cur, dnsEndpoints: cur.dnsEndpoints.map((ep, i) => (i === 0 ? { ...ep, ip: `10.250.${(round >> 8) & 255}.${round & 255}` } : ep)) }
      : { ...cur, ports: cur.ports.map((p) => ({ ...p, port: p.port === 80 ? 81 : 80 })) };
    services.set(v.key, next);
    void m.sync(view as never, { ...none, full: false, services: new Set([v.key]) });
    if (mode === 'clear-all') m.engine.setIndex((m as unknown as { index: never }).index);
  }, 1000 / perSec);
}
console.log('ready');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));
