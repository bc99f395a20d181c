// Strict mode's trigger (narrowing.ts, through the applier): a sync says it narrowed when some
// flow the rules live before allowed may be denied now, and not after a change that only
// widens. Named cases both ways, then seeded random changes checked against the interpreter:
// whenever a flow allowed before is denied after, the sync must have said so (no false
// negatives), and widening changes must mostly not say so (the check is not "always").
import { describe, expect, it } from 'vitest';
import { FamilyApplier } from '../../modules/netpol/apply.ts';
import { evaluate } from '../../modules/netpol/evaluate.ts';
import type { FamilyDesired } from '../../modules/netpol/model.ts';
import { plan } from '../../modules/netpol/plan.ts';
import { Planner } from '../../modules/netpol/planner.ts';
import { FakeNft } from './fake-nft.ts';
import { cnps, NS, rng, rules, selector } from './gen.ts';
import { upstreamModel, type World } from './world.ts';

const nsIs = (ns: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': ns } });

/** Appliers in strict mode over a fake kernel, synced fully once; then each step says whether either family narrowed. */
async function stepper(w: World) {
  const nft = new FakeNft();
  const as = [new FamilyApplier(4, 't', nft, true, true), new FamilyApplier(6, 't', nft, true, true)];
  const planner = new Planner();
  planner.invalidate(w, [], true);
  const d0 = planner.plan({ nodeName: 'n1', policy: w });
  for (const a of as) await a.sync(a.family === 4 ? d0.v4 : d0.v6, true);
  return async (changes: string[]): Promise<boolean> => {
    planner.invalidate(w, changes);
    const d = planner.plan({ nodeName: 'n1', policy: w });
    const r = await Promise.all(as.map((a) => a.sync(a.family === 4 ? d.v4 : d.v6, false, planner.touched(a.family))));
    return r.some((x) => x.narrowed);
  };
}

describe('strict mode: which changes call for a sweep', () => {
  it('narrowing changes do: a peer loses a label, a namespace its label, a pod newly isolated, a port or peer taken out of a policy, a policy gone from a stack, an except added, an Admin Deny', async () => {
    const { world: w } = upstreamModel(['n1']);
    w.ns('y', { team: 'blue' });
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } }, podSelector: { matchLabels: { role: 'client' } } }] }] });
    w.pod('y', 'a', { node: 'n1', ips: ['10.244.1.10'], labels: { pod: 'a', role: 'client' } });
    const step = await stepper(w);
    w.pod('y', 'a', { node: 'n1', ips: ['10.244.1.10'], labels: { pod: 'a' } });
    expect(await step(['pod:y/a']), 'a peer lost its label').toBe(true);
    w.pod('y', 'a', { node: 'n1', ips: ['10.244.1.10'], labels: { pod: 'a', role: 'client' } });
    expect(await step(['pod:y/a']), 'it got it back').toBe(false);
    w.ns('y', { team: 'red' });
    expect(await step(['ns:y']), 'the namespace lost its label').toBe(true);
    w.np('x', 'b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ port: 80 }, { port: 81 }] }] });
    expect(await step(['np:x/b']), 'x/b newly isolated').toBe(true);
    w.np('x', 'b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ port: 80 }] }] });
    expect(await step(['np:x/b']), 'a port taken out').toBe(true);
    w.np('x', 'b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: nsIs('y') }], ports: [{ port: 80 }] }] });
    expect(await step(['np:x/b']), 'a peer narrowed (everyone → namespace y)').toBe(true);
    w.np('x', 'b2', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: nsIs('z') }] }] });
    expect(await step(['np:x/b2']), 'a second policy (a union: wider)').toBe(false);
    w.networkPolicies.delete('x/b2');
    expect(await step(['np:x/b2']), 'the second policy gone from the stack').toBe(true);
    w.np('x', 'c', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16' } }] }] });
    expect(await step(['np:x/c']), 'x/c newly isolated (egress)').toBe(true);
    w.np('x', 'c', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.2.0/24'] } }] }] });
    expect(await step(['np:x/c']), 'an except added').toBe(true);
    w.cnp('guard', { tier: 'Admin', priority: 1, subject: { namespaces: nsIs('x') }, ingress: [{ action: 'Deny', from: [{ pods: { namespaceSelector: nsIs('z'), podSelector: { matchLabels: { bad: '1' } } } }] }] });
    expect(await step(['cnp:guard']), 'an Admin Deny').toBe(true);
    w.pod('z', 'a', { node: 'n1', ips: ['10.244.2.10'], labels: { pod: 'a', bad: '1' } });
    expect(await step(['pod:z/a']), 'a pod joins a Deny peer').toBe(true);
  });

  it('widening changes do not: a new peer, a port or a peer added, a selector widened, a range for a port, a policy renamed, allow-all, a policy deleted, an except removed', async () => {
    const { world: w } = upstreamModel(['n1']);
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }] }] });
    w.np('x', 'c', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.2.0/24'] } }] }] });
    const step = await stepper(w);
    w.pod('x', 'new', { node: 'n1', ips: ['10.244.0.99'], labels: { pod: 'b' } });
    expect(await step(['pod:x/new']), 'a new peer').toBe(false);
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }, { port: 81 }] }] });
    expect(await step(['np:x/a']), 'a port added').toBe(false);
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }, { namespaceSelector: nsIs('y') }], ports: [{ port: 80 }, { port: 81 }] }] });
    expect(await step(['np:x/a']), 'a peer added').toBe(false);
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: {} }, { namespaceSelector: nsIs('y') }], ports: [{ port: 80 }, { port: 81 }] }] });
    expect(await step(['np:x/a']), 'a pod selector widened').toBe(false);
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: {} }, { namespaceSelector: nsIs('y') }], ports: [{ port: 80, endPort: 200 }] }] });
    expect(await step(['np:x/a']), 'a range holding both ports').toBe(false);
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: {} }, { namespaceSelector: nsIs('y') }], ports: [{ protocol: 'TCP' }] }] });
    expect(await step(['np:x/a']), 'the whole protocol').toBe(false);
    const spec = w.networkPolicies.get('x/a')!;
    w.networkPolicies.delete('x/a');
    w.networkPolicies.set('x/a2', { ...spec, name: 'a2' });
    expect(await step(['np:x/a', 'np:x/a2']), 'the policy renamed').toBe(false);
    w.np('x', 'a2', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{}] });
    expect(await step(['np:x/a2']), 'allow-all').toBe(false);
    w.np('x', 'c', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16' } }] }] });
    expect(await step(['np:x/c']), 'an except removed').toBe(false);
    w.networkPolicies.delete('x/c');
    expect(await step(['np:x/c']), 'a policy deleted').toBe(false);
    w.pod('x', 'a', { node: 'n1', ips: ['10.244.0.10'], labels: { pod: 'a', other: '1' } });
    expect(await step(['pod:x/a']), 'a label no policy reads').toBe(false);
  });
});

