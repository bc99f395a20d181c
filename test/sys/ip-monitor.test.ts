// The link/address/route listener: iproute2's monitor lines parsed; on real `ip` in a network
// namespace this test makes, changes are heard as events, a killed listener is reported lost
// and runs again, and a missing `ip` is one clear error naming its package.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/runtime/metrics.ts';
import { type IpEvent, IpMonitor, parseIpMonitorLine } from '../../src/sys/ip-monitor.ts';
import { makePrefix } from '../../testbed/lab/names.ts';
import { waitFor } from '../../testbed/lab/wait.ts';

const ns = `${makePrefix('mm')}-ipmon`;
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inNs = (...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args]);

const until = (cond: () => boolean, what: string) => waitFor(what, cond, 10_000, 10);

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
});

afterAll(() => {
  spawnSync('ip', ['netns', 'del', ns]);
});

describe('parseIpMonitorLine', () => {
  it('reads links, addresses and routes of both families as iproute2 6.1 prints them', () => {
    expect(parseIpMonitorLine('3: mmwg@mmwgp: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1400 qdisc noqueue state LOWERLAYERDOWN group default \\    link/ether 2a:89:08:19:bd:a3 brd ff:ff:ff:ff:ff:ff'))
      .toEqual({ kind: 'link', deleted: false, name: 'mmwg', up: true, mtu: 1400 });
    expect(parseIpMonitorLine('Deleted 3: mmwg@NONE: <BROADCAST,MULTICAST> mtu 1400 qdisc noop state DOWN group default \\    link/ether 2a:89:08:19:bd:a3 brd ff:ff:ff:ff:ff:ff'))
      .toEqual({ kind: 'link', deleted: true, name: 'mmwg', up: false, mtu: 1400 });
    expect(parseIpMonitorLine('4: nwm0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1420 qdisc fq_codel state UNKNOWN group default qlen 500\\    link/none '))
      .toEqual({ kind: 'link', deleted: false, name: 'nwm0', up: true, mtu: 1420 });
    expect(parseIpMonitorLine('Deleted 3: mmwg    inet 10.99.0.1/32 scope global mmwg\\       valid_lft forever preferred_lft forever'))
      .toEqual({ kind: 'addr', deleted: true, name: 'mmwg', family: 4, cidr: '10.99.0.1/32', scope: 'global' });
    expect(parseIpMonitorLine('3: mmwg    inet6 fd00::1/128 scope global nodad \\       valid_lft forever preferred_lft forever'))
      .toEqual({ kind: 'addr', deleted: false, name: 'mmwg', family: 6, cidr: 'fd00::1/128', scope: 'global' });
    expect(parseIpMonitorLine('2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever'))
      .toMatchObject({ kind: 'addr', scope: 'link' });
    expect(parseIpMonitorLine('10.244.2.0/24 dev mmwg proto 112 scope link src 10.244.1.1 linkdown '))
      .toEqual({ kind: 'route', deleted: false, type: 'unicast', dst: '10.244.2.0/24', table: 'main', dev: 'mmwg', proto: '112', src: '10.244.1.1', via: '' });
    expect(parseIpMonitorLine('Deleted fd00:2::/64 dev mmwg proto 112 metric 1024 linkdown pref medium'))
      .toMatchObject({ kind: 'route', deleted: true, dst: 'fd00:2::/64', dev: 'mmwg', proto: '112' });
    expect(parseIpMonitorLine('local 10.99.0.1 dev mmwg table local proto kernel scope host src 10.99.0.1 '))
      .toMatchObject({ kind: 'route', type: 'local', dst: '10.99.0.1', table: 'local', proto: 'kernel' });
    expect(parseIpMonitorLine('default via 198.18.0.1 dev eth0 '))
      .toMatchObject({ kind: 'route', type: 'unicast', dst: 'default', via: '198.18.0.1', dev: 'eth0', proto: 'boot' });
    for (const noise of ['', 'Timestamp: x', '[NETCONF]ipv4 eth0 forwarding on', 'Deleted']) expect(parseIpMonitorLine(noise)).toBeUndefined();
  });
});

