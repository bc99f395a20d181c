// The README's main command, as a user runs it: `nodeway lab` builds and proves the demo
// cluster, `lab status` describes it, kubectl works against it, `lab down` leaves nothing.
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

  it('builds three nodes with all modules and proves DNS, Service, mesh and NodePort', () => {
    const r = nodeway('lab');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✓ {2}the agent on every node \(proxy, dns, mesh\)/);
    expect(r.stdout).toMatch(/dig @198\.19\.0\.10 echo\.default\.svc\.cluster\.local \(from echo-11\) {2}→ {2}198\.19\.\d+\.\d+/);
    expect(r.stdout).toMatch(/dig echo-headless\.default\.svc\.cluster\.local {2}→ {2}6 pod IPs/);
    expect(r.stdout).toMatch(/from echo-11 {2}→ {2}answered by echo-\d\d, echo-\d\d/);
    expect(r.stdout).toMatch(/echo-32 saw client 198\.18\.129\.2:\d+/); // pod to pod across nodes, source kept
    expect(r.stdout).toMatch(/from outside \(198\.18\.0\.5\) {2}→ {2}answered by echo-\d\d/);
    prefix = /namespaces (nw-\d+-lab[0-9a-f]+)-\*/.exec(r.stdout)?.[1] ?? '';
    expect(prefix).not.toBe('');
  });

  it('lab status shows WireGuard peers with handshakes and the Services with endpoints', () => {
    const r = nodeway('lab', 'status');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.match(/peers 2: /g)).toHaveLength(3);
    expect(r.stdout).toMatch(/handshake \d+s ago/);
    expect(r.stdout).toMatch(/default\/echo +198\.19\.\d+\.\d+ +80\/TCP +(198\.18\.1(29|30|31)\.\d+@node-\d ?){6}/);
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
    const probe = spawnSync('ip', ['netns', 'exec', pod, join(import.meta.dirname, '..', '..', 'node_modules', 'node', 'bin', 'node'), join(import.meta.dirname, '..', '..', 'src', 'lab', 'probe.ts'), 'http', ip, '80'], { encoding: 'utf8' });
    expect(probe.stdout).toMatch(/^ok name=echo-\d\d /);
  });

  it('lab down removes every namespace and process', () => {
    const r = nodeway('lab', 'down');
    expect(r.stdout).toContain('lab stopped and removed');
    expect(netns()).not.toContain(prefix);
    expect(spawnSync('pgrep', ['-f', `lab-dir ${dir}`]).status).toBe(1);
    expect(() => readFileSync(join(dir, 'pid'))).toThrow();
    for (const i of [1, 2, 3]) expect(existsSync(`/var/run/wireguard/nwlab${i}.sock`)).toBe(false);
  });
});
