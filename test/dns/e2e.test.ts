// The built agent (dns module only) against the embedded API server, queried with the real
// `dig` over UDP and TCP on loopback; names outside the cluster go to a fake upstream on
// loopback. Covers every record type, truncation and TCP retry, live updates, forwarding,
// SERVFAIL before the cache is ready, and the CoreDNS metrics.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedApiServer } from '../../testbed/apiserver/index.ts';
import { renderKubeconfig } from '../../testbed/apiserver/kubeconfig.ts';
import { reverseName } from '../../modules/dns/names.ts';
import { FakeUpstream } from './fake-upstream.ts';
import { buildDnsAgent, dig, freePort, NODE, service, slice, waitFor } from './harness.ts';

const Z = 'cluster.local';
let api: EmbeddedApiServer | undefined;
let agent: ChildProcess | undefined;
let agentLog = '';
let up: FakeUpstream;
let port = 0;
let healthPort = 0;
let tmp = '';
const q = (name: string, type = 'A', extra: string[] = []) => dig('127.0.0.1', port, name, type, extra);
const tcp = (name: string, type = 'A', extra: string[] = []) => dig('127.0.0.1', port, name, type, ['+tcp', ...extra]);

beforeAll(async () => {
  const bundle = await buildDnsAgent();
  tmp = mkdtempSync(join(tmpdir(), 'nodeway-dns-e2e-'));
  up = await new FakeUpstream().start();
  up.add('example.test', '192.0.2.10').add('www.example.test', '192.0.2.53');
  const apiPort = await freePort();
  port = await freePort();
  healthPort = await freePort();
  const kubeconfig = join(tmp, 'kubeconfig');
  writeFileSync(kubeconfig, renderKubeconfig({ server: `http://127.0.0.1:${apiPort}` }));
  // The agent starts before the API server exists: it must serve SERVFAIL for the zone meanwhile.
  agent = spawn(NODE, [bundle, 'run', '--modules', 'dns', '--node-name', 'n1', '--kubeconfig', kubeconfig, '--health-listen', `127.0.0.1:${healthPort}`,
    '--dns-listen', `127.0.0.1:${port}`, '--dns-upstream', `127.0.0.1:${up.port}`, '--log-level', 'info', '--min-sync-interval', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
  agent.stdout!.on('data', (d) => (agentLog += d));
  agent.stderr!.on('data', (d) => (agentLog += d));
  await waitFor('the DNS listener', () => agentLog.includes('DNS listening'), 15_000);
  const early = await q(`kubernetes.default.svc.${Z}`);
  expect(early.status).toBe('SERVFAIL');
  expect((await q('example.test')).answer).toEqual(['example.test. 30 A 192.0.2.10']);

  api = new EmbeddedApiServer({ port: apiPort, bookmarkIntervalMs: 1000 });
  await api.start();
  api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDRs: ['198.18.128.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.2' }] } });
  api.create(service('web', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], clusterIPs: ['198.19.0.20', 'fd00:198:19::20'], ports: [{ name: 'http', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }, { name: 'raw', port: 9000 }] }));
  api.create(service('v4only', { clusterIP: '198.19.0.21', ports: [{ name: 'http', port: 80 }] }));
  api.create(service('db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }));
  api.create(slice('db', 'db-a', [{ ip: '198.18.128.5', hostname: 'db-0' }, { ip: '198.18.128.6', hostname: 'db-1' }, { ip: '198.18.128.7', ready: false }], [{ name: 'pg', port: 5432 }]));
  api.create(service('unready', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }));
  api.create(slice('unready', 'unready-a', [{ ip: '198.18.128.9', ready: false }], [{ name: 'pg', port: 5432 }]));
  api.create(service('big', { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] }));
  api.create(slice('big', 'big-a', Array.from({ length: 200 }, (_, i) => ({ ip: `198.18.${129 + (i >> 8)}.${i & 255}` })), [{ name: 'http', port: 80 }]));
  api.create(service('ext', { type: 'ExternalName', externalName: 'www.example.test' }));
  await waitFor('the cluster zone', async () => (await q(`web.default.svc.${Z}`)).status === 'NOERROR', 20_000);
}, 90_000);

