// Reading and changing WireGuard peers: the UAPI socket for wireguard-go (no process per
// call), `wg` for a kernel device (netlink, which Node cannot speak by itself).
import { run } from '../../src/sys/exec.ts';
import { socketPath } from './device.ts';
import { uapiGet, uapiSet, setBody } from './uapi.ts';
import { type DeviceState, type PeerOps, parseDump, setArgs } from './wg.ts';

export interface Identity {
  privateKey: string;
  keyPath: string;
  listenPort: number;
}

export interface WgControl {
  read(): Promise<DeviceState>;
  /** Identity first (when given), then removals, then additions and changes. */
  apply(ops: PeerOps, identity?: Identity): Promise<void>;
}

export function wgControl(iface: string, userspace: boolean): WgControl {
  if (userspace) {
    const sock = socketPath(iface);
    return {
      read: () => uapiGet(sock),
      apply: (ops, id) => uapiSet(sock, setBody(ops, id ? { privateKey: id.privateKey, listenPort: id.listenPort } : undefined)),
    };
  }
  return {
    read: async () => parseDump(await run('wg', ['show', iface, 'dump'])),
    apply: async (ops, id) => {
      if (id) await run('wg', ['set', iface, 'listen-port', String(id.listenPort), 'private-key', id.keyPath]);
      if (ops.remove.length || ops.set.length) await run('wg', setArgs(iface, ops));
    },
  };
}

/** What the device holds after `ops` succeeded on `dev`, for the next sync to diff against. */
export function afterOps(dev: DeviceState, ops: PeerOps, privateKey: string, listenPort: number): DeviceState {
  const peers = new Map(dev.peers);
  for (const k of ops.remove) peers.delete(k);
  for (const p of ops.set) {
    const old = peers.get(p.publicKey);
    peers.set(p.publicKey, {
      publicKey: p.publicKey,
      endpoint: p.endpoint ?? old?.endpoint ?? null,
      allowedIPs: p.allowedIPs,
      keepalive: p.keepalive,
      latestHandshake: old?.latestHandshake ?? 0,
      rxBytes: old?.rxBytes ?? 0,
      txBytes: old?.txBytes ?? 0,
    });
  }
  return { ...dev, privateKey, listenPort, peers };
}
