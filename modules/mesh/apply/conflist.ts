// The CNI conflist: one tracked value, the file's text, observed from the disk on full syncs.
// Written atomically, only when it differs. Pods keep the MTU they were created with, so a
// write that lowers it says so.
import type { Logger } from 'pino';
import { isEmpty, Tracker } from '../../../src/reconcile/tracker.ts';
import { readConflist, writeConflist } from '../cni.ts';
import { conflistMTU } from '../conflist.ts';
import type { MeshMetrics } from '../metrics.ts';

const KEY = 'conflist';

export class ConflistApplier {
  private readonly applied = new Tracker<string>();
  /** The conflist as last read or written: its MTU is what pods created since then have. */
  private text = '';
  /** The highest MTU older pods may still carry after the pod MTU was lowered (0: none known). */
  private stalePodMTU = 0;

  private readonly dir: string;
  private readonly log: Logger;
  private readonly metrics: MeshMetrics;

  constructor(dir: string, log: Logger, metrics: MeshMetrics) {
    this.dir = dir;
    this.log = log;
    this.metrics = metrics;
  }

  /** What is on disk now. */
  async read(): Promise<void> {
    const onDisk = (await readConflist(this.dir)) ?? undefined;
    this.applied.observed(KEY, onDisk);
    this.text = onDisk ?? '';
  }

  /** True when it wrote. */
  async apply(text: string, mtu: number): Promise<boolean> {
    const d = this.applied.diffKeys(new Map([[KEY, text]]), [KEY]);
    if (isEmpty(d)) return false;
    const before = conflistMTU(this.text);
    if (before > mtu) {
      this.stalePodMTU = Math.max(this.stalePodMTU, before);
      this.metrics.stalePodMTU.set({}, this.stalePodMTU);
      this.log.warn({ from: before, to: mtu }, 'pod MTU lowered: pods created before keep the old one (and may lose large packets) until they are re-created');
    }
    await writeConflist(this.dir, text);
    this.applied.done(d);
    this.text = text;
    return true;
  }
}
