// Strict mode without a kernel: which conntrack entries a plan denies (judged after DNAT, the
// node's own addresses left alone), and the sweeper's bounds (a cap per sweep, the rest a
// second later; failures retried with backoff, never in a tight loop).
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FamilyApplier } from '../../modules/netpol/apply.ts';
import { plan } from '../../modules/netpol/plan.ts';
import { type ConntrackTable, type CtEntry, cutElements, deniedEntries, parseEntries, StrictSweeper } from '../../modules/netpol/strict.ts';
import type { IPFamily } from '../../src/kube/objects.ts';
import { NetpolModule } from '../../modules/netpol/module.ts';
import { Registry } from '../../src/runtime/metrics.ts';
import { emptyChanges, type NodeView } from '../../src/view/view.ts';
import { FakeNft } from './fake-nft.ts';
import { upstreamModel } from './world.ts';

const LIST = `tcp      6 431995 ESTABLISHED src=10.244.1.10 dst=10.96.0.20 sport=40000 dport=80 src=10.244.0.10 dst=10.244.1.10 sport=8080 dport=40000 [ASSURED] mark=0 use=1
udp      17 25 src=10.244.2.10 dst=10.244.0.11 sport=5000 dport=81 src=10.244.0.11 dst=10.244.2.10 sport=81 dport=5000 [ASSURED] mark=0 use=1
icmp     1 29 src=10.244.1.10 dst=10.244.0.10 type=8 code=0 id=1 src=10.244.0.10 dst=10.244.1.10 type=0 code=0 id=1 mark=0 use=1
tcp      6 431999 ESTABLISHED src=192.168.1.5 dst=10.244.0.10 sport=33000 dport=80 src=10.244.0.10 dst=192.168.1.5 sport=80 dport=33000 [ASSURED] mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.
`;

describe('strict mode: the entries a change denies', () => {
  it('parses TCP/UDP/SCTP lines with both tuples, and skips the rest', () => {
    const e = parseEntries(LIST);
    expect(e).toHaveLength(3);
    expect(e[0]).toEqual({ proto: 'tcp', src: '10.244.1.10', dst: '10.96.0.20', sport: 40000, dport: 80, replySrc: '10.244.0.10', replySport: 8080 });
    expect(e[1]!.proto).toBe('udp');
  });

  it('judges each entry after DNAT with the plan: isolated ends only, local addresses never', () => {
    const { world: w, ip } = upstreamModel(['n1']);
    // x/a (10.244.0.10) admits TCP 8080 from y only; x/b (10.244.0.11) admits nothing.
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }], ports: [{ port: 8080 }] }] });
    w.np('x', 'b', { podSelector: { matchLabels: { pod: 'b' } } });
    const fd = plan({ nodeName: 'n1', policy: w }).v4;
    expect(ip('y/a')).toBe('10.244.1.10');
    const entries = parseEntries(LIST);
    // y/a → Service → x/a:8080 allowed; z/a → x/b:81 denied; 192.168.1.5 → x/a:80 denied.
    expect(deniedEntries(fd, entries, new Set()).map((e) => e.src)).toEqual(['10.244.2.10', '192.168.1.5']);
    // The same address as one of the node's own: that flow went through input, not forward.
    expect(deniedEntries(fd, entries, new Set(['192.168.1.5'])).map((e) => e.src)).toEqual(['10.244.2.10']);
  });

  it('cuts both orientations as the forward hook sees them: after DNAT (the reply source), before SNAT', () => {
    expect(cutElements(parseEntries(LIST).slice(0, 1))).toEqual(['10.244.1.10 . 10.244.0.10 . tcp . 40000 . 8080', '10.244.0.10 . 10.244.1.10 . tcp . 8080 . 40000']);
  });
});

function fakeTable(n: number, failFirst = 0) {
  const entries: CtEntry[] = Array.from({ length: n }, (_, i) => ({ proto: 'tcp', src: '10.244.2.10', dst: '10.244.0.11', sport: 10000 + i, dport: 80, replySrc: '10.244.0.11', replySport: 80 }));
  const calls = { list: 0, delete: 0 };
  let fails = failFirst;
  const table: ConntrackTable = {
    async list(_f: IPFamily) {
      calls.list++;
      if (fails-- > 0) throw new Error('conntrack -L: boom');
      return [...entries];
    },
    async delete(_f: IPFamily, e: CtEntry) {
      calls.delete++;
      const i = entries.indexOf(entries.find((x) => x.sport === e.sport)!);
      if (i < 0) return 0;
      entries.splice(i, 1);
      return 1;
    },
  };
  return { table, entries, calls };
}

function counters() {
  const c = { deleted: 0, deferred: 0, failures: 0 };
  return {
    c,
    metrics: {
      deleted: { inc: (_: Record<string, string>, by = 1) => void (c.deleted += by) },
      deferred: { inc: (_: Record<string, string>, by = 1) => void (c.deferred += by) },
      failures: { inc: () => void c.failures++ },
    },
  };
}

