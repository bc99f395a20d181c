import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode, type LabPod, cleanupStaleLabs, withLab, workloadPaths } from '../testbed/lab/index.ts';
import { waitFor } from '../testbed/lab/wait.ts';
import { completeLines } from '../testbed/lab/daemon.ts';

function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const until = (what: string, cond: () => boolean, timeoutMs = 5_000) => waitFor(what, cond, timeoutMs, 50);

/** Runs a lab in a separate Node process that prints its prefix, then waits. */
function childLab(): { pid: number; prefix: Promise<string> } {
  const code = `
    const { Lab } = await import(${JSON.stringify(new URL('../testbed/lab/index.ts', import.meta.url).pathname)});
    const lab = await Lab.create({ prefix: 'child' });
    const n = await lab.addNode('n1');
    await lab.addPod(n, 'p1');
    await n.startEchoServer({ tcp: [8080] });
    console.log('prefix=' + lab.prefix);
    setInterval(() => {}, 1000);
  `;
  // No inherited stdio: a leftover child holding the worker's pipes would stall vitest.
  const child = spawn(workloadPaths().node, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const prefix = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /prefix=(\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.on('exit', (c, s) => reject(new Error(`child lab exited early (${c ?? s}): ${err}`)));
  });
  if (child.pid === undefined) throw new Error('child did not start');
  return { pid: child.pid, prefix };
}

