import { describe, expect, it } from 'vitest';
import { afterOps } from '../../modules/mesh/control.ts';
import { parseGet, setBody } from '../../modules/mesh/uapi.ts';
import { parseDump } from '../../modules/mesh/wg.ts';

const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
const A = 'JA/tU4V1Cc6iy8mVGmT+uY7JRo1cfU6LMFGZkx0I/HA=';
const B = 'SPk9/sWJgt0LB6cQdDIUrg0GXIG/qLfyhx7NNKfmtko=';

describe('UAPI', () => {
  it('parses a get answer as wg show dump would', () => {
    const text = [
      `private_key=${hex(A)}`, 'listen_port=51820',
      `public_key=${hex(B)}`, 'endpoint=198.18.0.2:51820', 'last_handshake_time_sec=1700000000', 'last_handshake_time_nsec=5',
      'tx_bytes=10', 'rx_bytes=20', 'persistent_keepalive_interval=25', 'allowed_ip=198.18.130.0/24', 'allowed_ip=fd00:1::/64',
      'protocol_version=1', 'errno=0', '', '',
    ].join('\n');
    const d = parseGet(text);
    expect(d.privateKey).toBe(A);
    expect(d.listenPort).toBe(51820);
    expect(d.peers.get(B)).toEqual({ publicKey: B, endpoint: '198.18.0.2:51820', allowedIPs: ['198.18.130.0/24', 'fd00:1::/64'], latestHandshake: 1700000000, rxBytes: 20, txBytes: 10, keepalive: 25 });
  });

  it('renders removals before additions, with replace_allowed_ips', () => {
    expect(setBody({ remove: [A], set: [{ publicKey: B, endpoint: '[fd00::2]:51820', allowedIPs: ['198.18.130.0/24'], keepalive: 0 }] }, { privateKey: A, listenPort: 51820 })).toBe([
      'set=1', `private_key=${hex(A)}`, 'listen_port=51820',
      `public_key=${hex(A)}`, 'remove=true',
      `public_key=${hex(B)}`, 'endpoint=[fd00::2]:51820', 'persistent_keepalive_interval=0', 'replace_allowed_ips=true', 'allowed_ip=198.18.130.0/24',
      '', '',
    ].join('\n'));
  });

  it('afterOps: the state a partial sync diffs against next', () => {
    const dev = parseDump(`x\ty\t51820\toff\n${A}\t(none)\t198.18.0.9:1\t198.18.140.0/24\t1700000000\t1\t2\toff\n`);
    const next = afterOps(dev, { remove: [A], set: [{ publicKey: B, endpoint: null, allowedIPs: ['198.18.130.0/24'], keepalive: 25 }] }, 'k', 51820);
    expect([...next.peers.keys()]).toEqual([B]);
    expect(next.peers.get(B)).toMatchObject({ endpoint: null, keepalive: 25, latestHandshake: 0 });
    expect(next.privateKey).toBe('k');
  });
});
