// The whole agent as users run it: three dual-stack nodes, each with a default route, each
// running the built agent with proxy, dns and mesh (wireguard-go), pods made by the CNI plugins
// from the agent's own conflist, a host outside the cluster. Every path of the matrix in
// testbed/lab/paths.ts — from a pod, from a node's host network, from outside; to ClusterIP (TCP,
// UDP), NodePort with Cluster and Local policy on this node and another, a LoadBalancer IP, an
// externalIP, a pod on another node, a name through the cluster DNS, reverse (PTR) lookups of the
// ClusterIP and of a pod IP from a pod — must answer every one
// of its N requests, reach every endpoint its semantics use and no other, and show the
// backend the source address those semantics give. Nothing is retried. The nodes' firewalls
// drop forwarded traffic (Docker's and ufw's `iptables -P FORWARD DROP`); a firewall reload
// and deleted tables are repaired within 10 s without any Service change; cleanup takes the
// agent's forward accepts out of the firewall's table again.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupStaleLabs } from '../../testbed/lab/index.ts';
import { type PathSpec, matrix, problems, runMatrix } from '../../testbed/lab/paths.ts';
import { FORWARD_DROP, REQUESTS, settled } from '../../testbed/lab/demo.ts';
import { waitFor } from '../../testbed/lab/wait.ts';
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

