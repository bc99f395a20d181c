import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCIDR } from '../../src/net/ip.ts';
import { parseEndpoint, readAnnotations, ANN } from '../../modules/mesh/annotations.ts';
import { CidrSet, collapse, gatewayOf, isPrivateIP, overlaps } from '../../modules/mesh/cidr.ts';
import { conflistMTU, renderConflist } from '../../modules/mesh/conflist.ts';
import { chooseCniVersion, pluginVersions } from '../../modules/mesh/cni.ts';
import { generatePrivateKey, keyPath, loadOrCreateKey, publicKeyOf } from '../../modules/mesh/key.ts';
import { tunnelMTU } from '../../modules/mesh/mtu.ts';
import { renderNft } from '../../modules/mesh/nft.ts';
import { ConditionApplier } from '../../modules/mesh/apply/node.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import type { PeerView } from '../../src/view/types.ts';
import { meshConfig } from '../../modules/mesh/options.ts';
import { parseArgs } from '../../src/runtime/config.ts';
import { MESH_OPTIONS } from '../../modules/mesh/options.ts';

const C = (s: string) => parseCIDR(s)!;
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-mesh-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('conflist', () => {
  it('dual-stack bridge + host-local with one range set per family + portmap', () => {
    const text = renderConflist({
      bridge: 'nodeway-br0', mtu: 1420, ipamDir: '/var/lib/nodeway/ipam', portmap: true,
      podCIDRs: [C('198.18.129.0/24'), C('fd00:198:19:1::/64')],
      gateways: [{ family: 4, ip: '198.18.129.1', cidr: '198.18.129.1/24' }, { family: 6, ip: 'fd00:198:19:1::1', cidr: 'fd00:198:19:1::1/64' }],
    });
    expect(JSON.parse(text)).toEqual({
      cniVersion: '1.0.0',
      name: 'nodeway',
      plugins: [
        {
          type: 'bridge', bridge: 'nodeway-br0', isGateway: true, ipMasq: false, hairpinMode: true, mtu: 1420,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '198.18.129.0/24', gateway: '198.18.129.1' }], [{ subnet: 'fd00:198:19:1::/64', gateway: 'fd00:198:19:1::1' }]],
            routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
            dataDir: '/var/lib/nodeway/ipam',
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    });
  });
});

