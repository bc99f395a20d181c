// Whether this host carries IPv6 at all: a kernel booted with ipv6.disable=1 has no
// /proc/sys/net/ipv6; net.ipv6.conf.all.disable_ipv6=1 turns it off at run time (per network
// namespace). Either way the IPv6 half of every module has nothing to serve and is skipped, as
// kube-proxy skips a family its host does not support.
import { existsSync, readFileSync } from 'node:fs';

/** Why IPv6 is off here, or '' when it is on. Read each time: cheap, and a namespace may change it. */
export function ipv6Off(procSys = '/proc/sys/net/ipv6'): string {
  if (!existsSync(procSys)) return 'the kernel has IPv6 disabled (ipv6.disable=1)';
  try {
    if (readFileSync(`${procSys}/conf/all/disable_ipv6`, 'utf8').trim() === '1') return 'IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1)';
  } catch {
    // unreadable: assume on, and let the family fail loudly if it is not
  }
  return '';
}
