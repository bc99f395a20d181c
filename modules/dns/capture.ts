// Node-local capture of the cluster DNS address, the NodeLocal DNSCache way: the address sits on
// a dummy link (so packets to it are delivered locally and our sockets can bind it; on kernels
// without the dummy driver, on lo), and a raw
// table (priority -300, before conntrack at -200 and every NAT chain at -100) marks DNS to and
// from it NOTRACK. Untracked packets never reach NAT, so the proxy's DNAT for the DNS Service
// cannot send them to another node, there is no conntrack entry to race on (the parallel A/AAAA
// problem), and replies leave from the address the pod asked. Works with or without the proxy.
import { run as runProgram } from '../../src/sys/exec.ts';
import { ipFamily } from '../../src/net/ip.ts';

export const CAPTURE_TABLE = 'nodeway-dns';
export const CAPTURE_LINK = 'nodeway-dns';

/**
 * The nft script that (re)creates the capture table atomically. The addresses live in named sets,
 * so the table also records what was captured (cleanup reads them back). Pure: golden-tested.
 */
export function captureRuleset(ips: string[], port = 53): string {
  const v4 = ips.filter((ip) => ipFamily(ip) === 4);
  const v6 = ips.filter((ip) => ipFamily(ip) === 6);
  const set = (name: string, type: string, list: string[]) => `\tset ${name} {\n\t\ttype ${type};${list.length ? `\n\t\telements = { ${list.join(', ')} }` : ''}\n\t}`;
  const rules = [
    `ip daddr @v4 meta l4proto { tcp, udp } th dport ${port} notrack`,
    `ip saddr @v4 meta l4proto { tcp, udp } th sport ${port} notrack`,
    `ip6 daddr @v6 meta l4proto { tcp, udp } th dport ${port} notrack`,
    `ip6 saddr @v6 meta l4proto { tcp, udp } th sport ${port} notrack`,
  ];
  const chain = (name: string, hook: string) =>
    [`\tchain ${name} {`, `\t\ttype filter hook ${hook} priority raw; policy accept;`, ...rules.map((r) => `\t\t${r}`), '\t}'].join('\n');
  return [
    `table inet ${CAPTURE_TABLE}`,
    `delete table inet ${CAPTURE_TABLE}`,
    `table inet ${CAPTURE_TABLE} {`,
    set('v4', 'ipv4_addr', v4),
    set('v6', 'ipv6_addr', v6),
    chain('prerouting', 'prerouting'),
    chain('output', 'output'),
    '}',
    '',
  ].join('\n');
}

/** The addresses an existing capture table holds (empty when there is none). */
export async function capturedAddresses(exec: Run = run): Promise<string[]> {
  let out: string;
  try {
    out = (await exec('nft', ['-j', 'list', 'table', 'inet', CAPTURE_TABLE])).stdout;
  } catch {
    return [];
  }
  const doc = JSON.parse(out || '{}') as { nftables?: { set?: { elem?: unknown[] } }[] };
  const ips: string[] = [];
  for (const o of doc.nftables ?? []) for (const e of o.set?.elem ?? []) if (typeof e === 'string' && ipFamily(e)) ips.push(e);
  return ips;
}

type Run = (cmd: string, args: string[], input?: string) => Promise<{ stdout: string }>;

const run: Run = async (cmd, args, input) => ({ stdout: await runProgram(cmd, args, input === undefined ? {} : { input }) });

function prefixed(ip: string): string {
  return ipFamily(ip) === 6 ? `${ip}/128` : `${ip}/32`;
}

/** IPv4 addresses we put on lo carry this label, so they are recognisably ours. */
export const LO_LABEL = 'lo:nwdns';

interface AddrInfo {
  local: string;
  prefixlen: number;
  scope?: string;
  label?: string;
  preferred_life_time?: number;
}

