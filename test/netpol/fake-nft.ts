// An in-memory stand-in for `nft -f` that keeps only what the applier's incremental paths
// change: which sets exist and their elements. Like nft, it refuses an element added to a set
// that does not exist and the deletion of an element that is not there (the whole script then
// fails, as a transaction would).
import type { Nft } from '../../modules/netpol/apply.ts';

export class FakeNft implements Nft {
  /** "ip table set" → element key (a map's: before " : ") → element. */
  readonly sets = new Map<string, Map<string, string>>();

  async apply(script: string): Promise<void> {
    const next = new Map([...this.sets].map(([k, v]) => [k, new Map(v)]));
    for (const line of script.split('\n')) {
      let m: RegExpExecArray | null;
      if ((m = /^delete table (\S+ \S+)$/.exec(line))) {
        for (const k of [...next.keys()]) if (k.startsWith(`${m[1]} `)) next.delete(k);
      } else if ((m = /^add (?:set|map) (\S+ \S+ \S+) \{/.exec(line))) {
        if (!next.has(m[1]!)) next.set(m[1]!, new Map());
      } else if ((m = /^delete set (\S+ \S+ \S+)$/.exec(line))) {
        next.delete(m[1]!);
      } else if ((m = /^(add|delete) element (\S+ \S+ \S+) \{ (.*) \}$/.exec(line))) {
        const set = next.get(m[2]!);
        if (!set) throw new Error(`no such set: ${line}`);
        for (const e of m[3]!.split(', ')) {
          const key = e.split(' : ')[0]!;
          if (m[1] === 'add') set.set(key, e);
          else if (!set.delete(key)) throw new Error(`no such element ${e}: ${line}`);
        }
      }
    }
    this.sets.clear();
    for (const [k, v] of next) this.sets.set(k, v);
  }

  elements(family: string, table: string, set: string): string[] {
    return [...(this.sets.get(`${family} ${table} ${set}`)?.values() ?? [])].sort();
  }
}
