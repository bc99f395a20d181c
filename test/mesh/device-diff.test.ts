import { describe, expect, it } from 'vitest';
import { chooseEndpoint, TRY_MS } from '../../modules/mesh/endpoint-choice.ts';
import type { PlannedPeer } from '../../modules/mesh/plan.ts';
import { PeersApplier } from '../../modules/mesh/apply/peers.ts';
import { RoutesApplier } from '../../modules/mesh/apply/routes.ts';
import { parseRoutes, type RouteSpec } from '../../modules/mesh/routes.ts';
import { type DesiredPeer, type DeviceState, parseDump, setArgs, type DevicePeer } from '../../modules/mesh/wg.ts';

/** The peers applier's changes against a device it read. */
function diffPeers(desired: DesiredPeer[], dev: DeviceState) {
  const a = new PeersApplier();
  a.observe(dev);
  return a.changes(desired).ops;
}

const DUMP = [
  'cPRIV=\tcPUB=\t51820\toff',
  'kA=\t(none)\t198.18.0.2:51820\t198.18.130.0/24\t1700000000\t100\t200\t25',
  'kOLD=\t(none)\t(none)\t(none)\t0\t0\t0\toff',
  'kB=\t(none)\t[fd00::3]:51820\tfd00:198:19:3::/64,198.18.131.0/24\t0\t0\t0\toff',
].join('\n');

describe('wg dump and peer diff', () => {
  it('parses the dump', () => {
    const d = parseDump(DUMP);
    expect(d).toMatchObject({ privateKey: 'cPRIV=', publicKey: 'cPUB=', listenPort: 51820 });
    expect(d.peers.get('kA=')).toEqual({ publicKey: 'kA=', endpoint: '198.18.0.2:51820', allowedIPs: ['198.18.130.0/24'], latestHandshake: 1700000000, rxBytes: 100, txBytes: 200, keepalive: 25 });
    expect(d.peers.get('kOLD=')).toMatchObject({ endpoint: null, allowedIPs: [], keepalive: 0 });
    expect(d.peers.get('kB=')!.allowedIPs).toEqual(['198.18.131.0/24', 'fd00:198:19:3::/64']);
    expect(parseDump('').peers.size).toBe(0);
  });

  it('removes unknown peers first, touches only what differs', () => {
    const d = parseDump(DUMP);
    const ops = diffPeers([
      { publicKey: 'kA=', endpoint: null, allowedIPs: ['198.18.130.0/24'], keepalive: 25 },
      { publicKey: 'kB=', endpoint: '[fd00::3]:51820', allowedIPs: ['fd00:198:19:3::/64', '198.18.131.0/24'], keepalive: 25 },
      { publicKey: 'kNEW=', endpoint: '198.18.0.9:51820', allowedIPs: ['198.18.132.0/24'], keepalive: 0 },
    ], d);
    expect(ops.remove).toEqual(['kOLD=']);
    expect(ops.set.map((p) => p.publicKey)).toEqual(['kB=', 'kNEW=']);
    expect(setArgs('nw0', ops)).toEqual([
      'set', 'nw0', 'peer', 'kOLD=', 'remove',
      'peer', 'kB=', 'endpoint', '[fd00::3]:51820', 'persistent-keepalive', '25', 'allowed-ips', '198.18.131.0/24,fd00:198:19:3::/64',
      'peer', 'kNEW=', 'endpoint', '198.18.0.9:51820', 'persistent-keepalive', 'off', 'allowed-ips', '198.18.132.0/24',
    ]);
  });

  it('a device that matches needs nothing', () => {
    const d = parseDump(DUMP);
    const desired = [...d.peers.values()].map((p) => ({ publicKey: p.publicKey, endpoint: p.endpoint, allowedIPs: p.allowedIPs, keepalive: p.keepalive }));
    expect(diffPeers(desired, d)).toEqual({ remove: [], set: [] });
  });
});

describe('peers applier', () => {
  it('remembers what it applied: the same desired peers again need no device call; a null endpoint never undoes a roamed one', async () => {
    const calls: unknown[] = [];
    const ctl = { read: async () => parseDump(DUMP), apply: async (ops: unknown) => void calls.push(ops) };
    const a = new PeersApplier();
    a.observe(parseDump(DUMP));
    const desired = [
      { publicKey: 'kA=', endpoint: null, allowedIPs: ['198.18.130.0/24', '198.18.140.0/24'], keepalive: 25 },
      { publicKey: 'kNEW=', endpoint: '198.18.0.9:51820', allowedIPs: ['198.18.132.0/24'], keepalive: 0 },
    ];
    const ops = await a.apply(ctl, desired, 'cPUB=', 0);
    expect(ops).toEqual({
      remove: ['kB=', 'kOLD='],
      // kA='s roamed endpoint is left alone: the set carries none.
      set: [{ publicKey: 'kA=', endpoint: null, allowedIPs: ['198.18.130.0/24', '198.18.140.0/24'], keepalive: 25 }, desired[1]],
    });
    expect(a.device!.peers.get('kA=')!.endpoint).toBe('198.18.0.2:51820');
    expect(await a.apply(ctl, desired, 'cPUB=', 0)).toEqual({ remove: [], set: [] });
    expect(calls).toHaveLength(1);
  });
});

