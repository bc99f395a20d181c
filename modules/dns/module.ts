// The DNS module as the runner sees it: sync = plan the record index from the view (O(changed
// Services)), swap it into the engine, refresh who may ask; the sockets, the capture and the
// upstream list are the executor's side and are (re)checked on full syncs.
import { statSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { Module, ModuleInputs } from '../../src/runtime/module.ts';
import { ipv6Off } from '../../src/sys/ipv6.ts';
import type { ViewChanges } from '../../src/view/types.ts';
import type { NodeView } from '../../src/view/view.ts';
import type { ModuleContext } from '../index.ts';
import { ClientACL } from './access.ts';
import { applyCapture } from './capture.ts';
import { Engine } from './engine.ts';
import { DnsMetrics } from './metrics.ts';
import { dnsConfig, type DnsConfig } from './options.ts';
import { planIndex, updateIndex, type DnsSettings, type RecordIndex } from './records.ts';
import { isFileItem, loadUpstreams } from './resolvconf.ts';
import { DnsServer, listenText } from './server.ts';
import { Forwarder, type UpstreamAddr } from './upstream.ts';

const RESOLV_CHECK_MS = 30_000;

export class DnsModule implements Module {
  readonly name = 'dns';
  readonly inputs: ModuleInputs;
  /** The capture of the cluster DNS address puts it on a link (ip) and marks it notrack (nft). */
  readonly programs: readonly string[];
  readonly cfg: DnsConfig;
  readonly engine: Engine;
  readonly server: DnsServer;
  readonly metrics: DnsMetrics;
  private readonly forwarder: Forwarder;
  private readonly acl: ClientACL;
  private readonly log: Logger;
  private readonly settings: DnsSettings;
  private index: RecordIndex | null = null;
  private starting: Promise<void>;
  private resolvTimer: NodeJS.Timeout | undefined;
  private resolvStamp = '';

  constructor(ctx: ModuleContext) {
    const cfg = dnsConfig(ctx.config);
    // IPv6 off on this host (the agent says so once): its addresses can be neither held nor bound.
    this.cfg = ipv6Off() ? { ...cfg, clusterDNS: cfg.clusterDNS.filter((ip) => !isIPv6(ip)), listen: cfg.listen.filter((l) => !isIPv6(l.host)) } : cfg;
    // Pod records answer from the pod IP alone unless they are 'verified' against the Pods.
    this.inputs = this.cfg.pods === 'verified'
      ? { kinds: ['services', 'endpointslices', 'namespaces', 'pods'], view: ['services', 'namespaces', 'pods'] }
      : { kinds: ['services', 'endpointslices', 'namespaces'], view: ['services', 'namespaces'] };
    this.programs = this.cfg.clusterDNS.length ? ['ip', 'nft'] : [];
    this.log = ctx.log.child({ module: 'dns' });
    this.metrics = new DnsMetrics(ctx.registry, `dns://${listenText(this.cfg.listen[0]!)}`, this.cfg.zone);
    this.forwarder = new Forwarder({ log: this.log, metrics: this.metrics });
    this.settings = { zone: this.cfg.zone, ttl: this.cfg.ttl, pods: this.cfg.pods, nameservers: this.cfg.clusterDNS };
    this.engine = new Engine({ settings: this.settings, forwarder: this.forwarder, metrics: this.metrics, cacheSize: this.cfg.cacheSize, cachePolicy: this.cfg.cachePolicy });
    // Host-network clients asking a captured address send from that address.
    this.acl = new ClientACL([...this.cfg.allow, ...this.cfg.clusterDNS.map((ip) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`))]);
    this.server = new DnsServer(this.engine, this.metrics, this.acl, this.log);
    // Serve (SERVFAIL for the cluster zone, forwarding for the rest) before the view is ready.
    this.starting = this.start();
    this.starting.catch((err: Error) => this.log.error({ err: err.message }, 'DNS start failed; retrying at the next sync'));
  }

  /**
   * Capture, sockets, upstreams. A failed capture (nft or ip missing) does not stop the
   * sockets that can open: DNS answers wherever it can and the error keeps the module not ready.
   */
  private async start(): Promise<void> {
    let captureError: unknown;
    if (this.cfg.clusterDNS.length) {
      try {
        const dev = await applyCapture(this.cfg.clusterDNS);
        this.log.info({ addresses: this.cfg.clusterDNS, link: dev }, 'cluster DNS addresses captured (local, notrack)');
      } catch (err) {
        captureError = err;
      }
    }
    let listenError: unknown;
    try {
      await this.server.listen(this.cfg.listen);
    } catch (err) {
      listenError = err;
    }
    this.reloadUpstreams(true);
    if (!this.resolvTimer && this.cfg.upstream.some(isFileItem)) {
      this.resolvTimer = setInterval(() => this.reloadUpstreams(false), RESOLV_CHECK_MS);
      this.resolvTimer.unref();
    }
    const errors = [captureError && `capturing the cluster DNS address: ${(captureError as Error).message}`, listenError && (listenError as Error).message].filter(Boolean);
    if (errors.length) throw new Error(errors.join('; '));
  }

  /** The host side: started (again, after a failure), and on a full sync checked against the host. */
  private async ensureHost(full: boolean, first: boolean): Promise<unknown> {
    try {
      await this.starting;
    } catch {
      this.starting = this.start();
      return this.starting.then(() => undefined, (err: unknown) => err);
    }
    if (!full || first) return undefined;
    try {
      // Trust nothing remembered: the capture and the sockets are checked against the host.
      if (this.cfg.clusterDNS.length) await applyCapture(this.cfg.clusterDNS);
      await this.server.listen(this.cfg.listen);
      this.reloadUpstreams(false);
      return undefined;
    } catch (err) {
      return err;
    }
  }

  /** Reads the upstream list (again, if a resolv.conf changed), leaving out addresses that are us. */
  private reloadUpstreams(force: boolean): void {
    const stamp = this.cfg.upstream.map((f) => (isFileItem(f) ? `${f}@${mtime(f)}` : f)).join(',');
    if (!force && stamp === this.resolvStamp) return;
    this.resolvStamp = stamp;
    const { addrs, errors } = loadUpstreams(this.cfg.upstream);
    for (const e of errors) this.log.warn({ err: e }, 'cannot read upstream resolvers');
    const usable = addrs.filter((a) => !this.isSelf(a));
    for (const a of addrs) if (!usable.includes(a)) this.log.warn({ upstream: `${a.host}:${a.port}` }, 'upstream is this DNS server itself; left out');
    if (usable.length === 0) this.log.warn('no upstream resolvers: names outside the cluster get SERVFAIL');
    this.forwarder.setUpstreams(usable);
    this.log.info({ upstreams: this.forwarder.addresses }, 'DNS upstreams');
  }

  private isSelf(a: UpstreamAddr): boolean {
    return this.cfg.listen.some((l) => l.port === a.port && (l.host === a.host || ((l.host === '0.0.0.0' || l.host === '::') && /^(127\.|::1$)/.test(a.host))));
  }

  async sync(view: NodeView, changes: ViewChanges): Promise<void> {
    // Records are served whatever the host side says; its error is thrown after them.
    const hostError = await this.ensureHost(changes.full, !this.index);
    const input = { services: view.services, namespaces: view.namespaces, podsByIP: view.podsByIP };
    const serial = Math.floor(Date.now() / 1000);
    const relevant = changes.full || changes.services.size > 0 || changes.namespaces.size > 0 || (this.cfg.pods === 'verified' && changes.pods.size > 0);
    if (!this.index || changes.full) {
      this.index = planIndex(input, this.settings, serial);
      this.engine.setIndex(this.index);
    } else if (relevant) {
      const change = updateIndex(this.index, input, changes.services, changes.namespaces.size > 0, serial);
      this.engine.setIndex(this.index, change, changes.pods.size > 0);
    } else if (!this.engine.ready) this.engine.setIndex(this.index);
    this.acl.update(view);
    if (hostError) throw hostError;
  }

  async close(): Promise<void> {
    if (this.resolvTimer) clearInterval(this.resolvTimer);
    await this.server.close();
    this.forwarder.close();
  }
}

function mtime(f: string): number {
  try {
    return statSync(f).mtimeMs;
  } catch {
    return 0;
  }
}
