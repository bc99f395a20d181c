// kube-proxy's conntrack sysctls, against a fake /proc/sys: raised to the targets, never
// lowered, and a file that cannot be written is logged, not fatal.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { conntrackTargets, raiseConntrackSysctls } from '../../src/runtime/conntrack.ts';

const dir = mkdtempSync(join(tmpdir(), 'nodeway-ins-sysctl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KP = { maxPerCore: 32768, min: 131072, tcpEstablished: 86400, tcpCloseWait: 3600 };

function procSys(name: string, values: Record<string, number>): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'net', 'netfilter'), { recursive: true });
  for (const [k, v] of Object.entries(values)) writeFileSync(join(root, 'net', 'netfilter', k), `${v}\n`);
  return root;
}
const read = (root: string, k: string) => Number(readFileSync(join(root, 'net', 'netfilter', k), 'utf8'));

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

describe('conntrack sysctls', () => {
  it('targets are kube-proxy\'s: max(32768 × CPUs, 131072), 24 h, 1 h', () => {
    expect(conntrackTargets(KP, 2)).toEqual({
      'net/netfilter/nf_conntrack_max': 131072,
      'net/netfilter/nf_conntrack_tcp_timeout_established': 86400,
      'net/netfilter/nf_conntrack_tcp_timeout_close_wait': 3600,
    });
    expect(conntrackTargets(KP, 16)['net/netfilter/nf_conntrack_max']).toBe(524288);
    expect(conntrackTargets({ ...KP, maxPerCore: 0 }, 16)['net/netfilter/nf_conntrack_max']).toBe(0);
  });

  it('raises the kernel defaults, keeps larger values', async () => {
    const root = procSys('defaults', { nf_conntrack_max: 65536, nf_conntrack_tcp_timeout_established: 432000, nf_conntrack_tcp_timeout_close_wait: 60 });
    const { log } = capture();
    const r = await raiseConntrackSysctls(root, conntrackTargets(KP, 8), log);
    expect(r.map((x) => x.result)).toEqual(['raised', 'kept', 'raised']);
    expect(read(root, 'nf_conntrack_max')).toBe(262144);
    expect(read(root, 'nf_conntrack_tcp_timeout_established')).toBe(432000); // the host's 5 days stay
    expect(read(root, 'nf_conntrack_tcp_timeout_close_wait')).toBe(3600);
  });

  it('logs what it could not write or read, and goes on', async () => {
    const root = procSys('readonly', { nf_conntrack_max: 65536, nf_conntrack_tcp_timeout_close_wait: 60 });
    // Root ignores file modes; a directory in place of the file fails the write as /proc/sys's EROFS would.
    rmSync(join(root, 'net', 'netfilter', 'nf_conntrack_max'));
    mkdirSync(join(root, 'net', 'netfilter', 'nf_conntrack_max'));
    chmodSync(join(root, 'net', 'netfilter'), 0o755);
    const { log, lines } = capture();
    const r = await raiseConntrackSysctls(root, conntrackTargets(KP, 2), log);
    expect(r.map((x) => x.result)).toEqual(['failed', 'failed', 'raised']);
    const warned = lines.filter((l) => l.level === 40).map((l) => String(l.path));
    expect(warned).toEqual([join(root, 'net/netfilter/nf_conntrack_max'), join(root, 'net/netfilter/nf_conntrack_tcp_timeout_established')]);
    expect(read(root, 'nf_conntrack_tcp_timeout_close_wait')).toBe(3600);
  });
});
