// The programs the tests run (as .ci/run installs them) and a check that names the missing ones
// with the apt command, so a fresh machine fails with that line instead of a failed test deep down.
import { existsSync } from 'node:fs';
import { findProgram, installHint } from '../../src/sys/programs.ts';

export const TEST_PROGRAMS = ['ip', 'nft', 'wg', 'wireguard-go', 'conntrack', 'dig', 'ping', 'sysctl', 'pgrep', 'unshare', 'kubectl', 'openssl', 'xtables-monitor', 'stdbuf'] as const;

/** One line naming what the tests need and is missing, or undefined. */
export function missingForTests(): string | undefined {
  const programs: string[] = TEST_PROGRAMS.filter((p) => !findProgram(p));
  const cni = !existsSync('/usr/lib/cni/bridge');
  if (!programs.length && !cni) return undefined;
  const what = [...programs, ...(cni ? ['the CNI plugins in /usr/lib/cni'] : [])];
  return `tests need what is not installed here: ${what.join(', ')}; ${installHint([...programs, ...(cni ? ['cni-plugins'] : [])])} — or run .ci/run`;
}
