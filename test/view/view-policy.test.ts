// The policy part of the node view: what changes where, and kinds the agent does not watch.
import { describe, expect, it } from 'vitest';
import { WatchCache } from '../../src/kube/cache.ts';
import { toClusterNetworkPolicy, toNetworkPolicy } from '../../src/kube/convert-policy.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import { NodeView } from '../../src/view/view.ts';
import { namespace, node, pod, rawClusterNetworkPolicy, rawNetworkPolicy, SELF } from './fixtures.ts';

function started(kinds?: ConstructorParameters<typeof WatchCache>[0]) {
  const cache = new WatchCache(kinds);
  const view = new NodeView(cache, SELF);
  const got: ViewChanges[] = [];
  view.subscribe((c) => got.push(c));
  for (const k of cache.kinds) cache.replace(k, new Map());
  view.flush();
  return { cache, view, got };
}

describe('policy view', () => {
  it('a pod label change is a policy change only; an IP change is both', () => {
    const { cache, view, got } = started();
    cache.put('pods', 'default/p', pod('p', { labels: { a: '1' } }));
    view.flush();
    expect([...got.at(-1)!.pods]).toEqual(['default/p']);
    expect([...got.at(-1)!.policies]).toEqual(['pod:default/p']);
    cache.put('pods', 'default/p', pod('p', { labels: { a: '2' } }));
    view.flush();
    expect(got.at(-1)!.pods.size).toBe(0);
    expect([...got.at(-1)!.policies]).toEqual(['pod:default/p']);
    expect(view.policy.pods.get('default/p')?.labels).toEqual({ a: '2' });
  });

  it('namespaces carry labels with kubernetes.io/metadata.name; policies of both kinds are keyed', () => {
    const { cache, view, got } = started();
    cache.put('namespaces', 'x', namespace('x', { team: 'a' }));
    cache.put('networkpolicies', 'x/np', toNetworkPolicy(rawNetworkPolicy('np', 'x', {}), () => {}));
    view.flush();
    expect([...got.at(-1)!.policies].sort()).toEqual(['np:x/np', 'ns:x']);
    expect(view.policy.namespaces.get('x')?.labels).toEqual({ team: 'a', 'kubernetes.io/metadata.name': 'x' });
    expect(view.policy.networkPolicies.get('x/np')?.ingressIsolation).toBe(true);
    cache.delete('networkpolicies', 'x/np');
    view.flush();
    expect(view.policy.networkPolicies.size).toBe(0);
  });

  it('kinds the cache does not watch are empty in the view', () => {
    const { view } = started(['services', 'endpointslices', 'nodes', 'servicecidrs']);
    expect(view.ready).toBe(true);
    expect(view.policy.pods.size + view.policy.networkPolicies.size + view.policy.clusterNetworkPolicies.size).toBe(0);
  });

  it('a node label change wakes policy consumers only while a ClusterNetworkPolicy has a nodes peer; the view keeps the node either way', () => {
    const { cache, view, got } = started();
    const n = (role: string) => node('node-b', { internalIP: '192.168.0.2', labels: { role } });
    cache.put('nodes', 'node-b', n('cp'));
    view.flush();
    expect(got.at(-1)!.policies.size).toBe(0);
    expect(view.policy.nodes!.get('node-b')!.labels.role).toBe('cp');
    const cnp = toClusterNetworkPolicy(rawClusterNetworkPolicy('n', { tier: 'Admin', priority: 1, subject: { namespaces: {} }, egress: [{ action: 'Deny', to: [{ nodes: { matchLabels: { role: 'cp' } } }] }] }), () => {});
    cache.put('clusternetworkpolicies', 'n', cnp);
    view.flush();
    expect([...got.at(-1)!.policies]).toEqual(['cnp:n']);
    cache.put('nodes', 'node-b', n('worker'));
    view.flush();
    expect([...got.at(-1)!.policies]).toEqual(['node:node-b']);
    expect(view.policy.nodes!.get('node-b')!.labels.role).toBe('worker');
  });
});
