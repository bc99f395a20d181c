// Convergence of the mesh: how long after a new node's key annotation appears do the other
// nodes have it as a WireGuard peer (and its route)? Run by hand, as root:
//
//   npx node bench/mesh-convergence.ts [--nodes 3] [--fake 100] [--rounds 10]
//
// Real agents (the built bundle, wireguard-go) in lab nodes; --fake N extra Node objects with
// keys and pod CIDRs but no agent, so every sync works through N+ peers. Fake endpoints are in
// 198.18.1.0/24, which no lab node routes: their handshakes fail locally, nothing leaves.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { ANN } from '../modules/mesh/annotations.ts';
import { socketPath } from '../modules/mesh/device.ts';
import { generatePrivateKey, publicKeyOf } from '../modules/mesh/key.ts';
import type { KubeObject } from '../testbed/apiserver/index.ts';
import { MeshLab, type MeshNode, sleep, waitFor } from '../test/mesh/harness.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    fake: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '10' },
    verbose: { type: 'boolean', default: false },
  },
});
const NODES = Number(values.nodes);
const FAKE = Number(values.fake);
const ROUNDS = Number(values.rounds);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function fakeNode(i: number, key: string | undefined): KubeObject {
  // /28s from 198.18.192.0/18: room for 1024.
  const base = (192 << 8) + i * 16;
  const cidr = `198.18.${base >> 8}.${base & 255}/28`;
  return {
    apiVersion: 'v1', kind: 'Node', metadata: { name: `fake${i}`, annotations: key ? { [ANN.publicKey]: key } : ({} as Record<string, string>) },
    spec: { podCIDR: cidr, podCIDRs: [cidr] },
  };
}

/**
 * The device's peer keys straight from wireguard-go's UAPI socket: no process per poll, so
 * the measurement does not steal the CPU the agents need (2 vCPUs here).
 */
function uapiPeers(iface: string): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath(iface));
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      if (buf.endsWith('\n\n')) {
        s.destroy();
        const keys = [...buf.matchAll(/^public_key=([0-9a-f]{64})$/gm)].map((x) => Buffer.from(x[1]!, 'hex').toString('base64'));
        resolve(new Set(keys));
      }
    });
    s.on('error', reject);
    s.write('get=1\n\n');
  });
}

async function until(iface: string, start: number, present: (keys: Set<string>) => boolean): Promise<number> {
  for (;;) {
    if (present(await uapiPeers(iface))) return performance.now() - start;
    if (performance.now() - start > 10_000) return Infinity;
    await sleep(2);
  }
}

const m = new MeshLab();
const cleanup = async () => {
  await m.destroy().catch(() => undefined);
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  await m.start();
  const nodes: MeshNode[] = [];
  for (let i = 1; i <= NODES; i++) nodes.push(await m.addNode(`n${i}`));
  for (let i = 0; i < FAKE; i++) {
    m.api.create(fakeNode(i, publicKeyOf(generatePrivateKey())));
    m.api.patch('v1', 'nodes', undefined, `fake${i}`, { status: { addresses: [{ type: 'InternalIP', address: `198.18.1.${(i % 250) + 1}` }] } }, 'merge', { subresource: 'status' });
  }
  const t0 = Date.now();
  for (const n of nodes) m.startAgent(n);
  await waitFor('every agent with all peers', async () => {
    for (const n of nodes) if ((await m.dump(n)).peers.size !== NODES - 1 + FAKE) return false;
    return true;
  }, 120_000, 100);
  console.log(`start: ${NODES} agents, ${FAKE} fake nodes; all peers programmed ${Date.now() - t0} ms after the agents started`);

  const add: number[] = [];
  const del: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const idx = FAKE + r;
    const key = publicKeyOf(generatePrivateKey());
    m.api.create(fakeNode(idx, undefined));
    await sleep(300); // the node exists first; what is timed is its key appearing
    const start = performance.now();
    m.api.patch('v1', 'nodes', undefined, `fake${idx}`, { metadata: { annotations: { [ANN.publicKey]: key } } }, 'merge');
    const seen = await Promise.all(nodes.map((n) => until(n.iface, start, (k) => k.has(key))));
    add.push(...seen);
    const dstart = performance.now();
    m.api.delete('v1', 'nodes', undefined, `fake${idx}`);
    const gone = await Promise.all(nodes.map((n) => until(n.iface, dstart, (k) => !k.has(key))));
    del.push(...gone);
    console.log(`round ${r + 1}: added on ${seen.map((x) => `${x.toFixed(0)}ms`).join(' ')}; removed on ${gone.map((x) => `${x.toFixed(0)}ms`).join(' ')}`);
  }
  const line = (name: string, xs: number[]) =>
    console.log(`${name}: n=${xs.length} p50=${pct(xs, 50).toFixed(0)}ms p90=${pct(xs, 90).toFixed(0)}ms max=${Math.max(...xs).toFixed(0)}ms within 1s: ${xs.filter((x) => x <= 1000).length}/${xs.length}`);
  console.log(`\nconvergence with ${NODES} agents and ${NODES - 1 + FAKE} peers each (time from the API write to the peer on the device, polled on the UAPI socket every 2 ms):`);
  line('peer added  ', add);
  line('peer removed', del);
  if (values.verbose) console.log(nodes[0]!.agent?.lines.filter((l) => /reconciled|peers updated|routes updated|"synced"/.test(l)).slice(-40).join('\n'));
} finally {
  await cleanup();
}
