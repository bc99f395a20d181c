// Node-local capture in a network-namespace lab: the agent runs inside node n1 with
// --cluster-dns; a pod on n1 (and n1 itself) query the cluster DNS IP over UDP and TCP, v4 and
// v6, and get n1's answers even though a proxy-style DNAT rule (priority dstnat) sends that IP
// to another node. Clients outside the cluster get nothing. Restart keeps the capture; cleanup
// removes it. The root namespace is never touched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureRuleset } from '../../modules/dns/capture.ts';
import { LabCluster } from '../../testbed/lab/cluster.ts';
import { cleanupStaleLabs, type LabNode, type LabPod, type LabProcess } from '../../testbed/lab/index.ts';
import { buildDnsAgent, dig, NODE, ROOT, service, slice, waitFor } from './harness.ts';

const DNS4 = '198.19.0.10';
const DNS6 = 'fd00:198:19::a';
const Z = 'cluster.local';
let cluster: LabCluster;
let n1: LabNode;
let n2: LabNode;
let out: LabNode;
let pod: LabPod;
let bundle = '';
let agent: LabProcess | undefined;

function startAgent(modules = 'dns'): LabProcess {
  const cn = cluster.nodes.get('n1')!;
  return cluster.lab.spawn(n1, NODE, [bundle, 'run', '--modules', modules, '--node-name', 'n1', '--kubeconfig', cn.kubeconfig, '--cluster-dns', DNS4, '--cluster-dns', DNS6,
    '--dns-upstream', '127.0.0.1:5300', '--health-listen', '127.0.0.1:10256', '--min-sync-interval', '20']);
}

const ask = (from: { ns: string }, server: string, name: string, type = 'A', extra: string[] = []) => dig(server, 53, name, type, extra, from.ns);

beforeAll(async () => {
  bundle = await buildDnsAgent();
  await cleanupStaleLabs();
  cluster = await LabCluster.create({ prefix: 'dnscap' });
  n1 = (await cluster.addNode('n1')).node;
  n2 = (await cluster.addNode('n2')).node;
  out = await cluster.lab.addHost('out');
  pod = await cluster.lab.addPod(n1, 'client');
  const api = cluster.api;
  // kube-dns has its only endpoint on n2: a proxy would balance there. The capture must not.
  api.create(service('kube-dns', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], clusterIPs: [DNS4, DNS6], ports: [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }] }, 'kube-system'));
  api.create(slice('kube-dns', 'kube-dns-a', [{ ip: n2.ipv4, node: 'n2' }], [{ name: 'dns', protocol: 'UDP', port: 53 }], 'kube-system'));
  api.create(service('web', { clusterIP: '198.19.0.20', ports: [{ name: 'http', port: 80 }] }));
  // What a proxy does for the DNS Service at priority dstnat (-100): DNAT to the remote endpoint.
  await cluster.lab.nft(n1, `table ip fakeproxy {
    chain pre { type nat hook prerouting priority dstnat; policy accept; ip daddr ${DNS4} meta l4proto { tcp, udp } th dport 53 dnat to ${n2.ipv4}; }
    chain out { type nat hook output priority -100; policy accept; ip daddr ${DNS4} meta l4proto { tcp, udp } th dport 53 dnat to ${n2.ipv4}; }
  }`);
  const up = cluster.lab.spawn(n1, NODE, [`${ROOT}/test/dns/fake-upstream-main.ts`, '127.0.0.1', '5300', 'example.test=192.0.2.10']);
  await up.waitForLine(/^ready/, 15_000);
  agent = startAgent();
  await waitFor('the agent to answer from the pod', async () => (await ask(pod, DNS4, `web.default.svc.${Z}`)).status === 'NOERROR', 30_000, 200).catch((err: Error) => {
    throw new Error(`${err.message}\nagent output:\n${agent?.output}`);
  });
}, 120_000);

afterAll(async () => {
  await cluster?.destroy();
});

