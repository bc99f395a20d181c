// The nftables event listener on real nft, in a network namespace this test makes: another
// process's change to tables, chains or rules (a firewall reload, a deleted table) is reported;
// element updates and the agent's own nft runs are not; a listener that dies (killed, or on a
// rule it cannot print) is reported as lost and started again.
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/runtime/metrics.ts';
import { exec } from '../../src/sys/exec.ts';
import { type ChangeReason, NftEvents } from '../../src/sys/nft-events.ts';
import { makePrefix } from '../../testbed/lab/names.ts';
import { waitFor } from '../../testbed/lab/wait.ts';

const ns = `${makePrefix('idl')}-ev`;
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Another process (not started through src/sys/exec.ts) runs nft in the namespace. */
function foreign(script: string): void {
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script });
}

const until = (cond: () => boolean, what: string) => waitFor(what, cond, 10_000, 10);

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
});

afterAll(() => {
  spawnSync('ip', ['netns', 'del', ns]);
});

describe('NftEvents', () => {
  it('reports others\' table, chain and rule changes, not element updates nor the agent\'s own nft runs; restarts when it dies', async () => {
    const reg = new Registry();
    const ev = new NftEvents({ registry: reg, prefix: ['ip', 'netns', 'exec', ns], minRestartMs: 50 });
    const seen: ChangeReason[] = [];
    ev.subscribe((why) => seen.push(why));
    ev.start();
    try {
      await until(() => ev.live, 'listening');
      // The listener subscribes a moment after it starts: a marker transaction proves it hears.
      await until(() => (foreign('add table ip idl-mark\ndelete table ip idl-mark\n'), seen.length > 0), 'the first event');
      await tick(300);
      seen.length = 0;
      const transactions = () => reg.render().split('\n').filter((l) => l.startsWith('nodeway_nft_events_transactions_total'));

      // The agent's own structural transaction, through the exec wrapper: not a change.
      await exec('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: 'table inet idl-own {\n set s { type ipv4_addr; }\n chain c { type filter hook forward priority 0; policy accept; ip daddr @s accept; }\n}\n' });
      // Another process's element update: not a change either.
      foreign('add element inet idl-own s { 198.18.0.1 }\n');
      // A marker after both, from another process: once it is heard, the two before were too.
      foreign('add table ip idl-mark\n');
      await until(() => seen.length > 0, 'the marker');
      await tick(200);
      expect(seen).toEqual(['change']);
      expect(transactions()).toEqual(expect.arrayContaining([
        'nodeway_nft_events_transactions_total{what="structural",whose="own"} 1',
        'nodeway_nft_events_transactions_total{what="elements",whose="other"} 1',
      ]));

      // A firewall reload and a deleted table: one change each.
      seen.length = 0;
      foreign('flush ruleset\n');
      await until(() => seen.length === 1, 'the flush');
      foreign('add table ip idl-x\n');
      execFileSync('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'idl-x']);
      await until(() => seen.length === 3, 'the table added and deleted');
      expect(seen).toEqual(['change', 'change', 'change']);

      // A rule of an ip table that iptables cannot express (the proxy's own are such): the
      // listener exits on it; that is reported as lost (a check follows) and it runs again.
      seen.length = 0;
      foreign('table ip idl-native {\n chain c { meta mark set meta mark | 0x4000; }\n}\n');
      await until(() => seen.includes('lost'), 'lost on a rule it cannot print');
      await until(() => ev.live, 'running again');
      expect(reg.render()).toMatch(/nodeway_nft_events_exits_total\{reason="unparsed"\} 1\b/);
      await until(() => (foreign('add table ip idl-mark3\ndelete table ip idl-mark3\n'), seen.includes('change')), 'events again');

      // The listener dies: lost, then running again.
      seen.length = 0;
      expect(execFileSync('ps', ['-o', 'comm=', '-p', String(ev.pid)]).toString().trim()).toBe('xtables-monitor');
      process.kill(ev.pid!, 'SIGKILL');
      await until(() => seen.includes('lost'), 'lost');
      expect(ev.live).toBe(false);
      await until(() => ev.live, 'running again');
      await until(() => (foreign('add table ip idl-mark2\ndelete table ip idl-mark2\n'), seen.includes('change')), 'events again');
      expect(reg.render()).toMatch(/nodeway_nft_events_exits_total\{reason="exit"\} 1\b/);
    } finally {
      ev.close();
    }
    expect(ev.live).toBe(false);
  }, 60_000);

  it('while the agent\'s own ip and ip6 rules churn (each kills the listener), every change by someone else, in any family, is heard within 1 s', async () => {
    const reg = new Registry();
    const ev = new NftEvents({ registry: reg, prefix: ['ip', 'netns', 'exec', ns] });
    const heard: { why: ChangeReason; at: number }[] = [];
    ev.subscribe((why) => heard.push({ why, at: Date.now() }));
    ev.start();
    const own = (script: string) => exec('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script });
    // Rules iptables cannot print, in an ip and an ip6 table of the agent's own.
    const ownRules = (i: number) => ['ip', 'ip6'].map((f) => `table ${f} idl-own4 {\n chain c { meta mark set meta mark | ${0x4000 + i}; }\n}\nflush chain ${f} idl-own4 c\nadd rule ${f} idl-own4 c meta mark set meta mark | ${0x4000 + i}\n`).join('');
    let churning = true;
    let ownRuns = 0;
    const churn = (async () => {
      for (let i = 0; churning; i++, ownRuns++) {
        await own(ownRules(i));
        await tick(100);
      }
    })();
    try {
      await until(() => ev.live, 'listening');
      await tick(1500);
      // Own churn alone: no change; a loss (a check) per restart.
      const quiet = heard.length;
      await tick(3000);
      const ownOnly = heard.slice(quiet);
      const foreignChanges = [
        'table ip idl-fw4 {\n chain c { meta mark set meta mark | 0x10; }\n}\n',
        'table ip6 idl-fw6 {\n chain c { meta mark set meta mark | 0x10; }\n}\n',
        'table inet idl-fwi {\n chain c { meta mark set meta mark | 0x10; }\n}\n',
        'add rule ip idl-fw4 c meta mark set meta mark | 0x20\n',
        'add rule ip6 idl-fw6 c counter\n',
        'add rule inet idl-fwi c counter\n',
        'delete table ip idl-fw4\n',
        'delete table ip6 idl-fw6\n',
        'delete table inet idl-fwi\n',
        'add rule ip6 idl-own4 c counter\n',
      ];
      const late: string[] = [];
      for (const script of foreignChanges) {
        const at = Date.now();
        foreign(script);
        await tick(1000);
        if (!heard.some((h) => h.at >= at && h.at - at <= 1000)) late.push(script);
        await tick(50 + Math.floor(Math.random() * 100));
      }
      churning = false;
      await churn;
      const m = reg.render();
      console.log(`own runs ${ownRuns}; own churn alone for 3 s: ${ownOnly.length} lost; ${m.split('\n').filter((l) => /^nodeway_nft_events_exits_total/.test(l)).join('; ')}`);
      expect(late).toEqual([]);
      expect(ownOnly.filter((h) => h.why === 'change')).toEqual([]);
      expect(m).toMatch(/nodeway_nft_events_exits_total\{reason="unparsed"\} [1-9]/);
    } finally {
      churning = false;
      await churn;
      ev.close();
    }
  }, 60_000);
});
