// `nodeway migrate corefile`: the stock kubeadm and k3s Corefiles and the common edits to them
// become config keys nodeway reads back; whatever it cannot express is listed, never dropped.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { CorefileError, migrate, parseCorefile, renderMigration } from '../../modules/dns/corefile.ts';
import { dnsModule } from '../../modules/dns/index.ts';
import { dnsConfig } from '../../modules/dns/options.ts';
import { CORE_OPTIONS, readConfigFile } from '../../src/runtime/config.ts';
import { NODE, ROOT } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'nodeway-dns-corefile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const stock = (name: string) => readFileSync(join(ROOT, 'test', 'dns', 'corefiles', name), 'utf8');
const run = (text: string) => migrate(parseCorefile(text));

/** The rendered file read back as nodeway reads its config. */
function readBack(text: string) {
  const m = run(text);
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, renderMigration(m, (v) => stringify(v), 'test'));
  return dnsConfig({ ...readConfigFile(file, [...CORE_OPTIONS, ...dnsModule.options]), dnsListen: ['127.0.0.1:53'] });
}

describe('migrate corefile', () => {
  it('turns kubeadm\'s Corefile into its settings, listing loadbalance as not expressed', () => {
    const m = run(stock('kubeadm.Corefile'));
    expect(m.config).toEqual({ clusterDomain: 'cluster.local', dnsPods: 'insecure', dnsTTL: 30, dnsUpstream: ['/etc/resolv.conf'], dnsCacheSuccessTTL: 30, dnsCacheDenialTTL: 30 });
    expect(m.unsupported).toEqual(['line 22: loadbalance — answers keep a fixed record order']);
    expect(m.builtIn.map((s) => s.split(' — ')[0])).toEqual([
      'line 2: errors', 'line 3: health', 'line 4: lameduck 5s', 'line 6: ready', 'line 9: fallthrough in-addr.arpa ip6.arpa', 'line 12: prometheus :9153',
      'line 14: max_concurrent 1000', 'line 17: disable success cluster.local', 'line 18: disable denial cluster.local', 'line 20: loop', 'line 21: reload',
    ]);
    const c = readBack(stock('kubeadm.Corefile'));
    expect([c.zone, c.pods, c.ttl, c.upstream, c.cachePolicy]).toEqual(['cluster.local', 'insecure', 30, ['/etc/resolv.conf'], { success: 30, denial: 30, min: 5, servfail: 5 }]);
  });

  it('turns k3s\'s Corefile into its settings, NodeHosts into node names, and lists the imports', () => {
    const m = run(stock('k3s.Corefile'));
    expect(m.config).toEqual({ clusterDomain: 'cluster.local', dnsPods: 'insecure', dnsNodeHosts: true, dnsHostsTTL: 60, dnsUpstream: ['/etc/resolv.conf'], dnsCacheSuccessTTL: 30, dnsCacheDenialTTL: 30 });
    expect(m.unsupported.map((s) => s.split(' — ')[0])).toEqual(['line 19: loadbalance', 'line 20: import /etc/coredns/custom/*.override', 'line 22: import /etc/coredns/custom/*.server']);
    const c = readBack(stock('k3s.Corefile'));
    expect([c.nodeHosts, c.hostsTTL]).toEqual([true, 60]);
  });

  it('expresses the common edits (stub domains, host entries, upstreams, cache tuning) and lists the rest', () => {
    const text = `
# edited
.:53 {
    errors
    rewrite name login.example.com dex.auth.svc.cluster.local
    kubernetes k8s.internal in-addr.arpa ip6.arpa {
      pods verified
      fallthrough in-addr.arpa ip6.arpa
      ttl 5
      endpoint_pod_names
    }
    hosts {
      192.168.1.10 registry.lan nas.lan
      fd00::10 registry.lan
      fallthrough
    }
    forward corp.example 10.0.0.2 10.0.0.3
    forward . 1.1.1.1 dns://9.9.9.9:53 {
      policy random
    }
    cache 60 {
      success 20000 120 10
      denial 5000 10
      servfail 0
      prefetch 10
    }
}
consul:53 {
    errors
    cache 30
    forward . 10.0.0.10:8600
}
secure.example:53 {
    forward . tls://1.1.1.1
}
`;
    const m = run(text);
    expect(m.config).toEqual({
      clusterDomain: 'k8s.internal',
      dnsPods: 'verified',
      dnsTTL: 5,
      dnsUpstream: ['1.1.1.1', '9.9.9.9:53'],
      dnsCacheSuccessTTL: 120,
      dnsCacheDenialTTL: 10,
      dnsCacheMinTTL: 10,
      dnsCacheServfailTTL: 0,
      dnsCacheSize: 20000,
      dnsStubDomains: ['corp.example=10.0.0.2 10.0.0.3', 'consul=10.0.0.10:8600'],
      dnsHosts: ['192.168.1.10 registry.lan nas.lan', 'fd00::10 registry.lan'],
    });
    expect(m.unsupported.map((s) => s.split(' — ')[0])).toEqual([
      'line 5: rewrite name login.example.com dex.auth.svc.cluster.local',
      'line 10: endpoint_pod_names',
      'line 19: policy random',
      'line 21: cache 60',
      'line 25: prefetch 10',
      'line 34: forward . tls://1.1.1.1',
    ]);
    const c = readBack(text);
    expect(c.stubs).toEqual([{ zone: 'corp.example', upstream: ['10.0.0.2', '10.0.0.3'] }, { zone: 'consul', upstream: ['10.0.0.10:8600'] }]);
    expect(c.hosts).toHaveLength(2);
  });

  it('says where a Corefile is broken', () => {
    expect(() => parseCorefile('.:53 {\n  errors\n')).toThrow(CorefileError);
    expect(() => parseCorefile('.:53 {\n  hosts {\n  1.2.3.4 a\n}\n')).toThrow(/line 1: server block .:53: missing }/);
  });

  it('runs as `nodeway migrate corefile FILE`: the config on stdout, what it cannot express also on stderr', async () => {
    const file = join(ROOT, 'test', 'dns', 'corefiles', 'k3s.Corefile');
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(NODE, [join(ROOT, 'cmd', 'nodeway.ts'), 'migrate', 'corefile', file], (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr })),
    );
    expect(code).toBe(0);
    expect(stdout).toContain('dnsNodeHosts: true');
    expect(stdout).toContain('# NOT EXPRESSED (3)');
    expect(stderr.trim().split('\n')).toHaveLength(3);
    const out = join(dir, 'k3s.yaml');
    writeFileSync(out, stdout);
    expect(readConfigFile(out, [...CORE_OPTIONS, ...dnsModule.options]).dnsNodeHosts).toBe(true);
  });
});
