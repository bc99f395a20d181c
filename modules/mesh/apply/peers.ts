// WireGuard peers. What is live is one tracked entry per public key (endpoint, allowed IPs,
// keepalive); beside it, the device's own facts as last read with what was set since
// (handshakes, counters, roamed endpoints), which the decisions read (decide.ts). A full or
// device sync reads the device and replaces both; a partial one diffs against memory, which
// keeps a peer change to one device call. New peers without a first handshake are re-created
// on a schedule (first-handshake.ts decides which and when).
import { type Diff, Tracker } from '../../../src/reconcile/tracker.ts';
import { afterOps, type WgControl } from '../control.ts';
import { dueRetries, nextRetry, type Pending, trackPending } from '../first-handshake.ts';
import { type DesiredPeer, type DeviceState, type PeerOps, type PeerSpec, peerOps, specOf, wantedSpecs } from '../wg.ts';

export class PeersApplier {
  private readonly applied = new Tracker<PeerSpec>();
  /** The device as last read, with what was applied since; undefined = read it. */
  device: DeviceState | undefined;
  /** New peers this node retries the first handshake with. */
  private readonly pending = new Map<string, Pending>();

  observe(dev: DeviceState): void {
    this.device = dev;
    this.applied.reset([...dev.peers].map(([k, p]) => [k, specOf(p)]));
  }

  /** What turns what is live into `desired`; nothing is recorded. */
  changes(desired: readonly DesiredPeer[]): { diff: Diff<PeerSpec>; ops: PeerOps } {
    const diff = this.applied.diff(wantedSpecs(desired, this.device));
    return { diff, ops: peerOps(desired, diff) };
  }

  /** Applies the changes; returns the operations run (none: nothing differed). */
  async apply(ctl: WgControl, desired: readonly DesiredPeer[], selfKey: string, now: number): Promise<PeerOps> {
    const dev = this.device;
    if (!dev) throw new Error('the WireGuard device was not read');
    const { diff, ops } = this.changes(desired);
    if (ops.remove.length || ops.set.length) {
      try {
        await ctl.apply(ops);
      } catch (err) {
        this.forget();
        throw err;
      }
    }
    this.applied.done(diff);
    this.device = afterOps(dev, ops, dev.privateKey, dev.listenPort);
    trackPending(this.pending, selfKey, [...desired], this.device, new Set(ops.set.map((x) => x.publicKey)), now);
    return ops;
  }

  /** The device's identity was set: the facts follow. */
  identity(privateKey: string, listenPort: number): void {
    if (this.device) this.device = { ...this.device, privateKey, listenPort };
  }

  /** ms of the next first-handshake retry due, undefined = none. */
  nextRetry(): number | undefined {
    return nextRetry(this.pending);
  }

  /**
   * Re-creates the new peers still without a handshake (same configuration, fresh handshake
   * state: they initiate again at once); returns those re-created and the device as read.
   */
  async retryFirstHandshakes(ctl: WgControl, now: number): Promise<{ due: DesiredPeer[]; read: DeviceState | undefined }> {
    if (this.pending.size === 0) return { due: [], read: undefined };
    try {
      const dev = await ctl.read();
      // What the next partial sync decides on learns the handshakes too.
      const known = this.device;
      if (known) {
        for (const [k, p] of known.peers) {
          const d = dev.peers.get(k);
          if (d && d.latestHandshake !== p.latestHandshake) known.peers.set(k, { ...p, latestHandshake: d.latestHandshake });
        }
      }
      const due = dueRetries(this.pending, dev, now);
      // Removals first, then the same peers again.
      if (due.length) await ctl.apply({ remove: due.map((d) => d.publicKey), set: due });
      return { due, read: dev };
    } catch (err) {
      // The device is gone or broken: the poll rebuilds it, and that sync starts new retries.
      this.forget();
      this.pending.clear();
      throw err;
    }
  }

  /** Trust nothing remembered: the next sync reads the device. */
  forget(): void {
    this.device = undefined;
    this.applied.reset();
  }
}
