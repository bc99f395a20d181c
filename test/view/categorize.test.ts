// kube-proxy.md §2.3: CategorizeEndpoints and topologyModeFromHints, rule by rule.
// Every case states what kube-proxy does; the expectations are written from the reference,
// never read back from the implementation.
import { describe, expect, it } from 'vitest';
import { categorizeEndpoints, endpointKey, topologyMode, type PortPolicy, type TopologyMode } from '../../src/view/categorize.ts';
import type { EndpointView } from '../../src/view/types.ts';

const NODE = 'node-a';
const ZONE = 'zone-a';

type Cond = 'ready' | 'servingTerminating' | 'notServingTerminating' | 'notReady';

interface EpSpec {
  ip: string;
  port?: number;
  cond?: Cond;
  node?: string;
  zones?: string[] | null;
  nodes?: string[] | null;
}

/** An endpoint as service.ts hands it to categorize: local iff its node is ours. */
function ep(s: EpSpec): EndpointView {
  const cond = s.cond ?? 'ready';
  const node = s.node ?? 'node-z';
  return {
    ip: s.ip,
    port: s.port ?? 80,
    local: node === NODE,
    ready: cond === 'ready',
    serving: cond === 'ready' || cond === 'servingTerminating',
    terminating: cond === 'servingTerminating' || cond === 'notServingTerminating',
    nodeName: node,
    zoneHints: s.zones ?? null,
    nodeHints: s.nodes ?? null,
  };
}

const CLUSTER: PortPolicy = { usesCluster: true, usesLocal: false }; // iTP=Cluster, not eTP=Local
const LOCAL: PortPolicy = { usesCluster: false, usesLocal: true }; // iTP=Local, internal-only port
const BOTH: PortPolicy = { usesCluster: true, usesLocal: true }; // eTP=Local (or iTP=Local) and externally accessible

const keys = (list: EndpointView[]) => list.map(endpointKey);
const sorted = (list: string[]) => [...list].sort();

interface Case {
  name: string;
  policy: PortPolicy;
  endpoints: EpSpec[];
  zone?: string;
  /** ip:port of the endpoints each list must hold (any order for cluster/local). */
  cluster: string[];
  local: string[];
  /** Defaults to the union of cluster and local. */
  reachable?: string[];
  hasAny: boolean;
}

