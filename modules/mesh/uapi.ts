// wireguard-go's configuration protocol (the cross-platform UAPI: key=value lines over its
// Unix socket), spoken directly: reading and changing a userspace device costs no process,
// which is most of a sync's latency on a busy node. Kernel devices go through `wg`.
import { connect } from 'node:net';
import { canonicalAllowed, type DeviceState, type PeerOps } from './wg.ts';

const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
const b64 = (h: string) => Buffer.from(h, 'hex').toString('base64');

function exchange(socket: string, request: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`${socket}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      // Every answer ends with an empty line, after "errno=N".
      if (/(^|\n)errno=-?\d+\n\n$/.test(buf)) {
        clearTimeout(timer);
        s.end();
        resolve(buf);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${socket}: ${e.message}`));
    });
    s.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`${socket}: closed before answering`));
    });
    s.write(request);
  });
}

function errnoOf(answer: string): number {
  return Number(/(?:^|\n)errno=(-?\d+)\n/.exec(answer)?.[1] ?? -1);
}

export function parseGet(text: string): DeviceState {
  const state: DeviceState = { privateKey: '', publicKey: '', listenPort: 0, peers: new Map() };
  let peer: ReturnType<DeviceState['peers']['get']>;
  let allowed: string[] = [];
  let sec = 0;
  const flush = () => {
    if (peer) {
      peer.allowedIPs = canonicalAllowed(allowed);
      peer.latestHandshake = sec;
      state.peers.set(peer.publicKey, peer);
    }
  };
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    if (k === 'public_key') {
      flush();
      peer = { publicKey: b64(v), endpoint: null, allowedIPs: [], latestHandshake: 0, rxBytes: 0, txBytes: 0, keepalive: 0 };
      allowed = [];
      sec = 0;
    } else if (!peer) {
      if (k === 'private_key') state.privateKey = b64(v);
      else if (k === 'listen_port') state.listenPort = Number(v) || 0;
    } else if (k === 'endpoint') peer.endpoint = v;
    else if (k === 'allowed_ip') allowed.push(v);
    else if (k === 'last_handshake_time_sec') sec = Number(v) || 0;
    else if (k === 'rx_bytes') peer.rxBytes = Number(v) || 0;
    else if (k === 'tx_bytes') peer.txBytes = Number(v) || 0;
    else if (k === 'persistent_keepalive_interval') peer.keepalive = Number(v) || 0;
  }
  flush();
  return state;
}

export function setBody(ops: PeerOps, identity?: { privateKey: string; listenPort: number }): string {
  const lines = ['set=1'];
  if (identity) lines.push(`private_key=${hex(identity.privateKey)}`, `listen_port=${identity.listenPort}`);
  for (const k of ops.remove) lines.push(`public_key=${hex(k)}`, 'remove=true');
  for (const p of ops.set) {
    lines.push(`public_key=${hex(p.publicKey)}`);
    if (p.endpoint) lines.push(`endpoint=${p.endpoint}`);
    lines.push(`persistent_keepalive_interval=${p.keepalive}`, 'replace_allowed_ips=true');
    for (const a of p.allowedIPs) lines.push(`allowed_ip=${a}`);
  }
  return `${lines.join('\n')}\n\n`;
}

export async function uapiGet(socket: string): Promise<DeviceState> {
  const answer = await exchange(socket, 'get=1\n\n');
  const errno = errnoOf(answer);
  if (errno !== 0) throw new Error(`${socket}: get failed with errno ${errno}`);
  return parseGet(answer);
}

export async function uapiSet(socket: string, body: string): Promise<void> {
  const errno = errnoOf(await exchange(socket, body));
  if (errno !== 0) throw new Error(`${socket}: set failed with errno ${errno}`);
}
