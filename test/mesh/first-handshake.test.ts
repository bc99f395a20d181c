import { describe, expect, it } from 'vitest';
import { dueRetries, nextRetry, type Pending, RETRY_AFTER_MS, retrySchedule, trackPending } from '../../modules/mesh/first-handshake.ts';
import type { DesiredPeer, DevicePeer, DeviceState } from '../../modules/mesh/wg.ts';

const SELF = 'M'.repeat(43) + '=';
const LOW = 'A'.repeat(43) + '='; // smaller than SELF
const HIGH = 'Z'.repeat(43) + '='; // larger than SELF
const { larger, smaller } = RETRY_AFTER_MS;

const peer = (k: string, o: Partial<DevicePeer> = {}): DevicePeer => ({ publicKey: k, endpoint: '198.18.0.2:51820', allowedIPs: ['198.18.130.0/24'], latestHandshake: 0, rxBytes: 0, txBytes: 148, keepalive: 25, ...o });
const dev = (...ps: DevicePeer[]): DeviceState => ({ privateKey: 'x', publicKey: SELF, listenPort: 51820, peers: new Map(ps.map((p) => [p.publicKey, p])) });
const want = (p: DevicePeer): DesiredPeer => ({ publicKey: p.publicKey, endpoint: p.endpoint, allowedIPs: p.allowedIPs, keepalive: p.keepalive });

/** Every retry time of one pending peer, the device never handshaking. */
function retryTimes(p: Pending, k: string): number[] {
  const pending = new Map([[k, p]]);
  const at: number[] = [];
  for (let t = nextRetry(pending); t !== undefined; t = nextRetry(pending)) {
    expect(dueRetries(pending, dev(peer(k)), t)).toEqual([want(peer(k))]);
    at.push(t);
  }
  return at;
}

describe('first handshake retries', () => {
  it('the two sides of a pair retry on disjoint schedules, at least 250 ms apart when they added each other at once', () => {
    expect(retrySchedule(SELF, LOW)).toBe(larger);
    expect(retrySchedule(LOW, SELF)).toBe(smaller);
    expect(retrySchedule(SELF, HIGH)).toBe(smaller);
    for (const a of larger) for (const b of smaller) expect(Math.abs(a - b)).toBeGreaterThanOrEqual(250);
    // Every retry before WireGuard's own 5 s retransmit, and the first well within a second.
    expect(Math.max(...larger, ...smaller)).toBeLessThan(5_000);
    expect(Math.min(...larger, ...smaller)).toBeLessThanOrEqual(250);
  });

  it('watches new keepalive peers with an endpoint and no handshake', () => {
    const pending = new Map<string, Pending>();
    const d = dev(peer(LOW), peer(HIGH));
    trackPending(pending, SELF, [...d.peers.values()].map(want), d, new Set([LOW, HIGH]), 1000);
    expect(Object.fromEntries(pending)).toEqual({ [LOW]: { since: 1000, after: larger, done: 0 }, [HIGH]: { since: 1000, after: smaller, done: 0 } });
    // A session already, no keepalive (nothing initiates on its own), no endpoint (cannot initiate).
    for (const o of [{ latestHandshake: 1_700_000_000 }, { keepalive: 0 }, { endpoint: null }]) {
      const q = new Map<string, Pending>();
      trackPending(q, SELF, [want(peer(LOW))], dev(peer(LOW, o)), new Set([LOW]), 1000);
      expect(q.size).toBe(0);
    }
  });

  it('keeps its schedule across syncs that leave the peer alone, restarts it when the peer is set again, forgets removed peers', () => {
    const pending = new Map<string, Pending>([[LOW, { since: 1000, after: larger, done: 2 }]]);
    const d = dev(peer(LOW));
    trackPending(pending, SELF, [want(peer(LOW))], d, new Set(), 5000);
    expect(pending.get(LOW)).toEqual({ since: 1000, after: larger, done: 2 });
    trackPending(pending, SELF, [want(peer(LOW))], d, new Set([LOW]), 5000);
    expect(pending.get(LOW)).toEqual({ since: 5000, after: larger, done: 0 });
    trackPending(pending, SELF, [], dev(), new Set(), 6000);
    expect(pending.size).toBe(0);
  });

  it('retries on its schedule, then leaves it to WireGuard until the peer is set again; a handshake ends it', () => {
    expect(retryTimes({ since: 0, after: larger, done: 0 }, LOW)).toEqual([250, 500, 1000, 2000, 4000]);
    expect(retryTimes({ since: 100, after: smaller, done: 0 }, HIGH)).toEqual([850, 1600, 3100]);
    const exhausted = new Map<string, Pending>([[LOW, { since: 0, after: larger, done: larger.length }]]);
    expect(dueRetries(exhausted, dev(peer(LOW)), 60_000)).toEqual([]);
    expect(exhausted.has(LOW)).toBe(true); // so the next sync does not start it again

    const q = new Map<string, Pending>([[LOW, { since: 0, after: larger, done: 0 }]]);
    expect(dueRetries(q, dev(peer(LOW)), 100)).toEqual([]);
    expect(dueRetries(q, dev(peer(LOW, { latestHandshake: 1_700_000_000 })), 300)).toEqual([]);
    expect(q.size).toBe(0);
  });

  it('a late timer makes one retry, not the missed ones', () => {
    const pending = new Map<string, Pending>([[LOW, { since: 0, after: larger, done: 0 }]]);
    expect(dueRetries(pending, dev(peer(LOW)), 1_200)).toHaveLength(1);
    expect(pending.get(LOW)!.done).toBe(3);
    expect(nextRetry(pending)).toBe(2_000);
  });
});
