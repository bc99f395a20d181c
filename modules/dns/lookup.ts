// What the cluster zone says about one (name, type): the Kubernetes DNS spec 1.1.0 plus the
// CoreDNS behaviour clients rely on (pod names, bare-name SRV, endpoint names under every
// Service), with CoreDNS's NXDOMAIN vs NODATA rules. Pure: index + question → answer.
import { ipFamily } from '../../src/net/ip.ts';
import type { DnsEndpoint } from '../../src/view/types.ts';
import { ipRR, rr, type RR } from './message.ts';
import type { HostsTable } from './hosts.ts';
import { ipFromDashed, ipFromReverse } from './names.ts';
import { type DnsSettings, hostsOf, namespaceExists, ptrOwners, type RecordIndex, type SvcEntry } from './records.ts';
import { ZONE_CLUSTER, ZONE_REVERSE, type Zone } from './template.ts';
import { RCODE, TYPE, inZone, nameToWire, splitName } from './wire.ts';

export const SCHEMA_VERSION = '1.1.0';
const VERSION_TTL = 28800;
const MAX_CHASE = 8;

export interface AuthAnswer {
  rcode: number;
  answers: RR[];
  authority: RR[];
  additional: RR[];
  zone: Zone;
  /** An ExternalName outside the zone: the upstream's answer for (chase, qtype) completes this one. */
  chase?: string;
  /** Not to be cached (SERVFAIL while the view is not ready). */
  transient?: boolean;
  /** Answered from the hosts table. */
  hosts?: boolean;
}

function soa(s: DnsSettings, apex: string, serial: number): RR {
  return rr(apex, TYPE.SOA, Math.min(s.ttl, 300), {
    kind: 'soa',
    mname: `ns.dns.${s.zone}`,
    rname: `hostmaster.${s.zone}`,
    serial,
    refresh: 7200,
    retry: 1800,
    expire: 86400,
    minimum: s.ttl,
  });
}

class Ctx {
  readonly index: RecordIndex;
  readonly s: DnsSettings;
  constructor(index: RecordIndex) {
    this.index = index;
    this.s = index.settings;
  }
  negative(rcode: number, apex = this.s.zone, zone: Zone = ZONE_CLUSTER): AuthAnswer {
    return { rcode, answers: [], authority: [soa(this.s, apex, this.index.serial)], additional: [], zone };
  }
  nxdomain(): AuthAnswer {
    return this.negative(RCODE.NXDOMAIN);
  }
  nodata(): AuthAnswer {
    return this.negative(RCODE.NOERROR);
  }
  ok(answers: RR[], additional: RR[] = []): AuthAnswer {
    return answers.length ? { rcode: RCODE.NOERROR, answers, authority: [], additional, zone: ZONE_CLUSTER } : this.nodata();
  }
  /** A/AAAA (or both for ANY) records of `ips` at `owner`; NODATA when the type has none. */
  addresses(owner: string, ips: readonly string[], qtype: number): AuthAnswer {
    if (qtype !== TYPE.A && qtype !== TYPE.AAAA && qtype !== TYPE.ANY) return this.nodata();
    const out: RR[] = [];
    for (const ip of ips) {
      const fam = ipFamily(ip);
      if (fam !== 0 && (qtype === TYPE.ANY || (fam === 4) === (qtype === TYPE.A))) out.push(ipRR(owner, ip, this.s.ttl));
    }
    return this.ok(out);
  }
}

/**
 * The answer for a lower-case `name` (no trailing dot), or null when the name is not ours to
 * answer and goes upstream. `index` is null until the view is ready.
 */
