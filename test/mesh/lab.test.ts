// The mesh end to end: three lab nodes against the embedded API server, each running the
// built agent with wireguard-go, pods made by the real CNI plugins from the conflist the agent
// wrote. IPv4 only: the lab may use 198.18.0.0/15 and nothing else (dual-stack is covered by
// the plan and conflist tests).
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ANN } from '../../modules/mesh/annotations.ts';
import { pidPath, socketPath } from '../../modules/mesh/device.ts';
import { keyPath } from '../../modules/mesh/key.ts';
import { pingCommand } from '../../testbed/lab/run.ts';
import { MeshLab, type MeshNode, type Pod, waitFor } from './harness.ts';

const m = new MeshLab();
let n1: MeshNode, n2: MeshNode, n3: MeshNode;
let p1: Pod, p2: Pod, p3: Pod;

const synced = /"msg":"synced"/;

/**
 * The lab's addresses are private, so every peer has a keepalive and initiates when it is
 * added: a first handshake takes a round trip, or a retry when initiations crossed or one was
 * dropped (see first-handshake.ts): well within this, and well before WireGuard's own 5 s
 * retransmit, which this bound would catch.
 */
const HANDSHAKE_MS = 3_000;

async function handshaken(nodes: MeshNode[], key: string): Promise<void> {
  await waitFor(`a handshake with ${key} on ${nodes.map((n) => n.name).join(', ')}`, async () => {
    for (const n of nodes) if (!(await m.dump(n)).peers.get(key)?.latestHandshake) return false;
    return true;
  }, HANDSHAKE_MS);
}

/** Every node peers every other, then every pair has a session. */
async function fullMesh(nodes: MeshNode[], timeoutMs = 15_000): Promise<void> {
  await waitFor('a full mesh', async () => {
    for (const n of nodes) {
      const d = await m.dump(n);
      const want = nodes.filter((o) => o !== n).map((o) => m.publicKey(o.name)).sort();
      if ([...d.peers.keys()].sort().join() !== want.join()) return false;
    }
    return true;
  }, timeoutMs);
  await waitFor('a handshake with every peer', async () => {
    for (const n of nodes) for (const p of (await m.dump(n)).peers.values()) if (!p.latestHandshake) return false;
    return true;
  }, HANDSHAKE_MS);
}

function pingLoss(output: string): { sent: number; received: number } {
  // iputils: "70 packets transmitted, 70 received"; BusyBox: "… 70 packets received".
  const r = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output);
  if (!r) throw new Error(`no ping summary in: ${output}`);
  return { sent: Number(r[1]), received: Number(r[2]) };
}

beforeAll(async () => {
  await m.start();
  n1 = await m.addNode('n1');
  n2 = await m.addNode('n2');
  n3 = await m.addNode('n3');
  for (const n of [n1, n2, n3]) m.startAgent(n);
  await fullMesh([n1, n2, n3]);
  [p1, p2, p3] = await Promise.all([m.addPod(n1, 'p1'), m.addPod(n2, 'p2'), m.addPod(n3, 'p3')]);
}, 90_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.log(await m.diag());
});

afterAll(async () => {
  await m.destroy();
}, 60_000);

