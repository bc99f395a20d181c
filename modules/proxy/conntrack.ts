// Stale UDP/SCTP conntrack entries: a datagram flow DNATed to an endpoint that went away keeps
// its entry (and its blackhole) as long as the client keeps sending. After each sync, for every
// UDP/SCTP service port whose serving endpoints changed, entries to its addresses whose reply
// comes from a non-serving IP are deleted, including when no endpoint is left at all, which
// kube-proxy's reconciler skips (kubernetes#139628). A cleanup that fails is retried on a
// timer until it succeeds, not only when its Service changes again. TCP is never touched.
import { exec } from '../../src/sys/exec.ts';
import type { IPFamily } from '../../src/kube/objects.ts';
import type { ServiceView } from '../../src/view/types.ts';
import { familyIP } from '../../src/net/ip.ts';

export interface DatagramPort {
  proto: 'udp' | 'sctp';
  /** ClusterIP, externalIPs and LB IPs of the family. */
  dsts: string[];
  port: number;
  nodePort: number;
  serving: string[];
}

export interface ConntrackEntry {
  proto: string;
  origDst: string;
  origDport: number;
  replySrc: string;
}

export interface ConntrackExec {
  list(family: IPFamily, proto: 'udp' | 'sctp'): Promise<ConntrackEntry[]>;
  /** Deletes entries matching all of these; returns how many went. */
  delete(family: IPFamily, e: ConntrackEntry): Promise<number>;
}

/** What the cleanup needs of one Service in one family. Pure. */
export function datagramPorts(svc: ServiceView, family: IPFamily): DatagramPort[] {
  if (!svc.proxied) return [];
  const ips = (l: string[]) => l.map((a) => familyIP(a, family)).filter((a) => a !== '');
  const cluster = ips(svc.clusterIPs).slice(0, 1);
  if (cluster.length === 0) return [];
  const dsts = [...new Set([...cluster, ...ips(svc.externalIPs), ...ips(svc.loadBalancerIPs)])];
  const out: DatagramPort[] = [];
  for (const p of svc.ports) {
    if (p.protocol !== 'UDP' && p.protocol !== 'SCTP') continue;
    const fe = family === 4 ? p.v4 : p.v6;
    out.push({ proto: p.protocol === 'UDP' ? 'udp' : 'sctp', dsts, port: p.port, nodePort: p.nodePort, serving: [...fe.servingIPs].sort() });
  }
  return out;
}

function portKey(p: DatagramPort): string {
  return `${p.proto}/${p.port}/${p.nodePort}/${p.dsts.join(',')}`;
}

/** Ports whose entries may now be stale: serving set changed, or the port went away (nothing serves it). */
export function stalePorts(before: DatagramPort[], after: DatagramPort[]): DatagramPort[] {
  const now = new Map(after.map((p) => [portKey(p), p]));
  const out: DatagramPort[] = [];
  for (const p of after) {
    const old = before.find((b) => portKey(b) === portKey(p));
    if (!old || old.serving.join(',') !== p.serving.join(',')) out.push(p);
  }
  for (const b of before) if (!now.has(portKey(b))) out.push({ ...b, serving: [] });
  return out;
}

/** Entry → the delete filter that removes it and its siblings (same destination, same wrong backend). */
export function staleEntries(ports: DatagramPort[], entries: ConntrackEntry[]): ConntrackEntry[] {
  const out = new Map<string, ConntrackEntry>();
  for (const e of entries) {
    for (const p of ports) {
      if (e.proto !== p.proto || p.serving.includes(e.replySrc)) continue;
      const toService = e.origDport === p.port && p.dsts.includes(e.origDst);
      const toNodePort = p.nodePort > 0 && e.origDport === p.nodePort;
      if (toService || toNodePort) out.set(`${e.proto} ${e.origDst} ${e.origDport} ${e.replySrc}`, e);
    }
  }
  return [...out.values()];
}

export function parseConntrack(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const proto = /^(\w+)\s/.exec(line)?.[1];
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]!);
    const dst = /\bdst=(\S+)/.exec(line)?.[1];
    const dport = /\bdport=(\d+)/.exec(line)?.[1];
    if (!proto || src.length < 2 || !dst || !dport) continue;
    out.push({ proto, origDst: dst, origDport: Number(dport), replySrc: src[1]! });
  }
  return out;
}

