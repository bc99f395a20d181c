// `nodeway view --desired MODULE` plans without creating the module: run in a lab node against
// the embedded API server, it prints each module's desired state and leaves the node as it
// was — no listening socket, no nft table, no address, no link, no file in the state or CNI
// dirs — and an unprivileged user gets the same answer. Were a module created as root, the DNS
// module would capture --cluster-dns (an address and an nft table) and listen, the mesh would
// make its key, interface and bridge.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANN } from '../../modules/mesh/annotations.ts';
import { MODULES } from '../../modules/index.ts';
import { LabCluster } from '../../testbed/lab/cluster.ts';
import { cleanupStaleLabs } from '../../testbed/lab/index.ts';

let cluster: LabCluster;
const dir = mkdtempSync(join(tmpdir(), 'nodeway-shp-desired-'));
const ROOT = join(import.meta.dirname, '..', '..');
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
let kubeconfig = '';

beforeAll(async () => {
  await cleanupStaleLabs();
  cluster = await LabCluster.create({ ipv6: false });
  await cluster.addNode('n1');
  await cluster.addNode('n2', { annotations: { [ANN.publicKey]: 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=' } });
  // The kubeconfig where the unprivileged user can read it (the cluster's own dir is 0700).
  chmodSync(dir, 0o755);
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, readFileSync(cluster.nodes.get('n1')!.kubeconfig, 'utf8'), { mode: 0o644 });
  cluster.api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** What a module could have created in n1: listening sockets, nft ruleset, addresses, links. */
async function hostState(): Promise<string> {
  const n1 = cluster.nodes.get('n1')!.node;
  const out: string[] = [];
  for (const [cmd, ...args] of [['ss', '-Hlntu'], ['nft', 'list', 'ruleset'], ['ip', '-o', 'addr'], ['ip', '-o', 'link']]) {
    const r = await cluster.lab.exec(n1, cmd!, args);
    out.push(`${cmd} ${args.join(' ')}\n${r.stdout}`);
  }
  return out.join('\n');
}

/** As root (a created module could then change the node) or as nobody (planning needs no root). */
async function viewDesired(module: string, as: 'root' | 'nobody'): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const n1 = cluster.nodes.get('n1')!.node;
  const bin = join(ROOT, 'bin', 'nodeway');
  return cluster.lab.exec(n1, as === 'root' ? bin : 'setpriv', [...(as === 'root' ? [] : [...NOBODY, bin]), 'view', '--desired', module, '--node-name', 'n1', '--kubeconfig', kubeconfig,
    '--log-level', 'warn', '--state-dir', join(dir, 'state'), '--cni-conf-dir', join(dir, 'net.d'), '--wg-interface', 'shp-desired0',
    '--cluster-dns', '198.19.0.53', '--dns-listen', '127.0.0.1:5353', '--cluster-cidr', '198.18.128.0/17'], { timeoutMs: 60_000 });
}

describe('nodeway view --desired', () => {
  for (const m of MODULES) {
    it(`${m.name}: ${m.plan ? 'prints the plan' : 'says it cannot plan without starting'}, creates nothing, needs no root`, async () => {
      const before = await hostState();
      const r = await viewDesired(m.name, 'root');
      if (m.plan) {
        expect(r.exitCode, r.stderr).toBe(0);
        const d = JSON.parse(r.stdout) as Record<string, unknown>;
        if (m.name === 'proxy') expect(Object.keys(d)).toEqual(['IPv4', 'IPv6']);
        if (m.name === 'mesh') expect((d.peers as { node: string }[]).map((p) => p.node)).toEqual(['n2']);
        if (m.name === 'netpol') expect(d).toBeTypeOf('object');
        if (m.name === 'dns') expect(Object.keys(d.services as object)).toEqual(['web.default']);
        if (m.name === 'dns') expect({ capture: d.capture, web: (d.services as Record<string, { addresses: string[] }>)['web.default']?.addresses.length }).toEqual({ capture: ['198.19.0.53'], web: 1 });
      } else {
        expect(r.exitCode).toBe(2);
        expect(r.stderr).toContain(`module ${m.name} cannot plan without starting`);
      }
      expect(await hostState()).toBe(before);
      expect(existsSync(join(dir, 'state'))).toBe(false);
      expect(existsSync(join(dir, 'net.d'))).toBe(false);
      expect(existsSync('/var/run/wireguard/shp-desired0.sock')).toBe(false);
      // The same answer for a user who could change nothing.
      const nobody = await viewDesired(m.name, 'nobody');
      expect({ exitCode: nobody.exitCode, stdout: nobody.stdout }).toEqual({ exitCode: r.exitCode, stdout: r.stdout });
      expect(await hostState()).toBe(before);
    }, 60_000);
  }
});
