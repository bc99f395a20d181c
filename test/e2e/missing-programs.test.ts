// One program missing never takes the agent down: the real agent runs with all three modules in
// a lab node whose PATH lacks one program (a temp dir of symlinks to everything else). It stays
// up, says once which Debian package to install, counts it, keeps the modules that need the
// program not ready (/readyz names it), and the others serve: the proxy's rules are in the
// kernel, DNS answers dig, the mesh has its interface.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabCluster } from '../../testbed/lab/cluster.ts';
import { cleanupStaleLabs, type LabProcess } from '../../testbed/lab/index.ts';
import { dig, NODE, service, slice, sleep, waitFor } from '../dns/harness.ts';
import { buildAgent } from '../support/agent.ts';
import { pathWithout } from '../support/path.ts';

const DNS = '198.19.0.10';
const WEB = '198.19.0.20';
const HEALTH = '127.0.0.1:10256';
const MODULES = ['proxy', 'dns', 'mesh'] as const;
type Mod = (typeof MODULES)[number];

interface Case {
  program: string;
  pkg: string;
  /** Modules that need the program; every other one must be ready. */
  down: Mod[];
  args?: string[];
}

// wireguard-go and wg are forced by --wg-userspace, so a kernel with WireGuard changes nothing.
const CASES: Case[] = [
  { program: 'nft', pkg: 'nftables', down: ['proxy', 'dns', 'mesh'] },
  { program: 'ip', pkg: 'iproute2', down: ['dns', 'mesh'] },
  { program: 'wg', pkg: 'wireguard-tools', down: ['mesh'], args: ['--wg-userspace', 'never'] },
  { program: 'wireguard-go', pkg: 'wireguard-go', down: ['mesh'], args: ['--wg-userspace', 'always'] },
  { program: 'conntrack', pkg: 'conntrack', down: ['proxy'] },
];

const tmp = mkdtempSync(join(tmpdir(), 'nodeway-rob-missing-'));
const tag = process.pid.toString(36).slice(-4);
let cluster: LabCluster;
const agents = new Map<string, LabProcess>();
/** How each case's agent was run: its PATH and its flags (without the command). */
const runs = new Map<string, { path: string; flags: string[] }>();
let bundle = '';

interface Ready {
  ready: boolean;
  modules: { name: string; synced: boolean; lastError: string; missing: string[] }[];
}

async function readyz(node: string): Promise<Ready | undefined> {
  const r = await cluster.httpGet(cluster.nodes.get(node)!.node, `http://${HEALTH}/readyz`);
  return r.status === 0 ? undefined : (JSON.parse(r.body) as Ready);
}

