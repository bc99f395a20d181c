// A model of the nft tables the proxy writes: applies `nft -f` scripts (one command per line,
// the subset Tx renders) atomically, fails where the kernel would (deleting what is not there,
// a chain still in use, an element added twice with another value), and dumps the result
// sorted, so tests compare rulesets instead of transactions. trace.ts runs packets through it.
import type { TableNames } from '../../modules/proxy/nft.ts';

export interface Element {
  value: string;
  comment?: string;
}

export interface NftSet {
  kind: 'set' | 'map';
  body: string;
  elements: Map<string, Element>;
}

export interface NftChain {
  hook: string;
  rules: string[];
}

export interface NftTable {
  chains: Map<string, NftChain>;
  sets: Map<string, NftSet>;
}

export class NftScriptError extends Error {}

function clone(t: NftTable): NftTable {
  return {
    chains: new Map([...t.chains].map(([n, c]) => [n, { hook: c.hook, rules: [...c.rules] }])),
    sets: new Map([...t.sets].map(([n, s]) => [n, { kind: s.kind, body: s.body, elements: new Map(s.elements) }])),
  };
}

/** `a, b : goto x, c comment "y"` → items; no key, value or comment of ours holds ", ". */
function items(text: string): { key: string; value: string; comment?: string }[] {
  return text.split(', ').map((item) => {
    const [left, value = ''] = item.split(' : ') as [string, string?];
    const m = /^(.*?) comment "([^"]*)"$/.exec(left);
    return m ? { key: m[1]!, value, comment: m[2]! } : { key: left, value };
  });
}

export class NftState {
  /** By `family name`, e.g. `ip nodeway`. */
  tables = new Map<string, NftTable>();

  table(family: string, name: string): NftTable | undefined {
    return this.tables.get(`${family} ${name}`);
  }

