// The conntrack sysctls kube-proxy sets at start (pkg/proxy/conntrack): a table sized for the
// node (nf_conntrack_max = max(32768 × CPUs, 131072)) and longer TCP timeouts for established
// and close-wait flows. Nodes that joined after kube-proxy was removed would otherwise keep the
// kernel's defaults (a smaller table: "table full, dropping packet" under load). Values are
// only ever raised, never lowered below what the host chose; a file that cannot be written
// (read-only /proc/sys in an unprivileged container) is logged with the value it should have.
// The options (conntrack*, procSysDir) are in config.ts's CORE_OPTIONS.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';


export interface ConntrackWant {
  maxPerCore: number;
  min: number;
  tcpEstablished: number;
  tcpCloseWait: number;
}

/** The values to reach, by path under /proc/sys; 0 = leave. */
export function conntrackTargets(w: ConntrackWant, cpus: number): Record<string, number> {
  return {
    'net/netfilter/nf_conntrack_max': w.maxPerCore > 0 ? Math.max(w.maxPerCore * cpus, w.min) : 0,
    'net/netfilter/nf_conntrack_tcp_timeout_established': w.tcpEstablished,
    'net/netfilter/nf_conntrack_tcp_timeout_close_wait': w.tcpCloseWait,
  };
}

export type SysctlResult = { path: string; want: number; was?: number; result: 'raised' | 'kept' | 'failed' };

/** Raises each sysctl under `root` to its target; never lowers one; never throws. */
export async function raiseConntrackSysctls(root: string, targets: Record<string, number>, log: Logger): Promise<SysctlResult[]> {
  const out: SysctlResult[] = [];
  for (const [rel, want] of Object.entries(targets)) {
    if (want <= 0) continue;
    const path = join(root, rel);
    let was: number | undefined;
    try {
      was = Number((await readFile(path, 'utf8')).trim());
    } catch (err) {
      log.warn({ path, want, err: (err as NodeJS.ErrnoException).code ?? String(err) }, 'cannot read a conntrack sysctl (nf_conntrack not loaded, or /proc/sys not mounted); left as is');
      out.push({ path, want, result: 'failed' });
      continue;
    }
    if (Number.isFinite(was) && was >= want) {
      out.push({ path, want, was, result: 'kept' });
      continue;
    }
    try {
      await writeFile(path, `${want}\n`);
      log.info({ path, was, now: want }, 'raised a conntrack sysctl, as kube-proxy does');
      out.push({ path, want, was, result: 'raised' });
    } catch (err) {
      log.warn({ path, was, want, err: (err as NodeJS.ErrnoException).code ?? String(err) }, 'cannot raise a conntrack sysctl (read-only /proc/sys? see docs/install.md); set it on the host');
      out.push({ path, want, was, result: 'failed' });
    }
  }
  return out;
}