const cases: Case[] = [
  // ---- no endpoints at all
  { name: 'no endpoints, Cluster policy: nothing, hasAny false', policy: CLUSTER, endpoints: [], cluster: [], local: [], hasAny: false },
  { name: 'no endpoints, Local policy: nothing, hasAny false', policy: LOCAL, endpoints: [], cluster: [], local: [], hasAny: false },
  { name: 'no endpoints, both policies: nothing, hasAny false', policy: BOTH, endpoints: [], cluster: [], local: [], hasAny: false },

  // ---- Cluster policy: Ready endpoints, then the serving-terminating fallback
  {
    name: 'Cluster: every Ready endpoint, local or not',
    policy: CLUSTER,
    endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', node: NODE }, { ip: '10.0.0.3' }],
    cluster: ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'], local: [], hasAny: true,
  },
  {
    name: 'Cluster: not-ready (not terminating) endpoints are left out',
    policy: CLUSTER,
    endpoints: [{ ip: '10.0.0.1', cond: 'notReady' }, { ip: '10.0.0.2' }],
    cluster: ['10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'Cluster: a Ready endpoint anywhere means terminating ones are not used',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', cond: 'servingTerminating', node: NODE },
      { ip: '10.0.0.2' },
      { ip: '10.0.0.3', cond: 'notServingTerminating' },
    ],
    cluster: ['10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'Cluster: no Ready endpoint → every serving-terminating endpoint, local and remote',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', cond: 'servingTerminating', node: NODE },
      { ip: '10.0.0.2', cond: 'servingTerminating' },
      { ip: '10.0.0.3', cond: 'notReady' },
    ],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'Cluster: terminating but not serving is never used',
    policy: CLUSTER,
    endpoints: [{ ip: '10.0.0.1', cond: 'notServingTerminating' }, { ip: '10.0.0.2', cond: 'servingTerminating' }],
    cluster: ['10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'Cluster: only non-serving terminating endpoints → nothing, hasAny false',
    policy: CLUSTER,
    endpoints: [{ ip: '10.0.0.1', cond: 'notServingTerminating' }, { ip: '10.0.0.2', cond: 'notServingTerminating', node: NODE }],
    cluster: [], local: [], hasAny: false,
  },
  {
    name: 'Cluster: only not-ready endpoints → nothing, hasAny false',
    policy: CLUSTER,
    endpoints: [{ ip: '10.0.0.1', cond: 'notReady' }, { ip: '10.0.0.2', cond: 'notReady', node: NODE }],
    cluster: [], local: [], hasAny: false,
  },
  {
    name: 'Cluster: the terminating fallback ignores zone hints for other zones',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', cond: 'servingTerminating', zones: ['zone-b'] },
      { ip: '10.0.0.2', cond: 'servingTerminating', zones: ['zone-c'] },
    ],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'Cluster: the terminating fallback ignores node hints too',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', cond: 'servingTerminating', nodes: ['node-b'], zones: ['zone-a'] },
      { ip: '10.0.0.2', cond: 'servingTerminating', nodes: [NODE], zones: ['zone-b'] },
    ],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },

  // ---- Local policy (iTP=Local, internal-only): independent fallback
  {
    name: 'Local: local Ready endpoints only, remote ones ignored',
    policy: LOCAL,
    endpoints: [{ ip: '10.0.0.1', node: NODE }, { ip: '10.0.0.2' }, { ip: '10.0.0.3', node: NODE }],
    cluster: [], local: ['10.0.0.1:80', '10.0.0.3:80'], hasAny: true,
  },
  {
    name: 'Local: only remote Ready endpoints → no local endpoints, but hasAny (traffic dropped, not rejected)',
    policy: LOCAL,
    endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }],
    cluster: [], local: [], hasAny: true,
  },
  {
    name: 'Local: local serving-terminating used when no local Ready, even though remote Ready exist',
    policy: LOCAL,
    endpoints: [{ ip: '10.0.0.1', node: NODE, cond: 'servingTerminating' }, { ip: '10.0.0.2' }],
    cluster: [], local: ['10.0.0.1:80'], hasAny: true,
  },
  {
    name: 'Local: a local Ready endpoint hides local terminating ones',
    policy: LOCAL,
    endpoints: [{ ip: '10.0.0.1', node: NODE, cond: 'servingTerminating' }, { ip: '10.0.0.2', node: NODE }],
    cluster: [], local: ['10.0.0.2:80'], hasAny: true,
  },
  {
    name: 'Local: local non-serving terminating endpoints are never used',
    policy: LOCAL,
    endpoints: [{ ip: '10.0.0.1', node: NODE, cond: 'notServingTerminating' }, { ip: '10.0.0.2' }],
    cluster: [], local: [], hasAny: true,
  },
  {
    name: 'Local: only remote serving-terminating → no local endpoints, hasAny true',
    policy: LOCAL,
    endpoints: [{ ip: '10.0.0.1', cond: 'servingTerminating' }],
    cluster: [], local: [], hasAny: true,
  },
  {
    name: 'Local: only remote non-serving terminating → hasAny false',
    policy: LOCAL,
    endpoints: [{ ip: '10.0.0.1', cond: 'notServingTerminating' }],
    cluster: [], local: [], hasAny: false,
  },
  {
    name: 'Local: only a local not-ready endpoint → nothing, hasAny false',
    policy: LOCAL,
    endpoints: [{ ip: '10.0.0.1', node: NODE, cond: 'notReady' }],
    cluster: [], local: [], hasAny: false,
  },
  {
    name: 'Local: topology hints do not apply to local endpoints',
    policy: LOCAL,
    endpoints: [
      { ip: '10.0.0.1', node: NODE, zones: ['zone-b'], nodes: ['node-b'] },
      { ip: '10.0.0.2', node: NODE, zones: ['zone-a'], nodes: [NODE] },
      { ip: '10.0.0.3', zones: ['zone-a'], nodes: ['node-c'] },
    ],
    cluster: [], local: ['10.0.0.1:80', '10.0.0.2:80'], hasAny: true,
  },

  // ---- both (eTP=Local externally accessible, or iTP=Local with NodePort/externalIP/LB)
  {
    name: 'both: cluster gets all Ready, local the local Ready; reachable is the union',
    policy: BOTH,
    endpoints: [{ ip: '10.0.0.1', node: NODE }, { ip: '10.0.0.2' }],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: ['10.0.0.1:80'], reachable: ['10.0.0.1:80', '10.0.0.2:80'], hasAny: true,
  },
  {
    name: 'both: all endpoints remote → local empty, cluster still has them',
    policy: BOTH,
    endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'both: topology and locality disagree, so reachable merges the two lists',
    policy: BOTH,
    endpoints: [
      { ip: '10.0.0.1', node: NODE, zones: ['zone-a'] },
      { ip: '10.0.0.2', node: NODE, zones: ['zone-b'] },
      { ip: '10.0.0.3', zones: ['zone-a'] },
      { ip: '10.0.0.4', zones: ['zone-b'] },
    ],
    cluster: ['10.0.0.1:80', '10.0.0.3:80'],
    local: ['10.0.0.1:80', '10.0.0.2:80'],
    reachable: ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'],
    hasAny: true,
  },
  {
    name: 'both: remote Ready for cluster, local serving-terminating for local (independent fallbacks)',
    policy: BOTH,
    endpoints: [
      { ip: '10.0.0.1' },
      { ip: '10.0.0.2', node: NODE, cond: 'notReady' },
      { ip: '10.0.0.3', node: NODE, cond: 'servingTerminating' },
      { ip: '10.0.0.4', cond: 'servingTerminating' },
    ],
    cluster: ['10.0.0.1:80'], local: ['10.0.0.3:80'], reachable: ['10.0.0.1:80', '10.0.0.3:80'], hasAny: true,
  },
  {
    name: 'both: everything remote and terminating → cluster falls back, local empty',
    policy: BOTH,
    endpoints: [{ ip: '10.0.0.1', cond: 'servingTerminating' }, { ip: '10.0.0.2', cond: 'servingTerminating' }],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'both: everything local and terminating → both lists fall back to the same endpoints',
    policy: BOTH,
    endpoints: [{ ip: '10.0.0.1', node: NODE, cond: 'servingTerminating' }, { ip: '10.0.0.2', cond: 'notServingTerminating' }],
    cluster: ['10.0.0.1:80'], local: ['10.0.0.1:80'], reachable: ['10.0.0.1:80'], hasAny: true,
  },
  {
    name: 'both: nothing usable anywhere → hasAny false',
    policy: BOTH,
    endpoints: [{ ip: '10.0.0.1', node: NODE, cond: 'notReady' }, { ip: '10.0.0.2', cond: 'notServingTerminating' }],
    cluster: [], local: [], hasAny: false,
  },

  // ---- zone hints (PreferSameZone), Cluster traffic only
  {
    name: 'zone: every Ready endpoint hinted and one names our zone → only our zone',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', zones: ['zone-a'] },
      { ip: '10.0.0.2', zones: ['zone-b'] },
      { ip: '10.0.0.3', zones: ['zone-c'] },
      { ip: '10.0.0.4', zones: ['zone-a'] },
    ],
    cluster: ['10.0.0.1:80', '10.0.0.4:80'], local: [], hasAny: true,
  },
  {
    name: 'zone: an endpoint hinted for several zones including ours is used',
    policy: CLUSTER,
    zone: 'zone-c',
    endpoints: [
      { ip: '10.0.0.1', zones: ['zone-a', 'zone-b', 'zone-c'] },
      { ip: '10.0.0.2', zones: ['zone-b', 'zone-d'] },
      { ip: '10.0.0.3', zones: ['zone-c'] },
    ],
    cluster: ['10.0.0.1:80', '10.0.0.3:80'], local: [], hasAny: true,
  },
  {
    name: 'zone: one Ready endpoint without hints → all or nothing: every Ready endpoint',
    policy: CLUSTER,
    endpoints: [{ ip: '10.0.0.1', zones: ['zone-a'] }, { ip: '10.0.0.2', zones: ['zone-b'] }, { ip: '10.0.0.3' }],
    cluster: ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'], local: [], hasAny: true,
  },
  {
    name: 'zone: an empty forZones list counts as no hint',
    policy: CLUSTER,
    endpoints: [{ ip: '10.0.0.1', zones: ['zone-a'] }, { ip: '10.0.0.2', zones: [] }],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'zone: a hint for the empty zone name is a hint (kube-proxy keeps it), for no zone of ours',
    policy: CLUSTER,
    endpoints: [{ ip: '10.0.0.1', zones: ['zone-a'] }, { ip: '10.0.0.2', zones: [''] }],
    cluster: ['10.0.0.1:80'], local: [], hasAny: true,
  },
  {
    name: 'zone: all hinted but none for our zone → every Ready endpoint',
    policy: CLUSTER,
    endpoints: [{ ip: '10.0.0.1', zones: ['zone-b'] }, { ip: '10.0.0.2', zones: ['zone-c'] }],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'zone: node without a zone label → hints ignored',
    policy: CLUSTER,
    zone: '',
    endpoints: [{ ip: '10.0.0.1', zones: ['zone-a'] }, { ip: '10.0.0.2', zones: ['zone-b'] }],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'zone: a not-ready endpoint without hints does not disable topology',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', zones: ['zone-a'] },
      { ip: '10.0.0.2', zones: ['zone-b'] },
      { ip: '10.0.0.3', cond: 'notReady' },
      { ip: '10.0.0.4', cond: 'servingTerminating' },
    ],
    cluster: ['10.0.0.1:80'], local: [], hasAny: true,
  },
  {
    name: 'zone: a not-ready endpoint hinted for our zone does not enable topology and is not used',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', zones: ['zone-b'] },
      { ip: '10.0.0.2', zones: ['zone-c'] },
      { ip: '10.0.0.3', zones: ['zone-a'], cond: 'notReady' },
      { ip: '10.0.0.4', zones: ['zone-a'], cond: 'servingTerminating' },
    ],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'zone: our zone has only not-ready endpoints besides one Ready → only that one',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', zones: ['zone-a'], cond: 'notReady' },
      { ip: '10.0.0.2', zones: ['zone-a'] },
      { ip: '10.0.0.3', zones: ['zone-b'] },
    ],
    cluster: ['10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'zone: only not-ready endpoints in our zone → topology off, every Ready endpoint',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', zones: ['zone-a'], cond: 'notReady' },
      { ip: '10.0.0.2', zones: ['zone-b'] },
      { ip: '10.0.0.3', zones: ['zone-c'] },
    ],
    cluster: ['10.0.0.2:80', '10.0.0.3:80'], local: [], hasAny: true,
  },

  // ---- node hints (PreferSameNode), then zone hints
  {
    name: 'node: every Ready endpoint has node hints and one names us → only those',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', nodes: [NODE], zones: ['zone-a'] },
      { ip: '10.0.0.2', nodes: ['node-b'], zones: ['zone-a'] },
      { ip: '10.0.0.3', nodes: ['node-c'], zones: ['zone-b'] },
    ],
    cluster: ['10.0.0.1:80'], local: [], hasAny: true,
  },
  {
    name: 'node: an endpoint hinted for several nodes including ours is used',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', nodes: ['node-b', NODE], zones: ['zone-a'] },
      { ip: '10.0.0.2', nodes: [NODE] },
      { ip: '10.0.0.3', nodes: ['node-c'] },
    ],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'node: node hints name other nodes only → falls back to zone hints',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', nodes: ['node-b'], zones: ['zone-a'] },
      { ip: '10.0.0.2', nodes: ['node-c'], zones: ['zone-b'] },
      { ip: '10.0.0.3', nodes: ['node-d'], zones: ['zone-a'] },
    ],
    cluster: ['10.0.0.1:80', '10.0.0.3:80'], local: [], hasAny: true,
  },
  {
    name: 'node: one Ready endpoint lacks a node hint → zone hints decide',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', nodes: [NODE], zones: ['zone-b'] },
      { ip: '10.0.0.2', zones: ['zone-a'] },
      { ip: '10.0.0.3', nodes: ['node-c'], zones: ['zone-a'] },
    ],
    cluster: ['10.0.0.2:80', '10.0.0.3:80'], local: [], hasAny: true,
  },
  {
    name: 'node: node hints not for us and zone hints incomplete → every Ready endpoint',
    policy: CLUSTER,
    endpoints: [{ ip: '10.0.0.1', nodes: ['node-b'], zones: ['zone-a'] }, { ip: '10.0.0.2', nodes: ['node-c'] }],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'node: same-node mode works on a node without a zone label',
    policy: CLUSTER,
    zone: '',
    endpoints: [{ ip: '10.0.0.1', nodes: [NODE] }, { ip: '10.0.0.2', nodes: ['node-b'] }],
    cluster: ['10.0.0.1:80'], local: [], hasAny: true,
  },
  {
    name: 'node: a not-ready endpoint without node hints does not disable same-node',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', nodes: [NODE] },
      { ip: '10.0.0.2', nodes: ['node-b'] },
      { ip: '10.0.0.3', cond: 'notReady' },
      { ip: '10.0.0.4', cond: 'servingTerminating', zones: ['zone-a'] },
    ],
    cluster: ['10.0.0.1:80'], local: [], hasAny: true,
  },
  {
    name: 'node: a not-ready endpoint hinted for us does not enable same-node',
    policy: CLUSTER,
    endpoints: [
      { ip: '10.0.0.1', nodes: ['node-b'] },
      { ip: '10.0.0.2', nodes: ['node-c'] },
      { ip: '10.0.0.3', nodes: [NODE], cond: 'notReady' },
    ],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'], local: [], hasAny: true,
  },
  {
    name: 'node: topology filters cluster endpoints only; eTP=Local still uses every local endpoint',
    policy: BOTH,
    endpoints: [
      { ip: '10.0.0.1', node: NODE, nodes: [NODE] },
      { ip: '10.0.0.2', node: NODE, nodes: ['node-b'] },
      { ip: '10.0.0.3', nodes: ['node-c'] },
    ],
    cluster: ['10.0.0.1:80'],
    local: ['10.0.0.1:80', '10.0.0.2:80'],
    reachable: ['10.0.0.1:80', '10.0.0.2:80'],
    hasAny: true,
  },
];