describe('the whole agent (proxy, dns, mesh, netpol) on every node', () => {
  it(`every path, IPv4 and IPv6, answers ${REQUESTS} of ${REQUESTS} requests from the right pods with the right source`, async () => {
    const specs = matrix(lab!.world);
    // 2 families × (2 in-cluster sources × 10 destinations + 2 reverse lookups from the pod + 6 from outside).
    expect(specs).toHaveLength(56);
    // The reverse lookups (dig -x from the pod, asked of its node's DNS): the ClusterIP is the
    // Service's name; a pod IP has a name under every Service it backs.
    const pod = lab!.world.echo.find((p) => p.name === 'echo-21')!;
    for (const f of lab!.world.families) {
      const ptr = specs.filter((s) => s.family === f && s.dns?.type === 'PTR').map((s) => [s.dns!.name, s.dns!.answer]);
      expect(ptr[0]).toEqual([lab!.world.svc.clusterIP[f], ['echo.default.svc.cluster.local.']]);
      // Its hostname under the headless Service it names as subdomain, its dashed IP under the others.
      const dashed = pod.ips[f]!.replace(/[.:]/g, '-');
      expect(ptr[1]).toEqual([pod.ips[f], ['echo-21.echo-headless', ...['echo', 'echo-nodeport', 'echo-local', 'echo-lb', 'echo-external'].map((s) => `${dashed}.${s}`)].map((n) => `${n}.default.svc.cluster.local.`)]);
    }
    const results = await runMatrix(lab!.cluster.lab, specs, REQUESTS);
    console.log(report(results));
    const failed = results.filter((r) => problems(r).length > 0).map((r) => `IPv${r.spec.family} ${r.spec.from} → ${r.spec.to}: ${problems(r).join('; ')}`);
    expect(failed).toEqual([]);
    expect(results.reduce((a, r) => a + r.answered, 0)).toBe(56 * REQUESTS);
  }, 240_000);

  it('forwards through hosts whose FORWARD policy is drop: NODEWAY-FWD accepts the cluster networks first', async () => {
    // The matrix above crossed these chains on every node; here is what let it through.
    for (const n of lab!.cluster.lab.nodes) {
      for (const f of ['ip', 'ip6']) {
        const base = (await lab!.cluster.lab.exec(n, 'nft', ['list', 'chain', f, 'filter', 'FORWARD'], { check: true })).stdout;
        expect(base).toMatch(/policy drop;\s*\n\s*jump NODEWAY-FWD/);
        const ours = (await lab!.cluster.lab.exec(n, 'nft', ['list', 'chain', f, 'filter', 'NODEWAY-FWD'], { check: true })).stdout;
        expect(ours).toContain(f === 'ip' ? 'ip saddr 198.18.128.0/17 counter packets' : 'ip6 saddr fd00:198:18:100::/56 counter packets');
        expect(ours).toMatch(/daddr \S+ counter packets [1-9]\d* bytes \d+ accept/);
      }
    }
  });

  it('a firewall reload (flush ruleset) and deleted tables are repaired within 10 s, with no Service change', async () => {
    const l = lab!;
    const [, n2, n3] = l.cluster.lab.nodes;
    const t0 = Date.now();
    console.log(`firewall reload at ${new Date(t0).toISOString()}`);
    // node-2: the firewall reloads, flushing everything and restoring its own drop policy.
    await l.cluster.lab.nft(n2!, `flush ruleset\n${FORWARD_DROP}`);
    // node-3: someone deletes two of the agent's tables.
    await l.cluster.lab.exec(n3!, 'nft', ['delete', 'table', 'ip', 'nodeway'], { check: true });
    await l.cluster.lab.exec(n3!, 'nft', ['delete', 'table', 'inet', 'nodeway-dns'], { check: true });
    // Each module's drift check (a few small nft listings), woken by the agent's nftables event
    // listener (src/sys/nft-events.ts), notices, and a full sync repairs.
    let missing: string[] = [];
    await waitFor('the agents\' tables back', async () => {
      missing = [];
      for (const [n, tables] of [[n2!, ['ip nodeway', 'ip6 nodeway', 'inet nodeway-mesh', 'inet nodeway-dns', 'ip filter', 'ip6 filter']], [n3!, ['ip nodeway', 'inet nodeway-dns']]] as const) {
        const listed = (await l.cluster.lab.exec(n, 'nft', ['list', 'tables'])).stdout.split('\n').map((x) => x.trim());
        for (const t of tables) if (!listed.includes(`table ${t}`)) missing.push(`${n.name}: ${t}`);
      }
      const fwd = (await l.cluster.lab.exec(n2!, 'nft', ['list', 'chain', 'ip', 'filter', 'FORWARD'])).stdout;
      if (!fwd.includes('jump NODEWAY-FWD')) missing.push('node-2: jump NODEWAY-FWD');
      return missing.length === 0;
    }, 30_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}; missing ${missing.join(', ')}`);
    });
    await settled(l.cluster, [n2!, n3!], l.ifaces.slice(1), l.programmed.vips, l.programmed.endpoints, 2);
    // When the repair was done, by the agents' own clocks: no Service changed, so each module's
    // last successful sync (/readyz lastSuccess) is its repair. The test's own looking (nft
    // listings, wg, /readyz in every node) is not timed: at load 23 it took 18 s for a repair the
    // agents had finished in under 2 s.
    const done: number[] = [];
    for (const n of [n2!, n3!]) {
      const body = JSON.parse((await l.cluster.httpGet(n, 'http://127.0.0.1:10256/readyz')).body) as { modules: { name: string; lastSuccess: number }[] };
      done.push(...body.modules.map((m) => m.lastSuccess));
    }
    const repaired = Math.max(...done) - t0;
    console.log(`repaired ${repaired} ms after the flush (the agents' last syncs); settled as the test saw it after ${Date.now() - t0} ms`);
    expect(repaired).toBeGreaterThan(0);
    expect(repaired).toBeLessThan(10_000);
    const metrics = await l.cluster.httpGet(n2!, 'http://127.0.0.1:10256/metrics');
    for (const m of ['proxy', 'dns', 'mesh']) expect(metrics.body).toMatch(new RegExp(`nodeway_module_drift_repairs_total\\{module="${m}"\\} 1\\b`));
    // node-1, untouched: checked (at least once its listener exited on the proxy's own rules
    // and restarted), never found drifted by its own syncs.
    const n1 = l.cluster.lab.nodes[0]!;
    let m1 = '';
    await waitFor('node-1\'s nftables listener up', async () => /^nodeway_nft_events_up 1$/m.test((m1 = (await l.cluster.httpGet(n1, 'http://127.0.0.1:10256/metrics')).body)), 10_000, 200);
    expect(m1).not.toMatch(/^nodeway_module_drift_repairs_total/m);
    expect(m1).toMatch(/^nodeway_module_drift_checks_total\{module="proxy",trigger="\w+"\} [1-9]/m);

    // Every path through node-2 and node-3 works again, N of N.
    const specs: PathSpec[] = matrix(l.world).filter((s) => /node-2|node-3/.test(s.to) || s.to === 'ClusterIP TCP');
    for (const f of l.world.families) {
      specs.push({ family: f, from: 'node-2 host network', to: 'the cluster DNS', ns: n2!.ns, dns: { server: l.world.svc.dns[f]!, name: l.world.svc.dnsName, type: f === 4 ? 'A' : 'AAAA', answer: [l.world.svc.clusterIP[f]!] }, endpoints: [], all: false });
    }
    const results = await runMatrix(l.cluster.lab, specs, REQUESTS);
    console.log(report(results));
    expect(results.filter((r) => problems(r).length > 0).map((r) => `IPv${r.spec.family} ${r.spec.from} → ${r.spec.to}: ${problems(r).join('; ')}`)).toEqual([]);
  }, 120_000);

  it('nodeway cleanup removes the agent\'s tables and its forward accepts, and leaves the firewall\'s own', async () => {
    const l = lab!;
    const n3 = l.cluster.lab.nodes[2]!;
    const agent = l.cluster.lab.runningProcesses.find((p) => p.ns === n3.ns && p.command.includes(' run --node-name node-3'))!;
    expect(agent).toBeDefined();
    await agent.stop(5_000);
    const r = await l.cluster.nodeway('node-3', ['cleanup', ...l.agentFlags[2]!.filter((_, i, a) => a[i] !== '--health-listen' && a[i - 1] !== '--health-listen')]);
    expect(r.exitCode, r.stderr).toBe(0);
    const ruleset = (await l.cluster.lab.exec(n3, 'nft', ['list', 'ruleset'], { check: true })).stdout;
    expect(ruleset).not.toContain('nodeway');
    expect(ruleset).not.toContain('NODEWAY-FWD');
    expect(ruleset).toMatch(/table ip filter \{\s*chain FORWARD \{\s*type filter hook forward priority filter; policy drop;\s*\}\s*\}/);
  });
});
