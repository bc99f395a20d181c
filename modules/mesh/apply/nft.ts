// The mesh's nft table (one tracked value: the rendered table, replaced in one transaction)
// and the accepts in a host firewall that drops forwarded traffic (one tracked value: the
// cluster networks they were written for; forward.ts).
import type { Logger } from 'pino';
import type { CIDR } from '../../../src/net/ip.ts';
import { isEmpty, Tracker } from '../../../src/reconcile/tracker.ts';
import { exec, run } from '../../../src/sys/exec.ts';
import { ensureForward, forwardMissing } from '../forward.ts';
import { NFT_TABLE, replaceScript } from '../nft.ts';

export class NftApplier {
  private readonly applied = new Tracker<string>();

  async apply(table: string, full: boolean): Promise<void> {
    const d = this.applied.diffKeys(new Map([['table', table]]), ['table']);
    if (!full && isEmpty(d)) return;
    await run('nft', ['-f', '-'], { input: replaceScript(table) });
    this.applied.observed('table', table);
  }

  get written(): boolean {
    return this.applied.has('table');
  }

  /** The table is gone (a firewall reload, someone deleted it). */
  async gone(): Promise<boolean> {
    return !(await exec('nft', ['list', 'chain', 'inet', NFT_TABLE, 'postrouting'])).ok;
  }
}

export class ForwardApplier {
  private readonly applied = new Tracker<string>();
  private nets: CIDR[] | undefined;

  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /** Full syncs check the drop chains again (a firewall may have appeared); a change of networks rewrites ours. */
  async apply(nets: CIDR[], full: boolean): Promise<void> {
    const key = nets.map((c) => c.text).join(',');
    const d = this.applied.diffKeys(new Map([['forward', key]]), ['forward']);
    if (!full && isEmpty(d)) return;
    const n = await ensureForward(nets, !isEmpty(d));
    if (n) this.log.info({ tables: n, nets: key }, 'the host firewall drops forwarded traffic: accepted the cluster networks first (chain NODEWAY-FWD)');
    this.applied.observed('forward', key);
    this.nets = nets;
  }

  /** A drop chain lacks our jump or our chain. */
  async gone(): Promise<boolean> {
    return this.nets ? forwardMissing(this.nets) : false;
  }
}
