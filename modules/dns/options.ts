// The DNS module's flags and the validated settings they make.
import { resolve as resolvePath } from 'node:path';
import { ipFamily, parseCIDR } from '../../src/net/ip.ts';
import { ConfigError, type Config, type OptionSpec } from '../../src/runtime/config.ts';
import { DEFAULT_CACHE_POLICY, type CachePolicy } from './fwdcache.ts';
import { parseHostsLine } from './hosts.ts';
import { canonical } from './names.ts';
import type { PodMode } from './records.ts';
import { checkUpstreamItem } from './resolvconf.ts';
import type { ListenAddr } from './server.ts';
import { nameToWire } from './wire.ts';

const POD_MODES = ['disabled', 'insecure', 'verified'] as const;

function eachItem(why: (s: string) => string | undefined) {
  return (list: never): string | undefined => {
    for (const item of list as string[]) {
      const w = why(item);
      if (w) return w;
    }
    return undefined;
  };
}

export function parseListen(item: string): ListenAddr | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(item.trim());
  if (!m) return null;
  const host = canonical(m[1] ?? m[2]!);
  const port = Number(m[3]);
  return host && port >= 1 && port <= 65535 ? { host, port } : null;
}

export const DNS_OPTIONS: OptionSpec[] = [
  {
    flag: 'cluster-domain',
    key: 'clusterDomain',
    kind: 'string',
    default: 'cluster.local',
    help: 'the cluster DNS domain nodeway answers for',
    check: ((v: string) => (nameToWire(v) && v.replace(/\.$/, '') !== '' ? undefined : `${JSON.stringify(v)} is not a domain name`)) as (v: never) => string | undefined,
  },
  {
    flag: 'cluster-dns',
    key: 'clusterDNS',
    kind: 'list',
    repeat: true,
    help: 'kubelet\'s --cluster-dns address(es): answered on this node (UDP and TCP 53) through a local dummy link and notrack rules, never load-balanced',
    check: eachItem((s) => (ipFamily(s) ? undefined : `${JSON.stringify(s)} is not an IP address`)),
  },
  {
    flag: 'dns-listen',
    key: 'dnsListen',
    kind: 'list',
    repeat: true,
    help: 'extra DNS listen ADDR:PORT (IPv6 as [ADDR]:PORT), repeatable',
    check: eachItem((s) => (parseListen(s) ? undefined : `${JSON.stringify(s)} is not ADDR:PORT with an IP address`)),
  },
  {
    flag: 'dns-upstream',
    key: 'dnsUpstream',
    kind: 'list',
    repeat: true,
    default: ['/etc/resolv.conf'],
    help: 'resolvers for names outside the cluster: IP[:PORT] or a resolv.conf path, repeatable, tried in order',
    check: eachItem(checkUpstreamItem),
  },
  { flag: 'dns-ttl', key: 'dnsTTL', kind: 'int', default: 30, min: 0, max: 3600, help: 'TTL of cluster records (seconds)' },
  { flag: 'dns-pods', key: 'dnsPods', kind: 'string', choices: POD_MODES, default: 'insecure', help: 'a-b-c-d.<ns>.pod.<zone> records: disabled|insecure|verified' },
  {
    flag: 'dns-allow',
    key: 'dnsAllow',
    kind: 'list',
    repeat: true,
    help: 'CIDRs allowed to query besides this node, node IPs and pod CIDRs/IPs',
    check: eachItem((s) => (parseCIDR(s) ? undefined : `${JSON.stringify(s)} is not a CIDR`)),
  },
  {
    // Shared with the proxy and the mesh (same key and kind): the cluster's pod networks may ask.
    flag: 'cluster-cidr',
    key: 'clusterCIDR',
    kind: 'list',
    help: 'pod CIDRs of the cluster',
    check: eachItem((s) => (parseCIDR(s) ? undefined : `${JSON.stringify(s)} is not a CIDR`)),
  },
  { flag: 'dns-cache-success-ttl', key: 'dnsCacheSuccessTTL', kind: 'int', default: 30, min: 1, max: 86400, help: 'most seconds a forwarded answer is cached (CoreDNS `cache 30`)' },
  { flag: 'dns-cache-denial-ttl', key: 'dnsCacheDenialTTL', kind: 'int', default: 30, min: 1, max: 86400, help: 'most seconds a forwarded NXDOMAIN/NODATA is cached' },
  { flag: 'dns-cache-min-ttl', key: 'dnsCacheMinTTL', kind: 'int', default: 5, min: 0, max: 3600, help: 'least seconds a forwarded answer is cached (shorter TTLs are raised, as CoreDNS does)' },
  { flag: 'dns-cache-servfail-ttl', key: 'dnsCacheServfailTTL', kind: 'int', default: 5, min: 0, max: 300, help: 'seconds an upstream SERVFAIL is cached (0 = never)' },
  {
    flag: 'dns-stub-domain',
    key: 'dnsStubDomains',
    kind: 'list',
    repeat: true,
    help: 'ZONE=UPSTREAM[ UPSTREAM…]: names in ZONE go to these resolvers (IP[:PORT] or a resolv.conf path) instead of --dns-upstream, repeatable',
    check: eachItem((s) => (typeof parseStub(s) === 'string' ? (parseStub(s) as string) : undefined)),
  },
  {
    flag: 'dns-host',
    key: 'dnsHosts',
    kind: 'list',
    repeat: true,
    help: '"IP NAME [NAME…]" (a hosts-file line): extra names answered before the cluster zone and the upstreams, with PTR, repeatable',
    check: eachItem((s) => {
      const p = parseHostsLine(s);
      return typeof p === 'string' ? p : undefined;
    }),
  },
  { flag: 'dns-node-hosts', key: 'dnsNodeHosts', kind: 'bool', default: false, help: 'every node\'s name resolves to its internal IPs, as k3s\'s NodeHosts (watches Nodes)' },
  { flag: 'dns-hosts-ttl', key: 'dnsHostsTTL', kind: 'int', default: 60, min: 0, max: 86400, help: 'TTL of --dns-host and --dns-node-hosts answers (seconds)' },
  {
    flag: 'dns-snapshot',
    key: 'dnsSnapshot',
    kind: 'string',
    help: 'file keeping the last cluster zone (a relative path is under --state-dir): after a restart it is answered from there (TTL 5 s) until the watch has listed, instead of SERVFAIL',
  },
  { flag: 'dns-cache-size', key: 'dnsCacheSize', kind: 'int', default: 9984, min: 0, max: 1_000_000, help: 'forwarded answers cached, for each of positive and negative' },
];

