// The WireGuard device as `wg show <if> dump` reports it, and the smallest `wg set` that turns
// it into the desired peers. Pure: the executor runs the commands.
import { parseCIDR } from '../../src/net/ip.ts';

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

export function diffPeers(desired: DesiredPeer[], device: DeviceState): PeerOps {
  const want = new Map(desired.map((p) => [p.publicKey, p]));
  const remove = [...device.peers.keys()].filter((k) => !want.has(k)).sort();
  const set: DesiredPeer[] = [];
  for (const p of desired) {
    const d = device.peers.get(p.publicKey);
    const allowed = canonicalAllowed(p.allowedIPs);
    if (
      d &&
      (p.endpoint === null || p.endpoint === d.endpoint) &&
      d.keepalive === p.keepalive &&
      d.allowedIPs.join(',') === allowed.join(',')
    ) continue;
    set.push({ ...p, allowedIPs: allowed });
  }
  return { remove, set };
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
