// The benchmark's synthetic cluster: Services and pods as ServiceViews, the same zone as an NSD
// zone file, and the query mix dnsperf sends to both.
import type { ServiceView } from '../src/view/types.ts';
import { reverseName } from '../modules/dns/names.ts';
import { svc } from '../test/dns/fixtures.ts';

export interface Synthetic {
  services: ServiceView[];
  pods: number;
  namespaces: string[];
}

/** `n` Services in 10 namespaces: half ClusterIP (one named port), half headless with `podsPer` pods. */
export function synthetic(n: number, podsPer: number): Synthetic {
  const services: ServiceView[] = [];
  const namespaces = Array.from({ length: 10 }, (_, i) => `ns${i}`);
  let pod = 0;
  for (let i = 0; i < n; i++) {
    const ns = namespaces[i % 10]!;
    if (i % 2 === 0) {
      services.push(svc({ ns, name: `svc${i}`, clusterIPs: [`10.96.${(i >> 8) & 255}.${i & 255}`], ports: [{ name: 'http', port: 80 }] }));
    } else {
      const endpoints = Array.from({ length: podsPer }, (_, k) => {
        const p = pod++;
        return { ip: `10.${244 + (p >> 16)}.${(p >> 8) & 255}.${p & 255}`, hostname: `pod-${k}` };
      });
      services.push(svc({ ns, name: `hdls${i}`, headless: true, ports: [{ name: 'http', port: 8080 }], endpoints }));
    }
  }
  return { services, pods: pod, namespaces };
}

/** The zone as NSD master files: the cluster zone and the two reverse zones we answer for. */
export function nsdZones(s: Synthetic, zone = 'cluster.local', ttl = 30): Record<string, string> {
  const soa = (apex: string) => `$ORIGIN ${apex}.\n$TTL ${ttl}\n@ IN SOA ns.dns.${zone}. hostmaster.${zone}. 1 7200 1800 86400 ${ttl}\n@ IN NS ns.dns.${zone}.\n`;
  const fwd: string[] = [soa(zone), `ns.dns IN A 10.96.0.10`, `dns-version 28800 IN TXT "1.1.0"`];
  const rev96: string[] = [soa('96.10.in-addr.arpa')];
  const rev244: string[] = [soa('10.in-addr.arpa')];
  for (const v of s.services) {
    const name = `${v.name}.${v.namespace}.svc`;
    const fqdn = `${name}.${zone}.`;
    if (!v.headless) {
      for (const ip of v.clusterIPs) {
        fwd.push(`${name} IN A ${ip}`);
        rev96.push(`${reverseName(ip)}. IN PTR ${fqdn}`);
      }
      fwd.push(`_http._tcp.${name} IN SRV 0 100 80 ${fqdn}`);
      continue;
    }
    for (const ep of v.dnsEndpoints) {
      fwd.push(`${name} IN A ${ep.ip}`);
      fwd.push(`${ep.hostname}.${name} IN A ${ep.ip}`);
      fwd.push(`_http._tcp.${name} IN SRV 0 ${Math.max(1, Math.floor(100 / v.dnsEndpoints.length))} 8080 ${ep.hostname}.${fqdn}`);
      rev244.push(`${reverseName(ep.ip)}. IN PTR ${ep.hostname}.${fqdn}`);
    }
  }
  return { [zone]: fwd.join('\n') + '\n', '96.10.in-addr.arpa': rev96.join('\n') + '\n', '10.in-addr.arpa': rev244.join('\n') + '\n' };
}

/**
 * dnsperf input: what pods ask — mostly ClusterIP A, the AAAA that follows it (NODATA), SRV,
 * headless and pod-hostname A, PTR, and the ndots:5 search-path misses (NXDOMAIN).
 */
export function clusterQueries(s: Synthetic, count: number, zone = 'cluster.local'): string {
  const lines: string[] = [];
  const cip = s.services.filter((v) => !v.headless);
  const hdl = s.services.filter((v) => v.headless);
  for (let i = 0; i < count; i++) {
    const c = cip[(i * 7919) % cip.length]!;
    const h = hdl[(i * 104729) % hdl.length]!;
    const ep = h.dnsEndpoints[i % h.dnsEndpoints.length]!;
    switch (i % 10) {
      case 0: case 1: case 2: case 3:
        lines.push(`${c.name}.${c.namespace}.svc.${zone} A`);
        break;
      case 4:
        lines.push(`${c.name}.${c.namespace}.svc.${zone} AAAA`);
        break;
      case 5:
        lines.push(`_http._tcp.${c.name}.${c.namespace}.svc.${zone} SRV`);
        break;
      case 6:
        lines.push(`${h.name}.${h.namespace}.svc.${zone} A`);
        break;
      case 7:
        lines.push(`${ep.hostname}.${h.name}.${h.namespace}.svc.${zone} A`);
        break;
      case 8:
        lines.push(`${reverseName(c.clusterIPs[0]!)} PTR`);
        break;
      default:
        lines.push(`api${i % 500}.example.com.${c.namespace}.svc.${zone} A`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Names outside the cluster for the forwarding run, and the records the fake upstream holds. */
export function externalNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `host${i}.example${i % 7}.test`);
}