describe('categorizeEndpoints (kube-proxy CategorizeEndpoints)', () => {
  it.each(cases)('$name', (c) => {
    const input = c.endpoints.map(ep);
    const out = categorizeEndpoints(input, c.policy, NODE, c.zone ?? ZONE);
    expect(sorted(keys(out.cluster)), 'cluster').toEqual(sorted(c.cluster));
    expect(sorted(keys(out.local)), 'local').toEqual(sorted(c.local));
    const reachable = c.reachable ?? [...new Set([...c.cluster, ...c.local])];
    // reachable decides which endpoint chains exist: no duplicates, sorted by ip:port like kube-proxy's byEndpoint.
    expect(keys(out.reachable), 'reachable').toEqual(sorted(reachable));
    expect(out.hasAny, 'hasAny').toBe(c.hasAny);
    // A policy that is not used gets no endpoints at all.
    if (!c.policy.usesCluster) expect(out.cluster).toEqual([]);
    if (!c.policy.usesLocal) expect(out.local).toEqual([]);
  });

  it('reachable is sorted by the ip:port string and holds each endpoint once', () => {
    const input = [
      ep({ ip: '10.0.0.9', node: NODE, zones: ['zone-b'] }),
      ep({ ip: '10.0.0.10', zones: ['zone-a'] }),
      ep({ ip: '10.0.0.2', node: NODE, zones: ['zone-a'] }),
      ep({ ip: '10.0.0.1', port: 8080, zones: ['zone-b'] }),
    ];
    const out = categorizeEndpoints(input, BOTH, NODE, ZONE);
    // String order, as kube-proxy sorts Endpoint.String(): "10.0.0.10:80" < "10.0.0.2:80" < "10.0.0.9:80".
    expect(keys(out.reachable)).toEqual(['10.0.0.10:80', '10.0.0.2:80', '10.0.0.9:80']);
    expect(sorted(keys(out.cluster))).toEqual(['10.0.0.10:80', '10.0.0.2:80']);
    expect(sorted(keys(out.local))).toEqual(['10.0.0.2:80', '10.0.0.9:80']);
  });

  it('IPv6 endpoints are keyed [ip]:port', () => {
    const out = categorizeEndpoints([ep({ ip: 'fd00::2', node: NODE }), ep({ ip: 'fd00::1' })], BOTH, NODE, ZONE);
    expect(keys(out.reachable)).toEqual(['[fd00::1]:80', '[fd00::2]:80']);
    expect(keys(out.local)).toEqual(['[fd00::2]:80']);
  });

  it('the same IP on two ports is two endpoints', () => {
    const out = categorizeEndpoints([ep({ ip: '10.0.0.1', port: 80 }), ep({ ip: '10.0.0.1', port: 81 })], CLUSTER, NODE, ZONE);
    expect(sorted(keys(out.cluster))).toEqual(['10.0.0.1:80', '10.0.0.1:81']);
  });

  it('returns the endpoint objects it was given, unchanged', () => {
    const input = [ep({ ip: '10.0.0.1', node: NODE, zones: ['zone-a'] })];
    const snapshot = structuredClone(input);
    const out = categorizeEndpoints(input, BOTH, NODE, ZONE);
    expect(out.reachable[0]).toEqual(snapshot[0]);
    expect(input).toEqual(snapshot);
  });
});

