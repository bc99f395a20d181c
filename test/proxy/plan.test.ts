// The pure layers: planning decisions, validation of bad input, element ownership, the
// failure path, stale conntrack selection, node context and health-check answers.
import { describe, expect, it } from 'vitest';
import { datagramPorts, parseConntrack, staleEntries, stalePorts } from '../../modules/proxy/conntrack.ts';
import { wantedHealthChecks } from '../../modules/proxy/healthcheck.ts';
import { kernelAtLeast } from '../../src/sys/kernel.ts';
import { hash8 } from '../../modules/proxy/names.ts';
import { familyNode } from '../../modules/proxy/node.ts';
import { proxyConfig } from '../../modules/proxy/options.ts';
import { DEFAULT_MASQ, localMatch, masqMark, nodeElements, pickChain } from '../../modules/proxy/plan-base.ts';
import { planService } from '../../modules/proxy/plan-service.ts';
import { disjointCIDRs } from '../../src/net/ip.ts';
import type { PeerView } from '../../src/view/types.ts';
import { FakeNft } from './fake-nft.ts';
import { NODE, service, slice, view, viewMap } from './fixtures.ts';
import { familyProxy, node } from './helpers.ts';

const ctx4 = { family: 4 as const, nodeIP: '198.18.0.2', masq: DEFAULT_MASQ };

function rules(svc: ReturnType<typeof view>, family: 4 | 6 = 4): string {
  const p = planService(svc, { ...ctx4, family })!.plan!;
  return [...p.chains].map(([n, c]) => `${n}: ${c.rules.join(' ; ')}`).concat(p.elements.map((e) => `${e.set} ${e.key} ${e.value}`)).join('\n');
}