describe('strict mode: the sweeper', () => {
  const { world: w } = upstreamModel(['n1']);
  w.np('x', 'b', { podSelector: { matchLabels: { pod: 'b' } } });
  const fd = plan({ nodeName: 'n1', policy: w }).v4;

  it('cuts every denied flow at once, deletes at most maxDeletes entries per sweep and the rest in the next, a second later', async () => {
    const t = fakeTable(25);
    const m = counters();
    const cuts: number[] = [];
    const s = new StrictSweeper({ table: t.table, cut: async (_f, els) => void cuts.push(els.length), log: pino({ level: 'silent' }), metrics: m.metrics, local: () => new Set(), maxDeletes: 10 });
    const t0 = Date.now();
    s.request(fd);
    await s.idle();
    expect(t.entries).toHaveLength(0);
    // Every denied flow is cut at the first sweep (two elements each); deletions come 10 a sweep.
    expect(cuts).toEqual([50, 30, 10]);
    expect(m.c.deleted).toBe(25);
    expect(m.c.deferred).toBe(15 + 5);
    expect(t.calls.list).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
  });

  it('requests during a sweep coalesce into one more; a failing list is retried with backoff', async () => {
    const t = fakeTable(3, 2);
    const m = counters();
    const s = new StrictSweeper({ table: t.table, log: pino({ level: 'silent' }), metrics: m.metrics, local: () => new Set() });
    const t0 = Date.now();
    s.request(fd);
    s.request(fd);
    s.request(fd);
    await s.idle();
    // Failed at once, again 1 s later, then succeeded 2 s after that (backoff 1, 2, 4 … s).
    expect(m.c.failures).toBe(2);
    expect(t.calls.list).toBe(3);
    expect(m.c.deleted).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2900);
    s.close();
  });
});

describe('strict mode: a stream of changes', () => {
  it('requests every 100 ms for 2 s make at most one sweep a second', async () => {
    const { world: w } = upstreamModel(['n1']);
    w.np('x', 'b', { podSelector: { matchLabels: { pod: 'b' } } });
    const fd = plan({ nodeName: 'n1', policy: w }).v4;
    const t = fakeTable(0);
    const s = new StrictSweeper({ table: t.table, log: pino({ level: 'silent' }), metrics: counters().metrics, local: () => new Set() });
    for (let i = 0; i < 20; i++) {
      s.request(fd);
      await new Promise((r) => setTimeout(r, 100));
    }
    await s.idle();
    expect(t.calls.list).toBeGreaterThanOrEqual(2);
    expect(t.calls.list).toBeLessThanOrEqual(4);
  });
});

describe('strict mode: which changes call for a sweep (the applier says it narrowed; more in narrowing.test.ts)', () => {
  it('a peer losing a label, a namespace label change, a newly isolated pod, a narrowing policy edit narrow; a new allow or a widening edit does not', async () => {
    const { world: w } = upstreamModel(['n1']);
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } }, podSelector: { matchLabels: { role: 'client' } } }] }] });
    w.ns('y', { team: 'blue' });
    w.pod('y', 'a', { node: 'n1', ips: ['10.244.1.10'], labels: { pod: 'a', role: 'client' } });
    const a = new FamilyApplier(4, 't', { apply: async () => {} }, true, true);
    const sync = async () => (await a.sync(plan({ nodeName: 'n1', policy: w }).v4, false)).narrowed;
    await a.sync(plan({ nodeName: 'n1', policy: w }).v4, true);
    w.pod('y', 'b', { node: 'n1', ips: ['10.244.1.11'], labels: { pod: 'b', role: 'client' } });
    expect(await sync(), 'a new peer').toBe(false);
    w.pod('y', 'b', { node: 'n1', ips: ['10.244.1.11'], labels: { pod: 'b' } });
    expect(await sync(), 'a peer lost its label').toBe(true);
    w.ns('y', { team: 'red' });
    expect(await sync(), 'the namespace lost its label').toBe(true);
    w.np('x', 'b', { podSelector: { matchLabels: { pod: 'b' } } });
    expect(await sync(), 'x/b newly isolated').toBe(true);
    w.np('x', 'b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{}] });
    expect(await sync(), 'a policy edit allowing everything (a new group for x/b, wider)').toBe(false);
    w.np('x', 'b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ port: 80 }] }] });
    expect(await sync(), 'a policy edit allowing port 80 only').toBe(true);
    expect(await sync(), 'nothing changed').toBe(false);
  });
});

describe('strict mode: sweeps counted in nodeway_netpol_strict_sweeps_total', () => {
  it('the first sync sweeps; a widening edit and a new peer do not; a narrowing edit and a peer losing its label do (one sweep a family)', async () => {
    const { world: w } = upstreamModel(['n1']);
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }] }] });
    const t = fakeTable(0);
    const registry = new Registry();
    const m = new NetpolModule({ config: { netpolStrict: true }, nodeName: 'n1', log: pino({ level: 'silent' }), registry }, { nft: new FakeNft(), bridge: async () => '', deleteChainsNow: true, conntrack: t.table });
    const view = { nodeName: 'n1', policy: w } as unknown as NodeView;
    const sweeps = registry.counter('nodeway_netpol_strict_sweeps_total', '');
    const count = () => sweeps.get({ ip_family: 'IPv4' }) + sweeps.get({ ip_family: 'IPv6' });
    const sync = async (...keys: string[]) => {
      await m.sync(view, keys.length ? { ...emptyChanges(), policies: new Set(keys) } : emptyChanges(true));
      await m.strictIdle();
      return count();
    };
    expect(await sync(), 'the first (full) sync: both families').toBe(2);
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }, { port: 81 }] }] });
    expect(await sync('np:x/a'), 'a port added').toBe(2);
    w.pod('x', 'new', { node: 'n1', ips: ['10.244.0.99', 'fd00:244::99'], labels: { pod: 'b' } });
    expect(await sync('pod:x/new'), 'a new peer').toBe(2);
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 81 }] }] });
    expect(await sync('np:x/a'), 'port 80 taken out').toBe(4);
    w.pod('x', 'new', { node: 'n1', ips: ['10.244.0.99', 'fd00:244::99'], labels: { pod: 'c' } });
    expect(await sync('pod:x/new'), 'a peer lost its label').toBe(6);
    expect(t.calls.list).toBe(6);
    await m.close();
  });
});
