// The README's main command, as a user runs it: `nodeway lab` builds the demo cluster and
// measures every traffic path through it, `lab status` describes it, kubectl works against it, `lab down` leaves nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'nodeway');
const dir = join(mkdtempSync(join(tmpdir(), 'nodeway-labcmd-')), 'lab');
const nodeway = (...args: string[]) => spawnSync(bin, [...args, '--lab-dir', dir], { encoding: 'utf8', timeout: 180_000 });
const netns = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

afterAll(() => {
  nodeway('lab', 'down');
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

describe('nodeway lab', () => {
  let prefix = '';

  it('builds three nodes with all modules and measures every path: N of N answered, by every pod its policy allows', () => {
    const r = nodeway('lab');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✓ {2}the agent on every node \(proxy, dns, mesh, netpol\)/);
    expect(r.stdout).not.toContain('✗');
    // The paths of the report (#10), each with its counts.
    expect(r.stdout).toMatch(/✓ {2}IPv4 outside host → NodePort \(Cluster\) on node-2 — 72\/72 answered, by all 6 pods, backend saw 198\.18\.130\.1\n/);
    expect(r.stdout).toMatch(/✓ {2}IPv4 node-1 host network → ClusterIP TCP — 72\/72 answered, by all 6 pods, backend saw 198\.18\.129\.1\n/);
    expect(r.stdout).toMatch(/✓ {2}IPv4 pod on node-1 → pod echo-21 on node-2 — 72\/72 answered, by echo-21, backend saw 198\.18\.129\.\d+\n/);
    expect(r.stdout).toMatch(/✓ {2}IPv4 pod on node-1 → echo\.default\.svc\.cluster\.local via the cluster DNS 198\.19\.0\.10 — 72\/72 answered, with 198\.19\.\d+\.\d+\n/);
    const total = /(\d+) paths \(IPv4[^)]*\), 72 requests each {2}→ {2}(\d+)\/(\d+) answered, every path by every pod its policy allows/.exec(r.stdout);
    expect(total, r.stdout).not.toBeNull();
    expect(total![2]).toBe(total![3]);
    expect(Number(total![3])).toBe(Number(total![1]) * 72);
    prefix = /namespaces (nw-\d+-lab[0-9a-f]+)-\*/.exec(r.stdout)?.[1] ?? '';
    expect(prefix).not.toBe('');
  }, 240_000); // a loaded machine: the lab measures every path N of N (the command itself is bounded at 180 s)

  it('lab status shows WireGuard peers with handshakes and the Services with endpoints', () => {
    const r = nodeway('lab', 'status');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.match(/peers 2: /g)).toHaveLength(3);
    expect(r.stdout).toMatch(/handshake \d+s ago/);
    expect(r.stdout).toMatch(/default\/echo +198\.19\.\d+\.\d+ +80\/TCP,80\/UDP +(198\.18\.1(29|30|31)\.\d+@node-\d ?){6}/);
  });

  it('kubectl works against the lab, and a new Service gets endpoints and a DNS name', () => {
    const env = { ...process.env, KUBECONFIG: join(dir, 'kubeconfig') };
    execFileSync('kubectl', ['create', 'service', 'clusterip', 'web', '--tcp=80:8080'], { env });
    execFileSync('kubectl', ['patch', 'svc', 'web', '-p', '{"spec":{"selector":{"app":"echo"}}}'], { env });
    const ip = execFileSync('kubectl', ['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'], { env, encoding: 'utf8' });
    const pod = `${prefix}-node-1-echo-11`;
    let answer = '';
    for (let i = 0; i < 40 && answer !== ip; i++) {
      answer = spawnSync('ip', ['netns', 'exec', pod, 'dig', '+short', '+time=1', '+tries=1', '@198.19.0.10', 'web.default.svc.cluster.local'], { encoding: 'utf8' }).stdout.trim();
      if (answer !== ip) execFileSync('sleep', ['0.25']);
    }
    expect(answer).toBe(ip);
    const probe = spawnSync('ip', ['netns', 'exec', pod, join(import.meta.dirname, '..', '..', 'node_modules', 'node', 'bin', 'node'), join(import.meta.dirname, '..', '..', 'testbed', 'lab', 'probe.ts'), 'http', ip, '80'], { encoding: 'utf8' });
    expect(probe.stdout).toMatch(/^ok name=echo-\d\d /);
  });

  it('lab down removes every namespace and process', () => {
    const r = nodeway('lab', 'down');
    expect(r.stdout).toContain('lab stopped and removed');
    expect(netns()).not.toContain(prefix);
    expect(spawnSync('pgrep', ['-f', `lab-dir ${dir}`]).status).toBe(1);
    expect(() => readFileSync(join(dir, 'pid'))).toThrow();
    const pid = /^nw-(\d+)-/.exec(prefix)![1];
    for (const i of [1, 2, 3]) expect(existsSync(`/var/run/wireguard/nwl${pid}-${i}.sock`)).toBe(false);
  });
});