describe('strict mode\'s trigger after a failed transaction', () => {
  it('judges against what is live (the trackers), not the planner\'s Sets it changed in place for the transaction that failed', async () => {
    const { world: w, ip } = upstreamModel(['n1']);
    w.np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }] }] });
    let fail = false;
    const fake = new FakeNft();
    const a = new FamilyApplier(4, 't', { apply: async (s) => { if (fail) throw new Error('nft: boom'); await fake.apply(s); } }, true, true);
    const planner = new Planner();
    planner.invalidate(w, [], true);
    await a.sync(planner.plan({ nodeName: 'n1', policy: w }).v4, true, planner.touched(4));
    // x/b stops being a peer; the planner takes its element out of the live Set; nft fails.
    w.pod('x', 'b', { node: 'n1', ips: [ip('x/b')], labels: { pod: 'c' } });
    planner.invalidate(w, ['pod:x/b']);
    fail = true;
    await expect(a.sync(planner.plan({ nodeName: 'n1', policy: w }).v4, false, planner.touched(4))).rejects.toThrow('boom');
    fail = false;
    // The module plans afresh after a failure; meanwhile the policy gains a port (a new group, new sets).
    planner.invalidate(w, [], true);
    w.np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }, { port: 81 }] }] });
    planner.invalidate(w, ['np:x/p']);
    const r = await a.sync(planner.plan({ nodeName: 'n1', policy: w }).v4, false, planner.touched(4));
    // Live before: x/b → x/a:80 allowed; now denied.
    expect(r.narrowed).toBe(true);
  });
});

/** Every flow this node judges between the world's addresses (and one outside): allowed or not, by key. */
function verdicts(w: World, fds: FamilyDesired[]): Map<string, boolean> {
  const out = new Map<string, boolean>();
  const ends = [...new Set([...[...w.pods.values()].flatMap((p) => p.ips), '192.0.2.7', 'fd00:99::7'])];
  for (const fd of fds) for (const src of ends) for (const dst of ends) {
    if (src.includes(':') !== dst.includes(':') || (fd.family === 6) !== src.includes(':')) continue;
    for (const proto of ['TCP', 'UDP', 'SCTP', 'ICMP']) for (const port of proto === 'ICMP' ? [0] : [79, 80, 81, 82, 1500]) {
      out.set(`${src}>${dst} ${proto}/${port}`, evaluate(fd, { src, dst, proto, port }).allowed);
    }
  }
  return out;
}