describe('plan', () => {
  it('names chains like kube-proxy (base32 of sha256)', () => {
    expect(hash8('ns1/svc1/tcp/p80')).toMatch(/^[A-Z2-7]{8}$/);
    expect(hash8('ns1/svc1/tcp/p80')).toBe('ULMVA6XW'); // kube-proxy's proxier_test.go
  });

  it('eTP Local without local endpoints: external chain short-circuits pods and host, off-node traffic dropped', () => {
    const v = view(service('s', { type: 'NodePort', clusterIPs: ['198.19.0.1'], externalTrafficPolicy: 'Local', ports: [{ nodePort: 30001 }] }), [
      slice('s', 's1', [{ port: 8080 }], [{ ip: '198.19.2.9' }]),
    ]);
    const r = rules(v);
    expect(r).toMatch(/external-\S+: ip saddr @cluster-cidrs goto service-\S+ ; fib saddr type local meta mark set meta mark \| 0x4000 ; fib saddr type local goto service-\S+$/m);
    expect(r).toContain('service-nodeports tcp . 30001 goto external-');
    expect(r).toContain('no-endpoint-nodeports tcp . 30001 drop');
    expect(planService(v, ctx4).plan!.noLocal).toEqual({ internal: false, external: true });
  });

  it('masquerade-all drops the source test', () => {
    // A NodePort Service keeps its own cluster chain (a plain ClusterIP shares pick-N).
    const v = view(service('s', { type: 'NodePort', clusterIPs: ['198.19.0.1'], ports: [{ nodePort: 30001 }] }), [slice('s', 's1', [{ port: 8080 }], [{ ip: '198.19.2.9' }])]);
    const p = planService(v, { ...ctx4, masq: { ...DEFAULT_MASQ, masqueradeAll: true } }).plan!;
    expect([...p.chains].find(([n]) => n.startsWith('service-'))![1].rules[0]).toBe('ip daddr 198.19.0.1 tcp dport 80 meta mark set meta mark | 0x4000');
    expect(pickChain(4, 2, { ...DEFAULT_MASQ, masqueradeAll: true }).rules[0]).toBe('meta mark set meta mark | 0x4000');
    expect(pickChain(4, 2).rules[0]).toBe('ip saddr != @masquerade-exempt meta mark set meta mark | 0x4000');
  });

  it('masquerade bit and detect-local modes: the mark, and how pod traffic is matched', () => {
    expect(masqMark(14)).toBe('0x4000');
    expect(masqMark(5)).toBe('0x20');
    expect(masqMark(31)).toBe('0x80000000');
    const bridge = { masqueradeAll: false, mark: '0x20', detectLocal: { mode: 'BridgeInterface' as const, iface: 'cni0' } };
    expect(pickChain(4, 2, bridge).rules[0]).toBe('iifname != "cni0" meta mark set meta mark | 0x20');
    const v = view(service('s', { type: 'NodePort', clusterIPs: ['198.19.0.1'], externalTrafficPolicy: 'Local', ports: [{ nodePort: 30001 }] }), [slice('s', 's1', [{ port: 8080 }], [{ ip: '198.19.2.9' }])]);
    const ext = [...planService(v, { ...ctx4, masq: bridge }).plan!.chains].find(([n]) => n.startsWith('external-'))![1].rules;
    expect(ext[0]).toMatch(/^iifname "cni0" goto service-/);
    expect(ext[1]).toBe('fib saddr type local meta mark set meta mark | 0x20');
    expect(localMatch(6, { mode: 'InterfaceNamePrefix', prefix: 'veth' })).toEqual({ local: 'iifname "veth*"', notLocal: 'iifname != "veth*"' });
    // No cluster CIDR known: the exempt set holds every address (no off-cluster masquerade), the short-circuit set nothing.
    const els = nodeElements({ family: 4, nodePortIPs: 'all', nodeIP: '', clusterCIDRs: [], serviceCIDRs: [] });
    expect(els).toEqual([{ set: 'masquerade-exempt', key: '0.0.0.0/0', value: '' }]);
  });

  it('a plain ClusterIP port has no chain: its endpoints are elements picked by the shared pick-N chain', () => {
    const eps = [{ ip: '198.19.2.9' }, { ip: '198.19.2.8' }];
    const plain = planService(view(service('s', { clusterIPs: ['198.19.0.1'] }), [slice('s', 's1', [{ port: 8080 }], eps)]), ctx4).plan!;
    expect(plain.chains.size).toBe(0);
    expect(plain.elements.find((e) => e.set === 'service-ips')).toEqual({ set: 'service-ips', key: '198.19.0.1 . tcp . 80', value: 'goto pick-2', picks: { set: 'endpoint-picks-tcp', key: '198.19.0.1 . 80', values: ['198.19.2.8 . 8080', '198.19.2.9 . 8080'] } });
    expect(pickChain(4, 2).rules.slice(1, 3)).toEqual([
      'dnat ip to ip daddr . tcp dport . numgen random mod 2 map @endpoint-overrides-tcp',
      'dnat ip to ip daddr . tcp dport . numgen random mod 2 map @endpoint-picks-tcp',
    ]);
    // Affinity, a Local internal policy or an external address: a chain of its own, as before.
    for (const extra of [{ affinityTimeout: 60 }, { internalTrafficPolicy: 'Local' as const }, { externalIPs: ['198.18.10.9'] }]) {
      const p = planService(view(service('s', { clusterIPs: ['198.19.0.1'], ...extra }), [slice('s', 's1', [{ port: 8080 }], eps.map((e) => ({ ...e, node: NODE })))]), ctx4).plan!;
      expect(p.elements.some((e) => e.picks)).toBe(false);
      expect(p.chains.size).toBeGreaterThan(0);
    }
  });

  it('hairpin: every endpoint an external address can reach is masqueraded when it reaches itself, remote ones too', () => {
    // A pod on another node reaching this node's NodePort is short-circuited (eTP Local) to
    // the cluster endpoints, which may be itself: kube-proxy marks saddr == endpoint in every endpoint chain.
    const eps = [{ ip: '198.19.2.9', node: 'other' }, { ip: '198.19.1.4', node: NODE }];
    const np = planService(view(service('s', { type: 'NodePort', clusterIPs: ['198.19.0.1'], externalTrafficPolicy: 'Local', ports: [{ nodePort: 30001 }] }), [slice('s', 's1', [{ port: 8080 }], eps)]), ctx4).plan!;
    expect(np.elements.filter((e) => e.set === 'hairpin').map((e) => e.key).sort()).toEqual(['198.19.1.4 . 198.19.1.4', '198.19.2.9 . 198.19.2.9']);
    // ClusterIP traffic of a remote pod is DNATed on its own node: only local endpoints here.
    const cip = planService(view(service('s', { clusterIPs: ['198.19.0.1'] }), [slice('s', 's1', [{ port: 8080 }], eps)]), ctx4).plan!;
    expect(cip.elements.filter((e) => e.set === 'hairpin').map((e) => e.key)).toEqual(['198.19.1.4 . 198.19.1.4']);
  });

  it('not proxied, or no ClusterIP of the family: nothing', () => {
    expect(planService(view(service('s', { clusterIPs: ['198.19.0.1'], proxyName: 'other' })), ctx4).plan).toBeNull();
    expect(planService(view(service('s', { clusterIPs: ['198.19.0.1'] })), { ...ctx4, family: 6 }).plan).toBeNull();
  });

  it('bad input is left out with a reason, never rendered', () => {
    const v = view(service('s', { clusterIPs: ['198.19.0.1'], loadBalancerSourceRanges: ['nonsense'], type: 'LoadBalancer', loadBalancerIPs: ['198.18.10.1'] }), [
      slice('s', 's1', [{ port: 8080 }], [{ ip: '198.19.2.9' }]),
    ]);
    // Endpoints the view would never produce, to prove the plan does not trust it.
    v.ports[0]!.v4.cluster.push({ ...v.ports[0]!.v4.cluster[0]!, ip: '1.2.3.4; flush ruleset', port: 80 });
    v.ports.push({ ...v.ports[0]!, name: 'bad name' });
    const r = planService(v, ctx4);
    expect(r.skipped.map((s) => s.reason).sort()).toEqual(['endpoint', 'port', 'source-range']);
    expect(JSON.stringify(r.plan)).not.toContain('flush ruleset');
    expect(planService({ ...v, name: 'Bad"Name', key: 'default/Bad"Name' }, ctx4).plan).toBeNull();
    expect(planService({ ...v, affinityTimeout: -1 }, ctx4).skipped[0]!.reason).toBe('service');
  });

  it('overlapping ranges are merged so nft never sees overlapping intervals', () => {
    expect(disjointCIDRs(['10.0.0.0/8', '10.1.0.0/16', '10.2.3.4', ' 192.168.0.0/24 ', 'fd00::/8', 'x'], 4)).toEqual({ cidrs: ['10.0.0.0/8', '192.168.0.0/24'], bad: ['x'] });
  });
});

