// The mesh repairs what is changed under it on the host, woken by the link/address/route
// listener (src/sys/ip-monitor.ts) rather than by a periodic read: two lab nodes running the
// built agent with wireguard-go; on n1 a mesh route, the tunnel's address, the tunnel link's
// state and the link itself are removed by hand, each repaired within REPAIR_MS (the poll
// alone would take up to 5 s) and counted as a wake for its reason. With the listener killed
// until its restart delay is long, the 5 s poll repairs instead. An idle agent starts no `ip`.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MeshLab, type MeshNode, type Pod, sleep, waitFor } from './harness.ts';

const m = new MeshLab();
let n1: MeshNode, n2: MeshNode;
let p1: Pod, p2: Pod;
let startedAt = 0;

/** An event is judged 100 ms after it and repaired by one sync: well within this, where a poll may take 5 s. */
const REPAIR_MS = 3_000;

async function metric(n: MeshNode, series: string): Promise<number> {
  const body = (await m.http(n, '/metrics')).body;
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const wakes = (reason: string) => metric(n1, `nodeway_mesh_host_wakes_total{reason="${reason}"}`);
const ipRuns = () => metric(n1, 'nodeway_exec_runs_total{program="ip"}');
const sh = (...args: string[]) => execFileSync('ip', ['netns', 'exec', n1.lab.ns, ...args]).toString();

async function routeBack(dst: string): Promise<boolean> {
  return sh('ip', 'route', 'show', dst, 'proto', '112').includes(`dev ${n1.iface}`);
}

/** The agent's `ip -o monitor` child (in n1's namespace), by its parent. */
function listenerPid(): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== n1.agent!.pid) continue;
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').startsWith('ip -o monitor')) return Number(d);
    } catch {}
  }
  return undefined;
}

/** Times `repaired` from now, requiring it within `ms`. */
async function repairTime(what: string, repaired: () => Promise<boolean>, ms = REPAIR_MS): Promise<number> {
  const t0 = Date.now();
  await waitFor(what, async () => (await repaired()) || undefined, ms, 20);
  return Date.now() - t0;
}

beforeAll(async () => {
  await m.start();
  n1 = await m.addNode('n1');
  n2 = await m.addNode('n2');
  startedAt = Date.now();
  for (const n of [n1, n2]) m.startAgent(n);
  [p1, p2] = await Promise.all([m.addPod(n1, 'p1'), m.addPod(n2, 'p2')]);
  await m.sessionUp(n1, n2);
}, 90_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.log(await m.diag());
});

afterAll(async () => {
  await m.destroy();
}, 60_000);

describe('mesh host repair', () => {
  it('an idle agent starts no ip (the host is watched, not read every 5 s)', async () => {
    // After the first poll's host read (5 s after the first sync), the next is 60 s later.
    await waitFor('the listener', async () => (await metric(n1, 'nodeway_ip_monitor_up')) === 1);
    await sleep(Math.max(0, startedAt + 8_000 - Date.now()));
    const before = await ipRuns();
    await sleep(20_000);
    expect(Date.now() - startedAt).toBeLessThan(60_000);
    expect(await ipRuns()).toBe(before);
    expect(before).toBeGreaterThan(0);
  }, 60_000);

  it('a mesh route, the tunnel address, the link state and the link itself, removed by hand, are back within 3 s', async () => {
    const dst = n2.podCIDR!;
    const gw = '198.18.129.1/32';
    const took: Record<string, number> = {};

    let w = await wakes('routes');
    sh('ip', 'route', 'del', dst, 'proto', '112');
    expect(await routeBack(dst)).toBe(false);
    took.route = await repairTime('the route back', () => routeBack(dst));
    expect(await wakes('routes')).toBe(w + 1);

    w = await wakes('addresses');
    sh('ip', 'addr', 'del', gw, 'dev', n1.iface);
    took.address = await repairTime('the address back', async () => sh('ip', '-o', 'addr', 'show', 'dev', n1.iface).includes(gw));
    expect(await wakes('addresses')).toBe(w + 1);

    // Down takes the IPv4 routes through it with it, silently: they come back with the link.
    w = await wakes('link');
    sh('ip', 'link', 'set', n1.iface, 'down');
    took.down = await repairTime('the link up with its route', async () => /[<,]UP[,>]/.test(sh('ip', 'link', 'show', n1.iface)) && (await routeBack(dst)));
    expect(await wakes('link')).toBe(w + 1);

    // wireguard-go exits with its TUN link gone: a new one, its peer, address and routes.
    w = await wakes('device');
    sh('ip', 'link', 'del', n1.iface);
    took.deleted = await repairTime('the link rebuilt', async () => {
      try {
        return (await m.dump(n1)).peers.size === 1 && (await routeBack(dst)) && sh('ip', '-o', 'addr', 'show', 'dev', n1.iface).includes(gw);
      } catch {
        return false;
      }
    }, 6_000);
    expect(await wakes('device')).toBe(w + 1);
    console.log(`repaired in (ms): ${JSON.stringify(took)}`);
    await m.sessionUp(n1, n2);
    expect(await m.pings(p1.ns, p2.ip)).toEqual({ sent: 5, received: 5 });
  }, 60_000);

  it('with the listener killed (its restart delay grown to 16 s) the 5 s poll repairs a deleted route', async () => {
    // Killed 5 times as soon as it runs: restarts after 1, 2, 4, 8 s, then waits 16 s.
    for (let i = 0; i < 5; i++) {
      const pid = await waitFor('the listener running', () => listenerPid(), 12_000, 20);
      process.kill(pid, 'SIGKILL');
      await waitFor('the listener gone', () => listenerPid() !== pid || undefined, 5_000, 20);
    }
    expect(await metric(n1, 'nodeway_ip_monitor_up')).toBe(0);
    // Each exit wakes one host read ('lost'); let the last one run before the route goes.
    let lost = -1;
    await waitFor('the lost wakes done', async () => {
      const was = lost;
      lost = await wakes('lost');
      return lost === was || (await sleep(1_200), undefined);
    }, 10_000, 0);
    const dst = n2.podCIDR!;
    const woken = await wakes('routes');
    sh('ip', 'route', 'del', dst, 'proto', '112');
    const t = await repairTime('the route back by the poll', () => routeBack(dst), 5_000 + REPAIR_MS);
    expect(listenerPid()).toBeUndefined();
    expect(await metric(n1, 'nodeway_ip_monitor_up')).toBe(0);
    // No wake did it: the poll did.
    expect([await wakes('lost'), await wakes('routes')]).toEqual([lost, woken]);
    console.log(`repaired by the poll in ${t} ms`);
    // It comes back by itself, and wakes work again.
    await waitFor('the listener back', async () => (await metric(n1, 'nodeway_ip_monitor_up')) === 1, 20_000, 200);
    const w = await wakes('routes');
    sh('ip', 'route', 'del', dst, 'proto', '112');
    await repairTime('the route back by a wake', () => routeBack(dst));
    expect(await wakes('routes')).toBe(w + 1);
    expect(await metric(n1, 'nodeway_ip_monitor_exits_total{reason="exit"}')).toBe(5);
  }, 90_000);
});