  /** Applies a whole script or nothing. */
  apply(script: string): void {
    const next = new Map([...this.tables].map(([k, t]) => [k, clone(t)]));
    script.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        this.command(next, line);
      } catch (err) {
        throw new NftScriptError(`line ${i + 1}: ${(err as Error).message}: ${line.slice(0, 200)}`);
      }
    });
    this.tables = next;
  }

  private command(tables: Map<string, NftTable>, line: string): void {
    const m = /^(add|delete|flush) (table|chain|rule|set|map|element) (ip6?) (\S+)(?: (\S+))?(?: (.*))?$/.exec(line);
    if (!m) throw new Error('unknown command');
    const [, verb, what, family, tname, name, rest = ''] = m as unknown as [string, string, string, string, string, string | undefined, string | undefined];
    const key = `${family} ${tname}`;
    if (what === 'table') {
      if (verb === 'add') {
        if (!tables.has(key)) tables.set(key, { chains: new Map(), sets: new Map() });
      } else if (verb === 'delete') {
        if (!tables.delete(key)) throw new Error('no such table');
      } else {
        const t = tables.get(key);
        if (!t) throw new Error('no such table');
        for (const c of t.chains.values()) c.rules = [];
      }
      return;
    }
    const t = tables.get(key);
    if (!t) throw new Error('no such table');
    if (!name) throw new Error('missing name');
    const body = (s: string) => /^\{ (.*) \}$/.exec(s)?.[1] ?? '';
    switch (`${verb} ${what}`) {
      case 'add chain': {
        const hook = body(rest);
        const c = t.chains.get(name);
        if (c && c.hook !== hook) throw new Error('chain exists with another hook');
        if (!c) t.chains.set(name, { hook, rules: [] });
        return;
      }
      case 'flush chain':
        this.chain(t, name).rules = [];
        return;
      case 'delete chain': {
        if (this.chain(t, name).rules.length > 0) throw new Error('chain not empty (EBUSY)');
        if (this.references(t, name)) throw new Error('chain in use (EBUSY)');
        t.chains.delete(name);
        return;
      }
      case 'add rule':
        this.chain(t, name).rules.push(rest);
        return;
      case 'add set':
      case 'add map': {
        const s = t.sets.get(name);
        if (s && (s.kind !== what || s.body !== body(rest))) throw new Error('set exists with another declaration');
        if (!s) t.sets.set(name, { kind: what as 'set' | 'map', body: body(rest), elements: new Map() });
        return;
      }
      case 'flush set':
      case 'flush map':
        this.set(t, name, what).elements.clear();
        return;
      case 'delete set':
      case 'delete map': {
        this.set(t, name, what);
        if ([...t.chains.values()].some((c) => c.rules.some((r) => r.includes(`@${name}`) && new RegExp(`@${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(\\s|$)`).test(r)))) throw new Error('set in use (EBUSY)');
        t.sets.delete(name);
        return;
      }
      case 'add element': {
        const s = this.set(t, name);
        for (const it of items(body(rest))) {
          const was = s.elements.get(it.key);
          if (was && was.value !== it.value) throw new Error(`element ${it.key} exists with another value (EEXIST)`);
          if (s.kind === 'map' && !it.value) throw new Error(`map element ${it.key} without a value`);
          if (s.kind === 'set' && it.value) throw new Error(`set element ${it.key} with a value`);
          const target = /^(?:goto|jump) (\S+)$/.exec(it.value)?.[1];
          if (target && !t.chains.has(target)) throw new Error(`element points at missing chain ${target}`);
          s.elements.set(it.key, it.comment ? { value: it.value, comment: it.comment } : { value: it.value });
        }
        return;
      }
      case 'delete element': {
        const s = this.set(t, name);
        for (const it of items(body(rest))) if (!s.elements.delete(it.key)) throw new Error(`no element ${it.key} (ENOENT)`);
        return;
      }
    }
    throw new Error('unsupported command');
  }

  private chain(t: NftTable, name: string): NftChain {
    const c = t.chains.get(name);
    if (!c) throw new Error(`no chain ${name}`);
    return c;
  }

  private set(t: NftTable, name: string, kind?: string): NftSet {
    const s = t.sets.get(name);
    if (!s || (kind && s.kind !== kind)) throw new Error(`no ${kind ?? 'set or map'} ${name}`);
    return s;
  }

  private references(t: NftTable, chain: string): boolean {
    const re = new RegExp(`(?:goto|jump) ${chain.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`);
    for (const c of t.chains.values()) if (c.rules.some((r) => re.test(r))) return true;
    for (const s of t.sets.values()) for (const e of s.elements.values()) if (re.test(e.value)) return true;
    return false;
  }

  names(family: string, name: string): TableNames {
    const t = this.table(family, name);
    const out: TableNames = { exists: false, chains: new Set(t?.chains.keys()), sets: new Map([...(t?.sets ?? [])].map(([n, s]) => [n, s.kind])) };
    out.exists = out.chains.size + out.sets.size > 0;
    return out;
  }

  /** The table as sorted text: objects by name, elements by key (what a test compares). */
  dump(family: string, name: string): string {
    const t = this.table(family, name);
    if (!t) return '';
    const out: string[] = [];
    for (const n of [...t.sets.keys()].sort()) {
      const s = t.sets.get(n)!;
      out.push(`${s.kind} ${n} { ${s.body} }`);
      for (const k of [...s.elements.keys()].sort()) {
        const e = s.elements.get(k)!;
        out.push(`  ${k}${e.comment ? ` comment "${e.comment}"` : ''}${e.value ? ` : ${e.value}` : ''}`);
      }
    }
    for (const n of [...t.chains.keys()].sort()) {
      const c = t.chains.get(n)!;
      out.push(`chain ${n}${c.hook ? ` { ${c.hook} }` : ''}`);
      for (const r of c.rules) out.push(`  ${r}`);
    }
    return `${out.join('\n')}\n`;
  }
}
