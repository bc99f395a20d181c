import { describe, expect, it } from 'vitest';
import { dueRetries, nextRetry, type Pending, RETRY_AFTER_MS, retriesFirst, trackPending } from '../../modules/mesh/first-handshake.ts';
import type { DesiredPeer, DevicePeer, DeviceState } from '../../modules/mesh/wg.ts';

const SELF = 'M'.repeat(43) + '=';
const LOW = 'A'.repeat(43) + '='; // smaller than SELF: SELF retries
const HIGH = 'Z'.repeat(43) + '='; // larger: HIGH retries, not SELF

const peer = (k: string, o: Partial<DevicePeer> = {}): DevicePeer => ({ publicKey: k, endpoint: '198.18.0.2:51820', allowedIPs: ['198.18.130.0/24'], latestHandshake: 0, rxBytes: 0, txBytes: 148, keepalive: 25, ...o });
const dev = (...ps: DevicePeer[]): DeviceState => ({ privateKey: 'x', publicKey: SELF, listenPort: 51820, peers: new Map(ps.map((p) => [p.publicKey, p])) });
const want = (p: DevicePeer): DesiredPeer => ({ publicKey: p.publicKey, endpoint: p.endpoint, allowedIPs: p.allowedIPs, keepalive: p.keepalive });

describe('first handshake retries', () => {
  it('exactly one side of each pair retries', () => {
    expect(retriesFirst(SELF, LOW)).toBe(true);
    expect(retriesFirst(LOW, SELF)).toBe(false);
    expect(retriesFirst(SELF, HIGH)).toBe(false);
  });

  it('watches new keepalive peers with an endpoint and no handshake, on the retrying side only', () => {
    const pending = new Map<string, Pending>();
    const d = dev(peer(LOW), peer(HIGH));
    trackPending(pending, SELF, [...d.peers.values()].map(want), d, new Set([LOW, HIGH]), 1000);
    expect([...pending]).toEqual([[LOW, { since: 1000, done: 0 }]]);
    for (const o of [{ latestHandshake: 1_700_000_000 }, { keepalive: 0 }, { endpoint: null }]) {
      const q = new Map<string, Pending>();
      const e = dev(peer(LOW, o));
      trackPending(q, SELF, [want(peer(LOW))], e, new Set([LOW]), 1000);
      expect(q.size).toBe(0);
    }
  });

  it('keeps its schedule across syncs that leave the peer alone, restarts it when the peer is set again, forgets removed peers', () => {
    const pending = new Map<string, Pending>([[LOW, { since: 1000, done: 2 }]]);
    const d = dev(peer(LOW));
    trackPending(pending, SELF, [want(peer(LOW))], d, new Set(), 5000);
    expect(pending.get(LOW)).toEqual({ since: 1000, done: 2 });
    trackPending(pending, SELF, [want(peer(LOW))], d, new Set([LOW]), 5000);
    expect(pending.get(LOW)).toEqual({ since: 5000, done: 0 });
    trackPending(pending, SELF, [], dev(), new Set(), 6000);
    expect(pending.size).toBe(0);
  });

  it('retries at 250 ms, 0.5, 1, 2 and 4 s, then leaves it to WireGuard; a handshake ends it', () => {
    const pending = new Map<string, Pending>([[LOW, { since: 0, done: 0 }]]);
    const d = dev(peer(LOW));
    const at: number[] = [];
    for (let t = nextRetry(pending); t !== undefined; t = nextRetry(pending)) {
      const due = dueRetries(pending, d, t);
      expect(due).toEqual([want(peer(LOW))]);
      at.push(t);
    }
    expect(at).toEqual(RETRY_AFTER_MS);
    expect(at).toEqual([250, 500, 1000, 2000, 4000]);
    expect(dueRetries(pending, d, 60_000)).toEqual([]);
    expect(pending.has(LOW)).toBe(true); // not watched again until the peer is set again

    const q = new Map<string, Pending>([[LOW, { since: 0, done: 0 }]]);
    expect(dueRetries(q, d, 100)).toEqual([]);
    expect(dueRetries(q, dev(peer(LOW, { latestHandshake: 1_700_000_000 })), 300)).toEqual([]);
    expect(q.size).toBe(0);
  });

  it('a late timer makes one retry, not the missed ones', () => {
    const pending = new Map<string, Pending>([[LOW, { since: 0, done: 0 }]]);
    expect(dueRetries(pending, dev(peer(LOW)), 1_200)).toHaveLength(1);
    expect(pending.get(LOW)!.done).toBe(3);
    expect(nextRetry(pending)).toBe(2_000);
  });
});
