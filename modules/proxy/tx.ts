// One nft transaction, built in sections whose order makes every reference valid: elements
// are deleted before the chains they point at are flushed, chains are flushed before chains
// and sets they referenced are deleted, and everything is declared before rules use it.
// Every command is one line, so a script can be cut into chunks at any line of a section.
import type { NftFamily, SetDecl } from './model.ts';

/** Elements per `add element` command: long enough to be cheap for nft, short enough to read. */
export const ELEMENTS_PER_LINE = 500;

export class Tx {
  readonly family: NftFamily;
  readonly table: string;
  readonly header: string[] = [];
  private readonly delElements = new Map<string, string[]>();
  private readonly flushChains: string[] = [];
  private readonly delChains: string[] = [];
  private readonly delSets: string[] = [];
  private readonly addSets: string[] = [];
  private readonly addChains: string[] = [];
  private readonly rules: string[] = [];
  private readonly addElements = new Map<string, string[]>();
  /** Hooked chains: kept for the last chunk of a chunked load, so nothing is live half-built. */
  private readonly hooks: string[] = [];
  private count = 0;

  constructor(family: NftFamily, table: string) {
    this.family = family;
    this.table = table;
  }

  private get t(): string {
    return `${this.family} ${this.table}`;
  }

  /** Operations other than the header: 0 means there is nothing to apply. */
  get size(): number {
    return this.count;
  }

  addTable(): void {
    this.header.push(`add table ${this.t} { comment "nodeway proxy: Service load balancing (do not edit)"; }`);
  }

  flushTable(): void {
    this.header.push(`flush table ${this.t}`);
    this.count++;
  }

  deleteElement(set: string, key: string): void {
    this.push(this.delElements, set, key);
  }

  addElement(set: string, key: string, value: string, comment?: string): void {
    const c = comment ? ` comment "${comment}"` : '';
    this.push(this.addElements, set, value ? `${key}${c} : ${value}` : `${key}${c}`);
  }

  flushChain(name: string): void {
    this.flushChains.push(`flush chain ${this.t} ${name}`);
    this.count++;
  }

  deleteChain(name: string): void {
    this.delChains.push(`delete chain ${this.t} ${name}`);
    this.count++;
  }

  deleteSet(name: string, kind: SetDecl['kind']): void {
    this.delSets.push(`delete ${kind} ${this.t} ${name}`);
    this.count++;
  }

  addSet(name: string, decl: SetDecl): void {
    this.addSets.push(`add ${decl.kind} ${this.t} ${name} { ${decl.body} }`);
    this.count++;
  }

  /** Declares a chain and appends its rules; `hook` non-empty makes it a base chain. */
  addChain(name: string, hook: string, rules: string[]): void {
    const into = hook ? this.hooks : this.addChains;
    into.push(hook ? `add chain ${this.t} ${name} { ${hook} }` : `add chain ${this.t} ${name}`);
    for (const r of rules) (hook ? this.hooks : this.rules).push(`add rule ${this.t} ${name} ${r}`);
    this.count += 1 + rules.length;
  }

  /** Rules for a chain that exists and was flushed in this transaction. */
  addRules(name: string, rules: string[]): void {
    for (const r of rules) this.rules.push(`add rule ${this.t} ${name} ${r}`);
    this.count += rules.length;
  }

  private push(m: Map<string, string[]>, set: string, item: string): void {
    const list = m.get(set);
    if (list) list.push(item);
    else m.set(set, [item]);
    this.count++;
  }

  /** `add`/`delete element` lines, each with its cost: the elements it holds. */
  private elementLines(verb: 'add' | 'delete', m: Map<string, string[]>, per: number): Line[] {
    const out: Line[] = [];
    for (const [set, items] of m) {
      for (let i = 0; i < items.length; i += per) {
        const part = items.slice(i, i + per);
        out.push({ text: `${verb} element ${this.t} ${set} { ${part.join(', ')} }`, ops: part.length });
      }
    }
    return out;
  }

  lines(): string[] {
    return [...this.header, ...this.bodyLines().map((l) => l.text), ...this.hooks];
  }

  /** `per`: elements per element line (smaller than ELEMENTS_PER_LINE only to fit a chunk). */
  private bodyLines(per = ELEMENTS_PER_LINE): Line[] {
    const one = (text: string): Line => ({ text, ops: 1 });
    return [
      ...this.elementLines('delete', this.delElements, per),
      ...this.flushChains.map(one),
      ...this.delChains.map(one),
      ...this.delSets.map(one),
      ...this.addSets.map(one),
      ...this.addChains.map(one),
      ...this.rules.map(one),
      ...this.elementLines('add', this.addElements, per),
    ];
  }

  render(): string {
    return `${this.lines().join('\n')}\n`;
  }

  /**
   * For a table that does not exist yet: scripts of at most `maxOps` operations each (a command,
   * or one element of an element line), the hooked chains in the last one, so no packet sees the
   * table before it is complete. Only valid when nothing in it is live yet (the caller checked).
   * Counted in elements, not lines: nft holds a whole script's parse in memory, ~1 KiB per map
   * element (measured: one 5.3 MB script of 124k elements, 10,000 Services x 10, took nft
   * to 237 MiB RssAnon; 10,000 elements a run, ~25 MiB).
   */
  renderChunks(maxOps: number): string[] {
    const body = this.bodyLines(Math.max(1, Math.min(ELEMENTS_PER_LINE, maxOps)));
    const total = body.reduce((n, l) => n + l.ops, 0);
    if (total + this.hooks.length <= maxOps) return [this.render()];
    const out: string[] = [];
    let chunk: string[] = [];
    let ops = 0;
    for (const l of body) {
      if (chunk.length && ops + l.ops > maxOps) {
        out.push(`${[...this.header, ...chunk].join('\n')}\n`);
        chunk = [];
        ops = 0;
      }
      chunk.push(l.text);
      ops += l.ops;
    }
    if (chunk.length) out.push(`${[...this.header, ...chunk].join('\n')}\n`);
    out.push(`${[...this.header, ...this.hooks].join('\n')}\n`);
    return out;
  }
}

interface Line {
  text: string;
  /** Operations nft does for it: 1, or the elements of an element line. */
  ops: number;
}
