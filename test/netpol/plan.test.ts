// The pure plan, table-driven from the spec and the traps of the research notes §6.5.
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../modules/netpol/evaluate.ts';
import { plan } from '../../modules/netpol/plan.ts';
import { judge, plans } from './judge.ts';
import { referenceAllowed, endOf } from './reference.ts';
import { upstreamModel, World } from './world.ts';

const TCP = 'TCP', UDP = 'UDP', SCTP = 'SCTP';

/** The model on one node, plus helpers naming pods "x/a". */
function model(nodes?: string[]) {
  const { world, ip } = upstreamModel(nodes);
  const can = (from: string, to: string, port = 80, proto = TCP) => judge(world, ip(from), ip(to), proto, port);
  const ref = (from: string, to: string, port = 80, proto = TCP) => referenceAllowed(world, endOf(world, ip(from)), endOf(world, ip(to)), proto, port);
  return { w: world, ip, can, ref };
}

const PODS = ['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c'];

/** Every pair's verdict on the given port, as a set of "from>to" that are denied. */
function denied(m: ReturnType<typeof model>, port = 80, proto = TCP): string[] {
  const out: string[] = [];
  for (const f of PODS) for (const t of PODS) {
    if (f === t) continue;
    const got = m.can(f, t, port, proto);
    expect(got, `${f}>${t} ${proto}/${port}: plan vs reference`).toBe(m.ref(f, t, port, proto));
    if (!got) out.push(`${f}>${t}`);
  }
  return out;
}
const into = (ns: string) => PODS.filter((p) => !p.startsWith(`${ns}/`)).flatMap((f) => PODS.filter((t) => t.startsWith(`${ns}/`) && t !== f).map((t) => `${f}>${t}`)).concat(
  PODS.filter((p) => p.startsWith(`${ns}/`)).flatMap((f) => PODS.filter((t) => t.startsWith(`${ns}/`) && t !== f).map((t) => `${f}>${t}`)));
const sorted = (l: string[]) => [...new Set(l)].sort();

