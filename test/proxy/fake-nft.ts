// An NftExec that records scripts instead of running nft, and a no-op conntrack.
import type { ConntrackExec } from '../../modules/proxy/conntrack.ts';
import type { NftExec, TableNames } from '../../modules/proxy/nft.ts';

export class FakeNft implements NftExec {
  scripts: string[] = [];
  names_: TableNames = { exists: false, chains: new Set(), sets: new Map() };
  failNext = false;

  async apply(script: string): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('nft -f - failed: injected');
    }
    this.scripts.push(script);
  }
  async names(): Promise<TableNames> {
    return this.names_;
  }
  async deleteTable(): Promise<void> {}
  present_ = true;
  async present(): Promise<boolean> {
    return this.present_;
  }
  take(): string {
    const s = this.scripts.join('');
    this.scripts = [];
    return s;
  }
}

export const noConntrack: ConntrackExec = {
  list: async () => [],
  delete: async () => 0,
};