describe('routes', () => {
  it('parses ip -j output and diffs by destination', () => {
    const dev = parseRoutes('[{"dst":"198.18.130.0/24","dev":"nw0","scope":"link","prefsrc":"198.18.129.1","flags":[]},{"dst":"198.18.140.0/24","dev":"nw0","prefsrc":"198.18.129.1"},{"dst":"198.18.131.0/24","dev":"nw0","prefsrc":"198.18.129.9"}]');
    const a = new RoutesApplier();
    a.observe(dev);
    const { lines } = a.changes([
      { dst: '198.18.130.0/24', family: 4, dev: 'nw0', src: '198.18.129.1' },
      { dst: '198.18.131.0/24', family: 4, dev: 'nw0', src: '198.18.129.1' },
      { dst: 'fd00:1::/64', family: 6, dev: 'nw0', src: 'fd00::1' },
    ]);
    expect(lines).toEqual([
      'route del 198.18.140.0/24 table main proto 112',
      'route replace 198.18.131.0/24 dev nw0 table main proto 112 scope link src 198.18.129.1',
      'route replace fd00:1::/64 dev nw0 table main proto 112 scope link src fd00::1',
    ]);
    expect(parseRoutes('garbage')).toEqual([]);
  });
});

describe('endpoint choice', () => {
  const peer: PlannedPeer = {
    node: 'b', publicKey: 'k=', forced: false, allowedIPs: [], keepalive: 25,
    candidates: [{ ip: '198.18.0.2', port: 51820 }, { ip: '203.0.113.2', port: 51820 }],
  };
  const dev = (endpoint: string | null, hsAgoS: number | null, now: number, txBytes = 0, keepalive = 25): DevicePeer => ({
    publicKey: 'k=', endpoint, allowedIPs: [], latestHandshake: hsAgoS === null ? 0 : Math.floor(now / 1000 - hsAgoS), rxBytes: 0, txBytes, keepalive,
  });
  const now = 1_700_000_000_000;

  it('new peer: first candidate', () => {
    expect(chooseEndpoint(peer, undefined, undefined, now).endpoint).toBe('198.18.0.2:51820');
  });
  it('a fresh handshake keeps the device endpoint, even a roamed one', () => {
    expect(chooseEndpoint(peer, dev('192.0.2.50:40000', 30, now), undefined, now).endpoint).toBeNull();
  });
  it('a stale roamed endpoint goes back to the candidates', () => {
    expect(chooseEndpoint(peer, dev('192.0.2.50:40000', 600, now), undefined, now).endpoint).toBe('198.18.0.2:51820');
  });
  it('no handshake within the trial while sending: next candidate, and around', () => {
    const first = chooseEndpoint(peer, dev('198.18.0.2:51820', null, now, 100), undefined, now);
    expect(first.endpoint).toBe('198.18.0.2:51820');
    // Keepalive initiations move the counter: the trial clock starts.
    const poll = chooseEndpoint(peer, dev('198.18.0.2:51820', null, now + 5000, 248), first.attempt, now + 5000);
    expect(poll.endpoint).toBe('198.18.0.2:51820');
    const later = now + 5000 + TRY_MS;
    const second = chooseEndpoint(peer, dev('198.18.0.2:51820', null, later, 396), poll.attempt, later);
    expect(second.endpoint).toBe('203.0.113.2:51820');
    const t3 = later + 5000;
    const moving = chooseEndpoint(peer, dev('203.0.113.2:51820', null, t3, 544), second.attempt, t3);
    const third = chooseEndpoint(peer, dev('203.0.113.2:51820', null, t3 + TRY_MS, 692), moving.attempt, t3 + TRY_MS);
    expect(third.endpoint).toBe('198.18.0.2:51820');
  });
  it('keepalive 0, idle after a handshake: stays on the endpoint that worked (no switch every 15 s)', () => {
    const idle = { ...peer, keepalive: 0 };
    let attempt = chooseEndpoint(idle, dev('203.0.113.2:51820', 200, now, 5000, 0), undefined, now).attempt;
    const seen = new Set<string | null>();
    for (let t = now + 5000; t < now + 600_000; t += 5000) {
      const c = chooseEndpoint(idle, dev('203.0.113.2:51820', 200 + (t - now) / 1000, t, 5000, 0), attempt, t);
      seen.add(c.endpoint);
      attempt = c.attempt;
    }
    expect([...seen]).toEqual(['203.0.113.2:51820']);
    // The first packet after the idle spell fails to handshake: then the next candidate.
    const t = now + 600_000;
    const sending = chooseEndpoint(idle, dev('203.0.113.2:51820', 800, t, 5148, 0), attempt, t);
    expect(sending.endpoint).toBe('203.0.113.2:51820');
    expect(chooseEndpoint(idle, dev('203.0.113.2:51820', 815, t + TRY_MS, 5296, 0), sending.attempt, t + TRY_MS).endpoint).toBe('198.18.0.2:51820');
  });
  it('forced endpoints are always set; no candidates leaves the device alone', () => {
    expect(chooseEndpoint({ ...peer, forced: true }, dev('192.0.2.50:1', 5, now), undefined, now).endpoint).toBe('198.18.0.2:51820');
    expect(chooseEndpoint({ ...peer, candidates: [] }, dev('192.0.2.50:1', 5, now), undefined, now).endpoint).toBeNull();
  });
});
