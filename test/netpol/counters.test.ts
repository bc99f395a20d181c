// Drops by policy: each reject counts in its group's counter of its tier, and the figures read
// from nft become one series per family, direction, tier and policies.
import { describe, expect, it } from 'vitest';
import { DropReader, dropSeries, groupCounters, parseCounters } from '../../modules/netpol/counters.ts';
import { plan } from '../../modules/netpol/plan.ts';
import { ruleText } from '../../modules/netpol/render.ts';
import { upstreamModel } from './world.ts';

const nsIs = (ns: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': ns } });

describe('drop counters', () => {
  it('one counter per group and tier that rejects: Admin Deny, NetworkPolicy reject, Baseline Deny', () => {
    const { world: w, ip } = upstreamModel(['n1']);
    w.cnp('guard', { tier: 'Admin', priority: 1, subject: { namespaces: nsIs('x') }, ingress: [{ action: 'Deny', from: [{ namespaces: nsIs('z') }] }] });
    w.cnp('base', { tier: 'Baseline', priority: 1, subject: { namespaces: nsIs('y') }, ingress: [{ action: 'Deny', from: [{ namespaces: nsIs('z') }] }] });
    w.np('x', 'a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: {} }] }] });
    const fd = plan({ nodeName: 'n1', policy: w }).v4;
    const xa = fd.groups.get(fd.ingress.get(ip('x/a'))!)!;
    const ya = fd.groups.get(fd.ingress.get(ip('y/a'))!)!;
    expect([...groupCounters(xa).values()].sort()).toEqual(['admin', 'networkpolicy']);
    expect([...groupCounters(ya).values()]).toEqual(['baseline']);
    // Every reject rule names the counter of its tier.
    const texts = [...xa.rules, ...(xa.tail ?? [])].filter((r) => r.verdict === 'reject').map((r) => ruleText(r, xa, 4));
    expect(texts.map((t) => /counter name "([^"]+)"/.exec(t)![1]).sort()).toEqual([...groupCounters(xa).keys()].sort());

    const json = JSON.stringify({ nftables: [{ metainfo: {} }, ...[...groupCounters(xa).keys(), ...groupCounters(ya).keys()].map((name, i) => ({ counter: { name, packets: i + 3, bytes: 0 } }))] });
    const series = dropSeries(4, fd.groups.values(), parseCounters(json));
    expect(series).toContainEqual({ labels: { ip_family: 'IPv4', direction: 'ingress', tier: 'baseline', policies: 'cnp/base' }, packets: 5 });
    expect(series.filter((s) => s.labels.policies === 'x/a,cnp/guard').map((s) => s.labels.tier).sort()).toEqual(['admin', 'networkpolicy']);
  });

  it('reads at most once per ttl; concurrent scrapes share a read', async () => {
    let reads = 0;
    const r = new DropReader(async () => {
      reads++;
      await new Promise((res) => setTimeout(res, 20));
      return new Map([['g-d', reads]]);
    }, 300);
    await Promise.all([r.counters(), r.counters(), r.counters()]);
    expect(reads).toBe(2); // one per family
    await r.counters();
    expect(reads).toBe(2);
    await new Promise((res) => setTimeout(res, 320));
    expect((await r.counters()).get(4)!.get('g-d')).toBe(3);
    expect(reads).toBe(4);
  });
});