describe('nft', () => {
  it('golden: masquerade pod egress outside the cluster networks, and anything entering the tunnel from outside them, per family', () => {
    expect(renderNft({ iface: 'nodeway0', podCIDRs: [C('198.18.129.0/24')], clusterNets: [C('198.18.128.0/17')] })).toBe(
      `table inet nodeway-mesh {
	set pods4 {
		type ipv4_addr
		flags interval
		elements = { 198.18.129.0/24 }
	}
	set cluster4 {
		type ipv4_addr
		flags interval
		elements = { 198.18.128.0/17 }
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "nodeway0" ip saddr != @cluster4 counter masquerade fully-random
		oifname "nodeway0" return
		ip saddr @pods4 ip daddr != @cluster4 ip daddr != 224.0.0.0/4 counter masquerade fully-random
	}
}
`);
  });
  it('parses with nft itself (check mode, in a private netns)', async () => {
    const text = renderNft({ iface: 'nw0', podCIDRs: [C('198.18.129.0/24'), C('fd00:1::/64')], clusterNets: [C('198.18.128.0/17'), C('fd00::/48')] });
    const r = await execa('unshare', ['--net', 'nft', '-c', '-f', '-'], { input: text, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});

describe('mtu', () => {
  it('60 bytes over IPv4, 80 over IPv6, smallest path wins, forced wins', () => {
    expect(tunnelMTU(0, [], { family: 4, mtu: 1500 })).toBe(1440);
    expect(tunnelMTU(0, [], { family: 6, mtu: 1500 })).toBe(1420);
    expect(tunnelMTU(0, [{ family: 4, mtu: 1500 }, { family: 4, mtu: 1400 }], { family: 4, mtu: 9000 })).toBe(1340);
    expect(tunnelMTU(1300, [{ family: 4, mtu: 1500 }], null)).toBe(1300);
    expect(tunnelMTU(0, [], null)).toBe(1420);
  });
});

describe('cidr helpers', () => {
  it('gateway, collapse, private', () => {
    expect(gatewayOf(C('198.18.129.0/24'))).toBe('198.18.129.1');
    expect(gatewayOf(C('fd00:1::/64'))).toBe('fd00:1::1');
    expect(collapse([C('198.18.130.0/24'), C('198.18.128.0/17'), C('10.0.0.0/8'), C('10.0.0.0/8')]).map((c) => c.text)).toEqual(['10.0.0.0/8', '198.18.128.0/17']);
    expect(isPrivateIP('10.1.2.3')).toBe(true);
    expect(isPrivateIP('100.64.0.1')).toBe(true);
    expect(isPrivateIP('203.0.113.1')).toBe(false);
    expect(isPrivateIP('2001:db8::1')).toBe(false);
    expect(isPrivateIP('fd00::1')).toBe(true);
  });
});

describe('CidrSet', () => {
  it('finds containing, contained and equal members; membership of addresses', () => {
    const s = new CidrSet();
    s.add(C('198.18.130.0/24'));
    s.add(C('fd00:1::/64'));
    expect(s.overlap(C('198.18.130.128/25'))?.text).toBe('198.18.130.0/24');
    expect(s.overlap(C('198.18.128.0/17'))?.text).toBe('198.18.130.0/24');
    expect(s.overlap(C('198.18.130.0/24'))?.text).toBe('198.18.130.0/24');
    expect(s.overlap(C('198.18.131.0/24'))).toBeUndefined();
    expect(s.overlap(C('fd00:1::/48'))?.text).toBe('fd00:1::/64');
    expect(s.containing('198.18.130.7')?.text).toBe('198.18.130.0/24');
    expect(s.containing('198.18.131.7')).toBeUndefined();
    expect(s.containing('fd00:1::9')?.text).toBe('fd00:1::/64');
    expect(s.containing('nope')).toBeUndefined();
    const all = new CidrSet();
    all.add(C('0.0.0.0/0'));
    expect(all.containing('203.0.113.1')?.text).toBe('0.0.0.0/0');
    expect(overlaps(C('10.0.0.0/8'), C('10.1.0.0/16'))).toBe(true);
    expect(overlaps(C('10.0.0.0/8'), C('11.0.0.0/8'))).toBe(false);
  });
});

describe('annotations', () => {
  it('endpoint forms', () => {
    expect(parseEndpoint('198.18.0.1', 51820)).toEqual({ ip: '198.18.0.1', port: 51820 });
    expect(parseEndpoint('198.18.0.1:4000', 51820)).toEqual({ ip: '198.18.0.1', port: 4000 });
    expect(parseEndpoint('[FD00::1]:4000', 51820)).toEqual({ ip: 'fd00::1', port: 4000 });
    expect(parseEndpoint('fd00::1', 7)).toEqual({ ip: 'fd00::1', port: 7 });
    expect(parseEndpoint('host.example:1', 7)).toBeNull();
    expect(parseEndpoint('1.2.3.4:0', 7)).toBeNull();
  });
  it('keepalive accepts "25" and "25s"', () => {
    expect(readAnnotations({ [ANN.keepalive]: '25s' }, 1).keepalive).toBe(25);
  });
});

describe('key', () => {
  it('our public key equals wg pubkey of the same private key', async () => {
    const priv = generatePrivateKey();
    const r = await execa('wg', ['pubkey'], { input: priv });
    expect(publicKeyOf(priv)).toBe(r.stdout.trim());
  });

  it('created once with mode 0600, then reused; a broken file is set aside', async () => {
    const dir = join(tmp, 'state');
    const a = await loadOrCreateKey(dir);
    expect(a.created).toBe(true);
    expect(statSync(keyPath(dir)).mode & 0o777).toBe(0o600);
    const b = await loadOrCreateKey(dir);
    expect(b).toMatchObject({ created: false, privateKey: a.privateKey, publicKey: a.publicKey });
    writeFileSync(keyPath(dir), 'garbage\n', { mode: 0o644 });
    const c = await loadOrCreateKey(dir);
    expect(c.created).toBe(true);
    expect(c.notes[0]).toMatch(/moved to/);
    expect(readFileSync(keyPath(dir), 'utf8').trim()).toBe(c.privateKey);
  });
});

describe('options', () => {
  it('defaults and validation', () => {
    const { config } = parseArgs(['--wg-interface', 'nw-a0', '--cluster-cidr', '198.18.128.0/17'], MESH_OPTIONS, {});
    const m = meshConfig(config);
    expect(m).toMatchObject({ iface: 'nw-a0', port: 51820, stateDir: '/var/lib/nodeway', cniConfDir: '/etc/cni/net.d', cniBinDir: '/opt/cni/bin', mtu: 0, userspace: 'auto' });
    expect(m.clusterCIDRs.map((c) => c.text)).toEqual(['198.18.128.0/17']);
    expect(() => parseArgs(['--wg-interface', 'much-too-long-name'], MESH_OPTIONS, {})).toThrow(/wg-interface/);
    expect(() => parseArgs(['--cluster-cidr', 'x'], MESH_OPTIONS, {})).toThrow(/not a CIDR/);
    expect(() => parseArgs(['--mtu', '100'], MESH_OPTIONS, {})).toThrow(/576/);
    expect(() => parseArgs(['--wg-userspace', 'maybe'], MESH_OPTIONS, {})).toThrow(/auto/);
  });
});

describe('NetworkUnavailable', () => {
  const self = (networkUnavailable?: string) => ({ name: 'n1', self: true, podCIDRs: [], internalIPs: [], externalIPs: [], annotations: {}, zone: '', deleting: false, ...(networkUnavailable ? { networkUnavailable } : {}) });
  /** The applier against a fake API server: how many condition writes each call made. */
  function condition() {
    let writes = 0;
    const client = { request: async (method: string) => (method === 'PATCH' ? (writes++, {}) : { status: { conditions: [] } }) } as unknown as KubeClient;
    const a = new ConditionApplier(client, 'n1');
    return async (up: boolean, view: PeerView) => {
      const before = writes;
      await a.apply(up, view, 'up');
      return writes > before;
    };
  }
  it('re-asserted whenever the view shows it wrong: set back to True, or the Node re-created without it', async () => {
    const shown = self('True');
    const write = condition();
    expect(await write(true, shown)).toBe(true);
    // Our write has not come back through the watch yet: the same view object, no second write.
    expect(await write(true, shown)).toBe(false);
    expect(await write(true, self('False'))).toBe(false);
    // Someone set it back (a new view object), or the Node was re-created without the condition.
    expect(await write(true, self('True'))).toBe(true);
    expect(await write(true, self())).toBe(true);
    expect(await condition()(false, self('True'))).toBe(false);
  });
});

describe('CNI spec version', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodeway-par-cni-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('asks each plugin (CNI_COMMAND=VERSION) and writes the newest version all of them support', async () => {
    // A pre-1.0 plugin, as an init container may keep: knows 0.4.0 at most.
    writeFileSync(join(dir, 'bridge'), '#!/bin/sh\n[ "$CNI_COMMAND" = VERSION ] && echo \'{"cniVersion":"0.4.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0"]}\' && exit 0\nexit 1\n', { mode: 0o755 });
    writeFileSync(join(dir, 'mute'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    const old = await pluginVersions(dir, 'bridge');
    expect(old).toEqual(['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0']);
    expect(await pluginVersions(dir, 'mute')).toBeNull();
    const current = await pluginVersions('/usr/lib/cni', 'host-local');
    expect(current).toContain('1.0.0');
    expect(chooseCniVersion([current, old])).toBe('0.4.0');
    expect(chooseCniVersion([current, null])).toBe('1.0.0');
    expect(chooseCniVersion([['0.1.0', '0.2.0'], current])).toBeNull();
    const text = renderConflist({ bridge: 'br', podCIDRs: [parseCIDR('198.18.129.0/24')!], gateways: [{ family: 4, ip: '198.18.129.1', cidr: '198.18.129.1/24' }], mtu: 1420, ipamDir: '/x', portmap: false, cniVersion: chooseCniVersion([current, old])! });
    expect(JSON.parse(text).cniVersion).toBe('0.4.0');
    expect(conflistMTU(text)).toBe(1420);
    expect(conflistMTU('garbage')).toBe(0);
  });
});
