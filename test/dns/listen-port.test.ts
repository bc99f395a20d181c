// Port 0 (tests, --dns-listen HOST:0) means a port free on both UDP and TCP. The kernel picks
// the UDP one; on a busy host its TCP twin may be held (a listener, a client connection's port,
// TIME_WAIT included), and the listen failed with EADDRINUSE: a forwarding test failed so at
// load 26. Shown in a namespace of its own whose ephemeral range is 2 ports, one held on TCP.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('port 0 draws another port when the UDP port the kernel picked is taken on TCP', () => {
  const out = execFileSync('unshare', ['-n', process.execPath, join(import.meta.dirname, 'listen-port-child.ts')], { encoding: 'utf8', timeout: 30_000 });
  const { ports, errors } = JSON.parse(out) as { ports: number[]; errors: string[] };
  expect(errors).toEqual([]);
  expect(ports).toEqual(Array(20).fill(40001));
});
