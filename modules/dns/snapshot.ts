// The last cluster zone, kept on disk so a restarted agent answers from it (stale, short TTL)
// until its watch has listed everything, instead of SERVFAIL for every cluster name (issue #15
// item 13). Only what answers need is stored: per Service its names, type, IPs, named ports and
// endpoints; and the namespaces.
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DnsEndpoint, ServiceView } from '../../src/view/types.ts';
import type { IndexInputs } from './records.ts';

const VERSION = 1;

type Port = [name: string, protocol: string, port: number];

interface SvcRecord {
  ns: string;
  name: string;
  type: string;
  headless: boolean;
  ext: string;
  ips: string[];
  ports: Port[];
  eps: [ip: string, hostname: string, ports: Port[]][];
}

/** Who may ask (access.ts): node addresses and pod CIDRs, so pods are answered before the view is back. */
export interface Clients {
  ips: string[];
  cidrs: string[];
}

interface Snapshot {
  version: number;
  zone: string;
  savedAt: number;
  namespaces: string[];
  services: SvcRecord[];
  clients: Clients;
}

const port = (p: { name: string; protocol: string; port: number }): Port => [p.name, p.protocol, p.port];

/** The snapshot's text for these inputs. */
export function snapshotText(zone: string, input: IndexInputs, clients: Clients, now = Date.now()): string {
  const services: SvcRecord[] = [];
  for (const v of input.services.values()) {
    services.push({
      ns: v.namespace,
      name: v.name,
      type: v.type,
      headless: v.headless,
      ext: v.externalName,
      ips: [...v.clusterIPs],
      ports: v.ports.map(port),
      eps: v.dnsEndpoints.map((e) => [e.ip, e.hostname, e.ports.map(port)]),
    });
  }
  const s: Snapshot = { version: VERSION, zone, savedAt: now, namespaces: [...input.namespaces], services, clients };
  return JSON.stringify(s);
}

/** Writes atomically (a reader never sees half a file). */
export async function saveSnapshot(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

const isPort = (p: unknown): p is Port => Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'string' && Number.isInteger(p[2]);

/** Only the fields the DNS index reads; the rest of a ServiceView is never looked at for a snapshot. */
function toView(r: SvcRecord): ServiceView {
  const ports = r.ports.map(([name, protocol, p]) => ({ name, protocol, port: p }));
  const dnsEndpoints: DnsEndpoint[] = r.eps.map(([ip, hostname, ps]) => ({ ip, hostname, nodeName: '', ports: ps.map(([name, protocol, p]) => ({ name, protocol, port: p })) }) as DnsEndpoint);
  return { key: `${r.ns}/${r.name}`, namespace: r.ns, name: r.name, type: r.type, headless: r.headless, externalName: r.ext, clusterIPs: r.ips, ports, dnsEndpoints } as unknown as ServiceView;
}

function validRecord(r: unknown): r is SvcRecord {
  const x = r as SvcRecord;
  return (
    typeof x === 'object' && x !== null && typeof x.ns === 'string' && typeof x.name === 'string' && typeof x.type === 'string' && typeof x.headless === 'boolean' &&
    typeof x.ext === 'string' && Array.isArray(x.ips) && x.ips.every((i) => typeof i === 'string') && Array.isArray(x.ports) && x.ports.every(isPort) &&
    Array.isArray(x.eps) && x.eps.every((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string' && Array.isArray(e[2]) && e[2].every(isPort))
  );
}

/** The stored inputs for `zone`, or why there are none (missing, unreadable, malformed, another zone). */
export function loadSnapshot(path: string, zone: string): { input: IndexInputs; clients: Clients; savedAt: number } | string {
  let s: Snapshot;
  try {
    s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'none yet' : `unreadable: ${(err as Error).message}`;
  }
  if (typeof s !== 'object' || s === null || s.version !== VERSION) return 'another format';
  if (s.zone !== zone) return `for zone ${String(s.zone)}, not ${zone}`;
  if (!Array.isArray(s.services) || !Array.isArray(s.namespaces) || typeof s.savedAt !== 'number') return 'malformed';
  const services = new Map<string, ServiceView>();
  for (const r of s.services) if (validRecord(r)) services.set(`${r.ns}/${r.name}`, toView(r));
  const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((i): i is string => typeof i === 'string') : []);
  const clients = { ips: strings(s.clients?.ips), cidrs: strings(s.clients?.cidrs) };
  return { input: { services, namespaces: new Set(strings(s.namespaces)), podsByIP: new Map() }, clients, savedAt: s.savedAt };
}
