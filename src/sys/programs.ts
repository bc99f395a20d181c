// External programs by name: the Debian package that installs each, and finding them on PATH
// (what the shell would run) without running them.
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';

/** Program → Debian package. */
export const PACKAGES: Readonly<Record<string, string>> = {
  nft: 'nftables',
  ip: 'iproute2',
  wg: 'wireguard-tools',
  'wireguard-go': 'wireguard-go',
  conntrack: 'conntrack',
  dig: 'dnsutils',
  ping: 'iputils-ping',
  sysctl: 'procps',
  kubectl: 'kubernetes-client',
  dnsperf: 'dnsperf',
  openssl: 'openssl',
  busybox: 'busybox',
  pgrep: 'procps',
  unshare: 'util-linux',
  'cni-plugins': 'containernetworking-plugins',
  'xtables-monitor': 'iptables',
  stdbuf: 'coreutils',
};

export function packageOf(program: string): string {
  return PACKAGES[program] ?? program;
}

/** "apt-get install nftables iproute2" for these programs (each package once). */
export function installHint(programs: readonly string[]): string {
  const pkgs = [...new Set(programs.map(packageOf))];
  return `install the Debian package${pkgs.length > 1 ? 's' : ''} ${pkgs.join(', ')} (apt-get install ${pkgs.join(' ')})`;
}

/** The executable file `program` resolves to on PATH, or undefined. */
export function findProgram(program: string, path = process.env.PATH ?? ''): string | undefined {
  if (program.includes('/')) return executable(program) ? program : undefined;
  for (const dir of path.split(':')) {
    if (!dir) continue;
    const f = join(dir, program);
    if (executable(f)) return f;
  }
  return undefined;
}

function executable(f: string): boolean {
  try {
    accessSync(f, constants.X_OK);
    return statSync(f).isFile();
  } catch {
    return false;
  }
}
