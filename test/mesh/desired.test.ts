// The mesh's desired value (plan + decisions + CNI facts → what each applier takes) and the
// annotations applier's tracker diff against what the view shows.
import { describe, expect, it } from 'vitest';
import { ANN } from '../../modules/mesh/annotations.ts';
import { AnnotationsApplier } from '../../modules/mesh/apply/node.ts';
import { decidePeers } from '../../modules/mesh/decide.ts';
import { meshDesired } from '../../modules/mesh/desired.ts';
import { meshConfig } from '../../modules/mesh/options.ts';
import { plan } from '../../modules/mesh/plan.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { PeerView } from '../../src/view/types.ts';

const node = (name: string, o: Partial<PeerView> = {}): PeerView => ({ name, self: false, podCIDRs: [], internalIPs: [], externalIPs: [], annotations: {}, zone: '', deleting: false, ...o });
const KEY = `${'a'.repeat(42)}A=`;

describe('meshDesired', () => {
  const cfg = meshConfig({ wgInterface: 'shp0', clusterCIDR: ['198.18.128.0/17'], stateDir: '/x' });
  const self = node('n1', { self: true, podCIDRs: ['198.18.129.0/24'], internalIPs: ['198.18.0.1'] });
  const peer = node('n2', { podCIDRs: ['198.18.130.0/24'], internalIPs: ['198.18.0.2'], annotations: { [ANN.publicKey]: KEY } });

  it('gives each applier its part: link, addresses, peers as decided, routes, nft, forward, conflist', () => {
    const p = plan({ config: cfg, nodeName: 'n1', nodes: [self, peer], publicKey: `${'s'.repeat(42)}A=` });
    const d = decidePeers(p.peers, { privateKey: '', publicKey: '', listenPort: 0, peers: new Map() }, new Map(), 0);
    const want = meshDesired(cfg, p, d.desired, 1440, { version: '1.0.0', portmap: true });
    expect(want.link).toEqual({ iface: 'shp0', mtu: 1440, families: [4], bridge: 'nodeway-br0', gateways: ['198.18.129.1/24'] });
    expect(want.addresses).toEqual(['198.18.129.1/32']);
    expect(want.peers).toEqual([{ publicKey: KEY, endpoint: '198.18.0.2:51820', allowedIPs: ['198.18.130.0/24'], keepalive: 25 }]);
    expect(want.routes.map((r) => r.dst)).toEqual(['198.18.128.0/17', '198.18.130.0/24']);
    expect(want.nft).toContain('oifname "shp0" ip saddr != @cluster4 counter masquerade fully-random');
    expect(want.forward.map((c) => c.text)).toEqual(['198.18.128.0/17']);
    expect(JSON.parse(want.conflist!).plugins[0]).toMatchObject({ type: 'bridge', mtu: 1440 });
    // No usable CNI plugins, or no pod CIDR: nothing to write (and the network is not up).
    expect(meshDesired(cfg, p, d.desired, 1440, undefined).conflist).toBeUndefined();
    const bare = plan({ config: cfg, nodeName: 'n1', nodes: [node('n1', { self: true })], publicKey: '' });
    expect(meshDesired(cfg, bare, [], 1420, { version: '1.0.0', portmap: true }).conflist).toBeUndefined();
  });
});

describe('AnnotationsApplier', () => {
  it('patches only keys whose value differs from what the view shows; an empty value removes the key', async () => {
    const patches: unknown[] = [];
    const client = { request: async (_m: string, _p: string, body: unknown) => void patches.push(body) } as unknown as KubeClient;
    const a = new AnnotationsApplier(client, 'n1');
    const want = { [ANN.publicKey]: 'k', [ANN.port]: '51820', [ANN.endpoints]: '' };
    expect(await a.apply(want, node('n1', { annotations: { [ANN.publicKey]: 'k', [ANN.endpoints]: '198.18.0.1:51820', other: 'x' } }))).toEqual([ANN.port, ANN.endpoints]);
    expect(patches).toEqual([{ metadata: { annotations: { [ANN.port]: '51820', [ANN.endpoints]: null } } }]);
    expect(await a.apply(want, node('n1', { annotations: { [ANN.publicKey]: 'k', [ANN.port]: '51820' } }))).toEqual([]);
    expect(patches).toHaveLength(1);
  });
});