describe('IpMonitor', () => {
  it('hears link, address and route changes; a killed listener is lost, then runs again and says lost once more', async () => {
    const reg = new Registry();
    const mon = new IpMonitor({ registry: reg, prefix: ['ip', 'netns', 'exec', ns], minRestartMs: 50 });
    const seen: IpEvent[] = [];
    mon.subscribe((ev) => seen.push(ev));
    mon.start();
    try {
      await until(() => mon.live, 'listening');
      // It subscribes a moment after it starts: a marker change proves it hears.
      for (let i = 0; !seen.some((e) => e.kind === 'link' && e.name === 'lo'); i++) {
        inNs('ip', 'link', 'set', 'lo', i % 2 ? 'down' : 'up');
        await tick(50);
      }
      inNs('ip', 'link', 'set', 'lo', 'up');
      seen.length = 0;
      inNs('ip', 'link', 'add', 'mmv0', 'type', 'veth', 'peer', 'name', 'mmv1');
      inNs('ip', 'link', 'set', 'mmv0', 'mtu', '1400', 'up');
      inNs('ip', 'addr', 'add', '198.18.7.1/24', 'dev', 'mmv0');
      inNs('ip', 'route', 'add', '198.18.8.0/24', 'dev', 'mmv0', 'proto', '112', 'src', '198.18.7.1');
      inNs('ip', 'route', 'del', '198.18.8.0/24', 'proto', '112');
      inNs('ip', 'link', 'del', 'mmv0');
      await until(() => seen.some((e) => e.kind === 'link' && e.name === 'mmv0' && e.deleted), 'the link deleted');
      expect(seen).toEqual(expect.arrayContaining([
        { kind: 'link', deleted: false, name: 'mmv0', up: true, mtu: 1400 },
        { kind: 'addr', deleted: false, name: 'mmv0', family: 4, cidr: '198.18.7.1/24', scope: 'global' },
        expect.objectContaining({ kind: 'route', deleted: false, dst: '198.18.8.0/24', proto: '112', dev: 'mmv0', src: '198.18.7.1' }),
        expect.objectContaining({ kind: 'route', deleted: true, dst: '198.18.8.0/24', proto: '112' }),
      ]));

      seen.length = 0;
      expect(execFileSync('ps', ['-o', 'comm=', '-p', String(mon.pid)]).toString().trim()).toBe('ip');
      process.kill(mon.pid!, 'SIGKILL');
      await until(() => seen.some((e) => e.kind === 'lost'), 'lost');
      await until(() => mon.live, 'running again');
      await until(() => seen.filter((e) => e.kind === 'lost').length === 2, 'lost once more when running again');
      expect(reg.render()).toMatch(/nodeway_ip_monitor_exits_total\{reason="exit"\} 1\b/);
      expect(reg.render()).toMatch(/nodeway_ip_monitor_up 1\b/);
    } finally {
      mon.close();
    }
    expect(mon.live).toBe(false);
  }, 30_000);

  it('without ip installed: not live, one warning naming iproute2, counted, retried', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'nodeway-mm-nopath-'));
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'debug' }, new Writable({ write(c, _e, cb) { for (const l of String(c).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } }));
    const reg = new Registry();
    const path = process.env.PATH;
    process.env.PATH = empty;
    const mon = new IpMonitor({ log, registry: reg, minRestartMs: 20 });
    try {
      mon.start();
      await until(() => /nodeway_ip_monitor_exits_total\{reason="missing"\} [3-9]/.test(reg.render()), 'retried');
      expect(mon.live).toBe(false);
      const warns = lines.filter((l) => l.level === 40);
      expect(warns).toHaveLength(1);
      expect(String(warns[0]!.msg)).toMatch(/ip not installed \(install the Debian package iproute2 \(apt-get install iproute2\)\)/);
    } finally {
      mon.close();
      process.env.PATH = path;
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