export function conntrackCli(bin = 'conntrack'): ConntrackExec {
  const fam = (f: IPFamily) => (f === 4 ? 'ipv4' : 'ipv6');
  return {
    async list(family, proto) {
      const r = await exec(bin, ['-L', '-f', fam(family), '-p', proto], { maxBuffer: 256 * 1024 * 1024 });
      if (!r.ok) throw new Error(`conntrack -L: ${r.stderr.split('\n')[0]}`);
      return parseConntrack(r.stdout);
    },
    async delete(family, e) {
      const args = ['-D', '-f', fam(family), '-p', e.proto, '--orig-dst', e.origDst, '--dport', String(e.origDport), '--reply-src', e.replySrc];
      const r = await exec(bin, args);
      // Exit 1 with "0 flow entries" when they expired meanwhile: nothing left to do.
      return Number(/(\d+) flow entr/.exec(r.stderr)?.[1] ?? 0);
    },
  };
}

/**
 * Remembers, per family and Service, the datagram ports as last synced, and the stale ports
 * whose cleanup failed: those are owed until a retry (retryOwed, on the module's timer) or a
 * later sync cleans them, whether or not their Service changes again.
 */
export class ConntrackCleaner {
  private readonly last = new Map<string, DatagramPort[]>();
  /** family → Service key → stale ports not cleaned yet. */
  private readonly owed = new Map<IPFamily, Map<string, DatagramPort[]>>();
  private readonly exec: ConntrackExec;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(exec: ConntrackExec) {
    this.exec = exec;
  }

  /** Some cleanup failed and waits for a retry. */
  get hasOwed(): boolean {
    for (const m of this.owed.values()) if (m.size > 0) return true;
    return false;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Cleans after a sync that applied `keys` (all of them when `all`); returns entries deleted. */
  afterSync(family: IPFamily, services: ReadonlyMap<string, ServiceView>, keys: Iterable<string>, all: boolean): Promise<number> {
    return this.serial(async () => {
      const owed = this.owedOf(family);
      const scope = all ? new Set([...services.keys(), ...[...this.last.keys()].filter((k) => k.startsWith(`${family}|`)).map((k) => k.slice(2))]) : keys;
      for (const key of scope) {
        const svc = services.get(key);
        const now = svc ? datagramPorts(svc, family) : [];
        const k = `${family}|${key}`;
        // A restart knows nothing of what was before: every datagram port is checked once.
        const changed = all && !this.last.has(k) ? now : stalePorts(this.last.get(k) ?? [], now);
        if (changed.length) owed.set(key, [...(owed.get(key) ?? []), ...changed]);
        if (now.length) this.last.set(k, now);
        else this.last.delete(k);
      }
      return this.cleanOwed(family);
    });
  }

  /** Retries what failed before; returns entries deleted. */
  retryOwed(family: IPFamily): Promise<number> {
    return this.serial(() => this.cleanOwed(family));
  }

  private owedOf(family: IPFamily): Map<string, DatagramPort[]> {
    let m = this.owed.get(family);
    if (!m) this.owed.set(family, (m = new Map()));
    return m;
  }

  /**
   * Cleans every owed port against what serves it now (a port still there takes its current
   * serving endpoints, so a flow to an endpoint added since is never cut); on failure all of
   * it stays owed.
   */
  private async cleanOwed(family: IPFamily): Promise<number> {
    const owed = this.owedOf(family);
    if (owed.size === 0) return 0;
    const ports: DatagramPort[] = [];
    for (const [key, list] of owed) {
      const current = this.last.get(`${family}|${key}`) ?? [];
      for (const p of list) ports.push(current.find((c) => portKey(c) === portKey(p)) ?? { ...p, serving: [] });
    }
    let deleted = 0;
    for (const proto of new Set(ports.map((p) => p.proto))) {
      const entries = await this.exec.list(family, proto);
      for (const e of staleEntries(ports.filter((p) => p.proto === proto), entries)) deleted += await this.exec.delete(family, e);
    }
    owed.clear();
    return deleted;
  }
}
