// A new peer's first handshake, made prompt. Turning a keepalive on sends one at once, which
// starts a handshake: when two nodes add each other in the same instant (they watch the same
// Node objects), both initiate, each drops the response to its own initiation (a peer has one
// handshake state, which the other's initiation replaced) and neither has a session until
// WireGuard's retransmit, 5 s later. The same wait follows an initiation that reached a node
// not knowing us yet, when that node cannot initiate itself (it has no endpoint for us, or an
// unroutable one). WireGuard sends at most one initiation per peer per 5 s, so the only way to
// initiate again sooner is a new peer: a keepalive peer with an endpoint and no handshake yet
// is re-created (same configuration, one device call) on a short schedule after it was set.
// The two sides of a pair use disjoint schedules (by public key order, at least 250 ms apart
// when both added at once), so their retries do not cross each other again.
// Pure: the executor reads the device and applies the re-creations.
import type { DesiredPeer, DeviceState } from './wg.ts';

/** When, after the peer was set, it is re-created if it still has no handshake: on the side with the larger key, and on the other. */
export const RETRY_AFTER_MS = { larger: [250, 500, 1_000, 2_000, 4_000], smaller: [750, 1_500, 3_000] } as const;

export interface Pending {
  /** ms: when the peer was set on the device (or first seen there without a handshake). */
  since: number;
  after: readonly number[];
  /** Retries done: after[done] is the next. */
  done: number;
}

export function retrySchedule(selfKey: string, peerKey: string): readonly number[] {
  return selfKey > peerKey ? RETRY_AFTER_MS.larger : RETRY_AFTER_MS.smaller;
}

/**
 * After a sync: the peers this node watches for a first handshake. A peer set by this sync
 * (new, or its endpoint changed) starts again from now; one that has a handshake, no
 * keepalive or no endpoint is not watched.
 */
export function trackPending(pending: Map<string, Pending>, selfKey: string, desired: DesiredPeer[], dev: DeviceState, setKeys: Set<string>, now: number): void {
  const want = new Set<string>();
  for (const d of desired) {
    const p = dev.peers.get(d.publicKey);
    if (!p || p.latestHandshake > 0 || !p.endpoint || !p.keepalive) continue;
    want.add(d.publicKey);
    if (!pending.has(d.publicKey) || setKeys.has(d.publicKey)) pending.set(d.publicKey, { since: now, after: retrySchedule(selfKey, d.publicKey), done: 0 });
  }
  for (const k of pending.keys()) if (!want.has(k)) pending.delete(k);
}

/** ms of the next retry due, undefined = none left. */
export function nextRetry(pending: Map<string, Pending>): number | undefined {
  let next: number | undefined;
  for (const p of pending.values()) {
    const delay = p.after[p.done];
    if (delay !== undefined && (next === undefined || p.since + delay < next)) next = p.since + delay;
  }
  return next;
}

/**
 * With the device as it is now: the peers to re-create (same configuration, fresh handshake
 * state). Peers that got a handshake, or lost their keepalive or endpoint, stop being watched;
 * retries missed by a late timer are not made up.
 */
export function dueRetries(pending: Map<string, Pending>, dev: DeviceState, now: number): DesiredPeer[] {
  const out: DesiredPeer[] = [];
  for (const [k, p] of pending) {
    const d = dev.peers.get(k);
    if (!d || d.latestHandshake > 0 || !d.endpoint || !d.keepalive) {
      pending.delete(k);
      continue;
    }
    const delay = p.after[p.done];
    if (delay === undefined || now < p.since + delay) continue;
    while (p.after[p.done] !== undefined && p.since + p.after[p.done]! <= now) p.done++;
    out.push({ publicKey: k, endpoint: d.endpoint, allowedIPs: d.allowedIPs, keepalive: d.keepalive });
  }
  return out;
}
