// The only code that runs `nft`. Transactions go through `nft -f -`; the one listing (at a
// full sync that cannot trust memory) asks for names only, never rules or elements, so it
// stays cheap at any table size (kubernetes#139513).
import { exec } from '../../src/sys/exec.ts';
import type { NftFamily, SetDecl } from './model.ts';

export interface TableNames {
  exists: boolean;
  chains: Set<string>;
  sets: Map<string, SetDecl['kind']>;
}

export interface NftExec {
  apply(script: string): Promise<void>;
  names(family: NftFamily, table: string): Promise<TableNames>;
  deleteTable(family: NftFamily, table: string): Promise<void>;
  /** '' when the kernel and nft can do NAT in this family, else nft's complaint (checked, nothing applied). */
  natSupport?(family: NftFamily): Promise<string>;
  /** Whether the table still holds `set` (one small set, never the table: cheap at any size). */
  present(family: NftFamily, table: string, set: string): Promise<boolean>;
}

export class NftError extends Error {}

function firstLines(s: string, n = 6): string {
  return s.split('\n').filter((l) => l.trim() !== '').slice(0, n).join('\n');
}

interface JsonItem {
  chain?: { table: string; name: string };
  set?: { table: string; name: string };
  map?: { table: string; name: string };
}

export function nftCli(bin = 'nft'): NftExec {
  const list = async (args: string[]): Promise<JsonItem[]> => {
    const r = await exec(bin, ['-j', ...args]);
    if (!r.ok) throw new NftError(`nft ${args.join(' ')}: ${firstLines(r.stderr)}`);
    return ((JSON.parse(r.stdout || '{"nftables":[]}') as { nftables: JsonItem[] }).nftables ?? []);
  };
  return {
    async apply(script) {
      // A transaction of 10,000 Services takes seconds; only a hung nft takes minutes.
      const r = await exec(bin, ['-f', '-'], { input: script, timeoutMs: 300_000 });
      if (!r.ok) throw new NftError(`nft -f - failed: ${firstLines(r.stderr)}`);
    },
    async names(family, table) {
      // No `list tables`: nft 1.0.6 fetches the whole ruleset for it (1.5 s at 10,000 Services).
      // A table with neither chains nor sets counts as absent; loading into it is the same.
      const [chains, sets, maps] = await Promise.all([
        list(['list', 'chains', family]),
        list(['-t', 'list', 'sets', family]),
        list(['-t', 'list', 'maps', family]),
      ]);
      const out: TableNames = { exists: false, chains: new Set(), sets: new Map() };
      for (const i of chains) if (i.chain?.table === table) out.chains.add(i.chain.name);
      for (const i of sets) if (i.set?.table === table) out.sets.set(i.set.name, 'set');
      for (const i of maps) if (i.map?.table === table) out.sets.set(i.map.name, 'map');
      out.exists = out.chains.size + out.sets.size > 0;
      return out;
    },
    async natSupport(family) {
      const probe = `table ${family} nodeway-probe {\n\tchain p {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}\n}\n`;
      const r = await exec(bin, ['-c', '-f', '-'], { input: probe });
      return r.ok ? '' : firstLines(r.stderr, 1) || `exit ${r.exitCode}`;
    },
    async present(family, table, set) {
      const r = await exec(bin, ['-t', 'list', 'set', family, table, set]);
      if (r.ok) return true;
      if (/No such file or directory/.test(r.stderr)) return false;
      throw new NftError(`nft list set ${family} ${table} ${set}: ${firstLines(r.stderr)}`);
    },
    async deleteTable(family, table) {
      const r = await exec(bin, ['delete', 'table', family, table]);
      if (!r.ok && !/No such file or directory/.test(r.stderr)) throw new NftError(`nft delete table ${family} ${table}: ${firstLines(r.stderr)}`);
    },
  };
}
