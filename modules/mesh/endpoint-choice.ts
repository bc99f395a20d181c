// Which candidate endpoint a peer is dialled on. A handshake in the last REJECT_AFTER seconds
// proves the device's endpoint works (ours, or one WireGuard learned when the peer roamed
// behind NAT): it is kept. Without one, a candidate gets TRY_MS to produce a handshake once
// WireGuard is trying to reach the peer, then the next is tried, as Talos KubeSpan does.
// "Trying" is seen in the device's transmit counter: handshake initiations are bytes sent. An
// idle peer (keepalive off, no traffic) sends nothing, so nothing proves its endpoint wrong:
// it stays on the last one, which also is where the first packet after the idle spell goes.
import type { PlannedPeer } from './plan.ts';
import { formatEndpoint } from './annotations.ts';
import type { DevicePeer } from './wg.ts';

export const REJECT_AFTER_S = 180;
export const TRY_MS = 15_000;

export interface Attempt {
  endpoint: string;
  /** ms: when the device was first seen sending on this endpoint without a fresh handshake; 0 = not yet (idle). */
  since: number;
  /** The peer's transmit counter when last looked at. */
  tx: number;
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
  const tx = dev?.txBytes ?? 0;
  const current = dev?.endpoint ?? '';
  const i = cands.indexOf(current);
  if (i < 0) return { endpoint: cands[0]!, attempt: { endpoint: cands[0]!, since: 0, tx } };
  // After a restart nothing is remembered: what the device sends from now on counts.
  if (last?.endpoint !== current) return { endpoint: current, attempt: { endpoint: current, since: 0, tx } };
  // The counter moved (or the peer was re-created and it restarted): WireGuard is trying.
  const since = last.since || (tx !== last.tx ? now : 0);
  if (since === 0 || now - since < TRY_MS || cands.length === 1) return { endpoint: current, attempt: { endpoint: current, since, tx } };
  const next = cands[(i + 1) % cands.length]!;
  return { endpoint: next, attempt: { endpoint: next, since: 0, tx } };
}
