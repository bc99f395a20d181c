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

  private elementLines(verb: 'add' | 'delete', m: Map<string, string[]>): string[] {
    const out: string[] = [];
    for (const [set, items] of m) {
      for (let i = 0; i < items.length; i += ELEMENTS_PER_LINE) {
        out.push(`${verb} element ${this.t} ${set} { ${items.slice(i, i + ELEMENTS_PER_LINE).join(', ')} }`);
      }
    }
    return out;
  }

  lines(): string[] {
    return [...this.header, ...this.bodyLines(), ...this.hooks];
  }

  private bodyLines(): string[] {
    return [
      ...this.elementLines('delete', this.delElements),
      ...this.flushChains,
      ...this.delChains,
      ...this.delSets,
      ...this.addSets,
      ...this.addChains,
      ...this.rules,
      ...this.elementLines('add', this.addElements),
    ];
  }

  render(): string {
    return `${this.lines().join('\n')}\n`;
  }

  /**
   * For a table that does not exist yet: scripts of at most `maxLines` lines each, the hooked
   * chains in the last one, so no packet sees the table before it is complete. Only valid
   * when nothing in it is live yet (the caller checked).
   */
  renderChunks(maxLines: number): string[] {
    const body = this.bodyLines();
    if (body.length + this.hooks.length <= maxLines) return [this.render()];
    const out: string[] = [];
    for (let i = 0; i < body.length; i += maxLines) out.push(`${[...this.header, ...body.slice(i, i + maxLines)].join('\n')}\n`);
    out.push(`${[...this.header, ...this.hooks].join('\n')}\n`);
    return out;
  }
}
