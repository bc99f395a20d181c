import { describe, expect, it } from 'vitest';
import { parseCIDR } from '../../src/net/ip.ts';
import type { PeerView } from '../../src/view/types.ts';
import { ANN } from '../../modules/mesh/annotations.ts';
import { candidatesFor, plan, type PlanInput } from '../../modules/mesh/plan.ts';

const K = (c: string) => `${c.repeat(43)}=`.replace(/.=$/, 'A=');
const KEY_SELF = K('s');
const KEY_A = K('a');
const KEY_B = K('b');

function node(name: string, o: Partial<PeerView> = {}): PeerView {
  return { name, self: false, podCIDRs: [], internalIPs: [], externalIPs: [], annotations: {}, zone: '', deleting: false, ...o };
}

function input(nodes: PeerView[], o: Partial<PlanInput['config']> = {}): PlanInput {
  return { config: { iface: 'nodeway0', port: 51820, clusterCIDRs: [], ...o }, nodeName: 'n1', nodes, publicKey: KEY_SELF };
}

const n1 = node('n1', { self: true, podCIDRs: ['198.18.129.0/24'], internalIPs: ['198.18.0.1'] });
const n2 = node('n2', { podCIDRs: ['198.18.130.0/24'], internalIPs: ['198.18.0.2'], annotations: { [ANN.publicKey]: KEY_A, [ANN.port]: '51821' } });
const n3 = node('n3', { podCIDRs: ['198.18.131.0/24'], internalIPs: ['198.18.0.3'], annotations: { [ANN.publicKey]: KEY_B } });

