// The mesh's decisions between plan and device, as pure functions: endpoint trials across
// syncs and which paths a sync probes for the MTU.
import { describe, expect, it } from 'vitest';
import { decidePeers, knownPaths, mtuProbes } from '../../modules/mesh/decide.ts';
import { TRY_MS } from '../../modules/mesh/endpoint-choice.ts';
import type { PlannedPeer } from '../../modules/mesh/plan.ts';
import type { DevicePeer, DeviceState } from '../../modules/mesh/wg.ts';

const peer = (node: string, ...ips: string[]): PlannedPeer => ({
  node,
  publicKey: `key-${node}`,
  candidates: ips.map((ip) => ({ ip, port: 51820 })),
  forced: false,
  allowedIPs: ['10.244.1.0/24'],
  keepalive: 25,
});

function device(...peers: Partial<DevicePeer>[]): DeviceState {
  return {
    privateKey: 'p',
    publicKey: 'k',
    listenPort: 51820,
    peers: new Map(peers.map((p) => [p.publicKey!, { endpoint: null, allowedIPs: [], latestHandshake: 0, rxBytes: 0, txBytes: 0, keepalive: 25, ...p } as DevicePeer])),
  };
}

describe('decidePeers', () => {
  it('a new peer is dialled on its first candidate; one without a handshake moves to the next after TRY_MS of trying', () => {
    const peers = [peer('b', '198.18.0.3', '203.0.113.3')];
    const first = decidePeers(peers, device(), new Map(), 1_000);
    expect(first.desired).toEqual([{ publicKey: 'key-b', endpoint: '198.18.0.3:51820', allowedIPs: ['10.244.1.0/24'], keepalive: 25 }]);
    expect(first.endpoints).toEqual(['198.18.0.3:51820']);
    expect(first.switches).toEqual([]);
    // The device sends (tx moves) but never gets a handshake.
    const dev = (tx: number) => device({ publicKey: 'key-b', endpoint: '198.18.0.3:51820', txBytes: tx });
    const trying = decidePeers(peers, dev(148), first.attempts, 2_000);
    expect(trying.attempts.get('key-b')).toMatchObject({ endpoint: '198.18.0.3:51820', since: 2_000 });
    const moved = decidePeers(peers, dev(296), trying.attempts, 2_000 + TRY_MS);
    expect(moved.desired[0]!.endpoint).toBe('203.0.113.3:51820');
    expect(moved.switches).toEqual([{ node: 'b', from: '198.18.0.3:51820', to: '203.0.113.3:51820' }]);
  });

  it('a fresh handshake keeps the device endpoint (null: leave it) and ends the trial; a gone peer leaves no attempt', () => {
    const now = 1_000_000;
    const d = decidePeers([peer('b', '198.18.0.3')], device({ publicKey: 'key-b', endpoint: '192.0.2.9:4000', latestHandshake: now / 1000 - 5 }), new Map([['key-c', { endpoint: 'x', since: 0, tx: 0 }]]), now);
    expect(d.desired[0]!.endpoint).toBeNull();
    expect(d.endpoints).toEqual(['192.0.2.9:4000']);
    expect([...d.attempts.keys()]).toEqual([]);
  });
});

describe('mtuProbes', () => {
  it('probes unknown endpoint IPs once, none when a partial sync must not probe', () => {
    const known = new Map([['198.18.0.3', { family: 4 as const, mtu: 1500 }], ['198.18.0.4', null]]);
    const eps = ['198.18.0.3:51820', '198.18.0.3:51821', '198.18.0.4:51820', '[fd00::5]:51820'];
    expect(mtuProbes(eps, known, true)).toEqual({ ips: ['198.18.0.3', '198.18.0.4', 'fd00::5'], probe: ['fd00::5'] });
    expect(mtuProbes(eps, known, false).probe).toEqual([]);
    expect(knownPaths(['198.18.0.3', '198.18.0.4', 'fd00::5'], known)).toEqual([{ family: 4, mtu: 1500 }]);
  });
});
