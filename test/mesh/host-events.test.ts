// Which host events wake the mesh: those that contradict what it applied (its link deleted or
// downed, a tunnel address or a mesh route removed or replaced) or change what it depends on
// (the default route, this node's address); never its own changes, judged after the fact.
import { describe, expect, it } from 'vitest';
import type { IpEvent } from '../../src/sys/ip-monitor.ts';
import { eventKey, type HostHeld, hostWakes, routeDst } from '../../modules/mesh/host-events.ts';
import type { RouteSpec } from '../../modules/mesh/routes.ts';

const routes = new Map<string, RouteSpec>([['198.18.130.0/24', { dev: 'wg0', src: '198.18.129.1' }], ['fd00:2::/64', { dev: 'wg0', src: 'fd00:1::1' }]]);
const held: HostHeld = {
  iface: 'wg0', bridge: 'br0', device: true,
  link: { mtu: 1420, gateways: ['198.18.129.1/24'] },
  addresses: new Set(['198.18.129.1/32']),
  routeHeld: (dst, spec) => {
    const r = routes.get(dst);
    return spec ? r?.dev === spec.dev && r.src === spec.src : r === undefined;
  },
  nodeIPs: ['198.18.0.2'],
};

const link = (name: string, o: Partial<{ deleted: boolean; up: boolean; mtu: number }> = {}): IpEvent => ({ kind: 'link', deleted: false, name, up: true, mtu: 1420, ...o });
const addr = (name: string, cidr: string, deleted = false, scope = 'global'): IpEvent => ({ kind: 'addr', deleted, name, family: cidr.includes(':') ? 6 : 4, cidr, scope });
const route = (dst: string, o: Partial<Extract<IpEvent, { kind: 'route' }>> = {}): IpEvent => ({ kind: 'route', deleted: false, type: 'unicast', dst, table: 'main', dev: 'wg0', proto: '112', src: '198.18.129.1', via: '', ...o });

/** The wakes of one event alone. */
const one = (ev: IpEvent, h: HostHeld = held) => [...hostWakes([ev], h)];

describe('hostWakes', () => {
  it('the agent\'s own changes, as applied, wake nothing', () => {
    expect(one(link('wg0'))).toEqual([]);
    expect(one(link('br0', { mtu: 1500 }))).toEqual([]);
    expect(one(addr('wg0', '198.18.129.1/32'))).toEqual([]);
    expect(one(addr('br0', '198.18.129.1/24'))).toEqual([]);
    expect(one(route('198.18.130.0/24'))).toEqual([]);
    expect(one(route('fd00:2::/64', { src: 'fd00:1::1' }))).toEqual([]);
    // A route the mesh removed on purpose, heard after it forgot it.
    expect(one(route('198.18.131.0/24', { deleted: true }))).toEqual([]);
    expect(one(addr('wg0', '198.18.9.9/32', true))).toEqual([]);
  });

  it('what contradicts it wakes a repair', () => {
    expect(one(link('wg0', { deleted: true }))).toEqual(['device']);
    expect(one(link('wg0', { up: false }))).toEqual(['link']);
    expect(one(link('wg0', { mtu: 1500 }))).toEqual(['link']);
    expect(one(link('br0', { up: false }))).toEqual(['link']);
    expect(one(link('br0', { deleted: true }))).toEqual(['link']);
    expect(one(addr('br0', '198.18.129.1/24', true))).toEqual(['link']);
    expect(one(addr('wg0', '198.18.129.1/32', true))).toEqual(['addresses']);
    expect(one(addr('wg0', '198.18.9.9/32'))).toEqual(['addresses']);
    expect(one(route('198.18.130.0/24', { deleted: true }))).toEqual(['routes']);
    expect(one(route('198.18.130.0/24', { src: '198.18.0.2' }))).toEqual(['routes']);
    // Someone else's route to a pod CIDR the mesh routes, or a mesh-marked route it does not want.
    expect(one(route('198.18.130.0/24', { proto: 'boot', dev: 'eth0', src: '' }))).toEqual(['routes']);
    expect(one(route('198.18.140.0/24'))).toEqual(['routes']);
  });

  it('the default route and this node\'s address are what the path MTU hangs on', () => {
    expect(one(route('default', { proto: 'boot', dev: 'eth0', via: '198.18.0.1' }))).toEqual(['underlay']);
    expect(one(route('default', { deleted: true, proto: 'boot', dev: 'eth0' }))).toEqual(['underlay']);
    expect(one(addr('eth0', '198.18.0.2/24', true))).toEqual(['underlay']);
  });

  it('everything else is noise: pods\' veths, link-local addresses, local-table routes, others\' routes', () => {
    expect(one(link('veth1234', { mtu: 1500, up: false }))).toEqual([]);
    expect(one(link('veth1234', { deleted: true }))).toEqual([]);
    expect(one(addr('br0', 'fe80::1/64', true, 'link'))).toEqual([]);
    expect(one(addr('wg0', 'fe80::1/64', false, 'link'))).toEqual([]);
    expect(one(addr('lo', '10.96.0.10/32'))).toEqual([]);
    expect(one(route('198.18.129.1', { type: 'local', table: 'local', proto: 'kernel' }))).toEqual([]);
    expect(one(route('198.18.129.0/24', { dev: 'br0', proto: 'kernel' }))).toEqual([]);
    expect(one(route('10.1.0.0/16', { proto: 'boot', dev: 'eth0' }))).toEqual([]);
    expect(one(route('10.1.0.0/16', { proto: 'boot', dev: 'eth0', deleted: true }))).toEqual([]);
  });

  it('while a rebuild is owed, or nothing is known yet, its objects\' events wait for it', () => {
    const rebuilding = { ...held, device: false, link: undefined, addresses: undefined, routeHeld: undefined };
    expect(one(link('wg0', { deleted: true }), rebuilding)).toEqual([]);
    expect(one(addr('wg0', '198.18.129.1/32', true), rebuilding)).toEqual([]);
    expect(one(route('198.18.130.0/24', { deleted: true }), rebuilding)).toEqual([]);
    expect(one(link('br0', { up: false }), rebuilding)).toEqual([]);
  });

  it('the last event per object counts: a down then up again, a route deleted then re-added', () => {
    const last = new Map<string, IpEvent>();
    for (const ev of [link('wg0', { up: false, mtu: 1500 }), route('198.18.130.0/24', { deleted: true }), link('wg0'), route('198.18.130.0/24')]) last.set(eventKey(ev), ev);
    expect([...hostWakes(last.values(), held)]).toEqual([]);
    expect([...hostWakes([{ kind: 'lost' }], held)]).toEqual(['lost']);
    expect(routeDst('fd00::1')).toBe('fd00::1/128');
    expect(routeDst('198.18.129.1')).toBe('198.18.129.1/32');
  });
});
