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
/** CoreDNS's request and response size buckets (bytes). */
const SIZE_BUCKETS = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3];
/** The CoreDNS plugin that would have written a reply from each Zone. */
const PLUGIN = ['kubernetes', 'kubernetes', 'forward'];

/** Histogram rows, CoreDNS style (cumulative buckets, +Inf, sum, count). */
function histogram(name: string, labels: Labels, bounds: number[], counts: ArrayLike<number>, sum: number, count: number): string[] {
  const out: string[] = [];
  let cum = 0;
  for (let b = 0; b < bounds.length; b++) {
    cum += counts[b]!;
    out.push(line(`${name}_bucket`, { ...labels, le: String(bounds[b]) }, cum));
  }
  out.push(line(`${name}_bucket`, { ...labels, le: '+Inf' }, count));
  out.push(line(`${name}_sum`, labels, sum));
  out.push(line(`${name}_count`, labels, count));
  return out;
}

function bucketOf(bounds: number[], v: number): number {
  let b = 0;
  while (b < bounds.length && v > bounds[b]!) b++;
  return b;
}

interface UpstreamStats {
  requests: number;
  rcodes: Float64Array;
  failures: number;
  /** Per rcode: duration buckets (non-cumulative, one extra for +Inf), sum, count. */
  durations: Map<number, { buckets: Float64Array; sum: number; count: number }>;
}
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
  /** [tcp][bucket (+Inf last)], then sums and counts per transport. */
  private readonly reqSize = new Float64Array(2 * (SIZE_BUCKETS.length + 1));
  private readonly respSize = new Float64Array(2 * (SIZE_BUCKETS.length + 1));
  private readonly reqSizeSum = new Float64Array(2);
  private readonly respSizeSum = new Float64Array(2);
  private readonly reqCount = new Float64Array(2);
  private readonly respCount = new Float64Array(2);
  private doRequests = 0;
  /** Handler errors answered with SERVFAIL (CoreDNS counts recovered panics). */
  panics = 0;
  /** Forwarded questions refused beyond the concurrency cap. */
  rejects = 0;
  /** Forward cache entries pushed out by the size bound, [success, denial]: set by the owner. */
  evicted: () => [number, number] = () => [0, 0];
  /** Forward answer cache: [hit success, hit denial, miss]. */
  readonly cache = new Float64Array(3);
  readonly drops = new Float64Array(DROP_REASONS.length);
  /** Per upstream address: requests, and responses by rcode (plus 'timeout' as the last slot). */
  private readonly upstream = new Map<string, UpstreamStats>();
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
        out.push(line('coredns_dns_requests_total', { ...s, zone: '.', view: '', proto: tcp ? 'tcp' : 'udp', family: fam ? '2' : '1', type: typeLabel(slot) }, v));
      }
      return out;
    }));
    reg.register(new View('coredns_dns_responses_total', 'DNS responses, by zone and rcode.', 'counter', () => {
      const out: string[] = [];
      for (let i = 0; i < this.responses.length; i++) {
        const v = this.responses[i]!;
        const z = Math.floor(i / RCODES.length);
        if (v) out.push(line('coredns_dns_responses_total', { ...s, zone: ZONES[z]!, view: '', rcode: RCODES[i % RCODES.length]!, plugin: PLUGIN[z]! }, v));
      }
      return out;
    }));
    reg.register(new View('coredns_dns_request_duration_seconds', 'Time from receiving a request to handing its reply to the socket, by zone.', 'histogram', () => {
      const out: string[] = [];
      for (let z = 0; z < 3; z++) {
        if (!this.durCount[z]) continue;
        out.push(...histogram('coredns_dns_request_duration_seconds', { ...s, zone: ZONES[z]!, view: '' }, BUCKETS, this.buckets.subarray(z * BUCKETS.length, (z + 1) * BUCKETS.length), this.durSum[z]!, this.durCount[z]!));
      }
      return out;
    }));
    const sizes = (name: string, counts: Float64Array, sums: Float64Array, n: Float64Array) => () => {
      const out: string[] = [];
      const w = SIZE_BUCKETS.length + 1;
      for (let t = 0; t < 2; t++) if (n[t]) out.push(...histogram(name, { ...s, zone: '.', view: '', proto: t ? 'tcp' : 'udp' }, SIZE_BUCKETS, counts.subarray(t * w, t * w + SIZE_BUCKETS.length), sums[t]!, n[t]!));
      return out;
    };
    reg.register(new View('coredns_dns_request_size_bytes', 'Size of the requests, by transport.', 'histogram', sizes('coredns_dns_request_size_bytes', this.reqSize, this.reqSizeSum, this.reqCount)));
    reg.register(new View('coredns_dns_response_size_bytes', 'Size of the replies, by transport.', 'histogram', sizes('coredns_dns_response_size_bytes', this.respSize, this.respSizeSum, this.respCount)));
    reg.register(new View('coredns_dns_do_requests_total', 'Requests with the DO bit set.', 'counter', () => [line('coredns_dns_do_requests_total', { ...s, zone: '.', view: '' }, this.doRequests)]));
    reg.register(new View('coredns_panics_total', 'Requests whose handling failed (answered SERVFAIL).', 'counter', () => [line('coredns_panics_total', {}, this.panics)]));
    const c = { ...s, zones: '.', view: '' };
    reg.register(new View('coredns_cache_hits_total', 'Forwarded answers served from the cache, by type (success, denial).', 'counter', () => [
      line('coredns_cache_hits_total', { ...c, type: 'success' }, this.cache[0]!),
      line('coredns_cache_hits_total', { ...c, type: 'denial' }, this.cache[1]!),
    ]));
    reg.register(new View('coredns_cache_misses_total', 'Forwarded questions not in the cache.', 'counter', () => [line('coredns_cache_misses_total', c, this.cache[2]!)]));
    reg.register(new View('coredns_cache_requests_total', 'Forwarded questions looked up in the cache.', 'counter', () => [line('coredns_cache_requests_total', c, this.cache[0]! + this.cache[1]! + this.cache[2]!)]));
    reg.register(new View('coredns_cache_evictions_total', 'Forward cache entries pushed out by its size bound, by type.', 'counter', () => [
      line('coredns_cache_evictions_total', { ...c, type: 'success' }, this.evicted()[0]),
      line('coredns_cache_evictions_total', { ...c, type: 'denial' }, this.evicted()[1]),
    ]));
    reg.register(new View('coredns_cache_entries', 'Forwarded answers in the cache, by type.', 'gauge', () => {
      const z = this.sizes();
      return [line('coredns_cache_entries', { ...c, type: 'success' }, z.success), line('coredns_cache_entries', { ...c, type: 'denial' }, z.denial)];
    }));
    reg.register(new View('nodeway_dns_answer_templates', 'Authoritative answers kept encoded, ready to send.', 'gauge', () => [line('nodeway_dns_answer_templates', {}, this.sizes().templates)]));
    reg.register(new View('coredns_forward_requests_total', 'Queries sent to each upstream.', 'counter', () =>
      [...this.upstream].map(([to, u]) => line('coredns_forward_requests_total', { to }, u.requests))));
    reg.register(new View('coredns_forward_responses_total', 'Upstream replies, by upstream and rcode.', 'counter', () => {
      const out: string[] = [];
      for (const [to, u] of this.upstream) for (let r = 0; r < u.rcodes.length; r++) if (u.rcodes[r]) out.push(line('coredns_forward_responses_total', { to, rcode: RCODES[r]! }, u.rcodes[r]!));
      return out;
    }));
    reg.register(new View('coredns_proxy_request_duration_seconds', 'Time of each question to an upstream, by upstream and rcode (CoreDNS >= 1.11 name).', 'histogram', () => {
      const out: string[] = [];
      for (const [to, u] of this.upstream) {
        for (const [r, d] of u.durations) out.push(...histogram('coredns_proxy_request_duration_seconds', { proxy_name: 'forward', to, rcode: RCODES[r]! }, BUCKETS, d.buckets, d.sum, d.count));
      }
      return out;
    }));
    reg.register(new View('coredns_proxy_healthcheck_failures_total', 'Questions an upstream did not answer in time (CoreDNS >= 1.11 name).', 'counter', () =>
      [...this.upstream].map(([to, u]) => line('coredns_proxy_healthcheck_failures_total', { proxy_name: 'forward', to }, u.failures))));
    reg.register(new View('coredns_forward_max_concurrent_rejects_total', 'Forwarded questions refused beyond the concurrency cap.', 'counter', () => [line('coredns_forward_max_concurrent_rejects_total', {}, this.rejects)]));
    reg.register(new View('coredns_forward_healthcheck_failures_total', 'Queries an upstream did not answer in time (or at all).', 'counter', () =>
      [...this.upstream].map(([to, u]) => line('coredns_forward_healthcheck_failures_total', { to }, u.failures))));
    reg.register(new View('nodeway_dns_dropped_total', 'Packets dropped without a reply, by reason (acl: client not on the node or in the cluster; malformed; overload).', 'counter', () =>
      DROP_REASONS.map((r, i) => line('nodeway_dns_dropped_total', { reason: r }, this.drops[i]!))));
    reg.register(new View('nodeway_dns_zone_from_snapshot', 'Whether the cluster zone is answered from the last run\'s snapshot (1) because the watch has not listed yet.', 'gauge', () => [line('nodeway_dns_zone_from_snapshot', {}, this.stale)]));
    reg.register(new View('nodeway_dns_forward_loops_total', 'Upstreams found to send our own queries back to us (then left out).', 'counter', () => [line('nodeway_dns_forward_loops_total', {}, this.loops)]));
  }

  /** `dnssec`: the query's DO (1) and CD (2) bits. */
  request(tcp: boolean, ipv6: boolean, qtype: number, bytes: number, dnssec: number): void {
    const slot = TYPE_SLOT.get(qtype) ?? OTHER;
    this.requests[((tcp ? 2 : 0) + (ipv6 ? 1 : 0)) * NTYPES + slot]!++;
    const t = tcp ? 1 : 0;
    this.reqSize[t * (SIZE_BUCKETS.length + 1) + bucketOf(SIZE_BUCKETS, bytes)]!++;
    this.reqSizeSum[t]! += bytes;
    this.reqCount[t]!++;
    if (dnssec & 1) this.doRequests++;
  }

  response(zone: Zone, rcode: number, seconds: number, bytes: number, tcp: boolean): void {
    this.responses[zone * RCODES.length + (rcode < RCODES.length ? rcode : 0)]!++;
    const b = bucketOf(BUCKETS, seconds);
    if (b < BUCKETS.length) this.buckets[zone * BUCKETS.length + b]!++;
    this.durSum[zone]! += seconds;
    this.durCount[zone]!++;
    const t = tcp ? 1 : 0;
    this.respSize[t * (SIZE_BUCKETS.length + 1) + bucketOf(SIZE_BUCKETS, bytes)]!++;
    this.respSizeSum[t]! += bytes;
    this.respCount[t]!++;
  }

  drop(reason: DropReason): void {
    this.drops[DROP_REASONS.indexOf(reason)]!++;
  }

  private up(to: string): UpstreamStats {
    let u = this.upstream.get(to);
    if (!u) this.upstream.set(to, (u = { requests: 0, rcodes: new Float64Array(RCODES.length), failures: 0, durations: new Map() }));
    return u;
  }
  forwardRequest(to: string): void {
    this.up(to).requests++;
  }
  forwardResponse(to: string, rcode: number, seconds = 0): void {
    const u = this.up(to);
    const r = rcode < RCODES.length ? rcode : 0;
    u.rcodes[r]!++;
    let d = u.durations.get(r);
    if (!d) u.durations.set(r, (d = { buckets: new Float64Array(BUCKETS.length + 1), sum: 0, count: 0 }));
    d.buckets[bucketOf(BUCKETS, seconds)]!++;
    d.sum += seconds;
    d.count++;
  }
  forwardFailure(to: string): void {
    this.up(to).failures++;
  }

  /** For tests and the bench. */
  total(what: 'requests' | 'responses'): number {
    return (what === 'requests' ? this.requests : this.responses).reduce((a, b) => a + b, 0);
  }
}