export interface DnsConfig {
  zone: string;
  clusterDNS: string[];
  listen: ListenAddr[];
  upstream: string[];
  ttl: number;
  pods: PodMode;
  allow: string[];
  cacheSize: number;
  cachePolicy: CachePolicy;
  stubs: StubDomain[];
  hosts: string[];
  nodeHosts: boolean;
  hostsTTL: number;
  /** '' = no snapshot. */
  snapshot: string;
}

export interface StubDomain {
  zone: string;
  upstream: string[];
}

/** `ZONE=UPSTREAM[ UPSTREAM…]` → the stub domain, or why not. */
export function parseStub(item: string): StubDomain | string {
  const eq = item.indexOf('=');
  if (eq < 0) return `${JSON.stringify(item)} is not ZONE=UPSTREAM[ UPSTREAM…]`;
  const zone = item.slice(0, eq).trim().toLowerCase().replace(/\.$/, '');
  if (zone === '' || !nameToWire(zone)) return `${JSON.stringify(item.slice(0, eq))} is not a domain name`;
  const upstream = item.slice(eq + 1).trim().split(/\s+/).filter(Boolean);
  if (upstream.length === 0) return `no upstream for ${zone}`;
  for (const u of upstream) {
    const why = checkUpstreamItem(u);
    if (why) return why;
  }
  return { zone, upstream };
}

const num = (v: unknown, d: number): number => (typeof v === 'number' ? v : d);

export function dnsConfig(c: Config): DnsConfig {
  const list = (k: string): string[] => (Array.isArray(c[k]) ? (c[k] as string[]) : []);
  const clusterDNS = [...new Set(list('clusterDNS').map(canonical).filter(Boolean))];
  const listen = [...clusterDNS.map((host) => ({ host, port: 53 })), ...list('dnsListen').map((s) => parseListen(s)!).filter(Boolean)];
  const unique = [...new Map(listen.map((l) => [`${l.host}|${l.port}`, l])).values()];
  if (unique.length === 0) throw new ConfigError('the dns module needs --cluster-dns or --dns-listen');
  return {
    zone: String(c.clusterDomain ?? 'cluster.local').toLowerCase().replace(/\.$/, ''),
    clusterDNS,
    listen: unique,
    upstream: list('dnsUpstream').length ? list('dnsUpstream') : ['/etc/resolv.conf'],
    ttl: typeof c.dnsTTL === 'number' ? c.dnsTTL : 30,
    pods: (c.dnsPods as PodMode | undefined) ?? 'insecure',
    allow: [...list('dnsAllow'), ...list('clusterCIDR')],
    cacheSize: typeof c.dnsCacheSize === 'number' ? c.dnsCacheSize : 9984,
    cachePolicy: {
      success: num(c.dnsCacheSuccessTTL, DEFAULT_CACHE_POLICY.success),
      denial: num(c.dnsCacheDenialTTL, DEFAULT_CACHE_POLICY.denial),
      min: num(c.dnsCacheMinTTL, DEFAULT_CACHE_POLICY.min),
      servfail: num(c.dnsCacheServfailTTL, DEFAULT_CACHE_POLICY.servfail),
    },
    stubs: list('dnsStubDomains').map(parseStub).filter((x): x is StubDomain => typeof x !== 'string'),
    hosts: list('dnsHosts'),
    nodeHosts: c.dnsNodeHosts === true,
    hostsTTL: num(c.dnsHostsTTL, 60),
    snapshot: typeof c.dnsSnapshot === 'string' ? resolvePath(typeof c.stateDir === 'string' ? c.stateDir : '/var/lib/nodeway', c.dnsSnapshot) : '',
  };
}
