// Per-feature goldens on results: each feature's input (Services and slices) sits beside the
// table it produces (FakeNft's model of the kernel, dumped sorted) and the fate of packets
// traced through it, in test/proxy/features/<feature>.txt. A batching change leaves these
// files alone; a change of what the kernel holds or does shows in review.
// UPDATE_GOLDEN=1 rewrites them. The assertions below pin the semantics independently.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../../src/kube/objects.ts';
import type { ServiceView } from '../../src/view/types.ts';
import { FakeNft } from './fake-nft.ts';
import { NODE, service, slice, view } from './fixtures.ts';
import { familyProxy, node } from './helpers.ts';
import type { Packet, TraceOptions, Verdict } from './trace.ts';

const NODE_IP = '198.18.0.2';
const LOCAL: TraceOptions = { local: [NODE_IP] };
const POD = '198.19.1.50';
const OUTSIDE = '198.18.7.7';

interface Input {
  services: Service[];
  slices: EndpointSlice[];
}

function views(i: Input): Map<string, ServiceView> {
  return new Map(i.services.map((s) => [`${s.namespace}/${s.name}`, view(s, i.slices.filter((x) => x.serviceName === s.name))]));
}

function show(v: Verdict[]): string {
  const one = (x: Verdict) => `${x.verdict}${x.dnat ? ` dnat ${x.dnat}` : ''}${x.masquerade ? ' masquerade' : ''}`;
  return [...new Set(v.map(one))].sort().join(' | ');
}

function dnats(v: Verdict[]): string[] {
  return [...new Set(v.map((x) => x.dnat ?? x.verdict))].sort();
}

/** Loads `input`, traces `packets`, checks the golden; returns the fake for more assertions. */
async function feature(name: string, input: Input, packets: [string, Packet, Partial<TraceOptions>?][]): Promise<FakeNft> {
  const nft = new FakeNft();
  await familyProxy(4, nft).sync(views(input), new Set(), true, node(4));
  const lines = packets.map(([label, p, o]) => `${label}: ${p.src} → ${p.dst}:${p.port}/${p.proto}: ${show(nft.traceAll(p, { ...LOCAL, ...o }))}`);
  const text = [
    `# ${name}: input`,
    ...input.services.map((s) => JSON.stringify(s)),
    ...input.slices.map((s) => JSON.stringify(s)),
    '# table ip nodeway',
    nft.dump().trimEnd(),
    '# packets',
    ...lines,
    '',
  ].join('\n');
  const file = new URL(`./features/${name}.txt`, import.meta.url);
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
  return nft;
}

const tcp = (src: string, dst: string, port: number): Packet => ({ src, dst, proto: 'tcp', port });