describe('node-local capture of the cluster DNS address', () => {
  it('answers a pod over UDP and TCP, IPv4 and IPv6, despite a DNAT to another node', async () => {
    for (const extra of [[], ['+tcp']]) {
      expect((await ask(pod, DNS4, `web.default.svc.${Z}`, 'A', extra)).answer).toEqual([`web.default.svc.${Z}. 30 A 198.19.0.20`]);
      expect((await ask(pod, DNS6, `web.default.svc.${Z}`, 'A', extra)).answer).toEqual([`web.default.svc.${Z}. 30 A 198.19.0.20`]);
    }
  });

  it('answers the node itself (host-network clients) and forwards names outside the cluster', async () => {
    expect((await ask(n1, DNS4, `web.default.svc.${Z}`)).answer).toHaveLength(1);
    expect((await ask(n1, DNS4, `web.default.svc.${Z}`, 'A', ['+tcp'])).answer).toHaveLength(1);
    expect((await ask(pod, DNS4, 'example.test')).answer).toEqual(['example.test. 30 A 192.0.2.10']);
  });

  it('leaves no conntrack entry for DNS to the captured address', async () => {
    // Entries from before the capture existed (the agent was starting) may linger: start clean.
    await cluster.lab.exec(n1, 'conntrack', ['-F']);
    await ask(pod, DNS4, `web.default.svc.${Z}`);
    await ask(pod, DNS4, `web.default.svc.${Z}`, 'A', ['+tcp']);
    await ask(n1, DNS4, `web.default.svc.${Z}`);
    const ct = await cluster.lab.exec(n1, 'conntrack', ['-L', '-d', DNS4]);
    expect(ct.stdout.trim()).toBe('');
  });

  it('holds the address on its dummy link (or lo, without the dummy driver) and the rules in its own table', async () => {
    const links = (await cluster.lab.exec(n1, 'ip', ['-br', 'addr', 'show'], { check: true })).stdout.split('\n');
    const holder = links.find((l) => l.includes(`${DNS4}/32`));
    expect(holder).toMatch(/^(nodeway-dns|lo)\s/);
    expect(holder).toContain(`${DNS6}/128`);
    // Never a source the kernel picks for other traffic: IPv4 host scope, IPv6 deprecated.
    const addrs = JSON.parse((await cluster.lab.exec(n1, 'ip', ['-j', 'addr', 'show'], { check: true })).stdout) as { addr_info: { local: string; scope: string; preferred_life_time: number }[] }[];
    const info = addrs.flatMap((l) => l.addr_info);
    expect(info.find((a) => a.local === DNS4)?.scope).toBe('host');
    expect(info.find((a) => a.local === DNS6)?.preferred_life_time).toBe(0);
    const table = await cluster.lab.exec(n1, 'nft', ['list', 'table', 'inet', 'nodeway-dns'], { check: true });
    expect(table.stdout).toMatch(/type filter hook prerouting priority raw; policy accept;/);
    expect(table.stdout).toMatch(/elements = \{ 198\.19\.0\.10 \}/);
    expect(table.stdout).toMatch(/ip daddr @v4 .*th dport 53 notrack/);
  });

  it('does not answer clients outside the cluster', async () => {
    await cluster.lab.addRoute(out, DNS4, n1.ipv4);
    const r = await ask(out, DNS4, `web.default.svc.${Z}`);
    expect(r.status).toBe('');
    const m = await cluster.httpGet(n1, 'http://127.0.0.1:10256/metrics');
    expect(m.body).toMatch(/nodeway_dns_dropped_total\{reason="acl"\} [1-9]/);
  });

  it('keeps the capture across a restart, and beside the real proxy (its DNAT to n2 in place); cleanup removes it', async () => {
    await agent!.stop(5_000);
    expect((await cluster.lab.exec(n1, 'nft', ['list', 'table', 'inet', 'nodeway-dns'])).exitCode).toBe(0);
    await cluster.lab.exec(n1, 'nft', ['delete', 'table', 'ip', 'fakeproxy'], { check: true });
    agent = startAgent('proxy,dns');
    await waitFor('the restarted agent with the proxy', async () => (await ask(pod, DNS4, `web.default.svc.${Z}`)).status === 'NOERROR', 30_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}\nagent output:\n${agent?.output}`);
    });
    const ruleset = (await cluster.lab.exec(n1, 'nft', ['list', 'ruleset'], { check: true })).stdout;
    expect(ruleset).toContain(n2.ipv4); // the proxy balances kube-dns to its endpoint on n2 …
    await cluster.lab.exec(n1, 'conntrack', ['-F']);
    for (const extra of [[], ['+tcp']]) expect((await ask(pod, DNS4, `web.default.svc.${Z}`, 'A', extra)).answer).toHaveLength(1); // … yet n1 answers
    expect((await ask(n1, DNS4, `web.default.svc.${Z}`)).answer).toHaveLength(1);
    expect((await cluster.lab.exec(n1, 'conntrack', ['-L', '-d', DNS4])).stdout.trim()).toBe('');
    await agent.stop(5_000);
    const cn = cluster.nodes.get('n1')!;
    const r = await cluster.lab.exec(n1, NODE, [bundle, 'cleanup', '--modules', 'dns', '--node-name', 'n1', '--kubeconfig', cn.kubeconfig], { timeoutMs: 30_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await cluster.lab.exec(n1, 'nft', ['list', 'table', 'inet', 'nodeway-dns'])).exitCode).not.toBe(0);
    expect((await cluster.lab.exec(n1, 'ip', ['link', 'show', 'nodeway-dns'])).exitCode).not.toBe(0);
    const left = (await cluster.lab.exec(n1, 'ip', ['-br', 'addr', 'show'], { check: true })).stdout;
    expect(left).not.toContain(DNS4);
    expect(left).not.toContain(DNS6);
  });

  it('renders the capture ruleset (golden)', () => {
    expect(captureRuleset([DNS4, DNS6])).toBe(`table inet nodeway-dns
delete table inet nodeway-dns
table inet nodeway-dns {
\tset v4 {
\t\ttype ipv4_addr;
\t\telements = { 198.19.0.10 }
\t}
\tset v6 {
\t\ttype ipv6_addr;
\t\telements = { fd00:198:19::a }
\t}
\tchain prerouting {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tip daddr @v4 meta l4proto { tcp, udp } th dport 53 notrack
\t\tip saddr @v4 meta l4proto { tcp, udp } th sport 53 notrack
\t\tip6 daddr @v6 meta l4proto { tcp, udp } th dport 53 notrack
\t\tip6 saddr @v6 meta l4proto { tcp, udp } th sport 53 notrack
\t}
\tchain output {
\t\ttype filter hook output priority raw; policy accept;
\t\tip daddr @v4 meta l4proto { tcp, udp } th dport 53 notrack
\t\tip saddr @v4 meta l4proto { tcp, udp } th sport 53 notrack
\t\tip6 daddr @v6 meta l4proto { tcp, udp } th dport 53 notrack
\t\tip6 saddr @v6 meta l4proto { tcp, udp } th sport 53 notrack
\t}
}
`);
    expect(captureRuleset([DNS4])).toContain('\tset v6 {\n\t\ttype ipv6_addr;\n\t}');
  });
});