afterAll(async () => {
  agent?.kill('SIGTERM');
  await new Promise((r) => (agent && agent.exitCode === null ? agent.once('exit', r) : r(null)));
  await api?.stop();
  await up?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('dig against the agent', () => {
  it.each([['udp', q], ['tcp', tcp]] as const)('ClusterIP A, AAAA, SRV and PTR over %s', async (_, ask) => {
    expect((await ask(`web.default.svc.${Z}`)).answer).toEqual([`web.default.svc.${Z}. 30 A 198.19.0.20`]);
    expect((await ask(`web.default.svc.${Z}`, 'AAAA')).answer).toEqual([`web.default.svc.${Z}. 30 AAAA fd00:198:19::20`]);
    const srv = await ask(`_http._tcp.web.default.svc.${Z}`, 'SRV');
    expect(srv.answer).toEqual([`_http._tcp.web.default.svc.${Z}. 30 SRV 0 100 80 web.default.svc.${Z}.`]);
    expect(srv.additional.filter((r) => !r.includes('OPT'))).toEqual([`web.default.svc.${Z}. 30 A 198.19.0.20`, `web.default.svc.${Z}. 30 AAAA fd00:198:19::20`]);
    expect((await ask(`_dns._udp.web.default.svc.${Z}`, 'SRV')).answer).toEqual([`_dns._udp.web.default.svc.${Z}. 30 SRV 0 100 53 web.default.svc.${Z}.`]);
    expect((await ask('20.0.19.198.in-addr.arpa', 'PTR')).answer).toEqual([`20.0.19.198.in-addr.arpa. 30 PTR web.default.svc.${Z}.`]);
    const v6 = reverseName('fd00:198:19::20');
    expect((await ask(v6, 'PTR')).answer).toEqual([`${v6}. 30 PTR web.default.svc.${Z}.`]);
    const flags = (await ask(`web.default.svc.${Z}`)).flags;
    expect(flags).toEqual(expect.arrayContaining(['qr', 'aa', 'rd', 'ra']));
  });

  it.each([['udp', q], ['tcp', tcp]] as const)('headless: ready endpoints, hostnames, SRV per endpoint, PTR over %s', async (_, ask) => {
    expect((await ask(`db.default.svc.${Z}`)).answer).toEqual([`db.default.svc.${Z}. 30 A 198.18.128.5`, `db.default.svc.${Z}. 30 A 198.18.128.6`]);
    expect((await ask(`db-1.db.default.svc.${Z}`)).answer).toEqual([`db-1.db.default.svc.${Z}. 30 A 198.18.128.6`]);
    expect((await ask(`_pg._tcp.db.default.svc.${Z}`, 'SRV')).answer).toEqual([
      `_pg._tcp.db.default.svc.${Z}. 30 SRV 0 50 5432 db-0.db.default.svc.${Z}.`,
      `_pg._tcp.db.default.svc.${Z}. 30 SRV 0 50 5432 db-1.db.default.svc.${Z}.`,
    ]);
    expect((await ask('5.128.18.198.in-addr.arpa', 'PTR')).answer).toEqual([`5.128.18.198.in-addr.arpa. 30 PTR db-0.db.default.svc.${Z}.`]);
    expect((await ask(`unready.default.svc.${Z}`)).status).toBe('NXDOMAIN');
    expect((await ask(`10-18-128-7.db.default.svc.${Z}`)).status).toBe('NXDOMAIN');
  });

  it.each([['udp', q], ['tcp', tcp]] as const)('ExternalName, dns-version, apex, pods, NODATA vs NXDOMAIN over %s', async (_, ask) => {
    // The target's record comes from the forward cache (kept 30 s): its TTL ages between transports.
    const ext = (await ask(`ext.default.svc.${Z}`)).answer;
    expect(ext[0]).toBe(`ext.default.svc.${Z}. 30 CNAME www.example.test.`);
    expect(ext[1]).toMatch(/^www\.example\.test\. (30|2\d) A 192\.0\.2\.53$/);
    expect(ext).toHaveLength(2);
    expect((await ask(`dns-version.${Z}`, 'TXT')).answer).toEqual([`dns-version.${Z}. 28800 TXT "1.1.0"`]);
    expect((await ask(Z, 'SOA')).answer[0]).toMatch(new RegExp(`^${Z}\\. 30 SOA ns\\.dns\\.${Z}\\. hostmaster\\.${Z}\\. \\d+ 7200 1800 86400 30$`));
    expect((await ask(Z, 'NS')).answer).toEqual([`${Z}. 30 NS ns.dns.${Z}.`]);
    expect((await ask(`198-18-128-44.default.pod.${Z}`)).answer).toEqual([`198-18-128-44.default.pod.${Z}. 30 A 198.18.128.44`]);
    const nodata = await ask(`v4only.default.svc.${Z}`, 'AAAA');
    expect([nodata.status, nodata.answer.length, nodata.authority[0]?.split(' ')[2]]).toEqual(['NOERROR', 0, 'SOA']);
    const nx = await ask(`nope.default.svc.${Z}`);
    expect([nx.status, nx.authority[0]?.split(' ')[2]]).toEqual(['NXDOMAIN', 'SOA']);
    expect((await ask(`default.svc.${Z}`)).status).toBe('NOERROR');
    expect((await ask(`nonamespace.svc.${Z}`)).status).toBe('NXDOMAIN');
  });

  it('echoes the question case', async () => {
    const r = await q(`WeB.DeFault.svc.${Z}`);
    expect(r.answer).toEqual([`WeB.DeFault.svc.${Z}. 30 A 198.19.0.20`]);
  });

  it('truncates large answers to the UDP size with TC, and dig gets everything over TCP', async () => {
    const cut = await q(`big.default.svc.${Z}`, 'A', ['+ignore', '+noedns']);
    expect(cut.flags).toContain('tc');
    expect(cut.answer.length).toBeGreaterThan(10);
    expect(cut.answer.length).toBeLessThan(40);
    const edns = await q(`big.default.svc.${Z}`, 'A', ['+ignore', '+bufsize=1232']);
    expect(edns.flags).toContain('tc');
    expect(edns.answer.length).toBeGreaterThan(cut.answer.length);
    const full = await q(`big.default.svc.${Z}`); // dig retries over TCP on TC
    expect(full.flags).not.toContain('tc');
    expect(full.answer).toHaveLength(200);
    const bufsize = await q(`big.default.svc.${Z}`, 'A', ['+ignore', '+bufsize=8000']);
    expect(bufsize.flags).not.toContain('tc');
    expect(bufsize.answer).toHaveLength(200);
  });

  it('resolves a new Service within a second, and forgets a deleted one', async () => {
    expect((await q(`late.default.svc.${Z}`)).status).toBe('NXDOMAIN');
    const t0 = Date.now();
    api!.create(service('late', { clusterIP: '198.19.0.77', ports: [{ port: 80 }] }));
    await waitFor('the new Service', async () => (await q(`late.default.svc.${Z}`)).answer[0] === `late.default.svc.${Z}. 30 A 198.19.0.77`, 5_000, 20);
    expect(Date.now() - t0).toBeLessThan(1000);
    api!.create(slice('db', 'db-b', [{ ip: '198.18.128.8', hostname: 'db-2' }], [{ name: 'pg', port: 5432 }]));
    await waitFor('the new endpoint', async () => (await q(`db-2.db.default.svc.${Z}`)).status === 'NOERROR', 5_000, 20);
    expect((await q(`db.default.svc.${Z}`)).answer).toHaveLength(3);
    api!.delete('v1', 'services', 'default', 'late');
    await waitFor('the deleted Service', async () => (await q(`late.default.svc.${Z}`)).status === 'NXDOMAIN', 5_000, 20);
  });

  it('forwards other names to the upstream and caches them', async () => {
    const before = up.count('example.test');
    for (let i = 0; i < 5; i++) expect((await q('example.test')).answer).toEqual([expect.stringMatching(/^example\.test\. \d+ A 192\.0\.2\.10$/)]);
    expect((await tcp('example.test')).answer).toHaveLength(1);
    expect(up.count('example.test')).toBe(before);
    const nx = await q('missing.example.test');
    expect(nx.status).toBe('NXDOMAIN');
    await q('missing.example.test');
    expect(up.count('missing.example.test')).toBe(1);
    // a reverse name that is no cluster IP goes upstream too
    expect((await q('1.2.0.192.in-addr.arpa', 'PTR')).status).toBe('NXDOMAIN');
    expect(up.count('1.2.0.192.in-addr.arpa')).toBe(1);
  });

  it('exports CoreDNS-named metrics, with CoreDNS\'s labels, on the agent\'s metrics registry', async () => {
    const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    expect(text).toMatch(/coredns_dns_requests_total\{server="dns:\/\/127\.0\.0\.1:\d+",zone="\.",view="",proto="udp",family="1",type="A"\} \d+/);
    expect(text).toMatch(/coredns_dns_requests_total\{[^}]*proto="tcp"[^}]*\} \d+/);
    expect(text).toMatch(/coredns_dns_responses_total\{[^}]*zone="cluster\.local\.",view="",rcode="NXDOMAIN",plugin="kubernetes"\} \d+/);
    expect(text).toMatch(/coredns_dns_responses_total\{[^}]*zone="\.",view="",rcode="NOERROR",plugin="forward"\} [1-9]/);
    expect(text).toMatch(/coredns_dns_request_duration_seconds_bucket\{server="[^"]+",zone="cluster\.local\.",view="",le="\+Inf"\} [1-9]/);
    expect(text).toMatch(/coredns_dns_request_size_bytes_bucket\{[^}]*proto="udp",le="100"\} [1-9]/);
    expect(text).toMatch(/coredns_dns_response_size_bytes_count\{[^}]*proto="tcp"\} [1-9]/);
    expect(text).toMatch(/coredns_cache_requests_total\{[^}]*zones="\.",view=""\} [1-9]/);
    expect(text).toMatch(/coredns_proxy_request_duration_seconds_count\{proxy_name="forward",to="127\.0\.0\.1:\d+",rcode="NOERROR"\} [1-9]/);
    expect(text).toMatch(/coredns_forward_max_concurrent_rejects_total 0/);
    expect(text).toMatch(/coredns_dns_request_duration_seconds_bucket\{[^}]*le="0\.00025"\} \d+/);
    expect(text).toMatch(/coredns_cache_hits_total\{[^}]*type="success"[^}]*\} [1-9]/);
    expect(text).toMatch(/coredns_forward_requests_total\{to="127\.0\.0\.1:\d+"\} [1-9]/);
    const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    expect(ready.status).toBe(200);
  });
});