describe('features, on results', () => {
  it('ClusterIP: random pick among ready endpoints; unknown port rejected; the node masqueraded, pods not', async () => {
    const input = {
      services: [service('web', { clusterIPs: ['198.19.0.10'] })],
      slices: [slice('web', 'web-1', [{ port: 8080 }], [{ ip: '198.19.2.1' }, { ip: '198.19.2.2' }, { ip: '198.19.2.3', ready: false }])],
    };
    const nft = await feature('clusterip', input, [
      ['pod', tcp(POD, '198.19.0.10', 80)],
      ['host', tcp(NODE_IP, '198.19.0.10', 80), { from: 'host' }],
      ['unknown port', tcp(POD, '198.19.0.10', 81)],
      ['free service address', tcp(POD, '198.19.0.99', 80)],
    ]);
    expect(dnats(nft.traceAll(tcp(POD, '198.19.0.10', 80), LOCAL))).toEqual(['198.19.2.1:8080', '198.19.2.2:8080']);
    expect(nft.trace(tcp(POD, '198.19.0.10', 80), LOCAL).masquerade).toBe(false);
    expect(nft.trace(tcp(NODE_IP, '198.19.0.10', 80), { ...LOCAL, from: 'host' }).masquerade).toBe(true);
    expect(nft.trace(tcp(POD, '198.19.0.10', 81), LOCAL).verdict).toBe('reject');
    expect(nft.trace(tcp(POD, '198.19.0.99', 80), LOCAL).verdict).toBe('drop');
  });

  it('no endpoints: reject; endpoints elsewhere only for a Local policy: drop', async () => {
    const input = {
      services: [
        service('empty', { clusterIPs: ['198.19.0.20'] }),
        service('local', { clusterIPs: ['198.19.0.21'], internalTrafficPolicy: 'Local' }),
      ],
      slices: [slice('local', 'local-1', [{ port: 8080 }], [{ ip: '198.19.2.7' }])],
    };
    const nft = await feature('no-endpoints', input, [
      ['pod', tcp(POD, '198.19.0.20', 80)],
      ['itp Local, none here', tcp(POD, '198.19.0.21', 80)],
    ]);
    expect(nft.trace(tcp(POD, '198.19.0.20', 80), LOCAL).verdict).toBe('reject');
    expect(nft.trace(tcp(POD, '198.19.0.21', 80), LOCAL).verdict).toBe('drop');
  });

  it('NodePort with externalTrafficPolicy Local: outside clients reach local endpoints only, unmasqueraded', async () => {
    const input = {
      services: [service('np', { type: 'NodePort', clusterIPs: ['198.19.0.30'], externalTrafficPolicy: 'Local', healthCheckNodePort: 31000, ports: [{ nodePort: 30080 }] })],
      slices: [slice('np', 'np-1', [{ port: 8080 }], [{ ip: '198.19.1.3', node: NODE }, { ip: '198.19.2.4' }])],
    };
    const nft = await feature('nodeport-local', input, [
      ['outside', tcp(OUTSIDE, NODE_IP, 30080)],
      ['pod to the ClusterIP', tcp(POD, '198.19.0.30', 80)],
      ['outside, other port', tcp(OUTSIDE, NODE_IP, 30081)],
    ]);
    const out = nft.traceAll(tcp(OUTSIDE, NODE_IP, 30080), LOCAL);
    expect(dnats(out)).toEqual(['198.19.1.3:8080']);
    expect(out.every((v) => !v.masquerade)).toBe(true);
    expect(dnats(nft.traceAll(tcp(POD, '198.19.0.30', 80), LOCAL))).toEqual(['198.19.1.3:8080', '198.19.2.4:8080']);
    expect(nft.trace(tcp(OUTSIDE, NODE_IP, 30081), LOCAL).verdict).toBe('accept');
    expect(nft.trace(tcp(OUTSIDE, NODE_IP, 30081), LOCAL).dnat).toBeUndefined();
  });

  it('LoadBalancer source ranges: allowed sources DNATed and masqueraded (Cluster policy), others dropped', async () => {
    const input = {
      services: [
        service('lb', { type: 'LoadBalancer', clusterIPs: ['198.19.0.40'], loadBalancerIPs: ['198.18.10.1'], loadBalancerSourceRanges: ['198.18.7.0/24'], ports: [{ nodePort: 30090 }] }),
      ],
      slices: [slice('lb', 'lb-1', [{ port: 8080 }], [{ ip: '198.19.2.5' }])],
    };
    const nft = await feature('loadbalancer-source-ranges', input, [
      ['allowed', tcp(OUTSIDE, '198.18.10.1', 80)],
      ['not allowed', tcp('203.0.113.9', '198.18.10.1', 80)],
    ]);
    expect(nft.trace(tcp(OUTSIDE, '198.18.10.1', 80), LOCAL)).toMatchObject({ verdict: 'accept', dnat: '198.19.2.5:8080', masquerade: true });
    expect(nft.trace(tcp('203.0.113.9', '198.18.10.1', 80), LOCAL).verdict).toBe('drop');
  });

  it('ClientIP affinity: each endpoint through its own chain; a pod reaching itself is masqueraded (hairpin)', async () => {
    const input = {
      services: [service('sticky', { clusterIPs: ['198.19.0.50'], affinityTimeout: 600 })],
      slices: [slice('sticky', 'sticky-1', [{ port: 8080 }], [{ ip: '198.19.1.5', node: NODE }, { ip: '198.19.2.6' }])],
    };
    const nft = await feature('affinity-hairpin', input, [
      ['pod', tcp(POD, '198.19.0.50', 80)],
      ['the endpoint itself', tcp('198.19.1.5', '198.19.0.50', 80)],
    ]);
    const all = nft.traceAll(tcp(POD, '198.19.0.50', 80), LOCAL);
    expect(dnats(all)).toEqual(['198.19.1.5:8080', '198.19.2.6:8080']);
    expect(all.every((v) => v.chains.some((c) => c.startsWith('endpoint-')))).toBe(true);
    const self = nft.traceAll(tcp('198.19.1.5', '198.19.0.50', 80), LOCAL).find((v) => v.dnat === '198.19.1.5:8080')!;
    expect(self.masquerade).toBe(true);
  });
});

describe('incremental syncs end where a fresh load does', () => {
  it('every ClusterIP port answers the same after the changes as after loading the result', async () => {
    const { initialServices, updatedServices, UPDATED_KEYS } = await import('./scenario.ts');
    const inc = new FakeNft();
    const fp = familyProxy(4, inc);
    await fp.sync(initialServices(), new Set(), true, node(4));
    await fp.sync(updatedServices(), UPDATED_KEYS, false, node(4));
    // An endpoint replaced one for one: the overrides map answers first, before and after compaction.
    const replaced = updatedServices();
    replaced.set('default/empty', view(service('empty', { clusterIPs: ['198.19.0.20'] }), [slice('empty', 'empty-1', [{ port: 8080 }], [{ ip: '198.19.2.8' }])]));
    await fp.sync(replaced, new Set(['default/empty']), false, node(4));
    const fresh = new FakeNft();
    await familyProxy(4, fresh).sync(replaced, new Set(), true, node(4));
    const probes: Packet[] = [];
    for (const v of replaced.values()) for (const ip of v.clusterIPs) for (const p of v.ports) probes.push({ src: POD, dst: ip, proto: p.protocol.toLowerCase() as Packet['proto'], port: p.port });
    expect(probes.length).toBeGreaterThan(5);
    const answers = (n: FakeNft) => probes.map((p) => `${p.dst}:${p.port}/${p.proto} ${show(n.traceAll(p, LOCAL))}`);
    expect(answers(inc)).toEqual(answers(fresh));
    expect(answers(inc)).toContain('198.19.0.20:80/tcp accept dnat 198.19.2.8:8080');
    expect(fp.pendingOverrides).toBe(1);
    await fp.compact();
    expect(answers(inc)).toEqual(answers(fresh));
  });
});
