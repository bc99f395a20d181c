// The policy part of the node view: what changes where, and kinds the agent does not watch.
import { describe, expect, it } from 'vitest';
import { WatchCache } from '../../src/kube/cache.ts';
import { toNetworkPolicy } from '../../src/kube/convert-policy.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import { NodeView } from '../../src/view/view.ts';
import { namespace, pod, rawNetworkPolicy, SELF } from './fixtures.ts';

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
});
