// Which candidate endpoint a peer is dialled on. A handshake in the last REJECT_AFTER seconds
// proves the device's endpoint works (ours, or one WireGuard learned when the peer roamed
// behind NAT): it is kept. Without one, a candidate gets TRY_MS to produce a handshake, then
// the next is tried, as Talos KubeSpan does.
import type { PlannedPeer } from './plan.ts';
import { formatEndpoint } from './annotations.ts';
import type { DevicePeer } from './wg.ts';

export const REJECT_AFTER_S = 180;
export const TRY_MS = 15_000;

export interface Attempt {
  endpoint: string;
  since: number; // ms
}

export interface Choice {
  /** null = leave the device's endpoint. */
  endpoint: string | null;
  attempt: Attempt | undefined;
}

export function chooseEndpoint(peer: PlannedPeer, dev: DevicePeer | undefined, last: Attempt | undefined, now: number): Choice {
  const cands = peer.candidates.map(formatEndpoint);
  if (cands.length === 0) return { endpoint: null, attempt: undefined };
  if (peer.forced) return { endpoint: cands[0]!, attempt: undefined };
  const fresh = dev !== undefined && dev.latestHandshake > 0 && now / 1000 - dev.latestHandshake < REJECT_AFTER_S;
  if (dev?.endpoint && fresh) return { endpoint: null, attempt: undefined };
  const current = dev?.endpoint ?? '';
  const i = cands.indexOf(current);
  if (i < 0) return { endpoint: cands[0]!, attempt: { endpoint: cands[0]!, since: now } };
  // After a restart nothing is remembered: the clock starts now for what the device has.
  const since = last?.endpoint === current ? last.since : now;
  if (now - since < TRY_MS || cands.length === 1) return { endpoint: current, attempt: { endpoint: current, since } };
  const next = cands[(i + 1) % cands.length]!;
  return { endpoint: next, attempt: { endpoint: next, since: now } };
}
