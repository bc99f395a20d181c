// The WireGuard device as `wg show <if> dump` reports it, and the smallest `wg set` that turns
// it into the desired peers (the tracker's diff as `wg set` operations). Pure: the peers
// applier (apply/peers.ts) runs them.
import { parseCIDR } from '../../src/net/ip.ts';
import { type Diff, upserts } from '../../src/reconcile/tracker.ts';

export interface DevicePeer {
  publicKey: string;
  endpoint: string | null;
  allowedIPs: string[]; // canonical, sorted
  /** Unix seconds; 0 = never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  keepalive: number; // 0 = off
}

export interface DeviceState {
  privateKey: string;
  publicKey: string;
  listenPort: number;
  peers: Map<string, DevicePeer>;
}

const none = (s: string | undefined) => (s === undefined || s === '(none)' || s === '' ? null : s);

export function canonicalAllowed(list: string[]): string[] {
  return [...new Set(list.map((s) => parseCIDR(s)?.text ?? s))].sort();
}

export function parseDump(text: string): DeviceState {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const head = (lines[0] ?? '').split('\t');
  const state: DeviceState = {
    privateKey: none(head[0]) ?? '',
    publicKey: none(head[1]) ?? '',
    listenPort: Number(head[2]) || 0,
    peers: new Map(),
  };
  for (const l of lines.slice(1)) {
    const f = l.split('\t');
    if (f.length < 8) continue;
    const allowed = none(f[3]);
    state.peers.set(f[0]!, {
      publicKey: f[0]!,
      endpoint: none(f[2]),
      allowedIPs: allowed ? canonicalAllowed(allowed.split(',')) : [],
      latestHandshake: Number(f[4]) || 0,
      rxBytes: Number(f[5]) || 0,
      txBytes: Number(f[6]) || 0,
      keepalive: f[7] === 'off' ? 0 : Number(f[7]) || 0,
    });
  }
  return state;
}

export interface DesiredPeer {
  publicKey: string;
  /** null = leave the device's endpoint alone (learned from the peer, or none to set). */
  endpoint: string | null;
  allowedIPs: string[];
  keepalive: number;
}

export interface PeerOps {
  remove: string[];
  /** Peers to create or change, each with only what differs (allowed IPs are always sent whole). */
  set: DesiredPeer[];
}

/** What the tracker keeps per peer (src/reconcile/tracker.ts): the configuration a set writes. */
export interface PeerSpec {
  endpoint: string | null;
  allowedIPs: string[]; // canonical, sorted
  keepalive: number;
}

export function specOf(p: DevicePeer): PeerSpec {
  return { endpoint: p.endpoint, allowedIPs: p.allowedIPs, keepalive: p.keepalive };
}

/**
 * The desired peers as the tracker compares them: a null endpoint (leave the device's) stands
 * for whatever endpoint the device has, so it never counts as a change by itself.
 */
export function wantedSpecs(desired: readonly DesiredPeer[], device: DeviceState | undefined): Map<string, PeerSpec> {
  return new Map(desired.map((p) => [p.publicKey, {
    endpoint: p.endpoint ?? device?.peers.get(p.publicKey)?.endpoint ?? null,
    allowedIPs: canonicalAllowed(p.allowedIPs),
    keepalive: p.keepalive,
  }]));
}

/**
 * The tracker's diff as device operations: removals sorted, then the created and changed
 * peers in the desired order, each whole (allowed IPs are always replaced) and with its
 * endpoint only when one was decided.
 */
export function peerOps(desired: readonly DesiredPeer[], diff: Diff<PeerSpec>): PeerOps {
  const decided = new Map(desired.map((p) => [p.publicKey, p.endpoint]));
  return {
    remove: [...diff.delete].sort(),
    set: upserts(diff, decided.keys()).map(([publicKey, s]) => ({ publicKey, endpoint: decided.get(publicKey) ?? null, allowedIPs: s.allowedIPs, keepalive: s.keepalive })),
  };
}

/**
 * argv for `wg set <if> …`: removals first, so allowed IPs a replaced key held are free when
 * its successor claims them (WireGuard would otherwise move them and leave a "(none)" peer).
 */
export function setArgs(iface: string, ops: PeerOps): string[] {
  const args = ['set', iface];
  for (const k of ops.remove) args.push('peer', k, 'remove');
  for (const p of ops.set) {
    args.push('peer', p.publicKey);
    if (p.endpoint) args.push('endpoint', p.endpoint);
    args.push('persistent-keepalive', p.keepalive ? String(p.keepalive) : 'off');
    args.push('allowed-ips', p.allowedIPs.join(','));
  }
  return args;
}