describe('family executor', () => {
  it('two Services claiming one externalIP:port: the first by name wins, the other takes over when it leaves', async () => {
    const nft = new FakeNft();
    const fp = familyProxy(4, nft);
    const mk = (name: string, ep: string) =>
      view(service(name, { clusterIPs: [name === 'a' ? '198.19.0.1' : '198.19.0.2'], externalIPs: ['198.18.10.9'] }), [slice(name, `${name}1`, [{ port: 8080 }], [{ ip: ep }])]);
    await fp.sync(viewMap(mk('b', '198.19.2.2'), mk('a', '198.19.2.1')), new Set(), true, node(4));
    expect(nft.take()).toMatch(/198\.18\.10\.9 \. tcp \. 80 : goto external-\S+-default\/a\//);
    await fp.sync(viewMap(mk('b', '198.19.2.2')), new Set(['default/a']), false, node(4));
    const s = nft.take();
    expect(s).toContain('delete element ip nodeway service-ips { 198.19.0.1 . tcp . 80, 198.18.10.9 . tcp . 80 }');
    expect(s).toMatch(/add element ip nodeway service-ips \{ 198\.18\.10\.9 \. tcp \. 80 : goto external-\S+-default\/b\//);
  });

  it('an endpoint replaced, count unchanged: one element update, no chain rewrite', async () => {
    const nft = new FakeNft();
    const fp = familyProxy(4, nft);
    const mk = (ep: string, extra = {}) => viewMap(view(service('a', { clusterIPs: ['198.19.0.1'], ...extra }), [slice('a', 'a1', [{ port: 8080 }], [{ ip: '198.19.2.1' }, { ip: ep }])]));
    await fp.sync(mk('198.19.2.2'), new Set(), true, node(4));
    nft.take();
    await fp.sync(mk('198.19.2.3'), new Set(['default/a']), false, node(4));
    // No delete on the way: the port's endpoints go to the overrides map, looked up first…
    expect(nft.take()).toBe('add element ip nodeway endpoint-overrides-tcp { 198.19.0.1 . 80 . 0 : 198.19.2.1 . 8080, 198.19.0.1 . 80 . 1 : 198.19.2.3 . 8080 }\n');
    expect(fp.pendingOverrides).toBe(1);
    // …and move to the main map later, in one transaction with the deletes.
    expect(await fp.compact()).toBe(1);
    expect(nft.take()).toBe(
      'delete element ip nodeway endpoint-picks-tcp { 198.19.0.1 . 80 . 0, 198.19.0.1 . 80 . 1 }\n' +
        'delete element ip nodeway endpoint-overrides-tcp { 198.19.0.1 . 80 . 0, 198.19.0.1 . 80 . 1 }\n' +
        'add element ip nodeway endpoint-picks-tcp { 198.19.0.1 . 80 . 0 : 198.19.2.1 . 8080, 198.19.0.1 . 80 . 1 : 198.19.2.3 . 8080 }\n',
    );
    expect(fp.pendingOverrides).toBe(0);
    expect(await fp.compact()).toBe(0);
    expect(nft.scripts).toEqual([]);
    // Replaced twice before a compaction: the second change rewrites the main map and drops the override.
    await fp.sync(mk('198.19.2.5'), new Set(['default/a']), false, node(4));
    nft.take();
    await fp.sync(mk('198.19.2.6'), new Set(['default/a']), false, node(4));
    expect(nft.take()).toBe(
      'delete element ip nodeway endpoint-overrides-tcp { 198.19.0.1 . 80 . 0, 198.19.0.1 . 80 . 1 }\n' +
        'delete element ip nodeway endpoint-picks-tcp { 198.19.0.1 . 80 . 0, 198.19.0.1 . 80 . 1 }\n' +
        'add element ip nodeway endpoint-picks-tcp { 198.19.0.1 . 80 . 0 : 198.19.2.1 . 8080, 198.19.0.1 . 80 . 1 : 198.19.2.6 . 8080 }\n',
    );
    expect(fp.pendingOverrides).toBe(0);
    // One endpoint more: the port moves to pick-3 (created once) and gains an element.
    await fp.sync(viewMap(view(service('a', { clusterIPs: ['198.19.0.1'] }), [slice('a', 'a1', [{ port: 8080 }], [{ ip: '198.19.2.1' }, { ip: '198.19.2.6' }, { ip: '198.19.2.7' }])])), new Set(['default/a']), false, node(4));
    const grown = nft.take();
    expect(grown).toContain('add chain ip nodeway pick-3\n');
    expect(grown).toContain('delete element ip nodeway service-ips { 198.19.0.1 . tcp . 80 }');
    expect(grown).toContain('add element ip nodeway service-ips { 198.19.0.1 . tcp . 80 : goto pick-3 }');
    expect(grown).toContain('add element ip nodeway endpoint-picks-tcp { 198.19.0.1 . 80 . 2 : 198.19.2.7 . 8080 }');

    // A port with its own chain (here: an externalIP) keeps its key range in a shard map.
    const nft2 = new FakeNft();
    const fp2 = familyProxy(4, nft2);
    const ext = { externalIPs: ['198.18.10.9'] };
    await fp2.sync(mk('198.19.2.2', ext), new Set(), true, node(4));
    nft2.take();
    await fp2.sync(mk('198.19.2.3', ext), new Set(['default/a']), false, node(4));
    // (An external address reaches remote endpoints too: their hairpin elements follow.)
    expect(nft2.take()).toMatch(
      /^delete element ip nodeway endpoints-tcp-(\S+) \{ 1 \}\ndelete element ip nodeway hairpin \{ 198\.19\.2\.2 \. 198\.19\.2\.2 \}\nadd element ip nodeway endpoints-tcp-\1 \{ 1 : 198\.19\.2\.3 \. 8080 \}\nadd element ip nodeway hairpin \{ 198\.19\.2\.3 \. 198\.19\.2\.3 \}\n$/,
    );
  });

  it('a Service CIDR change alone: only the service-cidrs elements change', async () => {
    const nft = new FakeNft();
    const fp = familyProxy(4, nft);
    const svcs = viewMap(view(service('a', { clusterIPs: ['198.19.0.1'] }), [slice('a', 'a1', [{ port: 8080 }], [{ ip: '198.19.2.1' }])]));
    await fp.sync(svcs, new Set(), true, node(4));
    expect(nft.take()).toContain('add rule ip nodeway cluster-ips-check ip daddr @cluster-ips reject\nadd rule ip nodeway cluster-ips-check ip daddr @service-cidrs drop\n');
    const r = await fp.sync(svcs, new Set(), false, { ...node(4), serviceCIDRs: ['198.19.0.0/24', '198.20.0.0/16'] });
    expect(r.kind).toBe('partial');
    expect(nft.take()).toBe('add element ip nodeway service-cidrs { 198.20.0.0/16 }\n');
    await fp.sync(svcs, new Set(), false, { ...node(4), serviceCIDRs: [] });
    expect(nft.take()).toBe('delete element ip nodeway service-cidrs { 198.19.0.0/24, 198.20.0.0/16 }\n');
  });

  it('a failed transaction changes nothing remembered; the next sync rewrites the table', async () => {
    const nft = new FakeNft();
    const fp = familyProxy(4, nft);
    const svcs = viewMap(view(service('a', { clusterIPs: ['198.19.0.1'] }), [slice('a', 'a1', [{ port: 8080 }], [{ ip: '198.19.2.1' }])]));
    await fp.sync(svcs, new Set(), true, node(4));
    nft.take();
    nft.failNext = true;
    const next = viewMap(view(service('a', { clusterIPs: ['198.19.0.1'] })));
    await expect(fp.sync(next, new Set(['default/a']), false, node(4))).rejects.toThrow(/injected/);
    expect(fp.isTrusted).toBe(false);
    expect(fp.appliedPlan('default/a')!.elements.find((e) => e.picks)?.picks?.values).toEqual(['198.19.2.1 . 8080']);
    nft.names_ = { exists: true, chains: new Set(), sets: new Map() };
    const r = await fp.sync(next, new Set(['default/a']), false, node(4));
    expect(r.kind).toBe('rewrite');
    expect(nft.take()).toMatch(/^add table ip nodeway .*\nflush table ip nodeway\n/);
  });

  it('a full sync with trusted memory and a matching table is a diff: nothing to send', async () => {
    const nft = new FakeNft();
    const fp = familyProxy(4, nft);
    const svcs = viewMap(view(service('a', { clusterIPs: ['198.19.0.1'], affinityTimeout: 60 }), [slice('a', 'a1', [{ port: 8080 }], [{ ip: '198.19.2.1' }])]));
    await fp.sync(svcs, new Set(), true, node(4));
    const first = nft.take();
    const chains = [...first.matchAll(/^add chain ip nodeway (\S+)/gm)].map((m) => m[1]!);
    const sets = [...first.matchAll(/^add (set|map) ip nodeway (\S+)/gm)].map((m) => [m[2]!, m[1] as 'set' | 'map'] as const);
    nft.names_ = { exists: true, chains: new Set(chains), sets: new Map(sets) };
    const r = await fp.sync(svcs, new Set(), true, node(4));
    expect(r).toMatchObject({ kind: 'full', ops: 0 });
    // One chain missing in the kernel: rewrite.
    nft.names_.chains.delete(chains.at(-1)!);
    expect((await fp.sync(svcs, new Set(), true, node(4))).kind).toBe('rewrite');
  });

  it('a brand-new table is loaded in chunks, hooks last', async () => {
    const nft = new FakeNft();
    const fp = familyProxy(4, nft);
    (fp as unknown as { o: { chunkOps: number } }).o.chunkOps = 10;
    const many = viewMap(...Array.from({ length: 20 }, (_, i) => view(service(`s${i}`, { clusterIPs: [`198.19.0.${i + 1}`] }), [slice(`s${i}`, 'x', [{ port: 8080 }], [{ ip: `198.19.2.${i + 1}` }])])));
    await fp.sync(many, new Set(), true, node(4));
    expect(nft.scripts.length).toBeGreaterThan(2);
    expect(nft.scripts.slice(0, -1).join('')).not.toMatch(/hook/);
    expect(nft.scripts.at(-1)).toMatch(/type nat hook prerouting/);
  });

  it('chunks count elements, not lines: one element line is cut when it holds more than a chunk', async () => {
    const nft = new FakeNft();
    const fp = familyProxy(4, nft);
    (fp as unknown as { o: { chunkOps: number } }).o.chunkOps = 25;
    const eps = Array.from({ length: 12 }, (_, j) => ({ ip: `198.19.3.${j + 1}` }));
    const many = viewMap(...Array.from({ length: 6 }, (_, i) => view(service(`s${i}`, { clusterIPs: [`198.19.0.${i + 1}`] }), [slice(`s${i}`, 'x', [{ port: 8080 }], eps)])));
    await fp.sync(many, new Set(), true, node(4));
    const elements = (script: string) => [...script.matchAll(/^add element \S+ \S+ (\S+) \{ (.*) \}$/gm)].flatMap((m) => m[2]!.split(', ').map((e) => `${m[1]} ${e}`));
    const chunked = nft.scripts.map(elements);
    // 72 endpoint picks alone: more than one line's worth of a chunk, so several runs.
    expect(nft.scripts.length).toBeGreaterThan(3);
    for (const els of chunked) expect(els.length).toBeLessThanOrEqual(25);
    // The same elements as one script would hold, each once.
    const whole = new FakeNft();
    await familyProxy(4, whole).sync(many, new Set(), true, node(4));
    expect(whole.scripts).toHaveLength(1);
    expect(chunked.flat().sort()).toEqual(elements(whole.scripts[0]!).sort());
  });
});

describe('conntrack', () => {
  const udp = view(service('u', { clusterIPs: ['198.19.0.53'], externalIPs: ['198.18.10.5'], ports: [{ protocol: 'UDP', port: 53, nodePort: 30053 }, { name: 't', port: 53 }] }), [
    slice('u', 'u1', [{ protocol: 'UDP', port: 5353 }], [{ ip: '198.19.2.1' }, { ip: '198.19.2.2', ready: false, serving: true, terminating: true }]),
  ]);

  it('only UDP/SCTP ports, serving endpoints whatever the policy', () => {
    expect(datagramPorts(udp, 4)).toEqual([{ proto: 'udp', dsts: ['198.19.0.53', '198.18.10.5'], port: 53, nodePort: 30053, serving: ['198.19.2.1', '198.19.2.2'] }]);
  });

  it('scale to zero makes every entry of the port stale (kubernetes#139628)', () => {
    const before = datagramPorts(udp, 4);
    const after = [{ ...before[0]!, serving: [] }];
    const stale = stalePorts(before, after);
    const entries = parseConntrack(
      'udp      17 29 src=198.19.1.2 dst=198.19.0.53 sport=40000 dport=53 src=198.19.2.1 dst=198.19.1.2 sport=5353 dport=40000 mark=0 use=1\n' +
        'udp      17 29 src=198.18.0.9 dst=198.18.0.2 sport=40001 dport=30053 src=198.19.2.2 dst=198.18.0.2 sport=5353 dport=40001 mark=0 use=1\n' +
        'udp      17 29 src=198.19.1.2 dst=198.19.0.99 sport=40002 dport=53 src=198.19.0.99 dst=198.19.1.2 sport=53 dport=40002 mark=0 use=1\n',
    );
    expect(staleEntries(stale, entries).map((e) => `${e.origDst}:${e.origDport}<-${e.replySrc}`)).toEqual(['198.19.0.53:53<-198.19.2.1', '198.18.0.2:30053<-198.19.2.2']);
    // Unchanged endpoints: nothing to look at.
    expect(stalePorts(before, before)).toEqual([]);
  });
});

describe('node context', () => {
  const peers = new Map<string, PeerView>([
    [NODE, { name: NODE, self: true, podCIDRs: ['198.19.1.0/24', 'fd00:198:19:1::/64'], internalIPs: ['198.18.0.2'], externalIPs: [], annotations: {}, zone: '', deleting: false }],
    ['node-b', { name: 'node-b', self: false, podCIDRs: ['198.19.2.0/24'], internalIPs: ['198.18.0.3'], externalIPs: [], annotations: {}, zone: '', deleting: false }],
  ]);
  const self = { name: NODE, known: true, zone: '', internalIPs: ['198.18.0.2', 'fd00:198:18::2'], externalIPs: [], podCIDRs: [] };
  const serviceCIDRs = ['198.19.0.0/24', 'fd00:198:19::/112'];
  const local = [
    { address: '127.0.0.1', internal: true },
    { address: '198.18.0.2', internal: false },
    { address: '10.0.0.5', internal: false },
  ];

  it('primary: the node IP; cluster CIDRs from every node', () => {
    const n = familyNode({ self, peers, serviceCIDRs }, proxyConfig({}), 4, local);
    expect(n).toEqual({ family: 4, nodePortIPs: ['198.18.0.2'], nodeIP: '198.18.0.2', clusterCIDRs: ['198.19.1.0/24', '198.19.2.0/24'], serviceCIDRs: ['198.19.0.0/24'] });
    expect(familyNode({ self, peers, serviceCIDRs }, proxyConfig({}), 6, local).clusterCIDRs).toEqual(['fd00:198:19:1::/64']);
  });

  it('Service CIDRs of the family, without those inside another (an interval set refuses overlaps)', () => {
    const many = ['10.96.0.0/12', '10.100.0.0/16', '10.200.0.0/16', 'fd00:96::/64', 'fd00:96::/112'];
    expect(familyNode({ self, peers, serviceCIDRs: many }, proxyConfig({}), 4, local).serviceCIDRs).toEqual(['10.96.0.0/12', '10.200.0.0/16']);
    expect(familyNode({ self, peers, serviceCIDRs: many }, proxyConfig({}), 6, local).serviceCIDRs).toEqual(['fd00:96::/64']);
    expect(familyNode({ self, peers, serviceCIDRs: [] }, proxyConfig({}), 4, local).serviceCIDRs).toEqual([]);
  });

  it('CIDR lists pick local addresses (never loopback); /0 means every address', () => {
    expect(familyNode({ self, peers, serviceCIDRs }, proxyConfig({ nodePortAddresses: ['10.0.0.0/8', '127.0.0.0/8'] }), 4, local).nodePortIPs).toEqual(['10.0.0.5']);
    expect(familyNode({ self, peers, serviceCIDRs }, proxyConfig({ nodePortAddresses: ['0.0.0.0/0'] }), 4, local).nodePortIPs).toBe('all');
    expect(familyNode({ self, peers, serviceCIDRs }, proxyConfig({ clusterCIDR: ['10.244.0.0/16'] }), 4, local).clusterCIDRs).toEqual(['10.244.0.0/16']);
  });

  it('NodePort addresses per family as kube-proxy: a family without CIDRs or without a node IP matches every local address', () => {
    const v6local = [...local, { address: 'fd00:198:18::2', internal: false }, { address: 'fd00:aa::9', internal: false }];
    // CIDRs of IPv4 only: IPv6 NodePorts answer on every local IPv6 address.
    const v4only = proxyConfig({ nodePortAddresses: ['10.0.0.0/8'] });
    expect(familyNode({ self, peers, serviceCIDRs }, v4only, 4, v6local).nodePortIPs).toEqual(['10.0.0.5']);
    expect(familyNode({ self, peers, serviceCIDRs }, v4only, 6, v6local).nodePortIPs).toBe('all');
    // "primary" on a Node that lists no IPv6 address: every IPv6 address, never an arbitrary one.
    const v4self = { ...self, internalIPs: ['198.18.0.2'] };
    expect(familyNode({ self: v4self, peers, serviceCIDRs }, proxyConfig({}), 6, v6local).nodePortIPs).toBe('all');
    expect(familyNode({ self: v4self, peers, serviceCIDRs }, proxyConfig({}), 4, v6local).nodePortIPs).toEqual(['198.18.0.2']);
  });

  it('kernel version gate for same-transaction chain deletion', () => {
    expect(kernelAtLeast('6.18.44-fc', 6, 2)).toBe(true);
    expect(kernelAtLeast('6.1.0-13-amd64', 6, 2)).toBe(false);
    expect(kernelAtLeast('5.15.0', 6, 2)).toBe(false);
  });
});

describe('health checks', () => {
  it('one per eTP Local Service with a health check node port, counting local Ready endpoints only', () => {
    const v = view(service('lb', { type: 'LoadBalancer', clusterIPs: ['198.19.0.1'], externalTrafficPolicy: 'Local', healthCheckNodePort: 31000, ports: [{ nodePort: 30000 }] }), [
      slice('lb', 'l1', [{ port: 8080 }], [{ ip: '198.19.1.5', node: NODE }, { ip: '198.19.1.6', node: NODE, ready: false, serving: true, terminating: true }, { ip: '198.19.2.5' }]),
    ]);
    expect([...wantedHealthChecks([v])]).toEqual([[31000, { key: 'default/lb', namespace: 'default', name: 'lb', localEndpoints: 1 }]]);
  });
});

