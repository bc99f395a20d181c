// Links the mesh owns (the WireGuard interface, the pods' bridge), read from and set on the
// kernel with `ip`. Existing links are reused as they are: a restart must never cut traffic.
import { ipFamily } from '../../src/net/ip.ts';
import { type Diff, Tracker } from '../../src/reconcile/tracker.ts';
import { CommandError, exec, run } from '../../src/sys/exec.ts';

export interface LinkInfo {
  name: string;
  kind: string; // 'wireguard', 'tun', 'bridge', '' …
  mtu: number;
  up: boolean;
  /** The link-layer address ('' for links without one). */
  mac: string;
  /** Global-scope addresses as ip/prefix. */
  addrs: string[];
}

/** `ip -j …` parsed; [] on empty output. */
export async function ipJSON(args: string[]): Promise<Record<string, unknown>[]> {
  const out = await run('ip', ['-j', ...args]);
  if (!out.trim()) return [];
  const v = JSON.parse(out) as unknown;
  return Array.isArray(v) ? (v as Record<string, unknown>[]) : [];
}

export async function readLink(name: string): Promise<LinkInfo | null> {
  const r = await exec('ip', ['-j', '-d', 'addr', 'show', 'dev', name]);
  if (!r.ok) {
    if (/does not exist|Cannot find device/i.test(r.stderr)) return null;
    throw new CommandError(`ip addr show dev ${name}`, 1, r.stderr);
  }
  const l = (JSON.parse(r.stdout || '[]') as Record<string, any>[])[0];
  if (!l) return null;
  return {
    name,
    kind: String(l.linkinfo?.info_kind ?? ''),
    mtu: Number(l.mtu) || 0,
    mac: typeof l.address === 'string' && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(l.address) ? l.address : '',
    up: Array.isArray(l.flags) && l.flags.includes('UP'),
    addrs: ((l.addr_info ?? []) as Record<string, unknown>[])
      .filter((a) => a.scope === 'global')
      .map((a) => `${String(a.local)}/${String(a.prefixlen)}`),
  };
}

/** MTU and up, only when they differ. */
export async function setLink(info: LinkInfo, mtu: number): Promise<void> {
  if (info.mtu !== mtu) await run('ip', ['link', 'set', 'dev', info.name, 'mtu', String(mtu)]);
  if (!info.up) await run('ip', ['link', 'set', 'dev', info.name, 'up']);
}

/**
 * The pods' bridge with exactly the gateway addresses. The CNI bridge plugin finds it ready
 * (same address and prefix, so it adds nothing), and routes can name the gateway as source
 * before the first pod exists.
 */
export async function ensureBridge(name: string, gateways: string[], mtu: number): Promise<void> {
  let info = await readLink(name);
  if (!info) {
    await run('ip', ['link', 'add', name, 'type', 'bridge']);
    info = await readLink(name);
    if (!info) throw new Error(`bridge ${name} vanished right after it was created`);
  } else if (info.kind !== 'bridge') throw new Error(`${name} exists and is a ${info.kind || 'plain'} link, not a bridge`);
  await setAddresses(info, gateways);
  // A bridge whose MAC was never set takes the lowest MAC of its ports, so a new pod's veth can
  // change the gateway's MAC under every pod that cached it (each loses the gateway until its
  // ARP entry goes stale and is probed again: tens of seconds). Setting it to itself pins it.
  // The CNI bridge plugin does this only when it adds the gateway address, which is already here.
  if (info.mac) await run('ip', ['link', 'set', 'dev', name, 'address', info.mac]);
  await setLink(info, mtu);
}

/** A link's addresses (ip/prefix) as the tracker keys them. */
export function addressSet(addrs: readonly string[]): Map<string, true> {
  return new Map(addrs.map((a) => [a, true]));
}

/** The tracker's diff of a link's addresses as `ip -batch` lines: removals first. */
export function addressLines(link: string, diff: Diff<true>): string[] {
  return [
    ...diff.delete.map((a) => `addr del ${a} dev ${link}`),
    ...[...diff.create, ...diff.update].map(([a]) => `addr add ${a} dev ${link}${ipFamily(a.split('/')[0]!) === 6 ? ' nodad' : ''}`),
  ];
}

/** Makes the link's global-scope addresses exactly `want` (ip/prefix), in one `ip -batch`. */
export async function setAddresses(info: LinkInfo, want: string[]): Promise<void> {
  const t = new Tracker<true>();
  t.reset(addressSet(info.addrs));
  const lines = addressLines(info.name, t.diff(addressSet(want)));
  if (lines.length) await run('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
}

export async function deleteLink(name: string): Promise<boolean> {
  const r = await exec('ip', ['link', 'del', 'dev', name]);
  return r.ok;
}

/** MTU of the interface holding `ip`, else of the default route's; null when neither exists. */
export async function underlayMTU(ip: string | undefined): Promise<number | null> {
  const links = await ipJSON(['addr', 'show']);
  if (ip) {
    for (const l of links) {
      const addrs = (l.addr_info ?? []) as Record<string, unknown>[];
      if (addrs.some((a) => a.local === ip)) return Number(l.mtu) || null;
    }
  }
  const routes = await ipJSON(['route', 'show', 'default']);
  const dev = routes[0]?.dev;
  const l = links.find((x) => x.ifname === dev);
  return l ? Number(l.mtu) || null : null;
}

/**
 * min(route mtu, device mtu) toward each ip, in two `ip` runs however many ips; an ip without
 * a route is left out.
 */
export async function pathMTUs(ips: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!ips.length) return out;
  const links = new Map((await ipJSON(['link', 'show'])).map((l) => [String(l.ifname), Number(l.mtu) || Infinity]));
  // -force: an unroutable ip fails its line only; each answer names its dst.
  const r = await exec('ip', ['-j', '-force', '-batch', '-'], { input: ips.map((ip) => `route get ${ip}`).join('\n') + '\n' });
  for (const line of r.stdout.split('\n')) {
    if (!line.trim().startsWith('[')) continue;
    let routes: Record<string, unknown>[];
    try {
      routes = JSON.parse(line) as Record<string, unknown>[];
    } catch {
      continue;
    }
    for (const route of routes) {
      if (typeof route.dst !== 'string' || typeof route.dev !== 'string') continue;
      const metrics = (route.metrics ?? []) as { mtu?: number }[];
      const routeMTU = Number(metrics.find((x) => x.mtu)?.mtu) || Infinity;
      const m = Math.min(routeMTU, links.get(route.dev) ?? Infinity);
      if (Number.isFinite(m)) out.set(route.dst, m);
    }
  }
  return out;
}
