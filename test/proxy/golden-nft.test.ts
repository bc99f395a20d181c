// The golden transactions are real nft: they load, in order, into a throwaway network
// namespace (unshare -n) with the host's nft, and the result lists back.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'nodeway-golden-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text?: string): string {
  const p = join(dir, name);
  writeFileSync(p, text ?? readFileSync(new URL(`./golden/${name}`, import.meta.url), 'utf8'));
  return p;
}

/** Loads the scripts one after the other in a fresh netns; returns `nft list ruleset`. */
async function load(...scripts: string[]): Promise<string> {
  const cmd = [...scripts.map((s) => `nft -f ${s}`), 'nft list ruleset'].join(' && ');
  const r = await execa('unshare', ['-n', 'sh', '-c', cmd], { reject: false });
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return r.stdout;
}

// The table a previous nodeway left: a chain of a Service deleted meanwhile, still pointed at
// by a map element, and affinity sets (one still wanted, one not).
const PREVIOUS = `add table ip nodeway
add chain ip nodeway nat-prerouting { type nat hook prerouting priority -100; }
add chain ip nodeway services
add chain ip nodeway service-AAAAAAAA-default/gone/tcp/
add chain ip nodeway endpoint-TE5VJLLP-default/sticky/sctp/__198.19.2.5/9000
add map ip nodeway service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }
add element ip nodeway service-ips { 198.19.0.99 . tcp . 80 : goto service-AAAAAAAA-default/gone/tcp/ }
add rule ip nodeway services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip nodeway nat-prerouting jump services
add set ip nodeway cluster-ips { type ipv4_addr; }
add set ip nodeway affinity-GYVDQHTB-default/sticky/sctp/__198.19.2.5/9000 { type ipv4_addr; flags dynamic,timeout; timeout 600s; }
add set ip nodeway affinity-AAAAAAAA-default/gone/tcp/__198.19.9.9/80 { type ipv4_addr; flags dynamic,timeout; timeout 600s; }
`;

describe('golden transactions load into the kernel', () => {
  it('initial then incremental', async () => {
    const out = await load(file('initial.nft'), file('update.nft'));
    expect(out).toContain('meta l4proto tcp dnat ip to numgen random mod 2 map @endpoints-tcp-Z6');
    expect(out).toMatch(/elements = \{ 0 : 198\.19\.1\.3 \. 8080,\s+1 : 198\.19\.2\.4 \. 8080 \}/);
    // Chain-less ClusterIP ports: one shared chain per endpoint count, endpoints keyed by address and port.
    expect(out).toContain('dnat ip to ip daddr . tcp dport . numgen random mod 1 map @endpoint-picks-tcp');
    expect(out).toMatch(/198\.19\.0\.10 \. 80 \. 0 : 198\.19\.1\.2 \. 8080,\s+198\.19\.0\.20 \. 80 \. 0 : 198\.19\.2\.9 \. 8080/);
    expect(out).toMatch(/198\.19\.0\.53 \. udp \. 53 comment "default\/dns:dns" : goto reject-chain/);
    expect(out).not.toContain('sticky');
  });

  it('an endpoint replaced through the overrides map, then compacted into the main map', async () => {
    const overridden = await load(file('initial.nft'), file('update.nft'), file('override.nft'));
    expect(overridden).toMatch(/map endpoint-overrides-tcp \{[^}]*elements = \{ 198\.19\.0\.20 \. 80 \. 0 : 198\.19\.2\.8 \. 8080 \}/);
    const compacted = await load(file('initial.nft'), file('update.nft'), file('override.nft'), file('compact.nft'));
    expect(compacted).toMatch(/198\.19\.0\.20 \. 80 \. 0 : 198\.19\.2\.8 \. 8080/);
    expect(compacted).not.toMatch(/198\.19\.2\.9 \. 8080/);
    expect(compacted).toMatch(/map endpoint-overrides-tcp \{\n\s+typeof [^\n]*\n\s+\}/);
  });

  it('a later transaction can use shard maps an earlier one created', async () => {
    const initial = readFileSync(new URL('./golden/initial.nft', import.meta.url), 'utf8');
    const later = [...initial.matchAll(/^add map ip nodeway (endpoints-(tcp|udp|sctp)-\S+) /gm)].flatMap(([, map, proto], i) => [
      `add chain ip nodeway later-${i}`,
      `add rule ip nodeway later-${i} meta l4proto ${proto} dnat to numgen random mod 2 offset ${1000 + 2 * i} map @${map}`,
      `add element ip nodeway ${map} { ${1000 + 2 * i} : 198.18.1.1 . 80, ${1001 + 2 * i} : 198.18.1.2 . 80 }`,
    ]);
    // …and the per-protocol endpoint maps of chain-less ports, from a new pick chain.
    later.push(
      'add chain ip nodeway pick-7',
      'add rule ip nodeway pick-7 dnat ip to ip daddr . udp dport . numgen random mod 7 map @endpoint-picks-udp',
      'add element ip nodeway endpoint-picks-udp { 198.19.0.99 . 53 . 6 : 198.18.1.1 . 53 }',
    );
    expect(later.length).toBeGreaterThanOrEqual(6);
    await load(file('initial.nft'), file('later.nft', `${later.join('\n')}\n`));
  });

  it('kernels before 6.2: flush first, delete later', async () => {
    await load(file('initial.nft'), file('stale-flush.nft', 'flush chain ip nodeway endpoint-NPWVQW4F-default/sticky/sctp/__198.19.2.5/9000\n'));
  });

  it('each family on its own', async () => {
    const out = await load(file('dualstack-v4.nft'), file('dualstack-v6.nft'));
    expect(out).toContain('table ip6 nodeway');
    expect(out).toContain('meta l4proto tcp dnat to [fd00:198:19:2::4]:8080');
    // Unallocated ClusterIPs: the Service CIDRs after the live ClusterIPs, in both families.
    expect(out).toMatch(/chain cluster-ips-check \{\s+ip daddr @cluster-ips reject\s+ip daddr @service-cidrs drop\s+\}/);
    expect(out).toMatch(/chain cluster-ips-check \{\s+ip6 daddr @cluster-ips reject\s+ip6 daddr @service-cidrs drop\s+\}/);
    expect(out).toMatch(/set service-cidrs \{\s+type ipv6_addr\s+flags interval\s+elements = \{ fd00:198:19::\/112 \}/);
  });

  it('rewrite over a live table removes leftovers in the same transaction', async () => {
    const out = await load(file('previous.nft', PREVIOUS), file('rewrite.nft'));
    expect(out).not.toContain('gone');
    expect(out).toContain('service-Z62NTLDZ-default/lb/tcp/');
    expect(out).toContain('198.19.0.10 . tcp . 80 : goto pick-2');
  });
});
