// Hosts without IPv6: the kernel's IPv6 turned off (net.ipv6.conf.all.disable_ipv6=1 in the
// node's namespace, as ipv6.disable=1 leaves it), or an nft/kernel that cannot do IPv6 NAT (an
// nft on PATH that refuses ip6 nat chains with the kernel's error). The agent skips the IPv6
// family with one log line and IPv4 stays healthy: the proxy ready with its ip table, no sync
// ever failing, DNS answering, the mesh up.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabCluster } from '../../testbed/lab/cluster.ts';
import { cleanupStaleLabs, type LabProcess } from '../../testbed/lab/index.ts';
import { findProgram } from '../../src/sys/programs.ts';
import { dig, NODE, service, slice, sleep, waitFor } from '../dns/harness.ts';
import { buildAgent } from '../support/agent.ts';

const DNS = '198.19.0.10';
const WEB = '198.19.0.20';
const WEB6 = 'fd00:198:19::20';
const HEALTH = '127.0.0.1:10256';
const tmp = mkdtempSync(join(tmpdir(), 'nodeway-rob-noipv6-'));
const tag = process.pid.toString(36).slice(-4);
let cluster: LabCluster;
const agents = new Map<string, LabProcess>();

/** A bin dir whose nft refuses ip6 NAT chains as a kernel without IPv6 NAT does, and runs the real nft otherwise. */
function nftWithoutIPv6NAT(): string {
  const dir = join(tmp, 'bin');
  mkdirSync(dir);
  const real = findProgram('nft')!;
  writeFileSync(join(dir, 'nft'), `#!/bin/sh
# Reads the script (nft -f -), refuses it when it holds an ip6 nat chain, else hands it on.
case " $* " in *" -f - "*|*" -cf - "*) ;; *) exec ${real} "$@";; esac
script=$(cat)
if printf '%s' "$script" | grep -q 'ip6' && printf '%s' "$script" | grep -q 'type nat'; then
  echo "/dev/stdin:1:1-1: Error: Could not process rule: No such file or directory" >&2
  exit 1
fi
printf '%s\\n' "$script" | exec ${real} "$@"
`);
  chmodSync(join(dir, 'nft'), 0o755);
  symlinkSync(real, join(dir, 'nft.real'));
  return dir;
}

interface Ready {
  ready: boolean;
  modules: { name: string; synced: boolean; lastError: string; missing: string[] }[];
}

beforeAll(async () => {
  const bundle = await buildAgent();
  await cleanupStaleLabs();
  cluster = await LabCluster.create({ prefix: 'robv6', ipv6: false });
  const api = cluster.api;
  api.create(service('kube-dns', { clusterIP: DNS, ports: [{ name: 'dns', protocol: 'UDP', port: 53 }] }, 'kube-system'));
  // A dual-stack Service with endpoints in both families: IPv6 has nowhere to go on these hosts.
  api.create(service('web', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], clusterIPs: [WEB, WEB6], ports: [{ name: 'http', port: 80 }] }));
  const bin = nftWithoutIPv6NAT();
  const kinds = { sysctl: 'n1', nft: 'n2' } as const;
  for (const [kind, name] of Object.entries(kinds)) {
    const cn = await cluster.addNode(name);
    api.create(slice('web', `web-${name}`, [{ ip: cn.node.podCidrV4!.replace(/0\/24$/, '10'), node: name }], [{ name: 'http', protocol: 'TCP', port: 8080 }]));
    api.create(slice('web', `web6-${name}`, [{ ip: `fd00:198:18:${name === 'n1' ? 1 : 2}::10`, node: name }], [{ name: 'http', protocol: 'TCP', port: 8080 }], 'default', 'IPv6'));
    if (kind === 'sysctl') await cluster.lab.exec(cn.node, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.lo.disable_ipv6=1'], { check: true });
    const d = join(tmp, name);
    const args = ['run', '--node-name', name, '--kubeconfig', cn.kubeconfig, '--modules', 'proxy,dns,mesh', '--health-listen', HEALTH,
      '--cluster-dns', DNS, '--cluster-cidr', '198.18.128.0/17', '--dns-upstream', '127.0.0.1:5301', '--state-dir', join(d, 'state'),
      '--cni-conf-dir', join(d, 'net.d'), '--cni-bin-dir', '/usr/lib/cni', '--wg-interface', `robv6${tag}${name}`];
    const path = kind === 'nft' ? `${bin}:${process.env.PATH}` : process.env.PATH!;
    agents.set(name, cluster.lab.spawn(cn.node, '/usr/bin/env', [`PATH=${path}`, NODE, bundle, ...args]));
  }
}, 120_000);

afterAll(async () => {
  await cluster?.destroy();
  for (const n of ['n1', 'n2']) rmSync(`/var/run/wireguard/robv6${tag}${n}.sock`, { force: true });
  rmSync(tmp, { recursive: true, force: true });
});

describe('a host without IPv6', () => {
  for (const [name, why] of [['n1', /disable_ipv6=1/], ['n2', /IPv6 NAT/]] as const) {
    it(`${name}: skips IPv6 with one log line, IPv4 healthy (${why.source})`, async () => {
      const agent = agents.get(name)!;
      const node = cluster.nodes.get(name)!.node;
      const status = await waitFor(`/readyz on ${name}`, async () => {
        const r = await cluster.httpGet(node, `http://${HEALTH}/readyz`);
        return r.status === 200 ? (JSON.parse(r.body) as Ready) : undefined;
      }, 60_000, 250).catch((err: Error) => {
        throw new Error(`${err.message}\nagent output:\n${agent.lines.slice(-30).join('\n')}`);
      });
      expect(status.modules.map((m) => [m.name, m.synced, m.lastError])).toEqual([['proxy', true, ''], ['dns', true, ''], ['mesh', true, '']]);
      await sleep(3_000);
      const skipped = agent.lines.filter((l) => /IPv6/.test(l) && /skipp/.test(l));
      expect(skipped, agent.output).toHaveLength(1);
      expect(skipped[0]).toMatch(why);
      // Never a failed sync, so never a full resync after one.
      const metrics = (await cluster.httpGet(node, `http://${HEALTH}/metrics`)).body;
      expect(metrics).not.toMatch(/nodeway_module_syncs_total\{[^}]*result="error"/);
      const v4 = await cluster.lab.exec(node, 'nft', ['list', 'table', 'ip', 'nodeway'], { check: true });
      expect(v4.stdout).toContain(WEB);
      expect((await cluster.lab.exec(node, 'nft', ['list', 'table', 'ip6', 'nodeway'])).exitCode).not.toBe(0);
      const r = await dig(DNS, 53, 'web.default.svc.cluster.local', 'A', [], node.ns);
      expect(r.answer).toEqual([`web.default.svc.cluster.local. 30 A ${WEB}`]);
    }, 120_000);
  }
});
