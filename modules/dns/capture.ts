// Node-local capture of the cluster DNS address, the NodeLocal DNSCache way: the address sits on
// a dummy link (so packets to it are delivered locally and our sockets can bind it), and a raw
// table (priority -300, before conntrack at -200 and every NAT chain at -100) marks DNS to and
// from it NOTRACK. Untracked packets never reach NAT, so the proxy's DNAT for the DNS Service
// cannot send them to another node, there is no conntrack entry to race on (the parallel A/AAAA
// problem), and replies leave from the address the pod asked. Works with or without the proxy.
import { execa } from 'execa';
import { ipFamily } from '../../src/net/ip.ts';

export const CAPTURE_TABLE = 'nodeway-dns';
export const CAPTURE_LINK = 'nodeway-dns';

/** The nft script that (re)creates the capture table atomically. Pure: golden-tested. */
export function captureRuleset(ips: string[], port = 53): string {
  const v4 = ips.filter((ip) => ipFamily(ip) === 4);
  const v6 = ips.filter((ip) => ipFamily(ip) === 6);
  const rules: string[] = [];
  for (const [fam, list] of [['ip', v4], ['ip6', v6]] as const) {
    if (list.length === 0) continue;
    const set = `{ ${list.join(', ')} }`;
    rules.push(`${fam} daddr ${set} meta l4proto { tcp, udp } th dport ${port} notrack`);
    rules.push(`${fam} saddr ${set} meta l4proto { tcp, udp } th sport ${port} notrack`);
  }
  const chain = (name: string, hook: string) =>
    [`\tchain ${name} {`, `\t\ttype filter hook ${hook} priority raw; policy accept;`, ...rules.map((r) => `\t\t${r}`), '\t}'].join('\n');
  return [
    `table inet ${CAPTURE_TABLE}`,
    `delete table inet ${CAPTURE_TABLE}`,
    `table inet ${CAPTURE_TABLE} {`,
    chain('prerouting', 'prerouting'),
    chain('output', 'output'),
    '}',
    '',
  ].join('\n');
}

type Run = (cmd: string, args: string[], input?: string) => Promise<{ stdout: string }>;

const run: Run = async (cmd, args, input) => {
  const r = await execa(cmd, args, input === undefined ? {} : { input });
  return { stdout: String(r.stdout) };
};

function prefixed(ip: string): string {
  return ipFamily(ip) === 6 ? `${ip}/128` : `${ip}/32`;
}

/** Makes the dummy link hold exactly `ips` and the capture table match them. Idempotent. */
export async function applyCapture(ips: string[], exec: Run = run): Promise<void> {
  const links = JSON.parse((await exec('ip', ['-j', 'link', 'show'])).stdout || '[]') as { ifname: string }[];
  if (!links.some((l) => l.ifname === CAPTURE_LINK)) await exec('ip', ['link', 'add', CAPTURE_LINK, 'type', 'dummy']);
  await exec('ip', ['link', 'set', CAPTURE_LINK, 'up']);
  const shown = JSON.parse((await exec('ip', ['-j', 'addr', 'show', 'dev', CAPTURE_LINK])).stdout || '[]') as {
    addr_info?: { local: string; prefixlen: number; scope?: string }[];
  }[];
  const have = (shown[0]?.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
  const want = ips.map(prefixed);
  for (const a of have) if (!want.includes(a)) await exec('ip', ['addr', 'del', a, 'dev', CAPTURE_LINK]);
  for (const a of want) {
    if (have.includes(a)) continue;
    // nodad: an IPv6 address must be usable (bindable) at once.
    await exec('ip', ['addr', 'add', a, 'dev', CAPTURE_LINK, ...(a.includes(':') ? ['nodad'] : [])]);
  }
  await exec('nft', ['-f', '-'], captureRuleset(ips));
}

/** Removes the table and the link (nodeway cleanup); absent ones are fine. */
export async function removeCapture(exec: Run = run): Promise<void> {
  await exec('nft', ['-f', '-'], `table inet ${CAPTURE_TABLE}\ndelete table inet ${CAPTURE_TABLE}\n`);
  const links = JSON.parse((await exec('ip', ['-j', 'link', 'show'])).stdout || '[]') as { ifname: string }[];
  if (links.some((l) => l.ifname === CAPTURE_LINK)) await exec('ip', ['link', 'del', CAPTURE_LINK]);
}
