// The forward accepts for hosts whose firewall drops forwarded traffic: which chains, which
// rules, and that the script loads with nft beside iptables-nft's own table (private netns).
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { dropChains, forwardRules, forwardScript } from '../../modules/mesh/forward.ts';
import { parseCIDR } from '../../src/net/ip.ts';

const C = (s: string) => parseCIDR(s)!;
const chains = (list: Record<string, unknown>[]) => JSON.stringify({ nftables: [{ metainfo: {} }, ...list.map((chain) => ({ chain }))] });

describe('forward accepts', () => {
  it('only base chains on the forward hook with policy drop, never in our own tables', () => {
    const json = chains([
      { family: 'ip', table: 'filter', name: 'FORWARD', type: 'filter', hook: 'forward', prio: 0, policy: 'drop' },
      { family: 'ip6', table: 'filter', name: 'FORWARD', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' },
      { family: 'inet', table: 'firewall', name: 'fwd', type: 'filter', hook: 'forward', prio: 0, policy: 'drop' },
      { family: 'ip', table: 'filter', name: 'INPUT', type: 'filter', hook: 'input', prio: 0, policy: 'drop' },
      { family: 'ip', table: 'filter', name: 'DOCKER-USER' },
      { family: 'ip', table: 'nodeway', name: 'filter-forward', type: 'filter', hook: 'forward', prio: 0, policy: 'drop' },
      { family: 'bridge', table: 'b', name: 'f', type: 'filter', hook: 'forward', prio: 0, policy: 'drop' },
    ]);
    expect(dropChains(json)).toEqual([
      { family: 'ip', table: 'filter', chain: 'FORWARD' },
      { family: 'inet', table: 'firewall', chain: 'fwd' },
    ]);
  });

  it('accepts the cluster networks of the table\'s family, both ways, and jumps first', () => {
    const nets = [C('198.18.128.0/17'), C('fd00:198:18:100::/56')];
    expect(forwardRules('ip', nets)).toEqual(['ip saddr 198.18.128.0/17 counter accept', 'ip daddr 198.18.128.0/17 counter accept']);
    expect(forwardRules('inet', nets)).toHaveLength(4);
    expect(forwardScript({ family: 'ip', table: 'filter', chain: 'FORWARD' }, forwardRules('ip', nets), false)).toBe(
      'add chain ip filter NODEWAY-FWD\nflush chain ip filter NODEWAY-FWD\n' +
        'add rule ip filter NODEWAY-FWD ip saddr 198.18.128.0/17 counter accept\nadd rule ip filter NODEWAY-FWD ip daddr 198.18.128.0/17 counter accept\n' +
        'insert rule ip filter FORWARD jump NODEWAY-FWD\n',
    );
    // Already jumping: the chain is rewritten, no second jump.
    expect(forwardScript({ family: 'ip', table: 'filter', chain: 'FORWARD' }, [], true)).not.toContain('insert');
  });

  it('loads into iptables-nft\'s table (nft check mode, private netns)', async () => {
    const script = `table ip filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n${forwardScript({ family: 'ip', table: 'filter', chain: 'FORWARD' }, forwardRules('ip', [C('198.18.128.0/17')]), false)}`;
    const r = await execa('unshare', ['--net', 'nft', '-c', '-f', '-'], { input: script, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});