describe('lab network', () => {
  let lab: Lab;
  let a: LabNode;
  let b: LabNode;
  let pod: LabPod;

  beforeAll(async () => {
    await cleanupStaleLabs();
    lab = await Lab.create({ prefix: 'net' });
    a = await lab.addNode('a');
    b = await lab.addNode('b');
    pod = await lab.addPod(a, 'web');
    await Promise.all([
      a.startEchoServer({ tcp: [8080], udp: [5353] }),
      b.startEchoServer({ tcp: [8080], udp: [5353] }),
      pod.startEchoServer({ tcp: [80], udp: [53] }),
    ]);
  });
  afterAll(() => lab?.destroy());

  it('gives nodes addresses on the lab segment and no way out', async () => {
    expect(a.ipv4).toBe('198.18.0.2');
    expect(b.ipv6).toBe('fd00:198:18::3');
    expect(pod.ipv4).toBe('198.18.129.2');
    expect(a.podCidrV4).toBe('198.18.129.0/24');
    const routes = (await a.exec('ip', ['route', 'show', 'default'], { check: true })).stdout;
    expect(routes).toBe('');
    const fwd = (await a.exec('sysctl', ['-n', 'net.ipv4.ip_forward'], { check: true })).stdout;
    expect(fwd).toBe('1');
  });

  it('lets two nodes ping each other over IPv4 and IPv6', async () => {
    expect(await a.ping(b.ipv4)).toBe(true);
    expect(await b.ping(a.ipv6!)).toBe(true);
  });

  for (const family of ['ipv4', 'ipv6'] as const) {
    it(`lets two nodes reach each other's echo server over TCP, HTTP and UDP (${family})`, async () => {
      const host = b[family]!;
      const from = a[family]!;
      const tcp = await a.probe({ proto: 'tcp', host, port: 8080 });
      const http = await a.probe({ proto: 'http', host, port: 8080 });
      const udp = await a.probe({ proto: 'udp', host, port: 5353 });
      for (const r of [tcp, http, udp]) {
        expect(r.outcome, r.line).toBe('ok');
        expect(r.name).toBe('b');
        expect(r.client).toMatch(family === 'ipv4' ? new RegExp(`^${from}:\\d+$`) : new RegExp(`^\\[${from}\\]:\\d+$`));
      }
      expect(tcp.local).toBe(family === 'ipv4' ? `${host}:8080` : `[${host}]:8080`);
    });
  }

  it('connects a pod to its node both ways, with the real addresses as sources', async () => {
    const toNode = await pod.probe({ proto: 'tcp', host: a.ipv4, port: 8080 });
    expect(toNode).toMatchObject({ outcome: 'ok', name: 'a', client: expect.stringMatching(/^198\.18\.129\.2:\d+$/) });
    const toNode6 = await pod.probe({ proto: 'udp', host: a.ipv6!, port: 5353 });
    expect(toNode6).toMatchObject({ outcome: 'ok', name: 'a', client: expect.stringMatching(/^\[fd00:198:18:101::2\]:\d+$/) });
    const toPod = await a.probe({ proto: 'http', host: pod.ipv4, port: 80 });
    expect(toPod).toMatchObject({ outcome: 'ok', name: 'web', client: expect.stringMatching(/^198\.18\.0\.2:\d+$/) });
    const toPod6 = await a.probe({ proto: 'tcp', host: pod.ipv6!, port: 80 });
    expect(toPod6).toMatchObject({ outcome: 'ok', name: 'web', client: expect.stringMatching(/^\[fd00:198:18::2\]:\d+$/) });
    // Without pod routes on b, the pod is out of b's reach; routePodCidrs() adds them.
    expect((await b.probe({ proto: 'tcp', host: pod.ipv4, port: 80, timeoutMs: 300 })).outcome).not.toBe('ok');
    await lab.routePodCidrs();
    expect(await b.probe({ proto: 'tcp', host: pod.ipv4, port: 80 })).toMatchObject({ outcome: 'ok', name: 'web' });
  });

  it('tells a closed port, a REJECT and a DROP apart', async () => {
    await b.nft(`
      table inet labtest {
        chain input {
          type filter hook input priority 0; policy accept;
          tcp dport 7001 drop
          udp dport 7001 drop
          tcp dport 7002 reject with tcp reset
          tcp dport 7003 reject with icmpx host-unreachable
        }
      }`);
    // Generous per-attempt time: a refusal must never pass for a timeout on a busy machine.
    const probe = (proto: 'tcp' | 'udp', port: number) => a.probe({ proto, host: b.ipv4, port, timeoutMs: 1_500 });
    const [closedTcp, closedUdp, dropTcp, dropUdp, rst, hostUnreach, closed6] = await Promise.all([
      probe('tcp', 7000),
      probe('udp', 7000),
      probe('tcp', 7001),
      probe('udp', 7001),
      probe('tcp', 7002),
      probe('tcp', 7003),
      a.probe({ proto: 'udp', host: b.ipv6!, port: 7000, timeoutMs: 1_500 }),
    ]);
    expect(closedTcp.outcome).toBe('refused');
    expect(closedUdp.outcome).toBe('refused');
    expect(closed6.outcome).toBe('refused');
    expect(dropTcp.outcome).toBe('timeout');
    expect(dropUdp.outcome).toBe('timeout');
    expect(rst.outcome).toBe('refused');
    expect(hostUnreach.outcome).toBe('unreachable');
  });

  it('makes N sequential connections from a chosen source address', async () => {
    await a.exec('ip', ['addr', 'add', '198.18.0.200/24', 'dev', 'eth0'], { check: true });
    const rs = await a.probeMany({ proto: 'tcp', host: b.ipv4, port: 8080, source: '198.18.0.200' }, 3);
    expect(rs).toHaveLength(3);
    for (const r of rs) expect(r).toMatchObject({ outcome: 'ok', name: 'b', client: expect.stringMatching(/^198\.18\.0\.200:\d+$/) });
    expect(new Set(rs.map((r) => r.client)).size).toBe(3);
    const udp = await a.probeMany({ proto: 'udp', host: b.ipv4, port: 5353, source: '198.18.0.200', sport: 40000 }, 2);
    expect(udp.map((r) => r.client)).toEqual(['198.18.0.200:40000', '198.18.0.200:40000']);
  });

  it('answers a silent raw TCP client and survives junk', async () => {
    const silent = await a.probe({ proto: 'tcp', host: b.ipv4, port: 8080, payload: '' });
    expect(silent).toMatchObject({ outcome: 'ok', name: 'b' });
    const junk = await a.exec(
      'bash',
      ['-c', `head -c 70000 /dev/urandom > /dev/udp/${b.ipv4}/5353; printf 'GET / HTTP/1.1\\r\\n' > /dev/tcp/${b.ipv4}/8080`],
      { timeoutMs: 5_000 },
    );
    expect(junk.exitCode).toBe(0);
    expect(await a.probe({ proto: 'udp', host: b.ipv4, port: 5353 })).toMatchObject({ outcome: 'ok', name: 'b' });
    expect(await a.probe({ proto: 'http', host: b.ipv4, port: 8080 })).toMatchObject({ outcome: 'ok', name: 'b' });
  });
});