export function resolve(index: RecordIndex | null, settings: DnsSettings, name: string, qtype: number, hosts?: HostsTable | null): AuthAnswer | null {
  if (hosts) {
    const h = fromHosts(hosts, name, qtype);
    if (h) return h;
  }
  if (inZone(name, settings.zone)) {
    if (!index) return { rcode: RCODE.SERVFAIL, answers: [], authority: [], additional: [], zone: ZONE_CLUSTER, transient: true };
    return cluster(new Ctx(index), name, qtype, 0);
  }
  if (index && (name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa'))) return reverse(new Ctx(index), name, qtype);
  return null;
}

/**
 * What the answer for `name` depends on, so an index change forgets only the answers it can
 * affect: 's:<svc>.<ns>' (a Service), 'n:<ns>' (a namespace's existence), 'i:<ip>' (PTR owners),
 * 'p' (pods, when verified), 'h' (the hosts table), '' (nothing but the settings). ExternalName chains inside the zone
 * read other Services: their answers are marked 'v' and forgotten on any change.
 */
export function answerDep(s: DnsSettings, name: string, a: AuthAnswer): string {
  if (a.hosts) return 'h';
  if (a.answers.length && a.answers[0]!.type === TYPE.CNAME) return 'v';
  if (!inZone(name, s.zone)) {
    const ip = ipFromReverse(name);
    return ip ? `i:${ip}` : 'v';
  }
  if (name === s.zone) return '';
  const rest = splitName(name.slice(0, -(s.zone.length + 1)));
  const n = rest.length;
  const last = rest[n - 1];
  if (last === 'svc') {
    if (n === 2) return `n:${rest[0]}`;
    if (n >= 3 && n <= 5) return `s:${rest[n - 3]}.${rest[n - 2]}`;
    return '';
  }
  if (last === 'pod' && n >= 2) return s.pods === 'verified' ? 'p' : `n:${rest[n - 2]}`;
  return '';
}

/** CoreDNS hosts: a listed name answers (NODATA for a type it lacks, no SOA); a listed IP answers PTR. */
function fromHosts(t: HostsTable, name: string, qtype: number): AuthAnswer | null {
  const ok = (answers: RR[]): AuthAnswer => ({ rcode: RCODE.NOERROR, answers, authority: [], additional: [], zone: ZONE_CLUSTER, hosts: true });
  const ips = t.byName.get(name);
  if (ips) {
    if (qtype !== TYPE.A && qtype !== TYPE.AAAA) return ok([]);
    return ok(ips.filter((ip) => (ipFamily(ip) === 4) === (qtype === TYPE.A)).map((ip) => ipRR(name, ip, t.ttl)));
  }
  if (qtype !== TYPE.PTR || !(name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa'))) return null;
  const names = t.byIP.get(ipFromReverse(name));
  return names ? ok(names.map((n) => rr(name, TYPE.PTR, t.ttl, { kind: 'name', name: n }))) : null;
}

function reverse(c: Ctx, name: string, qtype: number): AuthAnswer | null {
  const ip = ipFromReverse(name);
  const owners = ip ? ptrOwners(c.index, ip) : [];
  if (owners.length === 0) return null; // not a cluster IP: the node's resolvers know better
  if (qtype !== TYPE.PTR && qtype !== TYPE.ANY) return c.negative(RCODE.NOERROR, name.endsWith('.ip6.arpa') ? 'ip6.arpa' : 'in-addr.arpa', ZONE_REVERSE);
  const seen = new Set<string>();
  const answers: RR[] = [];
  for (const o of owners) {
    const target = o.host ? `${o.host}.${o.svc.fqdn}` : o.svc.fqdn;
    if (seen.has(target)) continue;
    seen.add(target);
    answers.push(rr(name, TYPE.PTR, c.s.ttl, { kind: 'name', name: target }));
  }
  return { rcode: RCODE.NOERROR, answers, authority: [], additional: [], zone: ZONE_REVERSE };
}

function cluster(c: Ctx, name: string, qtype: number, depth: number): AuthAnswer {
  const zone = c.s.zone;
  const rest = name === zone ? [] : splitName(name.slice(0, -(zone.length + 1)));
  const n = rest.length;
  if (n === 0) return apex(c, qtype);
  const last = rest[n - 1]!;
  switch (last) {
    case 'dns-version':
      if (n > 1) return c.nxdomain();
      if (qtype !== TYPE.TXT && qtype !== TYPE.ANY) return c.nodata();
      return c.ok([rr(name, TYPE.TXT, VERSION_TTL, { kind: 'txt', texts: [SCHEMA_VERSION] })]);
    case 'dns':
      // ns.dns.<zone> is the nameserver the apex NS names; dns.<zone> is an empty non-terminal.
      if (n === 1) return c.nodata();
      if (n === 2 && rest[0] === 'ns') return c.addresses(name, c.s.nameservers, qtype);
      return c.nxdomain();
    case 'svc':
      return services(c, rest.slice(0, -1), name, qtype, depth);
    case 'pod':
      return pods(c, rest.slice(0, -1), name, qtype);
    default:
      return c.nxdomain();
  }
}

function apex(c: Ctx, qtype: number): AuthAnswer {
  const zone = c.s.zone;
  const ns = rr(zone, TYPE.NS, c.s.ttl, { kind: 'name', name: `ns.dns.${zone}` });
  const glue = c.addresses(`ns.dns.${zone}`, c.s.nameservers, TYPE.ANY).answers;
  switch (qtype) {
    case TYPE.SOA:
      return c.ok([soa(c.s, zone, c.index.serial)]);
    case TYPE.NS:
      return c.ok([ns], glue);
    case TYPE.ANY:
      return c.ok([soa(c.s, zone, c.index.serial), ns], glue);
    default:
      return c.nodata();
  }
}

function services(c: Ctx, labels: string[], name: string, qtype: number, depth: number): AuthAnswer {
  switch (labels.length) {
    case 0:
      return c.nodata(); // svc.<zone>
    case 1:
      return namespaceExists(c.index, labels[0]!) ? c.nodata() : c.nxdomain();
    case 2:
      return service(c, c.index.services.get(`${labels[0]}.${labels[1]}`), name, qtype, depth);
    case 3:
      return endpoint(c, c.index.services.get(`${labels[1]}.${labels[2]}`), labels[0]!, name, qtype);
    case 4: {
      const [port, proto] = labels as [string, string];
      if (port.length < 2 || proto.length < 2 || port[0] !== '_' || proto[0] !== '_') return c.nxdomain();
      return srv(c, c.index.services.get(`${labels[2]}.${labels[3]}`), port.slice(1), proto.slice(1).toUpperCase(), name, qtype);
    }
    default:
      return c.nxdomain();
  }
}

function externalTarget(v: SvcEntry['view']): string {
  const t = v.externalName.toLowerCase().replace(/\.$/, '');
  return t !== '' && ipFamily(t) === 0 && nameToWire(t) ? t : '';
}

function service(c: Ctx, e: SvcEntry | undefined, name: string, qtype: number, depth: number): AuthAnswer {
  if (!e) return c.nxdomain();
  const v = e.view;
  if (v.type === 'ExternalName') {
    const target = externalTarget(v);
    if (!target) return c.nodata();
    const cname = rr(name, TYPE.CNAME, c.s.ttl, { kind: 'name', name: target });
    if (qtype === TYPE.CNAME || qtype === TYPE.ANY) return c.ok([cname]);
    if (!inZone(target, c.s.zone)) return { rcode: RCODE.NOERROR, answers: [cname], authority: [], additional: [], zone: ZONE_CLUSTER, chase: target };
    if (depth >= MAX_CHASE || target === name) return c.ok([cname]);
    const sub = cluster(c, target, qtype, depth + 1);
    return { ...sub, answers: [cname, ...sub.answers] };
  }
  if (v.headless) {
    const eps = v.dnsEndpoints;
    if (eps.length === 0) return c.nxdomain(); // spec 2.4.1
    if (qtype === TYPE.SRV) return srvRecords(c, name, endpointTargets(e, () => true));
    return c.addresses(name, eps.map((ep) => ep.ip), qtype);
  }
  if (qtype === TYPE.SRV) {
    const targets = v.ports.map((p) => ({ target: e.fqdn, port: p.port, ips: v.clusterIPs }));
    return srvRecords(c, name, targets);
  }
  return c.addresses(name, v.clusterIPs, qtype);
}

interface SrvTarget {
  target: string;
  port: number;
  ips: readonly string[];
}

/** One SRV target per (endpoint name × matching endpoint port). */
function endpointTargets(e: SvcEntry, match: (p: DnsEndpoint['ports'][number]) => boolean): SrvTarget[] {
  const out: SrvTarget[] = [];
  for (const [host, list] of hostsOf(e)) {
    for (const ep of list) {
      for (const p of ep.ports) if (match(p)) out.push({ target: `${host}.${e.fqdn}`, port: p.port, ips: list.map((x) => x.ip) });
    }
  }
  return out;
}

/** SRV answers, deduplicated by (target, port), weights split evenly; the targets' addresses as additional. */
function srvRecords(c: Ctx, name: string, targets: SrvTarget[]): AuthAnswer {
  const seen = new Set<string>();
  const uniq = targets.filter((t) => {
    const k = `${t.target}:${t.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  if (uniq.length === 0) return c.nodata();
  const weight = Math.max(1, Math.floor(100 / uniq.length));
  const answers = uniq.map((t) => rr(name, TYPE.SRV, c.s.ttl, { kind: 'srv', priority: 0, weight, port: t.port, target: t.target }));
  const extra: RR[] = [];
  const glued = new Set<string>();
  for (const t of uniq) {
    if (glued.has(t.target)) continue;
    glued.add(t.target);
    extra.push(...c.addresses(t.target, t.ips, TYPE.ANY).answers);
  }
  return c.ok(answers, extra);
}

function endpoint(c: Ctx, e: SvcEntry | undefined, host: string, name: string, qtype: number): AuthAnswer {
  if (!e || e.view.type === 'ExternalName') return c.nxdomain();
  const eps = hostsOf(e).get(host);
  if (!eps) return c.nxdomain();
  return c.addresses(name, eps.map((ep) => ep.ip), qtype);
}

function srv(c: Ctx, e: SvcEntry | undefined, port: string, proto: string, name: string, qtype: number): AuthAnswer {
  if (!e || e.view.type === 'ExternalName') return c.nxdomain();
  const v = e.view;
  const named = (p: { name: string; protocol: string }) => p.name !== '' && p.name.toLowerCase() === port && p.protocol === proto;
  let targets: SrvTarget[];
  if (v.headless) targets = endpointTargets(e, named);
  else targets = v.ports.filter(named).map((p) => ({ target: e.fqdn, port: p.port, ips: v.clusterIPs }));
  if (targets.length === 0) return c.nxdomain();
  // CoreDNS answers A/AAAA here too: the addresses behind the matching port, at the question name.
  if (qtype === TYPE.A || qtype === TYPE.AAAA) {
    const ips = v.headless ? v.dnsEndpoints.filter((ep) => ep.ports.some(named)).map((ep) => ep.ip) : v.clusterIPs;
    return c.addresses(name, [...new Set(ips)], qtype);
  }
  if (qtype !== TYPE.SRV && qtype !== TYPE.ANY) return c.nodata();
  return srvRecords(c, name, targets);
}

function pods(c: Ctx, labels: string[], name: string, qtype: number): AuthAnswer {
  if (labels.length === 0) return c.nodata(); // pod.<zone>
  if (c.s.pods === 'disabled' || labels.length > 2) return c.nxdomain();
  const ns = labels[labels.length - 1]!;
  if (!namespaceExists(c.index, ns)) return c.nxdomain();
  if (labels.length === 1) return c.nodata();
  const ip = ipFromDashed(labels[0]!);
  if (!ip) return c.nxdomain();
  if (c.s.pods === 'verified' && !c.index.pods?.get(ip)?.some((p) => p.namespace === ns && !p.hostNetwork)) return c.nxdomain();
  return c.addresses(name, [ip], qtype);
}
