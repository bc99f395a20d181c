// An NftExec on a model of the kernel's tables (nft-state.ts): every script is recorded and
// applied, atomically, failing where nft would; `dump` gives the resulting table sorted and
// trace.ts runs packets through it. Setting `names_` pretends a live table the model does not
// hold (a restart over leftovers): scripts are then only recorded.
import type { ConntrackExec } from '../../modules/proxy/conntrack.ts';
import type { NftExec, TableNames } from '../../modules/proxy/nft.ts';
import { NftState, type NftTable } from './nft-state.ts';
import { trace, traceAll, type Packet, type TraceOptions, type Verdict } from './trace.ts';

export class FakeNft implements NftExec {
  scripts: string[] = [];
  names_: TableNames | null = null;
  failNext = false;
  readonly state = new NftState();

  async apply(script: string): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('nft -f - failed: injected');
    }
    if (!this.names_) this.state.apply(script);
    this.scripts.push(script);
  }
  async names(family: string, table: string): Promise<TableNames> {
    return this.names_ ?? this.state.names(family, table);
  }
  async deleteTable(family: string, table: string): Promise<void> {
    this.state.tables.delete(`${family} ${table}`);
  }
  /** Whether the (modelled) table is still there; tests delete it to simulate a firewall reload. */
  async present(family: string, table: string): Promise<boolean> {
    return this.names_ !== undefined || this.state.tables.has(`${family} ${table}`);
  }
  take(): string {
    const s = this.scripts.join('');
    this.scripts = [];
    return s;
  }
  table(family: 'ip' | 'ip6' = 'ip', name = 'nodeway'): NftTable {
    const t = this.state.table(family, name);
    if (!t) throw new Error(`no table ${family} ${name}`);
    return t;
  }
  dump(family: 'ip' | 'ip6' = 'ip', name = 'nodeway'): string {
    return this.state.dump(family, name);
  }
  trace(pkt: Packet, o: TraceOptions): Verdict {
    return trace(this.table(pkt.dst.includes(':') ? 'ip6' : 'ip'), pkt, o);
  }
  traceAll(pkt: Packet, o: TraceOptions): Verdict[] {
    return traceAll(this.table(pkt.dst.includes(':') ? 'ip6' : 'ip'), pkt, o);
  }
}

export const noConntrack: ConntrackExec = {
  list: async () => [],
  delete: async () => 0,
};
