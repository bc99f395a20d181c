// The mesh's writes to its own Node through the API server. What is live there is what the
// view shows: the annotations are observed from each view of this Node, and the
// NetworkUnavailable condition from each new one (view objects are replaced on every change,
// so one our last write answered is not observed again until the watch brings a change).
import type { KubeClient } from '../../../src/kube/client.ts';
import { isEmpty, Tracker } from '../../../src/reconcile/tracker.ts';
import type { PeerView } from '../../../src/view/types.ts';
import { markNetworkAvailable, patchAnnotations } from '../node-status.ts';

export class AnnotationsApplier {
  private readonly applied = new Tracker<string>();

  private readonly client: KubeClient;
  private readonly node: string;

  constructor(client: KubeClient, node: string) {
    this.client = client;
    this.node = node;
  }

  /**
   * Patches the keys whose value must change ('' in `want`: the key should be absent); returns
   * them (none: the view already shows them). Only keys this agent owns are looked at.
   */
  async apply(want: Record<string, string>, self: PeerView): Promise<string[]> {
    this.applied.reset(Object.keys(want).filter((k) => self.annotations[k] !== undefined).map((k) => [k, self.annotations[k]!]));
    const d = this.applied.diff(new Map(Object.entries(want).filter(([, v]) => v !== '')));
    if (isEmpty(d)) return [];
    const patch: Record<string, string | null> = Object.fromEntries([...d.create, ...d.update, ...d.delete.map((k) => [k, null] as const)]);
    await patchAnnotations(this.client, this.node, patch);
    this.applied.done(d);
    return Object.keys(patch);
  }
}

const COND = 'NetworkUnavailable';

export class ConditionApplier {
  private readonly applied = new Tracker<string>();
  private seen: PeerView | undefined;

  private readonly client: KubeClient;
  private readonly node: string;

  constructor(client: KubeClient, node: string) {
    this.client = client;
    this.node = node;
  }

  /** Asserts NetworkUnavailable=False while the network is up; undefined when nothing was due, else whether it wrote. */
  async apply(up: boolean, self: PeerView, message: string): Promise<boolean | undefined> {
    if (self !== this.seen) {
      this.applied.observed(COND, self.networkUnavailable === 'False' ? 'False' : undefined);
      this.seen = self;
    }
    if (!up) return undefined;
    const d = this.applied.diffKeys(new Map([[COND, 'False']]), [COND]);
    if (isEmpty(d)) return undefined;
    const wrote = await markNetworkAvailable(this.client, this.node, message);
    this.applied.done(d);
    return wrote;
  }
}
