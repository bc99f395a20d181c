// The whole agent as users run it: three dual-stack nodes, each with a default route, each
// running the built agent with proxy, dns and mesh (wireguard-go), pods made by the CNI plugins
// from the agent's own conflist, a host outside the cluster. Every path of the matrix in
// src/lab/paths.ts — from a pod, from a node's host network, from outside; to ClusterIP (TCP,
// UDP), NodePort with Cluster and Local policy on this node and another, a LoadBalancer IP, an
// externalIP, a pod on another node, a name through the cluster DNS — must answer every one
// of its N requests, reach every endpoint its semantics use and no other, and show the
// backend the source address those semantics give. Nothing is retried.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupStaleLabs } from '../../src/lab/index.ts';
import { matrix, problems, runMatrix } from '../../src/lab/paths.ts';
import { REQUESTS } from '../../src/lab/demo.ts';
import { diag, report, startWholeLab, stopWholeLab, type WholeLab } from './whole-agent-harness.ts';

let lab: WholeLab | undefined;

beforeAll(async () => {
  await cleanupStaleLabs();
  lab = await startWholeLab();
}, 150_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && lab) console.log(await diag(lab));
});

afterAll(async () => {
  await stopWholeLab(lab);
}, 60_000);

describe('the whole agent (proxy, dns, mesh) on every node', () => {
  it(`every path, IPv4 and IPv6, answers ${REQUESTS} of ${REQUESTS} requests from the right pods with the right source`, async () => {
    const specs = matrix(lab!.world);
    // 2 families × (2 in-cluster sources × 10 destinations + 6 from outside).
    expect(specs).toHaveLength(52);
    const results = await runMatrix(lab!.cluster.lab, specs, REQUESTS);
    console.log(report(results));
    const failed = results.filter((r) => problems(r).length > 0).map((r) => `IPv${r.spec.family} ${r.spec.from} → ${r.spec.to}: ${problems(r).join('; ')}`);
    expect(failed).toEqual([]);
    expect(results.reduce((a, r) => a + r.answered, 0)).toBe(52 * REQUESTS);
  }, 240_000);
});
