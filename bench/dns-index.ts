// The DNS record index's own heap: Services × endpoints (each Service a ClusterIP with ready
// endpoints, their DNS endpoints already built as the view keeps them), heap used after
// planIndex minus before, after full collections. The reverse (PTR) map is most of it.
// Run: node --expose-gc bench/dns-index.ts [services=10000] [endpoints=10]
import { planIndex } from '../modules/dns/records.ts';
import { svc } from '../test/dns/fixtures.ts';
import type { ServiceView } from '../src/view/types.ts';

const N = Number(process.argv[2] ?? 10_000);
const PER = Number(process.argv[3] ?? 10);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const services = new Map<string, ServiceView>();
let p = 0;
for (let i = 0; i < N; i++) {
  const endpoints = Array.from({ length: PER }, () => {
    const q = p++;
    return { ip: `10.${244 + (q >> 16)}.${(q >> 8) & 255}.${q & 255}`, hostname: '' };
  });
  const v = svc({ ns: `ns${i % 10}`, name: `svc${i}`, clusterIPs: [`10.96.${(i >> 8) & 255}.${i & 255}`], ports: [{ name: 'http', port: 80 }], endpoints });
  services.set(v.key, v);
}
for (const v of services.values()) void v.dnsEndpoints;
gc();
gc();
const h0 = process.memoryUsage().heapUsed;
const idx = planIndex({ services, namespaces: new Set(), podsByIP: new Map() }, { zone: 'cluster.local', ttl: 30, pods: 'disabled', nameservers: [] }, 1);
gc();
gc();
const mib = (process.memoryUsage().heapUsed - h0) / 1048576;
console.log(`DNS record index, ${N} Services × ${PER} endpoints: ${mib.toFixed(2)} MiB of heap (${idx.reverse.size} IPs in the reverse map)`);