describe('strict mode\'s trigger against the interpreter, seeded random changes', () => {
  let narrowing = 0, widening = 0, quietWidening = 0;
  for (const seed of [201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212]) {
    it(`seed ${seed}`, async () => {
      const r = rng(seed);
      const { world: w, ip } = upstreamModel(['n1', 'n2']);
      // The raw specs, to widen one by a rule.
      const specs = new Map<string, { podSelector: unknown; ingress: Record<string, unknown>[]; egress: Record<string, unknown>[] }>();
      const put = (ns: string, name: string, spec: { podSelector: unknown; ingress: Record<string, unknown>[]; egress: Record<string, unknown>[] }) => {
        specs.set(`${ns}/${name}`, spec);
        w.np(ns, name, { ...spec, policyTypes: ['Ingress', 'Egress'] });
      };
      for (let i = 0; i < 3; i++) put(r.pick(NS), `p${i}`, { podSelector: selector(r, 'pod', ['a', 'b', 'c']), ingress: rules(r, ip, 'from'), egress: rules(r, ip, 'to') });
      if (seed > 208) cnps(r, w);
      const nft = new FakeNft();
      const as = [new FamilyApplier(4, 'np', nft, true, true), new FamilyApplier(6, 'np', nft, true, true)];
      const planner = new Planner();
      planner.invalidate(w, [], true);
      let d = planner.plan({ nodeName: 'n1', policy: w });
      for (const a of as) await a.sync(a.family === 4 ? d.v4 : d.v6, true);
      for (let step = 0; step < 40; step++) {
        // Judged before the change: the planner changes its Sets in place.
        const before = verdicts(w, [d.v4, d.v6]);
        const changes: string[] = [];
        const ns = r.pick(NS), name = r.pick(['a', 'b', 'c']);
        const cur = w.pods.get(`${ns}/${name}`)!;
        const kind = r.pick(['podLabel', 'nsLabel', 'widen', 'widen', 'edit', 'drop']);
        if (kind === 'podLabel') {
          w.pod(ns, name, { node: cur.nodeName, ips: cur.ips, labels: { pod: r.pick(['a', 'b', 'c']), ...(r.chance(0.5) ? { extra: '1' } : {}) } });
          changes.push(`pod:${ns}/${name}`);
        } else if (kind === 'nsLabel') {
          w.ns(ns, r.chance(0.5) ? { team: 'blue' } : {});
          changes.push(`ns:${ns}`);
        } else {
          const key = r.pick([...specs.keys()].sort()) as string | undefined;
          const np = key ? specs.get(key) : undefined;
          const [pns, pname] = key ? key.split('/') as [string, string] : [r.pick(NS), `q${step}`];
          if (kind === 'drop' && np) {
            w.networkPolicies.delete(key!);
            specs.delete(key!);
          } else if (kind === 'widen' && np) {
            // The same policy with one more rule in each direction: only ever wider.
            const more = (list: Record<string, unknown>[], field: 'from' | 'to') => [...list, ...rules(r, ip, field).slice(0, 1)];
            put(pns, pname, { podSelector: np.podSelector, ingress: more(np.ingress, 'from'), egress: more(np.egress, 'to') });
          } else {
            put(pns, pname, { podSelector: np?.podSelector ?? selector(r, 'pod', ['a', 'b', 'c']), ingress: rules(r, ip, 'from'), egress: rules(r, ip, 'to') });
          }
          changes.push(`np:${pns}/${pname}`);
        }
        planner.invalidate(w, changes);
        d = planner.plan({ nodeName: 'n1', policy: w });
        const narrowed = (await Promise.all(as.map((a) => a.sync(a.family === 4 ? d.v4 : d.v6, false, planner.touched(a.family))))).some((x) => x.narrowed);
        const after = verdicts(w, [d.v4, d.v6]);
        const cut = [...before].filter(([k, v]) => v && !after.get(k)).map(([k]) => k);
        if (cut.length) {
          narrowing++;
          expect(narrowed, `step ${step} (${kind}) denies ${cut.slice(0, 3).join('; ')}…`).toBe(true);
        } else if ([...before].some(([k, v]) => !v && after.get(k))) {
          widening++;
          if (!narrowed) quietWidening++;
        }
      }
    });
  }

  it('both kinds of change occurred, and most widening ones made no sweep', () => {
    expect(narrowing).toBeGreaterThan(40);
    expect(widening).toBeGreaterThan(40);
    // Seen: 80 of 81.
    expect(quietWidening / widening).toBeGreaterThan(0.8);
  });
});
