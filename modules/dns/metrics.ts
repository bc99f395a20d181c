// CoreDNS-named metrics, counted in typed arrays on the hot path (an index computation and an
// add, no label maps) and turned into Prometheus text only when scraped.
import type { Metric, Registry } from '../../src/runtime/metrics.ts';
import type { Zone } from './template.ts';
import { TYPE, typeName } from './wire.ts';

const QTYPES = [TYPE.A, TYPE.AAAA, TYPE.SRV, TYPE.PTR, TYPE.TXT, TYPE.CNAME, TYPE.NS, TYPE.SOA, TYPE.MX, TYPE.HINFO, TYPE.ANY, TYPE.AXFR, TYPE.IXFR];
const TYPE_SLOT = new Map<number, number>(QTYPES.map((t, i) => [t, i]));
const OTHER = QTYPES.length;
const NTYPES = QTYPES.length + 1;
const typeLabel = (slot: number): string => (slot === OTHER ? 'other' : typeName(QTYPES[slot]!));

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE', 'RCODE11', 'RCODE12', 'RCODE13', 'RCODE14', 'RCODE15', 'BADVERS'];
/** CoreDNS's request-duration buckets (seconds). */
const BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192];
export const DROP_REASONS = ['acl', 'malformed', 'overload'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

type Labels = Record<string, string>;

function line(name: string, labels: Labels, v: number): string {
  const inner = Object.entries(labels).map(([k, x]) => `${k}="${x.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',');
  return `${name}${inner ? `{${inner}}` : ''} ${v}`;
}

class View implements Metric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly render: () => string[];
  constructor(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', render: () => string[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.render = render;
  }
}

export class DnsMetrics {
  /** [tcp][ipv6][type slot] */
  private readonly requests = new Float64Array(2 * 2 * NTYPES);
  /** [zone][rcode] */
  private readonly responses = new Float64Array(3 * RCODES.length);
  /** [zone][bucket] (non-cumulative; cumulated on render), then sums and counts per zone. */
  private readonly buckets = new Float64Array(3 * BUCKETS.length);
  private readonly durSum = new Float64Array(3);
  private readonly durCount = new Float64Array(3);
  /** Forward answer cache: [hit success, hit denial, miss]. */
  readonly cache = new Float64Array(3);
  readonly drops = new Float64Array(DROP_REASONS.length);
  /** Per upstream address: requests, and responses by rcode (plus 'timeout' as the last slot). */
  private readonly upstream = new Map<string, { requests: number; rcodes: Float64Array; failures: number }>();
  /** The authoritative answers kept encoded, the forward cache entries: set by the owner. */
  sizes: () => { templates: number; success: number; denial: number } = () => ({ templates: 0, success: 0, denial: 0 });
  loops = 0;
  /** 1 while the cluster zone is answered from the snapshot of a previous run. */
  stale = 0;

  constructor(reg: Registry, server: string, clusterZone: string) {
    const s = { server };
    // Indexed by Zone: the cluster domain, the reverse zones we answer for, everything forwarded.
    const ZONES = [`${clusterZone}.`, 'arpa.', '.'];
    reg.register(new View('coredns_dns_requests_total', 'DNS requests, by transport, address family and query type.', 'counter', () => {
      const out: string[] = [];
      for (let i = 0; i < this.requests.length; i++) {
        const v = this.requests[i]!;
        if (!v) continue;
        const slot = i % NTYPES;
        const fam = Math.floor(i / NTYPES) % 2;
        const tcp = Math.floor(i / NTYPES / 2);
        out.push(line('coredns_dns_requests_total', { ...s, zone: '.', proto: tcp ? 'tcp' : 'udp', family: fam ? '2' : '1', type: typeLabel(slot) }, v));
      }
      return out;
    }));
    reg.register(new View('coredns_dns_responses_total', 'DNS responses, by zone and rcode.', 'counter', () => {
      const out: string[] = [];
      for (let i = 0; i < this.responses.length; i++) {
        const v = this.responses[i]!;
        if (v) out.push(line('coredns_dns_responses_total', { ...s, zone: ZONES[Math.floor(i / RCODES.length)]!, rcode: RCODES[i % RCODES.length]!, plugin: '' }, v));
      }
      return out;
    }));
    reg.register(new View('coredns_dns_request_duration_seconds', 'Time from receiving a request to handing its reply to the socket, by zone.', 'histogram', () => {
      const out: string[] = [];
      for (let z = 0; z < 3; z++) {
        if (!this.durCount[z]) continue;
        const l = { ...s, zone: ZONES[z]!, type: 'all' };
        let cum = 0;
        for (let b = 0; b < BUCKETS.length; b++) {
          cum += this.buckets[z * BUCKETS.length + b]!;
          out.push(line('coredns_dns_request_duration_seconds_bucket', { ...l, le: String(BUCKETS[b]) }, cum));
        }
        out.push(line('coredns_dns_request_duration_seconds_bucket', { ...l, le: '+Inf' }, this.durCount[z]!));
        out.push(line('coredns_dns_request_duration_seconds_sum', l, this.durSum[z]!));
        out.push(line('coredns_dns_request_duration_seconds_count', l, this.durCount[z]!));
      }
      return out;
    }));
    reg.register(new View('coredns_cache_hits_total', 'Forwarded answers served from the cache, by type (success, denial).', 'counter', () => [
      line('coredns_cache_hits_total', { ...s, type: 'success', zones: '.' }, this.cache[0]!),
      line('coredns_cache_hits_total', { ...s, type: 'denial', zones: '.' }, this.cache[1]!),
    ]));
    reg.register(new View('coredns_cache_misses_total', 'Forwarded questions not in the cache.', 'counter', () => [line('coredns_cache_misses_total', { ...s, zones: '.' }, this.cache[2]!)]));
    reg.register(new View('coredns_cache_entries', 'Forwarded answers in the cache, by type.', 'gauge', () => {
      const z = this.sizes();
      return [line('coredns_cache_entries', { ...s, type: 'success', zones: '.' }, z.success), line('coredns_cache_entries', { ...s, type: 'denial', zones: '.' }, z.denial)];
    }));
    reg.register(new View('nodeway_dns_answer_templates', 'Authoritative answers kept encoded, ready to send.', 'gauge', () => [line('nodeway_dns_answer_templates', {}, this.sizes().templates)]));
    reg.register(new View('coredns_forward_requests_total', 'Queries sent to each upstream.', 'counter', () =>
      [...this.upstream].map(([to, u]) => line('coredns_forward_requests_total', { to }, u.requests))));
    reg.register(new View('coredns_forward_responses_total', 'Upstream replies, by upstream and rcode.', 'counter', () => {
      const out: string[] = [];
      for (const [to, u] of this.upstream) for (let r = 0; r < u.rcodes.length; r++) if (u.rcodes[r]) out.push(line('coredns_forward_responses_total', { to, rcode: RCODES[r]! }, u.rcodes[r]!));
      return out;
    }));
    reg.register(new View('coredns_forward_healthcheck_failures_total', 'Queries an upstream did not answer in time (or at all).', 'counter', () =>
      [...this.upstream].map(([to, u]) => line('coredns_forward_healthcheck_failures_total', { to }, u.failures))));
    reg.register(new View('nodeway_dns_dropped_total', 'Packets dropped without a reply, by reason (acl: client not on the node or in the cluster; malformed; overload).', 'counter', () =>
      DROP_REASONS.map((r, i) => line('nodeway_dns_dropped_total', { reason: r }, this.drops[i]!))));
    reg.register(new View('nodeway_dns_zone_from_snapshot', 'Whether the cluster zone is answered from the last run\'s snapshot (1) because the watch has not listed yet.', 'gauge', () => [line('nodeway_dns_zone_from_snapshot', {}, this.stale)]));
    reg.register(new View('nodeway_dns_forward_loops_total', 'Upstreams found to send our own queries back to us (then left out).', 'counter', () => [line('nodeway_dns_forward_loops_total', {}, this.loops)]));
  }

  request(tcp: boolean, ipv6: boolean, qtype: number): void {
    const slot = TYPE_SLOT.get(qtype) ?? OTHER;
    this.requests[((tcp ? 2 : 0) + (ipv6 ? 1 : 0)) * NTYPES + slot]!++;
  }

  response(zone: Zone, rcode: number, seconds: number): void {
    this.responses[zone * RCODES.length + (rcode < RCODES.length ? rcode : 0)]!++;
    let b = 0;
    while (b < BUCKETS.length && seconds > BUCKETS[b]!) b++;
    if (b < BUCKETS.length) this.buckets[zone * BUCKETS.length + b]!++;
    this.durSum[zone]! += seconds;
    this.durCount[zone]!++;
  }

  drop(reason: DropReason): void {
    this.drops[DROP_REASONS.indexOf(reason)]!++;
  }

  private up(to: string) {
    let u = this.upstream.get(to);
    if (!u) this.upstream.set(to, (u = { requests: 0, rcodes: new Float64Array(RCODES.length), failures: 0 }));
    return u;
  }
  forwardRequest(to: string): void {
    this.up(to).requests++;
  }
  forwardResponse(to: string, rcode: number): void {
    this.up(to).rcodes[rcode < RCODES.length ? rcode : 0]!++;
  }
  forwardFailure(to: string): void {
    this.up(to).failures++;
  }

  /** For tests and the bench. */
  total(what: 'requests' | 'responses'): number {
    return (what === 'requests' ? this.requests : this.responses).reduce((a, b) => a + b, 0);
  }
}
