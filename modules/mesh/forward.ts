// Pod traffic through a host firewall that drops forwarded packets. Docker and ufw set
// `iptables -P FORWARD DROP`, which with iptables-nft is the policy of chain FORWARD in table
// `ip filter`; an accept in our own table cannot override a drop in another (every base chain
// on the hook sees the packet). So, as flannel's FLANNEL-FWD does, a chain of ours in that
// table accepts the cluster's networks, and the drop chain jumps to it first. Only base
// chains on the forward hook with policy drop are touched, in tables that are not ours.
import type { CIDR } from '../../src/net/ip.ts';
import { exec, run } from '../../src/sys/exec.ts';

export const FWD_CHAIN = 'NODEWAY-FWD';

type Fam = 'ip' | 'ip6' | 'inet';

export interface DropChain {
  family: Fam;
  table: string;
  chain: string;
}

interface JsonChain {
  chain?: { family: string; table: string; name: string; hook?: string; policy?: string; type?: string };
}

/** Base chains on the forward hook whose policy drops, from `nft -j list chains`. Pure. */
export function dropChains(json: string): DropChain[] {
  const doc = JSON.parse(json || '{}') as { nftables?: JsonChain[] };
  const out: DropChain[] = [];
  for (const i of doc.nftables ?? []) {
    const c = i.chain;
    if (!c || c.hook !== 'forward' || c.policy !== 'drop') continue;
    if (c.family !== 'ip' && c.family !== 'ip6' && c.family !== 'inet') continue;
    if (c.table.startsWith('nodeway')) continue;
    out.push({ family: c.family, table: c.table, chain: c.name });
  }
  return out;
}

/** The rules of our chain in a table of `family`: sources and destinations in the cluster networks. Pure. */
export function forwardRules(family: Fam, nets: CIDR[]): string[] {
  const out: string[] = [];
  for (const c of nets) {
    if (family === 'ip' && c.family !== 4) continue;
    if (family === 'ip6' && c.family !== 6) continue;
    const ip = c.family === 4 ? 'ip' : 'ip6';
    out.push(`${ip} saddr ${c.text} counter accept`, `${ip} daddr ${c.text} counter accept`);
  }
  return out;
}

/** One transaction: our chain with exactly `rules`, and the jump first in the drop chain when missing. */
export function forwardScript(d: DropChain, rules: string[], hasJump: boolean): string {
  const t = `${d.family} ${d.table}`;
  return [
    `add chain ${t} ${FWD_CHAIN}`,
    `flush chain ${t} ${FWD_CHAIN}`,
    ...rules.map((r) => `add rule ${t} ${FWD_CHAIN} ${r}`),
    ...(hasJump ? [] : [`insert rule ${t} ${d.chain} jump ${FWD_CHAIN}`]),
    '',
  ].join('\n');
}

interface JsonRule {
  rule?: { family: string; table: string; chain: string; handle: number; expr?: unknown[] };
}

function rulesOf(json: string): NonNullable<JsonRule['rule']>[] {
  const doc = JSON.parse(json || '{}') as { nftables?: JsonRule[] };
  return (doc.nftables ?? []).map((i) => i.rule).filter((r): r is NonNullable<JsonRule['rule']> => !!r);
}

const jumpsToUs = (r: NonNullable<JsonRule['rule']>) => JSON.stringify(r.expr ?? []).includes(`{"jump":{"target":"${FWD_CHAIN}"}}`);

/** What is in place: the drop chains, and per chain whether it jumps to ours and what ours holds. */
export async function readForward(): Promise<{ chain: DropChain; hasJump: boolean; rules: number }[]> {
  const listed = await exec('nft', ['-j', 'list', 'chains']);
  if (!listed.ok) throw new Error(`nft list chains: ${listed.stderr.trim()}`);
  const out: { chain: DropChain; hasJump: boolean; rules: number }[] = [];
  for (const d of dropChains(listed.stdout)) {
    const base = await exec('nft', ['-j', 'list', 'chain', d.family, d.table, d.chain]);
    const ours = await exec('nft', ['-j', 'list', 'chain', d.family, d.table, FWD_CHAIN]);
    out.push({ chain: d, hasJump: base.ok && rulesOf(base.stdout).some(jumpsToUs), rules: ours.ok ? rulesOf(ours.stdout).length : -1 });
  }
  return out;
}

/**
 * Makes every drop chain jump to ours first, ours accepting `nets` (rewritten when `force`: the
 * networks changed); returns how many tables it changed.
 */
export async function ensureForward(nets: CIDR[], force: boolean): Promise<number> {
  let changed = 0;
  for (const s of await readForward()) {
    const rules = forwardRules(s.chain.family, nets);
    if (!force && s.hasJump && s.rules === rules.length) continue;
    await run('nft', ['-f', '-'], { input: forwardScript(s.chain, rules, s.hasJump) });
    changed++;
  }
  return changed;
}

/** True when some drop chain lacks our jump or our chain (a firewall reload took them). */
export async function forwardMissing(nets: CIDR[]): Promise<boolean> {
  return (await readForward()).some((s) => !s.hasJump || s.rules !== forwardRules(s.chain.family, nets).length);
}

/** `nodeway cleanup`: every jump to our chain, and the chain, in every table. */
export async function removeForward(): Promise<void> {
  const listed = await exec('nft', ['-j', 'list', 'chains']);
  if (!listed.ok) return;
  const doc = JSON.parse(listed.stdout || '{}') as { nftables?: JsonChain[] };
  const tables = new Set<string>();
  for (const i of doc.nftables ?? []) if (i.chain?.name === FWD_CHAIN) tables.add(`${i.chain.family} ${i.chain.table}`);
  for (const t of tables) {
    const [family, table] = t.split(' ') as [string, string];
    const listing = await exec('nft', ['-j', '-a', 'list', 'table', family, table]);
    const lines = rulesOf(listing.stdout).filter(jumpsToUs).map((r) => `delete rule ${family} ${table} ${r.chain} handle ${r.handle}`);
    await run('nft', ['-f', '-'], { input: [...lines, `delete chain ${family} ${table} ${FWD_CHAIN}`, ''].join('\n') });
  }
}
