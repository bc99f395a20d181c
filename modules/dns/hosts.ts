// Extra names, as CoreDNS's hosts plugin serves them (k3s's NodeHosts, `hosts { IP NAME }`
// edits): entries from the config plus, optionally, every node's name → its internal IPs.
// A listed name answers its addresses (NODATA for the other family); a listed IP answers PTR;
// anything else falls through to the cluster zone and the upstreams (CoreDNS's `fallthrough`).
import { ipFamily } from '../../src/net/ip.ts';
import { canonical } from './names.ts';
import { nameToWire } from './wire.ts';

export interface HostsTable {
  /** Lower-case name, no trailing dot → addresses. */
  byName: Map<string, string[]>;
  /** Canonical IP → names. */
  byIP: Map<string, string[]>;
  ttl: number;
}

/** `IP NAME [NAME…]` (a hosts-file line) → its parts, or why not. */
export function parseHostsLine(line: string): { ip: string; names: string[] } | string {
  const [ip = '', ...names] = line.replace(/#.*$/, '').trim().split(/\s+/);
  const c = canonical(ip);
  if (!c || ipFamily(c) === 0) return `${JSON.stringify(ip)} is not an IP address`;
  if (names.length === 0) return `no name after ${ip}`;
  for (const n of names) if (!nameToWire(n.replace(/\.$/, '')) || n === '.') return `${JSON.stringify(n)} is not a domain name`;
  return { ip: c, names: names.map((n) => n.toLowerCase().replace(/\.$/, '')) };
}

export interface NodeAddresses {
  name: string;
  ips: readonly string[];
}

/** The table from config lines (valid ones; options.ts rejected the rest) and node addresses. */
export function hostsTable(lines: readonly string[], nodes: readonly NodeAddresses[], ttl: number): HostsTable {
  const t: HostsTable = { byName: new Map(), byIP: new Map(), ttl };
  const add = (ip: string, name: string) => {
    const ips = t.byName.get(name);
    if (!ips) t.byName.set(name, [ip]);
    else if (!ips.includes(ip)) ips.push(ip);
    const names = t.byIP.get(ip);
    if (!names) t.byIP.set(ip, [name]);
    else if (!names.includes(name)) names.push(name);
  };
  for (const line of lines) {
    const p = parseHostsLine(line);
    if (typeof p !== 'string') for (const n of p.names) add(p.ip, n);
  }
  for (const node of nodes) {
    const name = node.name.toLowerCase().replace(/\.$/, '');
    if (!nameToWire(name)) continue;
    for (const ip of node.ips) {
      const c = canonical(ip);
      if (c) add(c, name);
    }
  }
  return t;
}

/** A stable text of the table, to tell whether a new one differs. */
export function hostsText(t: HostsTable): string {
  return [...t.byName].map(([n, ips]) => `${n}=${ips.join(',')}`).sort().join(' ');
}