describe.each([['one node', ['n1']], ['three nodes', ['n1', 'n2', 'n3']]])('upstream cases (%s)', (_, nodes) => {
  it('no policy: everything allowed, nothing isolated', () => {
    const m = model(nodes);
    expect(denied(m)).toEqual([]);
    for (const d of plans(m.w).values()) expect(d.v4.ingress.size + d.v4.egress.size).toBe(0);
  });

  it('#1 default-deny-ingress: all → x denied, x → y allowed', () => {
    const m = model(nodes);
    m.w.np('x', 'deny', { podSelector: {} });
    expect(sorted(denied(m))).toEqual(sorted(into('x')));
  });

  it('#2 default-deny-all: all ↔ x denied', () => {
    const m = model(nodes);
    m.w.np('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const d = denied(m);
    for (const f of PODS) for (const t of PODS) if (f !== t) expect(d.includes(`${f}>${t}`)).toBe(f.startsWith('x/') || t.startsWith('x/'));
  });

  it('#3 podSelector-only peer: pods of the policy\'s own namespace only (trap 2)', () => {
    const m = model(nodes);
    m.w.np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] });
    expect(m.can('x/b', 'x/a')).toBe(true);
    expect(m.can('y/b', 'x/a')).toBe(false);
    expect(m.can('x/c', 'x/a')).toBe(false);
    denied(m);
  });

  it('#10 podSelector AND namespaceSelector in one peer; #9 as two peers is OR', () => {
    const m = model(nodes);
    const notX = { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['x'] }] };
    m.w.np('x', 'and', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: notX, podSelector: { matchLabels: { pod: 'b' } } }] }] });
    expect(m.can('y/b', 'x/a')).toBe(true);
    expect(m.can('y/a', 'x/a')).toBe(false);
    expect(m.can('x/b', 'x/a')).toBe(false);
    denied(m);
    m.w.np('x', 'and', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: notX }, { podSelector: { matchLabels: { pod: 'b' } } }] }] });
    expect(m.can('y/a', 'x/a')).toBe(true);
    expect(m.can('x/b', 'x/a')).toBe(true);
    expect(m.can('x/c', 'x/a')).toBe(false);
    denied(m);
  });

  it('#14 ports: ns y on TCP 81 only', () => {
    const m = model(nodes);
    m.w.np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }], ports: [{ port: 81, protocol: TCP }] }] });
    expect(m.can('y/b', 'x/a', 81)).toBe(true);
    expect(m.can('y/b', 'x/a', 80)).toBe(false);
    expect(m.can('z/b', 'x/a', 81)).toBe(false);
    expect(m.can('y/b', 'x/a', 81, UDP)).toBe(false);
    denied(m, 80);
    denied(m, 81);
  });

  it('#16 ingress: [{}] allows everything; #20 ingress: [] denies everything', () => {
    const m = model(nodes);
    m.w.np('x', 'p', { podSelector: {}, ingress: [{}] });
    expect(denied(m)).toEqual([]);
    m.w.np('x', 'p', { podSelector: {}, ingress: [] });
    expect(sorted(denied(m))).toEqual(sorted(into('x')));
  });

  it('#17/#19 named ports: ingress resolved on the target, egress on each destination', () => {
    const m = model(nodes);
    m.w.np('x', 'in', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] });
    expect(m.can('y/a', 'x/a', 81)).toBe(true);
    expect(m.can('y/a', 'x/a', 80)).toBe(false);
    m.w.np('x', 'out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-80-tcp' }] }] });
    expect(m.can('x/a', 'y/a', 80)).toBe(true);
    expect(m.can('x/a', 'y/a', 81)).toBe(false);
    denied(m, 80);
    denied(m, 81);
  });

  it('#28 egress denial wins over an ingress allow, on one node and across nodes (trap 1)', () => {
    const m = model(nodes);
    m.w.np('x', 'out', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } }, podSelector: { matchLabels: { pod: 'a' } } }] }] });
    m.w.np('y', 'in', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'a' } } }] }] });
    expect(m.can('x/a', 'y/a')).toBe(true);
    expect(m.can('x/a', 'y/b')).toBe(false);
    denied(m);
  });

  it('#30 protocol-only port; #38-#40 SCTP and UDP never treated as TCP', () => {
    const m = model(nodes);
    m.w.np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ protocol: TCP }] }] });
    expect(m.can('y/a', 'x/a', 80, TCP)).toBe(true);
    expect(m.can('y/a', 'x/a', 80, UDP)).toBe(false);
    m.w.np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ protocol: SCTP, port: 81 }] }] });
    expect(m.can('y/a', 'x/a', 81, TCP)).toBe(false);
    expect(m.can('y/a', 'x/a', 81, SCTP)).toBe(true);
    m.w.np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ protocol: UDP, port: 81 }] }] });
    expect(m.can('y/a', 'x/a', 81, TCP)).toBe(false);
    expect(m.can('y/a', 'x/a', 81, UDP)).toBe(true);
  });

  it('#34-#36 ipBlock matches pod IPs; except; an excepted IP allowed by another rule', () => {
    const m = model(nodes);
    m.w.np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: [`${m.ip('x/b')}/32`] } }] }] });
    expect(m.can('x/a', 'x/c')).toBe(true);
    expect(m.can('x/a', 'y/b')).toBe(true);
    expect(m.can('x/a', 'x/b')).toBe(false);
    denied(m);
    m.w.np('x', 'q', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${m.ip('x/b')}/32` } }] }] });
    expect(m.can('x/a', 'x/b')).toBe(true);
    denied(m);
  });
});

describe('what the spec leaves to the plan', () => {
  it('policyTypes defaults: Egress only with egress rules; an egress-only policy leaves ingress open', () => {
    const { world: w, ip } = upstreamModel();
    w.np('x', 'p', { podSelector: {}, egress: [{ to: [{ podSelector: {} }] }] });
    const d = plan({ nodeName: 'node-a', policy: w });
    expect(d.v4.ingress.has(ip('x/a'))).toBe(true);
    expect(d.v4.egress.has(ip('x/a'))).toBe(true);
    w.np('x', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [] });
    const e = plan({ nodeName: 'node-a', policy: w });
    expect(e.v4.ingress.has(ip('x/a'))).toBe(false);
    expect(judge(w, ip('x/a'), ip('y/a'), TCP, 80)).toBe(false);
    expect(judge(w, ip('y/a'), ip('x/a'), TCP, 80)).toBe(true);
  });

  it('a named port with different numbers on different pods; a name whose protocol does not match', () => {
    const w = new World().ns('x').ns('y');
    w.pod('x', 'a', { node: 'n', ips: ['10.0.0.1'], labels: { app: 'a' } });
    w.pod('y', 'b1', { node: 'n', ips: ['10.0.1.1'], ports: [{ name: 'web', containerPort: 8080 }] });
    w.pod('y', 'b2', { node: 'n', ips: ['10.0.1.2'], ports: [{ name: 'web', containerPort: 9090 }] });
    w.pod('y', 'b3', { node: 'n', ips: ['10.0.1.3'], ports: [{ name: 'web', containerPort: 8080, protocol: UDP }] });
    w.np('x', 'out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'web', protocol: TCP }] }] });
    expect(judge(w, '10.0.0.1', '10.0.1.1', TCP, 8080)).toBe(true);
    expect(judge(w, '10.0.0.1', '10.0.1.1', TCP, 9090)).toBe(false);
    expect(judge(w, '10.0.0.1', '10.0.1.2', TCP, 9090)).toBe(true);
    expect(judge(w, '10.0.0.1', '10.0.1.3', TCP, 8080)).toBe(false);
    expect(judge(w, '10.0.0.1', '10.0.1.3', UDP, 8080)).toBe(false);
    // An external destination never has a named port.
    expect(judge(w, '10.0.0.1', '192.0.2.1', TCP, 8080)).toBe(false);
  });

  it('endPort: a short range is elements, a wide one a rule; both inclusive', () => {
    const w = new World().ns('x');
    w.pod('x', 'a', { node: 'n', ips: ['10.0.0.1'] });
    w.pod('x', 'b', { node: 'n', ips: ['10.0.0.2'] });
    w.np('x', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 53, endPort: 80 }, { port: 1000, endPort: 2000, protocol: UDP }] }] });
    for (const [port, proto, ok] of [[52, TCP, false], [53, TCP, true], [80, TCP, true], [81, TCP, false], [53, UDP, false], [1000, UDP, true], [2000, UDP, true], [2001, UDP, false], [1500, TCP, false]] as const) {
      expect(judge(w, '10.0.0.1', '10.0.0.2', proto, port), `${proto}/${port}`).toBe(ok);
    }
    const g = [...plan({ nodeName: 'n', policy: w }).v4.groups.values()][0]!;
    expect(g.rules.some((r) => r.match.some((m) => m.m === 'range' && m.from === 1000 && m.to === 2000))).toBe(true);
  });

  it('unreadable ports or peers never widen a rule: the rule matches nothing (trap 3)', () => {
    const w = new World().ns('x');
    w.pod('x', 'a', { node: 'n', ips: ['10.0.0.1'] });
    w.pod('x', 'b', { node: 'n', ips: ['10.0.0.2'] });
    const warns: string[] = [];
    w.np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'NOT A NAME!' }] }, { from: [{ ipBlock: { cidr: 'bogus' } }] }] }, (m) => warns.push(m));
    expect(warns.length).toBe(2);
    expect(judge(w, '10.0.0.1', '10.0.0.2', TCP, 80)).toBe(false);
    // A named port no pod has: nothing matches, and nothing breaks.
    w.np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'nope' }] }] });
    expect(judge(w, '10.0.0.1', '10.0.0.2', TCP, 80)).toBe(false);
  });

  it('Succeeded/Failed pods and pods without IPs are in no set; a reused IP belongs to the live pod (trap 4)', () => {
    const w = new World().ns('x');
    w.pod('x', 'old', { node: 'n', ips: ['10.0.0.9'], labels: { role: 'friend' }, phase: 'Succeeded' });
    w.pod('x', 'new', { node: 'n', ips: ['10.0.0.9'], labels: { role: 'stranger' } });
    w.pod('x', 'pending', { node: 'n', ips: [], labels: { role: 'friend' }, phase: 'Pending' });
    w.pod('x', 'srv', { node: 'n', ips: ['10.0.0.1'], labels: { app: 'srv' } });
    w.np('x', 'p', { podSelector: { matchLabels: { app: 'srv' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'friend' } } }] }] });
    const d = plan({ nodeName: 'n', policy: w });
    for (const s of d.v4.elements.values()) expect([...s].some((e) => e.startsWith('10.0.0.9'))).toBe(false);
    expect(judge(w, '10.0.0.9', '10.0.0.1', TCP, 80)).toBe(false);
    expect(d.v4.hairpin.has('10.0.0.9')).toBe(true); // the live pod's
  });

  it('hostNetwork pods are never selected nor peers; an ipBlock still matches their (node) IP', () => {
    const w = new World().ns('x');
    w.pod('x', 'host', { node: 'n', ips: ['192.168.0.1'], labels: { app: 'srv' }, hostNetwork: true });
    w.pod('x', 'srv', { node: 'n', ips: ['10.0.0.1'], labels: { app: 'srv' } });
    w.np('x', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'srv' } } }] }] });
    const d = plan({ nodeName: 'n', policy: w });
    expect(d.v4.ingress.has('192.168.0.1')).toBe(false);
    expect(judge(w, '192.168.0.1', '10.0.0.1', TCP, 80)).toBe(false);
    w.np('x', 'q', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '192.168.0.0/24' } }] }] });
    expect(judge(w, '192.168.0.1', '10.0.0.1', TCP, 80)).toBe(true);
  });

  it('a pod reaches itself (through its Service) even when isolated both ways', () => {
    const { world: w, ip } = upstreamModel();
    w.np('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const d = plan({ nodeName: 'node-a', policy: w });
    expect(evaluate(d.v4, { src: ip('x/a'), dst: ip('x/a'), proto: TCP, port: 80 }).allowed).toBe(true);
    expect(evaluate(d.v4, { src: ip('x/a'), dst: ip('x/b'), proto: TCP, port: 80 }).allowed).toBe(false);
  });

  it('dual-stack: both families planned alike; a single-stack pod only in its family (trap 7)', () => {
    const { world: w } = upstreamModel();
    w.pod('x', 'v4only', { node: 'node-a', ips: ['10.244.9.9'], labels: { pod: 'b' } });
    w.np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] });
    expect(judge(w, 'fd00:244::11', 'fd00:244::10', TCP, 80)).toBe(true);
    expect(judge(w, 'fd00:244::12', 'fd00:244::10', TCP, 80)).toBe(false);
    const d = plan({ nodeName: 'node-a', policy: w });
    const all6 = [...d.v6.elements.values()].flatMap((s) => [...s]);
    expect(all6.every((e) => e.includes(':'))).toBe(true);
    expect(d.v4.groups.size).toBe(d.v6.groups.size);
  });

  it('namespaces are selected by kubernetes.io/metadata.name even when the object lacks it (trap 8)', () => {
    const { world: w, ip } = upstreamModel();
    w.np('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] });
    expect(judge(w, ip('y/c'), ip('x/a'), TCP, 80)).toBe(true);
    expect(judge(w, ip('z/c'), ip('x/a'), TCP, 80)).toBe(false);
  });

  it('pods with the same policies share one group; a peer label change only changes elements', () => {
    const { world: w, ip } = upstreamModel();
    w.np('x', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'x' } } }] }] });
    const d1 = plan({ nodeName: 'node-a', policy: w });
    expect(new Set(d1.v4.ingress.values()).size).toBe(1);
    w.pod('y', 'a', { node: 'node-a', ips: [ip('y/a')], labels: { pod: 'a', role: 'x' } });
    w.np('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: 'x' } } }] }] });
    const d2 = plan({ nodeName: 'node-a', policy: w });
    const g = [...d2.v4.groups.values()][0]!;
    const peers = g.rules.flatMap((r) => r.match).find((m) => m.m === 'peer')!;
    expect(d2.v4.elements.get((peers as { set: string }).set)).toEqual(new Set([ip('y/a')]));
  });
});

describe('ClusterNetworkPolicy tiers', () => {
  const admin = (name: string, priority: number, ingress: unknown[]) => ({ tier: 'Admin', priority, subject: { namespaces: nsIsX }, ingress });
  const nsIsX = { matchLabels: { 'kubernetes.io/metadata.name': 'x' } };
  const fromNs = (ns: string) => [{ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': ns } } }];

  it('lower priority wins; rule order within a policy; Accept skips NetworkPolicy isolation', () => {
    const { world: w, ip } = upstreamModel(['n1', 'n2']);
    w.np('x', 'deny', { podSelector: {} });
    w.cnp('allow-y', admin('allow-y', 5, [{ action: 'Accept', from: fromNs('y') }]));
    w.cnp('deny-y', admin('deny-y', 10, [{ action: 'Deny', from: fromNs('y') }, { action: 'Accept', from: fromNs('z') }]));
    expect(judge(w, ip('y/a'), ip('x/a'), TCP, 80)).toBe(true);
    expect(judge(w, ip('z/a'), ip('x/a'), TCP, 80)).toBe(true);
    w.cnp('allow-y', admin('allow-y', 50, [{ action: 'Accept', from: fromNs('y') }]));
    expect(judge(w, ip('y/a'), ip('x/a'), TCP, 80)).toBe(false);
  });

  it('Pass hands over to NetworkPolicy; Baseline applies only to pods no NetworkPolicy isolates', () => {
    const { world: w, ip } = upstreamModel();
    w.cnp('pass', admin('pass', 1, [{ action: 'Pass', from: fromNs('y') }, { action: 'Deny', from: [{ namespaces: {} }] }]));
    w.cnp('base', { tier: 'Baseline', priority: 1, subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: fromNs('z') }] });
    expect(judge(w, ip('y/a'), ip('x/a'), TCP, 80)).toBe(true); // Pass → no NP → Baseline: not from z → allowed
    expect(judge(w, ip('z/a'), ip('y/a'), TCP, 80)).toBe(false); // Baseline Deny
    w.np('y', 'allow-z', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] });
    expect(judge(w, ip('z/a'), ip('y/a'), TCP, 80)).toBe(true); // NetworkPolicy decides; Baseline not consulted
    w.np('x', 'only-z', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }] }] });
    expect(judge(w, ip('y/a'), ip('x/a'), TCP, 80)).toBe(false); // Pass → NetworkPolicy denies
  });

  it('an unreadable peer fails closed: Accept matches nothing, Deny matches everything; hairpin is judged too', () => {
    const { world: w, ip } = upstreamModel();
    w.cnp('acc', { tier: 'Admin', priority: 1, subject: { namespaces: {} }, egress: [{ action: 'Accept', to: [{ nodes: {} }] }] }, () => {});
    w.np('x', 'deny-out', { podSelector: {}, policyTypes: ['Egress'] });
    expect(judge(w, ip('x/a'), ip('y/a'), TCP, 80)).toBe(false);
    w.cnp('acc', { tier: 'Admin', priority: 1, subject: { namespaces: nsIsX }, egress: [{ action: 'Deny', to: [{ domainNames: ['example.com'] }] }] }, () => {});
    w.networkPolicies.clear();
    expect(judge(w, ip('x/a'), ip('y/a'), TCP, 80)).toBe(false);
    expect(judge(w, ip('x/a'), ip('x/a'), TCP, 80)).toBe(false);
    expect(judge(w, ip('y/a'), ip('y/b'), TCP, 80)).toBe(true);
  });
});

describe('peer sets shared between groups', () => {
  it('groups whose policies allow the same peers on the same ports use one set; other ports, another', () => {
    const w = new World().ns('x').ns('y');
    for (const ns of ['x', 'y']) for (const pod of ['a', 'b']) w.pod(ns, pod, { node: 'node-a', ips: [`10.1.${ns === 'x' ? 1 : 2}.${pod === 'a' ? 1 : 2}`], labels: { pod } });
    const from = [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }];
    w.np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from, ports: [{ port: 80 }] }] });
    w.np('y', 'q', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from, ports: [{ port: 80 }] }] });
    w.np('y', 'r', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from, ports: [{ port: 81 }] }] });
    const d = plan({ nodeName: 'node-a', policy: w });
    const setOf = (ip: string) => d.v4.groups.get(d.v4.ingress.get(ip)!)!.rules.flatMap((r) => r.match).find((m) => m.m === 'peerPort') as { set: string };
    expect(d.v4.ingress.get('10.1.1.1')).not.toBe(d.v4.ingress.get('10.1.2.1'));
    expect(setOf('10.1.1.1').set).toBe(setOf('10.1.2.1').set);
    expect(setOf('10.1.2.2').set).not.toBe(setOf('10.1.1.1').set);
    expect(d.v4.elements.get(setOf('10.1.1.1').set)).toEqual(new Set(['10.1.1.2 . tcp . 80', '10.1.2.2 . tcp . 80']));
  });
});

describe('pod peers on several ports: one element a peer, the ports in the rule', () => {
  it('a list of ports (and a small range) is a peer set plus a port match; past MAX_PORT_LISTS lists, peer . port elements', () => {
    const m = model(['n1']);
    const from = (pod: string) => [{ podSelector: { matchLabels: { pod } } }];
    // x/a: five clauses, five distinct lists (two ports or more each), one single port.
    m.w.np('x', 'multi', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [
      { from: from('b'), ports: [{ port: 80 }, { port: 81 }] },
      { from: from('c'), ports: [{ port: 80, endPort: 82 }] },
      { from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 81 }, { port: 82, protocol: 'UDP' }] },
      { from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'c' } } }], ports: [{ port: 90 }, { port: 91 }] },
      { from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 7 }, { port: 9 }] },
      { from: from('a'), ports: [{ port: 1500 }] },
    ] });
    const fd = plan({ nodeName: 'n1', policy: m.w }).v4;
    const g = fd.groups.get(fd.ingress.get(m.ip('x/a'))!)!;
    const lists = g.rules.filter((r) => r.match.some((x) => x.m === 'ports'));
    expect(lists).toHaveLength(4);
    // Each list rule: a peer set (addresses only) and the list.
    for (const r of lists) {
      expect(r.match.map((x) => x.m)).toEqual(['peer', 'ports']);
      const set = (r.match[0] as { set: string }).set;
      for (const e of fd.elements.get(set)!) expect(e).toMatch(/^10\.244\.\d+\.\d+$/);
    }
    expect(lists.map((r) => JSON.stringify((r.match[1] as { ports: unknown }).ports)).sort()).toEqual([
      '[["TCP",7],["TCP",9]]', '[["TCP",80],["TCP",81],["TCP",82]]', '[["TCP",80],["TCP",81]]', '[["TCP",81],["UDP",82]]',
    ].sort());
    // The fifth list (90, 91; the last in order) and the single port: peer . port elements.
    const pp = g.rules.find((r) => r.match[0]?.m === 'peerPort')!;
    const els = [...fd.elements.get((pp.match[0] as { set: string }).set)!].sort();
    expect(els).toEqual([`${m.ip('x/a')} . tcp . 1500`, ...['x/c', 'y/c', 'z/c'].flatMap((p) => [`${m.ip(p)} . tcp . 90`, `${m.ip(p)} . tcp . 91`])].sort());
    // Verdicts: the interpreter against the reference evaluator.
    for (const port of [7, 9, 80, 81, 82, 90, 91, 1500, 8]) for (const proto of [TCP, UDP]) denied(m, port, proto);
  });
});
