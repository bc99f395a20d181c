// ClusterNetworkPolicy egress peers beyond pods: `nodes` (selected by label, every address of
// both families), `networks`, and `domainNames`, which fails closed with a warning saying why.
import { describe, expect, it } from 'vitest';
import { plan } from '../../modules/netpol/plan.ts';
import { Planner } from '../../modules/netpol/planner.ts';
import { desiredToJSON } from '../../modules/netpol/print.ts';
import { toNode } from '../../src/kube/convert.ts';
import { judge } from './judge.ts';
import { endOf, referenceAllowed } from './reference.ts';
import { upstreamModel } from './world.ts';

function model() {
  const m = upstreamModel(['n1', 'n2']);
  m.world.node('n1', { role: 'cp' }, ['198.18.0.1', 'fd00:198:18::1', 'ExternalIP=203.0.113.1'])
    .node('n2', { role: 'worker' }, ['198.18.0.2', 'fd00:198:18::2']);
  return m;
}

const nsX = { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } };
const both = (m: ReturnType<typeof model>, src: string, dst: string, port = 443) => {
  const got = judge(m.world, src, dst, 'TCP', port);
  expect(got, `${src} → ${dst}: plan vs reference`).toBe(referenceAllowed(m.world, endOf(m.world, src), endOf(m.world, dst), 'TCP', port));
  return got;
};

describe('ClusterNetworkPolicy nodes peers', () => {
  it('Admin Deny to nodes by label: every address of the picked nodes, both families; other nodes and pods untouched', () => {
    const m = model();
    const xa = m.ip('x/a'), xa6 = m.world.pods.get('x/a')!.ips[1]!;
    m.world.cnp('no-cp', { tier: 'Admin', priority: 1, subject: nsX, egress: [{ action: 'Deny', to: [{ nodes: { matchLabels: { role: 'cp' } } }], protocols: [{ tcp: { destinationPort: { number: 443 } } }] }] });
    expect(both(m, xa, '198.18.0.1')).toBe(false);
    expect(both(m, xa6, 'fd00:198:18::1')).toBe(false);
    expect(both(m, xa, '203.0.113.1')).toBe(false);
    expect(both(m, xa, '198.18.0.1', 80)).toBe(true);
    expect(both(m, xa, '198.18.0.2')).toBe(true);
    expect(both(m, xa6, 'fd00:198:18::2')).toBe(true);
    expect(both(m, xa, m.ip('y/a'))).toBe(true);
  });

  it('Baseline Accept to nodes + Deny the rest: only node addresses; an empty selector picks every node', () => {
    const m = model();
    const ya = m.ip('y/a');
    m.world.cnp('base', { tier: 'Baseline', priority: 1, subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }, egress: [
      { action: 'Accept', to: [{ nodes: {} }] },
      { action: 'Deny', to: [{ networks: ['0.0.0.0/0', '::/0'] }] },
    ] });
    expect(both(m, ya, '198.18.0.1')).toBe(true);
    expect(both(m, ya, '198.18.0.2')).toBe(true);
    expect(both(m, ya, '198.18.0.3')).toBe(false);
    expect(both(m, ya, m.ip('x/a'))).toBe(false);
  });

  it('a node label or address change reaches the plan (the incremental planner equals a fresh plan)', () => {
    const m = model();
    m.world.cnp('no-cp', { tier: 'Admin', priority: 1, subject: nsX, egress: [{ action: 'Deny', to: [{ nodes: { matchLabels: { role: 'cp' } } }] }] });
    const planner = new Planner();
    planner.invalidate(m.world, [], true);
    planner.plan({ nodeName: 'n1', policy: m.world });
    m.world.nodes.set('n2', toNode({ metadata: { name: 'n2', labels: { role: 'cp' } }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.22' }] } }, () => {}));
    planner.invalidate(m.world, ['node:n2']);
    const d = planner.plan({ nodeName: 'n1', policy: m.world });
    expect(desiredToJSON(d)).toEqual(desiredToJSON(plan({ nodeName: 'n1', policy: m.world })));
    expect(both(m, m.ip('x/a'), '198.18.0.22', 80)).toBe(false);
    expect(JSON.stringify(desiredToJSON(d))).toContain('198.18.0.22');
  });
});

describe('ClusterNetworkPolicy domainNames peers', () => {
  it('fail closed: an Accept matches nothing, a Deny everything; the warning says why', () => {
    const warnings: string[] = [];
    const m = model();
    m.world.cnp('fqdn', { tier: 'Admin', priority: 1, subject: nsX, egress: [
      { name: 'to-example', action: 'Accept', to: [{ domainNames: ['example.com'] }] },
    ] }, (w) => warnings.push(w));
    m.world.cnp('fqdn-deny', { tier: 'Admin', priority: 2, subject: nsX, egress: [
      { name: 'not-evil', action: 'Deny', to: [{ domainNames: ['*.evil.example'] }] },
    ] }, (w) => warnings.push(w));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/domainNames peer, which nodeway does not support .*matches nothing/);
    expect(warnings[1]).toMatch(/matches everything \(fail closed\)/);
    expect(m.world.clusterNetworkPolicies.get('fqdn')!.egress[0]!.unsupported).toBe('domainNames');
    expect(both(m, m.ip('x/a'), m.ip('y/a'))).toBe(false);
    expect(both(m, m.ip('y/a'), m.ip('x/a'))).toBe(true);
  });
});
