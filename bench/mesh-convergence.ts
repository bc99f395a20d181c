// Convergence of the mesh: how long after a new node's key annotation appears do the other
// nodes have it as a WireGuard peer (and its route)? Run by hand, as root:
//
//   npx node bench/mesh-convergence.ts [--nodes 3] [--fake 100] [--rounds 10]
//
// Real agents (the built bundle, wireguard-go) in lab nodes; --fake N extra Node objects with
// keys and pod CIDRs but no agent, so every sync works through N+ peers. Fake endpoints are in
// 198.18.1.0/24, which no lab node routes: their handshakes fail locally, nothing leaves.
import { parseArgs } from 'node:util';
import { ANN } from '../modules/mesh/annotations.ts';
import { generatePrivateKey, publicKeyOf } from '../modules/mesh/key.ts';
import { MeshLab, sleep, waitFor } from '../test/mesh/harness.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    fake: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '10' },
  },
});
const NODES = Number(values.nodes);
const FAKE = Number(values.fake);
const ROUNDS = Number(values.rounds);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function fakeNode(i: number, key: string | undefined) {
  // /28s from 198.18.192.0/18: room for 1024.
  const base = (192 << 8) + i * 16;
  const cidr = `198.18.${base >> 8}.${base & 255}/28`;
  return {
    apiVersion: 'v1', kind: 'Node', metadata: { name: `fake${i}`, annotations: key ? { [ANN.publicKey]: key } : {} },
    spec: { podCIDR: cidr, podCIDRs: [cidr] },
  };
}

const m = new MeshLab();
const cleanup = async () => {
  await m.destroy().catch(() => undefined);
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  await m.start();
  const nodes = [];
  for (let i = 1; i <= NODES; i++) nodes.push(await m.addNode(`n${i}`));
  for (let i = 0; i < FAKE; i++) {
    m.api.create(fakeNode(i, publicKeyOf(generatePrivateKey())));
    m.api.updateStatus({ apiVersion: 'v1', kind: 'Node', metadata: { name: `fake${i}` }, status: { addresses: [{ type: 'InternalIP', address: `198.18.1.${(i % 250) + 1}` }] } });
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
    const seen = await Promise.all(nodes.map(async (n) => {
      for (;;) {
        const out = await m.exec(n.lab.ns, 'wg', ['show', n.iface, 'peers']);
        if (out.stdout.includes(key)) return performance.now() - start;
        if (performance.now() - start > 10_000) return Infinity;
      }
    }));
    add.push(...seen);
    const dstart = performance.now();
    m.api.delete('v1', 'nodes', undefined, `fake${idx}`);
    const gone = await Promise.all(nodes.map(async (n) => {
      for (;;) {
        const out = await m.exec(n.lab.ns, 'wg', ['show', n.iface, 'peers']);
        if (!out.stdout.includes(key)) return performance.now() - dstart;
        if (performance.now() - dstart > 10_000) return Infinity;
      }
    }));
    del.push(...gone);
    console.log(`round ${r + 1}: added on ${seen.map((x) => `${x.toFixed(0)}ms`).join(' ')}; removed on ${gone.map((x) => `${x.toFixed(0)}ms`).join(' ')}`);
  }
  const line = (name: string, xs: number[]) =>
    console.log(`${name}: n=${xs.length} p50=${pct(xs, 50).toFixed(0)}ms p90=${pct(xs, 90).toFixed(0)}ms max=${Math.max(...xs).toFixed(0)}ms within 1s: ${xs.filter((x) => x <= 1000).length}/${xs.length}`);
  console.log(`\nconvergence with ${NODES} agents and ${NODES - 1 + FAKE} peers each (time from the API write to the peer on the device, polled with wg every few ms):`);
  line('peer added  ', add);
  line('peer removed', del);
} finally {
  await cleanup();
}
