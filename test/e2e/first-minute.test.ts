// A new user's first minute. `nodeway lab` on a machine without the Debian packages says at once
// (not after a 90 s wait) what is missing and the apt command; `nodeway view` prints only JSON
// on stdout, its logs on stderr, so `nodeway view | jq` works.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedApiServer } from '../../testbed/apiserver/index.ts';
import { NODE } from '../dns/harness.ts';
import { buildAgent } from '../support/agent.ts';
import { pathWithout } from '../support/path.ts';

const tmp = mkdtempSync(join(tmpdir(), 'nodeway-rob-first-'));
let bundle = '';
beforeAll(async () => {
  bundle = await buildAgent();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('nodeway lab on a machine without the packages', () => {
  it('names what is missing and the apt command in one line, and builds nothing', () => {
    const path = pathWithout(join(tmp, 'bin'), ['nft', 'wg', 'dig']);
    const labDir = join(tmp, 'lab');
    const t0 = Date.now();
    const r = spawnSync(NODE, [bundle, 'lab', '--lab-dir', labDir], { encoding: 'utf8', env: { ...process.env, PATH: path }, timeout: 30_000 });
    const secs = (Date.now() - t0) / 1000;
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toBe('nodeway lab needs what is not installed here: nft, wg, dig; install the Debian packages nftables, wireguard-tools, dnsutils (apt-get install nftables wireguard-tools dnsutils)\n');
    // Not the 90 s readiness wait it used to be (the node process starting is most of this).
    expect(secs).toBeLessThan(10);
    expect(existsSync(labDir) ? readdirSync(labDir) : []).toEqual([]);
  });
});

describe('nodeway view', () => {
  it('prints only JSON on stdout and its logs on stderr', async () => {
    const api = new EmbeddedApiServer();
    await api.start();
    try {
      api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '198.19.0.20', ports: [{ name: 'http', port: 80 }] } } as never);
      const kubeconfig = join(tmp, 'kubeconfig');
      writeFileSync(kubeconfig, api.kubeconfig());
      const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        // Asynchronous: the API server answers from this process.
        const c = spawn(NODE, [bundle, 'view', '--kubeconfig', kubeconfig, '--node-name', 'n1', '--log-level', 'info']);
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d: Buffer) => (stdout += d));
        c.stderr.on('data', (d: Buffer) => (stderr += d));
        c.on('close', (status) => resolve({ status, stdout, stderr }));
      });
      expect(r.status, r.stderr).toBe(0);
      const view = JSON.parse(r.stdout) as { services: { service: string }[] };
      expect(view.services.map((s) => s.service)).toContain('default/web');
      const logs = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
      expect(logs.map((l) => l.msg)).toContain('cache synced; node view published');
    } finally {
      await api.stop();
    }
  });
});
