// The built command line as an operator meets it: --version, --help after a command, a config
// file written for a newer agent, and an API server that never answers (the pod must exit so
// it crash-loops visibly, not sit NotReady forever).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const bin = join(ROOT, 'bin', 'nodeway');
const dir = mkdtempSync(join(tmpdir(), 'nodeway-ins-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nodeway = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000 });

// Nothing listens on port 1 of loopback: every request is refused at once, nothing leaves the host.
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`);

describe('nodeway command line', () => {
  it('--version and version print the package version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const args of [['--version'], ['version'], ['run', '--version']]) {
      const r = nodeway(...args);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`nodeway ${version} (Node.js ${process.version}, linux/${process.arch})\n`);
    }
  });

  it('--help after a command prints the usage', () => {
    for (const args of [['view', '--help'], ['cleanup', '-h'], ['--help']]) {
      const r = nodeway(...args);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^nodeway \d+\.\d+\.\d+\n\nUsage: nodeway \[command\] \[flags\]/);
      expect(r.stdout).toContain('--startup-timeout N');
    }
  });

  it('exits 1 when the API server never lists within startupTimeout, naming the address', () => {
    const t0 = Date.now();
    const r = nodeway('run', '--kubeconfig', kubeconfig, '--modules', 'none', '--health-listen', '127.0.0.1:0', '--startup-timeout', '2', '--node-name', 'ins-cli');
    const took = Date.now() - t0;
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain('nodeway: no complete list from the API server at the kubeconfig\'s server within 2 s');
    expect(r.stderr).toMatch(/"msg":"list\/watch failed; retrying"/);
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(20_000);
  });

  it('starts with a config file that has keys it does not know (an older agent, a newer ConfigMap)', () => {
    const cfg = join(dir, 'config.yaml');
    writeFileSync(cfg, 'apiVersion: nodeway.dev/v1alpha1\napiserver: https://127.0.0.1:1\nmodules: [none]\nhealthListen: 127.0.0.1:0\nfeatureFromTheFuture: true\nstartupTimeout: 1\n');
    const r = nodeway('run', '--config', cfg, '--kubeconfig', kubeconfig, '--node-name', 'ins-cli');
    // It ran (and then gave up on the API server, as above), instead of exiting 2 on the key.
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/"level":40,.*"msg":"config key featureFromTheFuture in .* is unknown to this agent/);
    expect(r.stderr).toContain('at https://127.0.0.1:1 within 1 s');
  });
});