function logLines(p: LabProcess): Record<string, unknown>[] {
  return p.lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

beforeAll(async () => {
  bundle = await buildAgent();
  await cleanupStaleLabs();
  cluster = await LabCluster.create({ prefix: 'rob', ipv6: false });
  const api = cluster.api;
  api.create(service('kube-dns', { clusterIP: DNS, ports: [{ name: 'dns', protocol: 'UDP', port: 53 }] }, 'kube-system'));
  api.create(service('web', { clusterIP: WEB, ports: [{ name: 'http', port: 80 }] }));
  for (const [i, c] of CASES.entries()) {
    const name = `n${i + 1}`;
    const cn = await cluster.addNode(name);
    api.create(slice(`web`, `web-${name}`, [{ ip: cn.node.podCidrV4!.replace(/0\/24$/, '10'), node: name }], [{ name: 'http', protocol: 'TCP', port: 8080 }]));
    const d = join(tmp, name);
    const flags = ['--node-name', name, '--kubeconfig', cn.kubeconfig, '--modules', 'proxy,dns,mesh', '--health-listen', HEALTH,
      '--cluster-dns', DNS, '--cluster-cidr', '198.18.128.0/17', '--dns-upstream', '127.0.0.1:5301', '--state-dir', join(d, 'state'),
      '--cni-conf-dir', join(d, 'net.d'), '--cni-bin-dir', '/usr/lib/cni', '--wg-interface', `rob${tag}${i + 1}`, ...(c.args ?? [])];
    // env(1) sets PATH inside the namespace: `ip netns exec` itself still needs ip.
    const path = pathWithout(join(tmp, `bin-${c.program}`), [c.program]);
    runs.set(c.program, { path, flags });
    agents.set(c.program, cluster.lab.spawn(cn.node, '/usr/bin/env', [`PATH=${path}`, NODE, bundle, 'run', ...flags]));
  }
}, 120_000);

afterAll(async () => {
  await cluster?.destroy();
  for (const i of CASES.keys()) rmSync(`/var/run/wireguard/rob${tag}${i + 1}.sock`, { force: true });
  rmSync(tmp, { recursive: true, force: true });
});

describe('an external program missing', () => {
  for (const [i, c] of CASES.entries()) {
    const node = `n${i + 1}`;
    it(`${c.program}: the agent stays up, ${c.down.join(' and ')} not ready naming ${c.pkg}, the others serve`, async () => {
      const agent = agents.get(c.program)!;
      const said = `${c.program} is not installed (not found on PATH): install the Debian package ${c.pkg} (apt-get install ${c.pkg})`;
      const status = await waitFor(`/readyz on ${node} with only ${c.down.join(', ')} down`, async () => {
        const r = await readyz(node);
        if (!r) return undefined;
        const ok = r.modules.every((m) => (c.down.includes(m.name as Mod) ? !m.synced || m.missing.length > 0 : m.synced && m.missing.length === 0));
        return ok ? r : undefined;
      }, 60_000, 250).catch((err: Error) => {
        throw new Error(`${err.message}\nagent output:\n${agent.lines.slice(-30).join('\n')}`);
      });
      expect(status.ready).toBe(false);
      for (const m of status.modules.filter((x) => c.down.includes(x.name as Mod))) {
        expect(`${m.lastError} ${m.missing.join(' ')}`, m.name).toContain(said);
      }
      // Said once, however often the modules retry (backoff 1, 2, 4 s …).
      const saying = () => logLines(agent).filter((l) => l.msg === said);
      expect(saying()).toHaveLength(1);
      expect(saying()[0]).toMatchObject({ program: c.program, package: c.pkg });
      const mentions = agent.lines.filter((l) => l.includes(said)).length;
      await sleep(5_000);
      expect(agent.lines.filter((l) => l.includes(said)).length).toBe(mentions);
      expect(agent.exited).toBe(false);
      const metrics = await cluster.httpGet(cluster.nodes.get(node)!.node, `http://${HEALTH}/metrics`);
      expect(metrics.body).toMatch(new RegExp(`nodeway_exec_failures_total\\{program="${c.program}",reason="missing"\\} [1-9]`));

      const cn = cluster.nodes.get(node)!.node;
      if (!c.down.includes('proxy')) {
        const table = await cluster.lab.exec(cn, 'nft', ['list', 'table', 'ip', 'nodeway'], { check: true });
        expect(table.stdout).toContain(WEB);
      }
      if (!c.down.includes('dns') || c.program === 'nft') {
        // With nft missing the address is still captured (ip works) and answered, only not notrack.
        const r = await dig(DNS, 53, 'web.default.svc.cluster.local', 'A', [], cn.ns);
        expect(r.answer).toEqual([`web.default.svc.cluster.local. 30 A ${WEB}`]);
      }
      if (!c.down.includes('mesh')) {
        const link = await cluster.lab.exec(cn, 'ip', ['link', 'show', `rob${tag}${i + 1}`]);
        expect(link.exitCode, link.stderr).toBe(0);
      }
    }, 120_000);
  }

  it('nodeway cleanup with nft missing removes all it can without nft, and says what it could not', async () => {
    const i = CASES.findIndex((c) => c.program === 'nft');
    const node = cluster.nodes.get(`n${i + 1}`)!.node;
    const { path, flags } = runs.get('nft')!;
    await agents.get('nft')!.stop(3_000);
    const iface = `rob${tag}${i + 1}`;
    expect((await cluster.lab.exec(node, 'ip', ['link', 'show', iface])).exitCode).toBe(0);
    const r = await cluster.lab.exec(node, '/usr/bin/env', [`PATH=${path}`, NODE, bundle, 'cleanup', ...flags], { timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain('cleanup incomplete');
    expect(r.stderr).toContain('apt-get install nftables');
    // What needs no nft is gone: the mesh's link (and its wireguard-go), the DNS address on lo.
    expect((await cluster.lab.exec(node, 'ip', ['link', 'show', iface])).exitCode).not.toBe(0);
    expect((await cluster.lab.exec(node, 'ip', ['-br', 'addr', 'show', 'dev', 'lo'])).stdout).not.toContain(DNS);
  }, 120_000);
});
