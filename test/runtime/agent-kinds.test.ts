// The agent watches the union of its modules' declared kinds: no Pod watch unless a module reads
// Pods, finished Pods never sent, readiness waiting only for what is watched.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedApiServer } from '../../testbed/apiserver/index.ts';
import type { Kind } from '../../src/kube/objects.ts';
import { Agent, watchedKinds } from '../../src/runtime/agent.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import type { Module, ViewPart } from '../../src/runtime/module.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import { waitFor } from '../../testbed/lab/wait.ts';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function fakeModule(name: string, kinds: Kind[], view: ViewPart[]): Module & { syncs: ViewChanges[] } {
  const syncs: ViewChanges[] = [];
  return { name, inputs: { kinds, view }, syncs, sync: async (_v, c) => void syncs.push(c) };
}

const pod = (name: string, phase: string) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
  spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] },
  status: { phase, podIP: '198.18.9.9', podIPs: [{ ip: '198.18.9.9' }] },
});

async function agentWith(modules: Module[]) {
  const api = new EmbeddedApiServer({ bookmarkIntervalMs: 200 });
  await api.start();
  const dir = mkdtempSync(join(tmpdir(), 'nodeway-shp-kinds-'));
  writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig());
  api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
  api.create(pod('running', 'Running'));
  api.create(pod('done', 'Succeeded'));
  const config = { kubeconfig: join(dir, 'kubeconfig'), nodeName: 'n1', minSyncInterval: 0, healthListen: '127.0.0.1:0' };
  const agent = new Agent({ config, log, registry: new Registry(), modules: () => modules });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => api.stop(), () => agent.stop());
  await agent.start(false);
  await agent.cache.whenReady();
  return { api, agent };
}

const until = (what: string, fn: () => boolean) => waitFor(what, fn, 10_000, 20);

describe('the agent watches what its modules read', () => {
  it('the union, in KINDS order; everything when no module runs (--modules none, nodeway view)', () => {
    expect(watchedKinds([fakeModule('a', ['nodes'], ['peers']), fakeModule('b', ['services', 'endpointslices', 'nodes'], ['services'])]))
      .toEqual(['services', 'endpointslices', 'nodes']);
    expect(watchedKinds([])).toEqual(['services', 'endpointslices', 'nodes', 'pods', 'namespaces', 'servicecidrs', 'networkpolicies', 'clusternetworkpolicies']);
  });

  it('no module reads Pods: no Pod request at all, and a Pod change wakes nothing', async () => {
    const proxyLike = fakeModule('proxy', ['services', 'endpointslices', 'nodes', 'servicecidrs'], ['services', 'self', 'serviceCIDRs']);
    const { api, agent } = await agentWith([proxyLike]);
    await until('first sync', () => proxyLike.syncs.length === 1);
    for (let i = 0; i < 20; i++) api.patch('v1', 'Pod', 'default', 'running', { metadata: { labels: { i: String(i) } } }, 'merge');
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
    await until('service sync', () => proxyLike.syncs.length === 2);
    expect(proxyLike.syncs[1]!.services.has('default/s')).toBe(true);
    const asked = Object.keys(api.requests.snapshot().byRequest);
    expect(asked.filter((k) => k.endsWith(' pods') || k.endsWith(' namespaces'))).toEqual([]);
    expect(agent.cache.has('pods')).toBe(false);
    expect(agent.cache.size('pods')).toBe(0);
  });

  it('a module reads Pods: watched without finished ones, and one that finishes leaves the cache', async () => {
    const dnsLike = fakeModule('dns', ['services', 'endpointslices', 'namespaces', 'pods'], ['services', 'namespaces', 'pods']);
    const { api, agent } = await agentWith([dnsLike]);
    expect([...agent.cache.all('pods')].map((p) => p.name)).toEqual(['running']);
    api.updateStatus({ ...pod('running', 'Failed') } as never);
    await until('finished pod gone', () => agent.cache.size('pods') === 0);
    api.create(pod('done2', 'Succeeded'));
    api.create(pod('new', 'Pending'));
    await until('pending pod seen', () => agent.cache.size('pods') === 1);
    expect(agent.cache.get('pods', 'default/done2')).toBeUndefined();
    expect(Object.keys(api.requests.snapshot().byRequest).filter((k) => k.endsWith(' nodes'))).toEqual([]);
  });
});