interface ModeCase {
  name: string;
  endpoints: EpSpec[];
  zone?: string;
  mode: TopologyMode;
}

const modeCases: ModeCase[] = [
  { name: 'no endpoints', endpoints: [], mode: '' },
  { name: 'no Ready endpoints, even with matching hints', endpoints: [{ ip: '10.0.0.1', cond: 'servingTerminating', zones: ['zone-a'], nodes: [NODE] }], mode: '' },
  { name: 'no hints at all', endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], mode: '' },
  { name: 'all zone-hinted, one for us', endpoints: [{ ip: '10.0.0.1', zones: ['zone-a'] }, { ip: '10.0.0.2', zones: ['zone-b'] }], mode: 'PreferSameZone' },
  { name: 'all zone-hinted, none for us', endpoints: [{ ip: '10.0.0.1', zones: ['zone-b'] }], mode: '' },
  { name: 'one Ready endpoint missing a zone hint', endpoints: [{ ip: '10.0.0.1', zones: ['zone-a'] }, { ip: '10.0.0.2' }], mode: '' },
  { name: 'zone hints but the node has no zone', zone: '', endpoints: [{ ip: '10.0.0.1', zones: ['zone-a'] }], mode: '' },
  { name: 'all node-hinted, one for us', endpoints: [{ ip: '10.0.0.1', nodes: [NODE] }, { ip: '10.0.0.2', nodes: ['node-b'] }], mode: 'PreferSameNode' },
  {
    name: 'node hints win over zone hints when both qualify',
    endpoints: [{ ip: '10.0.0.1', nodes: [NODE], zones: ['zone-a'] }, { ip: '10.0.0.2', nodes: ['node-b'], zones: ['zone-a'] }],
    mode: 'PreferSameNode',
  },
  {
    name: 'node hints for other nodes, zone hints for us',
    endpoints: [{ ip: '10.0.0.1', nodes: ['node-b'], zones: ['zone-a'] }, { ip: '10.0.0.2', nodes: ['node-c'], zones: ['zone-b'] }],
    mode: 'PreferSameZone',
  },
  {
    name: 'one Ready endpoint missing a node hint, zone hints complete',
    endpoints: [{ ip: '10.0.0.1', nodes: [NODE], zones: ['zone-a'] }, { ip: '10.0.0.2', zones: ['zone-b'] }],
    mode: 'PreferSameZone',
  },
  {
    name: 'not-ready endpoints without hints are not counted',
    endpoints: [{ ip: '10.0.0.1', nodes: [NODE] }, { ip: '10.0.0.2', cond: 'notReady' }, { ip: '10.0.0.3', cond: 'servingTerminating' }],
    mode: 'PreferSameNode',
  },
  {
    name: 'not-ready endpoints hinted for us are not counted',
    endpoints: [{ ip: '10.0.0.1', zones: ['zone-b'] }, { ip: '10.0.0.2', cond: 'notReady', zones: ['zone-a'], nodes: [NODE] }],
    mode: '',
  },
];

describe('topologyMode (kube-proxy topologyModeFromHints, PreferSameTrafficDistribution on)', () => {
  it.each(modeCases)('$name → "$mode"', (c) => {
    expect(topologyMode(c.endpoints.map(ep), NODE, c.zone ?? ZONE)).toBe(c.mode);
  });
});
