// The tunnel link and what hangs on it: its MTU and state, the forwarding sysctls, the pods'
// bridge (one tracked value, changing only with the MTU or the pod CIDRs), and the tunnel's
// own addresses (one tracked entry each, read back from the link by the poll).
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { isEmpty, Tracker } from '../../../src/reconcile/tracker.ts';
import { run } from '../../../src/sys/exec.ts';
import type { Compare, LinkSpec } from '../desired.ts';
import { addressLines, addressSet, ensureBridge, readLink, setLink } from '../link.ts';

const KEY = 'link';

export class LinkApplier {
  private readonly applied = new Tracker<LinkSpec>();

  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /** True when it changed anything (a full sync always redoes it). */
  async apply(want: LinkSpec, full: boolean): Promise<boolean> {
    const d = this.applied.diffKeys(new Map([[KEY, want]]), [KEY]);
    if (!full && isEmpty(d)) return false;
    const link = await readLink(want.iface);
    if (!link) throw new Error(`WireGuard interface ${want.iface} vanished`);
    await setLink(link, want.mtu);
    if (want.families.includes(4)) {
      // Loose: replies from pods behind peers arrive on the tunnel, whatever the main table says.
      await this.sysctl(`/proc/sys/net/ipv4/conf/${want.iface}/rp_filter`, '2');
      await this.sysctl('/proc/sys/net/ipv4/ip_forward', '1');
    }
    if (want.families.includes(6)) await this.sysctl('/proc/sys/net/ipv6/conf/all/forwarding', '1');
    if (want.gateways.length) await ensureBridge(want.bridge, want.gateways, want.mtu);
    this.applied.observed(KEY, want);
    this.live = want;
    return true;
  }

  /** What the last apply made live (host-events.ts judges link events against it). */
  live: LinkSpec | undefined;

  /** The host changed under it: the next sync applies it again. */
  forget(): void {
    this.applied.reset();
    this.live = undefined;
  }

  /**
   * A read-only /proc/sys (an unprivileged container) is not fatal when the host already has
   * the value; otherwise pod traffic will not flow, and the log says why.
   */
  private async sysctl(path: string, value: string): Promise<void> {
    try {
      await writeFile(path, value);
    } catch (err) {
      const now = await readFile(path, 'utf8').then((v) => v.trim(), () => '');
      if (now !== value) this.log.warn({ path, want: value, now, err: String((err as Error).message) }, 'could not set a sysctl that pod traffic needs');
    }
  }
}

export class AddressesApplier {
  private readonly applied = new Tracker<true>();
  private known = false;

  /** The link's addresses as read (the poll reads the link anyway). */
  observe(addrs: readonly string[]): void {
    this.applied.reset(addressSet(addrs));
    this.live = new Set(addrs);
    this.known = true;
  }

  private live = new Set<string>();

  async apply(iface: string, want: readonly string[], compare: Compare): Promise<void> {
    if (compare === 'full' || !this.known) {
      const link = await readLink(iface);
      if (!link) throw new Error(`WireGuard interface ${iface} vanished`);
      this.observe(link.addrs);
    }
    const d = this.applied.diff(addressSet(want));
    if (isEmpty(d)) return;
    try {
      await run('ip', ['-batch', '-'], { input: `${addressLines(iface, d).join('\n')}\n` });
    } catch (err) {
      this.known = false;
      throw err;
    }
    this.applied.done(d);
    this.live = new Set(want);
  }

  forget(): void {
    this.known = false;
  }

  /** The addresses as applied; undefined when not known. */
  held(): ReadonlySet<string> | undefined {
    return this.known ? this.live : undefined;
  }
}
