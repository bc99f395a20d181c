// What `nodeway lab` needs installed, checked before it builds anything: a missing program
// would otherwise surface 90 s later as a node that never gets ready.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findProgram, installHint } from '../../src/sys/programs.ts';

/** Programs the lab and its agents run (the mesh's wireguard-go where the kernel has no WireGuard). */
export const LAB_PROGRAMS = ['ip', 'nft', 'wg', 'wireguard-go', 'conntrack', 'dig', 'sysctl'] as const;
export const CNI_PLUGINS = ['bridge', 'host-local', 'loopback'] as const;
export const CNI_DIRS = ['/opt/cni/bin', '/usr/lib/cni'] as const;

/** One line naming what is missing and the apt command that installs it; undefined when nothing is. */
export function labPrerequisites(path = process.env.PATH ?? '', cniDirs: readonly string[] = CNI_DIRS): string | undefined {
  const programs: string[] = LAB_PROGRAMS.filter((p) => !findProgram(p, path));
  const cni = !cniDirs.some((d) => CNI_PLUGINS.every((p) => existsSync(join(d, p))));
  if (!programs.length && !cni) return undefined;
  const what = [...programs, ...(cni ? [`the CNI plugins (${CNI_PLUGINS.join(', ')} in ${cniDirs.join(' or ')})`] : [])];
  const hint = installHint([...programs, ...(cni ? ['cni-plugins'] : [])]);
  return `nodeway lab needs what is not installed here: ${what.join(', ')}; ${hint}`;
}