describe('lab teardown', () => {
  it('removes every namespace and process it made, also when the body throws', async () => {
    let names: string[] = [];
    let pids: number[] = [];
    let prefix = '';
    const boom = withLab(
      async (lab) => {
        prefix = lab.prefix;
        const n = await lab.addNode('n1');
        await lab.addHost('h1');
        const p = await lab.addPod(n, 'p1');
        const echo = await p.startEchoServer({ tcp: [80] });
        const sleeper = n.spawn('sleep', ['600']);
        // A process the lab did not start must go too, or its namespace would linger.
        const stray = spawn('ip', ['netns', 'exec', n.ns, 'sleep', '600'], { stdio: 'ignore', detached: true });
        stray.unref();
        await until('stray process in the namespace', () => execFileSync('ip', ['netns', 'pids', n.ns], { encoding: 'utf8' }).trim() !== '');
        names = [...lab.namespaceNames];
        pids = [echo.pid, sleeper.pid, stray.pid!];
        expect(names).toHaveLength(4);
        expect(netnsList()).toEqual(expect.arrayContaining(names));
        expect(pids.every(alive)).toBe(true);
        throw new Error('boom');
      },
      { prefix: 'td' },
    );
    await expect(boom).rejects.toThrow('boom');
    expect(netnsList().filter((ns) => ns.startsWith(`${prefix}-`))).toEqual([]);
    await until('lab processes to exit', () => !pids.some(alive));
  });

  it('is idempotent and never throws', async () => {
    const lab = await Lab.create();
    await lab.addNode('n1');
    // Someone else removed a namespace under us: destroy still completes.
    execFileSync('ip', ['netns', 'del', `${lab.prefix}-n1`]);
    await Promise.all([lab.destroy(), lab.destroy()]);
    await lab.destroy();
    expect(netnsList().filter((ns) => ns.startsWith(`${lab.prefix}-`))).toEqual([]);
    await expect(lab.addNode('n2')).rejects.toThrow(/destroyed/);
  });

  it('cleanupStaleLabs removes a lab whose process died, and leaves live labs alone', async () => {
    const mine = await Lab.create({ prefix: 'live' });
    try {
      await mine.addNode('n1');
      const child = childLab();
      const prefix = await child.prefix;
      const theirs = netnsList().filter((ns) => ns.startsWith(`${prefix}-`));
      expect(theirs).toHaveLength(3);
      process.kill(child.pid, 'SIGKILL');
      await until('child to die', () => !alive(child.pid));
      const removed = await cleanupStaleLabs();
      expect(removed.sort()).toEqual(expect.arrayContaining(theirs.sort()));
      const left = netnsList();
      expect(left.filter((ns) => ns.startsWith(`${prefix}-`))).toEqual([]);
      expect(left).toEqual(expect.arrayContaining([...mine.namespaceNames]));
    } finally {
      await mine.destroy();
    }
  });

  it('tears a lab down when its process gets SIGTERM', async () => {
    const child = childLab();
    const prefix = await child.prefix;
    expect(netnsList().some((ns) => ns.startsWith(`${prefix}-`))).toBe(true);
    process.kill(child.pid, 'SIGTERM');
    await until('child to die', () => !alive(child.pid));
    expect(netnsList().filter((ns) => ns.startsWith(`${prefix}-`))).toEqual([]);
  });
});

describe('nodeway lab progress', () => {
  it('counts a progress line only once its newline is written', () => {
    const done = JSON.stringify({ step: 'a', status: 'ok' });
    const half = JSON.stringify({ step: 'b', status: 'ok', detail: 'x'.repeat(300) }).slice(0, 211);
    expect(completeLines('')).toEqual([]);
    expect(completeLines(`${done}\n${half}`)).toEqual([done]);
    expect(completeLines(`${done}\n${done}\n`)).toEqual([done, done]);
  });
});