async function linkNames(exec: Run): Promise<string[]> {
  return (JSON.parse((await exec('ip', ['-j', 'link', 'show'])).stdout || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

async function addresses(exec: Run, dev: string): Promise<AddrInfo[]> {
  const shown = JSON.parse((await exec('ip', ['-j', 'addr', 'show', 'dev', dev])).stdout || '[]') as { addr_info?: AddrInfo[] }[];
  return shown[0]?.addr_info ?? [];
}

/**
 * The link that holds the captured addresses: our dummy link, or, on kernels built without the
 * dummy driver, the loopback (same local delivery; IPv4 addresses labelled as ours).
 */
async function captureLink(exec: Run): Promise<string> {
  if ((await linkNames(exec)).includes(CAPTURE_LINK)) return CAPTURE_LINK;
  try {
    await exec('ip', ['link', 'add', CAPTURE_LINK, 'type', 'dummy']);
    return CAPTURE_LINK;
  } catch (err) {
    if (!/Unknown device type|not supported/i.test(String((err as Error).message))) throw err;
    return 'lo';
  }
}

/**
 * The address as the capture link holds it: never a source the kernel picks for other traffic.
 * Masquerade out of a link without an address of its own takes any global IPv4 address of the
 * host, and IPv6 source selection any preferred one; the cluster DNS address as the source of
 * a NodePort's or a tunnel's traffic is answered on every node, so the reply never comes back.
 * Host scope (IPv4) and deprecated (IPv6) addresses are still delivered to and bindable.
 */
function capturedForm(a: AddrInfo): boolean {
  return a.local.includes(':') ? a.preferred_life_time === 0 : a.scope === 'host';
}

/** Makes the capture link hold exactly `ips` (of ours) and the capture table match them. Idempotent. */
export async function applyCapture(ips: string[], exec: Run = run): Promise<string> {
  const dev = await captureLink(exec);
  await exec('ip', ['link', 'set', dev, 'up']);
  const want = ips.map(prefixed);
  const all = await addresses(exec, dev);
  // On lo, ours are the labelled IPv4 addresses and whatever the previous table captured.
  const before = (await capturedAddresses(exec)).map(prefixed);
  const ours = all.filter((a) => a.scope !== 'link' && (dev === CAPTURE_LINK || a.label === LO_LABEL || before.includes(`${a.local}/${a.prefixlen}`)));
  const have = new Map(all.map((a) => [`${a.local}/${a.prefixlen}`, a]));
  for (const a of ours) {
    const cidr = `${a.local}/${a.prefixlen}`;
    // One of ours in another form (an older agent's global one) goes too, and comes back right.
    if (!want.includes(cidr) || !capturedForm(a)) {
      await exec('ip', ['addr', 'del', cidr, 'dev', dev]);
      have.delete(cidr);
    }
  }
  for (const a of want) {
    if (have.has(a)) continue;
    const v6 = a.includes(':');
    // nodad: an IPv6 address must be usable (bindable) at once.
    await exec('ip', ['addr', 'add', a, 'dev', dev, ...(v6 ? ['nodad', 'preferred_lft', '0'] : ['scope', 'host', ...(dev === 'lo' ? ['label', LO_LABEL] : [])])]);
  }
  await exec('nft', ['-f', '-'], captureRuleset(ips));
  return dev;
}

/** True when the capture table is gone (a firewall reload); one small set listed. */
export async function captureMissing(exec: Run = run): Promise<boolean> {
  try {
    await exec('nft', ['-t', 'list', 'set', 'inet', CAPTURE_TABLE, 'v4']);
    return false;
  } catch (err) {
    if (/No such file or directory/.test(String((err as Error).message))) return true;
    throw err;
  }
}

/** Removes the table, the link, and addresses of ours on lo (nodeway cleanup); absent ones are fine. */
export async function removeCapture(clusterDNS: string[], exec: Run = run): Promise<void> {
  const captured = await capturedAddresses(exec);
  // The addresses go even when the table cannot (nft missing): they are what a pod would reach.
  let tableError: unknown;
  try {
    await exec('nft', ['-f', '-'], `table inet ${CAPTURE_TABLE}\ndelete table inet ${CAPTURE_TABLE}\n`);
  } catch (err) {
    tableError = err;
  }
  if ((await linkNames(exec)).includes(CAPTURE_LINK)) await exec('ip', ['link', 'del', CAPTURE_LINK]);
  const wanted = [...captured, ...clusterDNS].map(prefixed);
  for (const a of await addresses(exec, 'lo')) {
    const cidr = `${a.local}/${a.prefixlen}`;
    if (a.label === LO_LABEL || (a.local.includes(':') && wanted.includes(cidr))) await exec('ip', ['addr', 'del', cidr, 'dev', 'lo']);
  }
  if (tableError) throw tableError;
}