describe('mesh lab', () => {
  it('publishes key, port and endpoint; keeps the key 0600; marks the network available; writes the conflist', () => {
    for (const n of [n1, n2, n3]) {
      const a = m.annotations(n.name);
      expect(a[ANN.publicKey]).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(a[ANN.port]).toBe('51820');
      expect(a[ANN.endpoints]).toBe(`${n.lab.ipv4}:51820`);
      expect(statSync(keyPath(n.stateDir)).mode & 0o777).toBe(0o600);
      const node = m.api.get('v1', 'nodes', undefined, n.name) as { status?: { conditions?: { type: string; status: string; reason: string }[] } };
      expect(node.status?.conditions?.find((c) => c.type === 'NetworkUnavailable')).toMatchObject({ status: 'False', reason: 'NodewayMeshIsUp' });
      const conf = JSON.parse(readFileSync(join(n.confDir, '10-nodeway.conflist'), 'utf8'));
      // 1500-byte veth underlay, IPv4 endpoints: 1500 − 60.
      expect(conf.plugins[0]).toMatchObject({ type: 'bridge', mtu: 1440, ipam: { ranges: [[{ subnet: n.podCIDR }]] } });
      expect(conf.plugins[1]).toMatchObject({ type: 'portmap' });
    }
    expect(p1.ip).toBe('198.18.129.2');
  });

  it('NetworkUnavailable set back to True (a cloud route controller, a re-created Node) is re-asserted False', async () => {
    const cond = () => (m.api.get('v1', 'nodes', undefined, 'n1') as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions?.find((c) => c.type === 'NetworkUnavailable')?.status;
    expect(cond()).toBe('False');
    m.api.patch('v1', 'nodes', undefined, 'n1', { status: {
        addresses: [{ type: 'InternalIP', address: n1.lab.ipv4 }, { type: 'Hostname', address: 'n1' }],
        conditions: [{ type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated', message: 'set back' }],
      } }, 'merge', { subresource: 'status' });
    expect(cond()).toBe('True');
    expect(m.publicKey('n1')).toBeTruthy();
    await waitFor('n1 NetworkUnavailable=False again', async () => cond() === 'False', 10_000);
  });

  it('pod to pod across nodes: ICMP and TCP, the source address kept', async () => {
    for (const [a, b] of [[n1, n2], [n2, n3], [n3, n1]] as const) await m.sessionUp(a, b);
    expect(await m.pings(p1.ns, p2.ip)).toEqual({ sent: 5, received: 5 });
    expect(await m.pings(p2.ns, p3.ip)).toEqual({ sent: 5, received: 5 });
    expect(await m.pings(p3.ns, p1.ip)).toEqual({ sent: 5, received: 5 });
    await m.echoServer(p2.ns, 'p2', 8080);
    const r = await m.probe(p1.ns, { proto: 'tcp', host: p2.ip, port: 8080 });
    expect(r).toMatchObject({ outcome: 'ok', name: 'p2' });
    expect(r.client?.split(':')[0]).toBe(p1.ip);
  });

  it('node to remote pod (the gateway address as source passes the far end\'s allowed IPs)', async () => {
    expect(await m.pings(n1.lab.ns, p3.ip)).toEqual({ sent: 5, received: 5 });
    const r = await m.probe(n3.lab.ns, { proto: 'tcp', host: p2.ip, port: 8080 });
    expect(r.outcome).toBe('ok');
    expect(r.client?.split(':')[0]).toBe('198.18.131.1');
  });

  it('traffic masqueraded into the tunnel leaves from the tunnel\'s own address (the gateway), which the far end accepts', async () => {
    // The tunnel holds the gateway as a host address: masquerade takes its source from the
    // outgoing link, and without one it took the node's address (or the cluster DNS address
    // on lo), which the peer's allowed IPs drop.
    const addrs = JSON.parse((await m.exec(n1.lab.ns, 'ip', ['-j', 'addr', 'show', 'dev', n1.iface])).stdout) as { addr_info: { local: string; prefixlen: number; scope: string }[] }[];
    expect(addrs[0]!.addr_info.filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['198.18.129.1/32']);
    // A proxy-style masquerade of host traffic (as for a NodePort or a host-network client of a
    // ClusterIP), in a table of this test's own: N of N answered, from the gateway.
    await m.lab.nft(n1.lab, 'table ip pth-masq { chain post { type nat hook postrouting priority srcnat; policy accept; ip daddr 198.18.130.0/24 masquerade; }\n}\n');
    try {
      const rs = await Promise.all(Array.from({ length: 6 }, () => m.probe(n1.lab.ns, { proto: 'tcp', host: p2.ip, port: 8080 })));
      expect(rs.map((r) => r.outcome)).toEqual(Array(6).fill('ok'));
      expect(new Set(rs.map((r) => r.client?.split(':')[0]))).toEqual(new Set(['198.18.129.1']));
    } finally {
      await m.exec(n1.lab.ns, 'nft', ['delete', 'table', 'ip', 'pth-masq']);
    }
    // A source bound to the node address (as a socket routed by a default route has it) and no
    // one else's masquerade: the mesh's own rule gives it the tunnel address.
    const r = await m.probe(n1.lab.ns, { proto: 'tcp', host: p2.ip, port: 8080, source: n1.lab.ipv4 });
    expect(r.outcome).toBe('ok');
    expect(r.client?.split(':')[0]).toBe('198.18.129.1');
  });

  it('pod egress outside the cluster is masqueraded to the node address', async () => {
    await m.lab.startEchoServer(m.outside, { tcp: [8081] });
    const r = await m.probe(p1.ns, { proto: 'tcp', host: m.outside.ipv4, port: 8081 });
    expect(r.outcome).toBe('ok');
    expect(r.client?.split(':')[0]).toBe(n1.lab.ipv4);
  });

  it('metrics and readiness: per-peer handshake, bytes, endpoint; desired vs programmed', async () => {
    const ready = await m.http(n1, '/readyz');
    expect(ready.status).toBe(200);
    const text = await waitFor('handshake metrics', async () => {
      const t = (await m.http(n1, '/metrics')).body;
      return /nodeway_mesh_peer_handshake_age_seconds\{peer="n2",[^}]*\} \d+/.test(t) ? t : undefined;
    }, 10_000);
    expect(text).toMatch(/nodeway_mesh_peers\{state="desired"\} 2/);
    expect(text).toMatch(/nodeway_mesh_peers\{state="programmed"\} 2/);
    expect(text).toMatch(new RegExp(`nodeway_mesh_peer_info\\{endpoint="${n2.lab.ipv4}:51820",peer="n2",`));
    expect(text).toMatch(/nodeway_mesh_peer_received_bytes\{peer="n2",[^}]*\} [1-9]/);
    expect(text).toMatch(/nodeway_mesh_mtu 1440/);
    expect(text).toMatch(/nodeway_mesh_userspace 1/);
    expect(text).toMatch(/nodeway_mesh_pod_cidrs 1/);
  });

  it('agent restarts (a crash and a graceful stop) during a continuous ping lose at most a second', async () => {
    const daemonPid = readFileSync(pidPath(n1.stateDir, n1.iface), 'utf8').trim();
    const before = await m.dump(n1);
    const [cmd = 'ping', ...pre] = pingCommand();
    const ping = m.spawn(p1.ns, cmd, [...pre, '-i', '0.1', '-c', '70', '-W', '2', p3.ip]);
    await ping.waitForLine(/bytes from/, 5_000);
    await m.stopAgent(n1, 'kill');
    const a1 = m.startAgent(n1);
    await a1.waitForLine(synced, 15_000);
    await m.stopAgent(n3, 'term');
    const a3 = m.startAgent(n3);
    await a3.waitForLine(synced, 15_000);
    await ping.wait();
    const { sent, received } = pingLoss(ping.output);
    expect(sent).toBe(70);
    expect(sent - received).toBeLessThanOrEqual(10);
    // The same wireguard-go carried on, with the same peers and sessions.
    expect(readFileSync(pidPath(n1.stateDir, n1.iface), 'utf8').trim()).toBe(daemonPid);
    expect(a1.output).not.toMatch(/started wireguard-go|WireGuard peers updated|generated the WireGuard key/);
    expect([...(await m.dump(n1)).peers.keys()].sort()).toEqual([...before.peers.keys()].sort());
  }, 60_000);

  it('a key rotation replaces the peer everywhere (no stale "(none)" peer left behind)', async () => {
    const old = m.publicKey('n2')!;
    await m.stopAgent(n2);
    rmSync(keyPath(n2.stateDir));
    const t0 = Date.now();
    m.startAgent(n2);
    const fresh = await waitFor('a new key on n2', () => {
      const k = m.publicKey('n2');
      return k && k !== old ? k : undefined;
    });
    await waitFor('n1 and n3 peering the new key only', async () => {
      for (const n of [n1, n3]) {
        const d = await m.dump(n);
        if (!d.peers.has(fresh) || d.peers.has(old) || d.peers.size !== 2) return false;
        if (d.peers.get(fresh)!.allowedIPs.join() !== n2.podCIDR) return false;
      }
      return true;
    });
    await handshaken([n1, n3], fresh);
    await waitFor('n2\'s device holding the new key', async () => (await m.dump(n2)).publicKey === fresh);
    // The rotation is live everywhere (keys, peers, handshakes) within 10 s.
    expect(Date.now() - t0).toBeLessThan(10_000);
    await m.sessionUp(n1, n2);
    await m.sessionUp(n3, n2);
    expect(await m.pings(p1.ns, p2.ip)).toEqual({ sent: 5, received: 5 });
    expect(await m.pings(p3.ns, p2.ip)).toEqual({ sent: 5, received: 5 });
  }, 30_000);

  it('a killed wireguard-go is rebuilt without any Node change', async () => {
    const pid = Number(readFileSync(pidPath(n3.stateDir, n3.iface), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await waitFor('n3 rebuilt', async () => {
      const p = Number(readFileSync(pidPath(n3.stateDir, n3.iface), 'utf8'));
      return p !== pid && (await m.dump(n3)).peers.size === 2;
    }, 15_000);
    await m.sessionUp(n1, n3);
    expect(await m.pings(p1.ns, p3.ip)).toEqual({ sent: 5, received: 5 });
    // Device calls failing while it was gone are retried by the poll, not in a loop.
    expect(n3.agent!.lines.filter((l) => /failed/.test(l)).length).toBeLessThan(10);
  }, 30_000);

  it('a roamed endpoint with a fresh handshake is kept, not flapped back to the first candidate', async () => {
    const before = (await m.dump(n1)).peers.get(m.publicKey('n3')!)!.endpoint;
    expect(before).toBe(`${n3.lab.ipv4}:51820`);
    // n3 now says it is in another zone with an external address nothing routes: n1's first
    // candidate becomes that address, but the working endpoint stays.
    const updates = () => n1.agent!.lines.filter((l) => l.includes('WireGuard peers updated')).length;
    const updatesBefore = updates();
    m.api.patch('v1', 'nodes', undefined, 'n3', { metadata: { labels: { 'topology.kubernetes.io/zone': 'far' } } }, 'merge');
    m.api.patch('v1', 'nodes', undefined, 'n3', { status: { addresses: [{ type: 'ExternalIP', address: '198.18.1.3' }, { type: 'InternalIP', address: n3.lab.ipv4 }] } }, 'merge', { subresource: 'status' });
    await waitFor('n3 publishing its external endpoint first', () => m.annotations('n3')[ANN.endpoints] === `198.18.1.3:51820,${n3.lab.ipv4}:51820`);
    await new Promise((r) => setTimeout(r, 6_000)); // a poll cycle and a resync
    expect((await m.dump(n1)).peers.get(m.publicKey('n3')!)!.endpoint).toBe(before);
    expect(updates()).toBe(updatesBefore);
    expect(await m.pings(p1.ns, p3.ip)).toEqual({ sent: 5, received: 5 });
  }, 30_000);

  it('--wg-userspace never without kernel WireGuard: not ready, and says why', async () => {
    const n5 = await m.addNode('n5');
    m.startAgent(n5, ['--wg-userspace', 'never']);
    const r = await waitFor('n5 /readyz explaining', async () => {
      const x = await m.http(n5, '/readyz');
      return x.status === 503 && /kernel WireGuard unavailable/.test(x.body) ? x : undefined;
    });
    expect(r.body).toMatch(/--wg-userspace=never/);
    await m.stopAgent(n5);
    m.api.delete('v1', 'nodes', undefined, 'n5');
  }, 30_000);

  it('a node joins without a pod CIDR (not ready, says why), gets one, then leaves; cleanup removes it all', async () => {
    const n4 = await m.addNode('n4', null);
    m.startAgent(n4);
    const key = await waitFor('n4 publishing its key', () => m.publicKey('n4'));
    const t0 = Date.now();
    await waitFor('n1..n3 peering n4', async () => {
      for (const n of [n1, n2, n3]) if (!(await m.dump(n)).peers.has(key)) return false;
      return true;
    });
    expect(Date.now() - t0).toBeLessThan(2_000);
    await handshaken([n1, n2, n3], key);
    const notReady = await waitFor('n4 /readyz saying why', async () => {
      const r = await m.http(n4, '/readyz');
      return r.status === 503 && /no pod CIDR/.test(r.body) ? r : undefined;
    });
    expect(notReady.body).toMatch(/spec\.podCIDRs is empty/);
    expect((await m.http(n4, '/metrics')).body).toMatch(/nodeway_mesh_pod_cidrs 0/);
    expect(n4.agent!.output).toMatch(/this node has no pod CIDR/);
    expect(existsSync(join(n4.confDir, '10-nodeway.conflist'))).toBe(false);

    m.setPodCIDR(n4, '198.18.132.0/24');
    await waitFor('n4 ready', async () => (await m.http(n4, '/readyz')).status === 200, 20_000);
    const p4 = await m.addPod(n4, 'p4');
    await m.sessionUp(n1, n4);
    expect(await m.pings(p1.ns, p4.ip)).toEqual({ sent: 5, received: 5 });
    const routes = await m.exec(n1.lab.ns, 'ip', ['route', 'show', '198.18.132.0/24']);
    expect(routes.stdout).toMatch(new RegExp(`dev ${n1.iface} proto 112 scope link src 198.18.129.1`));

    m.api.delete('v1', 'nodes', undefined, 'n4');
    await waitFor('n4 gone from every peer list and routing table', async () => {
      for (const n of [n1, n2, n3]) {
        if ((await m.dump(n)).peers.has(key)) return false;
        if ((await m.exec(n.lab.ns, 'ip', ['route', 'show', '198.18.132.0/24'])).stdout.trim() !== '') return false;
      }
      return true;
    });
    expect(await m.pings(p1.ns, p2.ip)).toEqual({ sent: 5, received: 5 });

    await m.delPod(p4);
    const daemon = Number(readFileSync(pidPath(n4.stateDir, n4.iface), 'utf8'));
    await m.stopAgent(n4);
    await m.cleanupNode(n4);
    const links = await m.exec(n4.lab.ns, 'ip', ['-o', 'link']);
    expect(links.stdout).not.toContain(n4.iface);
    expect(links.stdout).not.toContain('nodeway-br0');
    expect((await m.exec(n4.lab.ns, 'nft', ['list', 'tables'])).stdout).not.toContain('nodeway-mesh');
    expect((await m.exec(n4.lab.ns, 'ip', ['route', 'show', 'proto', '112'])).stdout.trim()).toBe('');
    expect(existsSync(join(n4.confDir, '10-nodeway.conflist'))).toBe(false);
    expect(existsSync(socketPath(n4.iface))).toBe(false);
    await waitFor('wireguard-go of n4 gone', () => !existsSync(`/proc/${daemon}`), 5_000);
    expect(existsSync(keyPath(n4.stateDir))).toBe(true);
  }, 90_000);

  it('a lowered pod MTU says so: a log line and nodeway_mesh_stale_pod_mtu (pods keep the MTU they were created with)', async () => {
    await m.stopAgent(n3);
    const a3 = m.startAgent(n3, ['--mtu', '1300']);
    await a3.waitForLine(/pod MTU lowered/, 20_000);
    await waitFor('the conflist at 1300', () => JSON.parse(readFileSync(join(n3.confDir, '10-nodeway.conflist'), 'utf8')).plugins[0].mtu === 1300);
    const metrics = await waitFor('the stale MTU metric', async () => {
      const t = (await m.http(n3, '/metrics')).body;
      return /nodeway_mesh_stale_pod_mtu 1440/.test(t) ? t : undefined;
    });
    expect(metrics).toMatch(/nodeway_mesh_mtu 1300/);
  }, 30_000);
});
