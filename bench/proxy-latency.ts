// First-packet latency through a ClusterIP: TCP connect time (the SYN takes the nat path, the
// rest follows conntrack) with 10 and with 10,000 Services programmed, nodeway's ruleset vs a
// kube-proxy-shaped one, in a private network namespace. Both dispatch through one verdict
// map, so both should be flat in the number of Services; this checks ours is not slower.
// Run: node_modules/.bin/node bench/proxy-latency.ts [connects=2000]
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import type { ConntrackExec } from '../modules/proxy/conntrack.ts';
import { ProxyModule } from '../modules/proxy/module.ts';
import { Registry } from '../src/runtime/metrics.ts';
import { emptyChanges } from '../src/view/view.ts';
import { NODE, NODE_IP, clusterIPOf, cluster, inPrivateNetns, kpFullScript, percentile, silent, sliceObj } from './proxy-common.ts';

inPrivateNetns();
const CONNECTS = Number(process.argv[2] ?? 2000);
const PORTS = Array.from({ length: 10 }, (_, i) => 8080 + i);
/** A pod address (inside the cluster CIDR): neither ruleset masquerades it, as for pod clients. */
const CLIENT_IP = '198.18.128.1';
const noConntrack: ConntrackExec = { list: async () => [], delete: async () => 0 };

// The client and the ten servers run in Python: a tight connect loop with microsecond timing.
const PY = `
import socket, threading, time, sys
n = int(sys.argv[1])
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('${NODE_IP}', port)); s.listen(1024)
    while True:
        c, _ = s.accept(); c.close()
for p in range(8080, 8090): threading.Thread(target=serve, args=(p,), daemon=True).start()
time.sleep(0.2)
xs = []
for i in range(n + 200):
    c = socket.socket(); c.bind(('${CLIENT_IP}', 0))
    t = time.perf_counter_ns(); c.connect(('${clusterIPOf(0)}', 80)); d = time.perf_counter_ns() - t
    c.close()
    if i >= 200: xs.append(d / 1000)
xs.sort()
print(xs[len(xs) // 2], xs[int(len(xs) * 0.99)])
`;

async function measure(): Promise<{ p50: number; p99: number }> {
  const r = await execa('python3', ['-c', PY, String(CONNECTS)]);
  const [p50, p99] = r.stdout.trim().split(' ').map(Number);
  return { p50: p50!, p99: p99! };
}

function sizedCluster(services: number) {
  const c = cluster(services, 10);
  // Service 0: ten endpoints on this node's address, one per port (ten one-endpoint slices).
  c.cache.delete('endpointslices', 'bench/svc-0-abcde');
  PORTS.forEach((port, j) => c.cache.put('endpointslices', `bench/svc-0-p${j}`, { ...sliceObj(0, [NODE_IP], port), name: `svc-0-p${j}` }));
  c.view.flush();
  return c;
}

// ClusterIPs need a route for the first lookup, before nat-output rewrites the destination.
execFileSync('ip', ['route', 'add', '198.19.0.0/16', 'dev', 'lo']);
execFileSync('ip', ['addr', 'add', `${CLIENT_IP}/32`, 'dev', 'lo']);
const rows: string[] = [];
const results: Record<string, { p50: number; p99: number }> = {};
for (const n of [10, 10_000]) {
  const { view } = sizedCluster(n);
  const mod = new ProxyModule({ config: {}, nodeName: NODE, log: silent, registry: new Registry() }, { conntrack: noConntrack, healthChecks: false, localAddresses: () => [{ address: NODE_IP, internal: false }] });
  await mod.sync(view, emptyChanges(true));
  results[`nodeway ${n}`] = await measure();
  execFileSync('nft', ['delete', 'table', 'ip', 'nodeway']);
  execFileSync('nft', ['delete', 'table', 'ip6', 'nodeway']);
  await execa('nft', ['-f', '-'], { input: kpFullScript(view.services.values()), maxBuffer: 1 << 30 });
  results[`baseline ${n}`] = await measure();
  execFileSync('nft', ['delete', 'table', 'ip', 'kube-proxy']);
}

const us = (x: number) => `${x.toFixed(0)} µs`;
console.log(`first-packet latency (TCP connect to a ClusterIP, ${CONNECTS} connects, 10 endpoints, loopback path)`);
for (const n of [10, 10_000]) {
  const o = results[`nodeway ${n}`]!;
  const b = results[`baseline ${n}`]!;
  rows.push(`  ${String(n).padStart(6)} Services   nodeway p50 ${us(o.p50)} p99 ${us(o.p99)}   kube-proxy-shaped p50 ${us(b.p50)} p99 ${us(b.p99)}   p50 ratio ${(o.p50 / b.p50).toFixed(2)}×, p99 ratio ${(o.p99 / b.p99).toFixed(2)}×`);
}
console.log(rows.join('\n'));
const flat = results['nodeway 10000']!.p50 / results['nodeway 10']!.p50;
console.log(`  nodeway 10,000 vs 10 Services: p50 ${flat.toFixed(2)}× (flat = 1)`);
