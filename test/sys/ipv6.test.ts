// ipv6Off reads what the kernel says: no /proc/sys/net/ipv6 (ipv6.disable=1), or all.disable_ipv6=1.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ipv6Off } from '../../src/sys/ipv6.ts';

const root = mkdtempSync(join(tmpdir(), 'nodeway-rob-ipv6-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function proc(disable: string | undefined): string {
  const dir = mkdtempSync(join(root, 'p-'));
  if (disable === undefined) return join(dir, 'absent');
  mkdirSync(join(dir, 'conf', 'all'), { recursive: true });
  writeFileSync(join(dir, 'conf', 'all', 'disable_ipv6'), `${disable}\n`);
  return dir;
}

describe('ipv6Off', () => {
  it('says why IPv6 is off, or nothing when it is on', () => {
    expect(ipv6Off(proc(undefined))).toBe('the kernel has IPv6 disabled (ipv6.disable=1)');
    expect(ipv6Off(proc('1'))).toBe('IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1)');
    expect(ipv6Off(proc('0'))).toBe('');
  });
});