describe('plan', () => {
  it('peers every other keyed node with its pod CIDRs, routes them with the gateway as source', () => {
    const p = plan(input([n3, n1, n2]));
    expect(p.gateways).toEqual([{ family: 4, ip: '198.18.129.1', cidr: '198.18.129.1/24' }]);
    expect(p.peers).toEqual([
      { node: 'n2', publicKey: KEY_A, candidates: [{ ip: '198.18.0.2', port: 51821 }], forced: false, allowedIPs: ['198.18.130.0/24'], keepalive: 25 },
      { node: 'n3', publicKey: KEY_B, candidates: [{ ip: '198.18.0.3', port: 51820 }], forced: false, allowedIPs: ['198.18.131.0/24'], keepalive: 25 },
    ]);
    expect(p.routes).toEqual([
      { dst: '198.18.130.0/24', family: 4, dev: 'nodeway0', src: '198.18.129.1' },
      { dst: '198.18.131.0/24', family: 4, dev: 'nodeway0', src: '198.18.129.1' },
    ]);
    expect(p.publish).toEqual({ [ANN.publicKey]: KEY_SELF, [ANN.port]: '51820', [ANN.endpoints]: '198.18.0.1:51820' });
    expect(p.clusterNets.map((c) => c.text)).toEqual(['198.18.129.0/24', '198.18.130.0/24', '198.18.131.0/24']);
  });

  it('is independent of input order', () => {
    expect(plan(input([n1, n2, n3]))).toEqual(plan(input([n3, n2, n1])));
  });

  it('nodes without a key are pending; a bad key, our key or a shared key are rejected', () => {
    const nokey = node('n4', { podCIDRs: ['198.18.132.0/24'] });
    const bad = node('n5', { annotations: { [ANN.publicKey]: 'not-a-key' } });
    const ours = node('n6', { annotations: { [ANN.publicKey]: KEY_SELF } });
    const dupe = node('n7', { annotations: { [ANN.publicKey]: KEY_A } });
    const p = plan(input([n1, n2, nokey, bad, ours, dupe]));
    expect(p.peers.map((x) => x.node)).toEqual([]);
    expect(p.pending).toEqual(['n4']);
    expect(p.rejected.map((r) => r.node)).toEqual(['n2', 'n5', 'n6', 'n7']);
    expect(p.rejected.find((r) => r.node === 'n2')!.reason).toMatch(/also published by n7/);
  });

  it('dual-stack: one gateway, one tunnel address and one route per family', () => {
    const s = node('n1', { podCIDRs: ['198.18.129.0/24', 'fd00:198:19:1::/64'], internalIPs: ['198.18.0.1', 'fd00::1'] });
    const o = node('n2', { podCIDRs: ['198.18.130.0/24', 'fd00:198:19:2::/64'], internalIPs: ['198.18.0.2'], annotations: { [ANN.publicKey]: KEY_A } });
    const p = plan(input([s, o]));
    expect(p.gateways.map((g) => g.cidr)).toEqual(['198.18.129.1/24', 'fd00:198:19:1::1/64']);
    expect(p.peers[0]!.allowedIPs).toEqual(['198.18.130.0/24', 'fd00:198:19:2::/64']);
    expect(p.routes.map((r) => `${r.dst} ${r.src}`)).toEqual(['198.18.130.0/24 198.18.129.1', 'fd00:198:19:2::/64 fd00:198:19:1::1']);
    // Masquerade into the tunnel takes its source from the tunnel: the gateway, inside our allowed IPs on every peer.
    expect(p.tunnelAddrs).toEqual(['198.18.129.1/32', 'fd00:198:19:1::1/128']);
  });

  it('a pod CIDR overlapping ours or an earlier peer\'s is not routed to that peer', () => {
    const thief = node('n0', { podCIDRs: ['198.18.129.128/25'], annotations: { [ANN.publicKey]: KEY_B } });
    const clash = node('n9', { podCIDRs: ['198.18.130.0/23'], annotations: { [ANN.publicKey]: K('c') } });
    const p = plan(input([n1, n2, thief, clash]));
    expect(p.peers.find((x) => x.node === 'n0')!.allowedIPs).toEqual([]);
    expect(p.peers.find((x) => x.node === 'n9')!.allowedIPs).toEqual([]);
    expect(p.warnings.map((w) => w.node)).toEqual(['n0', 'n9']);
  });

  it('no pod CIDR: peers still planned (our key is published) but no routes', () => {
    const p = plan(input([node('n1', { internalIPs: ['198.18.0.1'] }), n2]));
    expect(p.podCIDRs).toEqual([]);
    expect(p.peers).toHaveLength(1);
    expect(p.routes).toEqual([]);
    expect(p.tunnelAddrs).toEqual([]);
  });

  it('the cluster CIDR goes into the tunnel unless it holds this node\'s address', () => {
    const p = plan(input([n1, n2], { clusterCIDRs: [parseCIDR('198.18.128.0/17')!] }));
    expect(p.routes.map((r) => r.dst)).toEqual(['198.18.128.0/17', '198.18.130.0/24']);
    expect(p.clusterNets.map((c) => c.text)).toEqual(['198.18.128.0/17']);
    const q = plan(input([n1, n2], { clusterCIDRs: [parseCIDR('198.18.0.0/15')!] }));
    expect(q.routes.map((r) => r.dst)).toEqual(['198.18.130.0/24']);
    expect(q.warnings[0]!.reason).toMatch(/contains this node's address/);
  });

  it('forced endpoint and keepalive annotations', () => {
    const forced = node('n2', { ...n2, annotations: { [ANN.publicKey]: KEY_A, [ANN.endpoint]: '203.0.113.7:4000', [ANN.keepalive]: '10' } });
    const p = plan(input([n1, forced]));
    expect(p.peers[0]).toMatchObject({ candidates: [{ ip: '203.0.113.7', port: 4000 }], forced: true, keepalive: 10 });
    const self = node('n1', { ...n1, annotations: { [ANN.keepalive]: '0' } });
    expect(plan(input([self, forced])).peers[0]!.keepalive).toBe(0);
  });

  it('a peer annotated wg-keepalive "0" gets 0, not the NAT default: both sides of the pair agree', () => {
    // n1 has only a private address, so its default toward n2 would be 25 s.
    const off = node('n2', { ...n2, annotations: { [ANN.publicKey]: KEY_A, [ANN.keepalive]: '0' } });
    expect(plan(input([n1, off])).peers[0]!.keepalive).toBe(0);
    const unset = node('n2', { ...n2, annotations: { [ANN.publicKey]: KEY_A } });
    expect(plan(input([n1, unset])).peers[0]!.keepalive).toBe(25);
  });

  it('public addresses on both ends: no keepalive by default', () => {
    const s = node('n1', { podCIDRs: ['198.18.129.0/24'], externalIPs: ['203.0.113.1'] });
    const o = node('n2', { podCIDRs: ['198.18.130.0/24'], externalIPs: ['203.0.113.2'], annotations: { [ANN.publicKey]: KEY_A } });
    expect(plan(input([s, o])).peers[0]!.keepalive).toBe(0);
  });

  it('bad annotation values are warnings, never throws', () => {
    const weird = node('n2', { ...n2, annotations: { [ANN.publicKey]: KEY_A, [ANN.port]: 'x', [ANN.endpoints]: 'a,b:c,[::1]:99999', [ANN.keepalive]: '-1', [ANN.endpoint]: 'nope' } });
    const p = plan(input([n1, weird]));
    expect(p.peers).toHaveLength(1);
    expect(p.warnings.length).toBeGreaterThanOrEqual(5);
  });

  it('an endpoint inside a pod network is dropped (it would loop through the tunnel)', () => {
    const o = node('n2', { ...n2, annotations: { [ANN.publicKey]: KEY_A, [ANN.endpoints]: '198.18.131.9:51820' } });
    const p = plan(input([n1, o, n3]));
    expect(p.peers[0]!.candidates.map((c) => c.ip)).toEqual(['198.18.0.2']);
  });
});

describe('plan at scale', () => {
  it('stays linear: 5000 nodes plan in well under a second', () => {
    const nodes = [n1];
    for (let i = 0; i < 5000; i++) {
      const cidr = `198.18.${128 + (i >> 6)}.${(i & 63) * 4}/30`;
      nodes.push(node(`x${i}`, { podCIDRs: [cidr], internalIPs: [`198.18.${i >> 8}.${i & 255}`], annotations: { [ANN.publicKey]: Buffer.alloc(32, i % 251).toString('base64').replace(/.=$/, 'A=').slice(0, 42) + `${'AEIMQUYcgkosw048'[i % 16]}=` } }));
    }
    const t0 = performance.now();
    const p = plan(input(nodes));
    const ms = performance.now() - t0;
    expect(p.peers.length + p.rejected.length).toBe(5000);
    expect(ms).toBeLessThan(1000);
  });
});

describe('candidatesFor', () => {
  const self = node('a', { internalIPs: ['10.0.0.1'], zone: 'z1' });
  const peer = node('b', { internalIPs: ['10.0.0.2', 'fd00::2'], externalIPs: ['203.0.113.2'], zone: 'z1' });
  it('same zone: internal first; other zone: external first; missing family last', () => {
    expect(candidatesFor(self, peer, 1, [], null).map((e) => e.ip)).toEqual(['10.0.0.2', '203.0.113.2', 'fd00::2']);
    expect(candidatesFor(self, { ...peer, zone: 'z2' }, 1, [], null).map((e) => e.ip)).toEqual(['203.0.113.2', '10.0.0.2', 'fd00::2']);
  });
});

describe('the mesh module’s desired state', () => {
  it('prints the plan for a view without touching the host: peers with candidates, routes, the nft table', async () => {
    const { MeshModule } = await import('../../modules/mesh/module.ts');
    const { pino } = await import('pino');
    const { Registry } = await import('../../src/runtime/metrics.ts');
    const m = new MeshModule({ config: { stateDir: '/nonexistent-shp2' }, nodeName: 'n1', log: pino({ level: 'silent' }), registry: new Registry() });
    const d = m.desired({ peers: new Map([n1, n2, n3].map((n) => [n.name, n])) } as never) as Record<string, unknown>;
    expect(d.podCIDRs).toEqual(['198.18.129.0/24']);
    expect(d.tunnelAddrs).toEqual(['198.18.129.1/32']);
    expect(d.peers).toEqual([
      { node: 'n2', publicKey: KEY_A, candidates: ['198.18.0.2:51821'], forced: false, allowedIPs: ['198.18.130.0/24'], keepalive: 25 },
      { node: 'n3', publicKey: KEY_B, candidates: ['198.18.0.3:51820'], forced: false, allowedIPs: ['198.18.131.0/24'], keepalive: 25 },
    ]);
    expect((d.routes as { dst: string }[]).map((r) => r.dst)).toEqual(['198.18.130.0/24', '198.18.131.0/24']);
    expect((d.nft as string[]).join('\n')).toContain('198.18.129.0/24');
  });
});
