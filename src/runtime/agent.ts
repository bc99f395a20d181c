// Wires the one watch cache, the node view and the module runners into a running agent.
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { WatchCache } from '../kube/cache.ts';
import { KubeClient, loadKubeConfig } from '../kube/client.ts';
import { Informer, InformerMetrics } from '../kube/informer.ts';
import { KINDS, type Kind } from '../kube/objects.ts';
import { NodeView } from '../view/view.ts';
import type { Config } from './config.ts';
import { startHealthServer } from './health.ts';
import { collectGarbageAfterChanges, collectGarbageSoon, compactOnGrowth, memoryFirst } from './gc.ts';
import { Registry } from './metrics.ts';
import { checkPrograms, reportExecTo } from '../sys/exec.ts';
import { ipv6Off } from '../sys/ipv6.ts';
import { NftEvents } from '../sys/nft-events.ts';
import { type Module, ModuleRunner } from './runner.ts';

export interface AgentParts {
  config: Config;
  log: Logger;
  registry: Registry;
  /** Builds the modules once the API client exists (the mesh writes its own Node). */
  modules: (client: KubeClient) => Module[];
}

/**
 * The kinds to watch: the union of the modules' declared inputs, in KINDS order. With no module
 * (`--modules none`, `nodeway view`) every kind, so the cache and view stay whole for inspection.
 */
export function watchedKinds(modules: readonly Module[]): Kind[] {
  if (!modules.length) return [...KINDS];
  const wanted = new Set(modules.flatMap((m) => m.inputs.kinds));
  return KINDS.filter((k) => wanted.has(k));
}

export class Agent {
  readonly cache: WatchCache;
  readonly view: NodeView;
  readonly runners: ModuleRunner[];
  readonly modules: Module[];
  readonly client: KubeClient;
  private readonly informers: Informer<Kind>[];
  private readonly parts: AgentParts;
  private health: Server | undefined;
  private stopCompacting: (() => void) | undefined;
  /** Wakes the modules' drift checks when nftables changes; none when no module checks drift. */
  private readonly nftEvents: NftEvents | undefined;

  constructor(parts: AgentParts) {
    this.parts = parts;
    const { config, log, registry } = parts;
    this.client = new KubeClient(loadKubeConfig({ kubeconfig: config.kubeconfig as string | undefined, server: config.apiserver as string | undefined }));
    reportExecTo(log, registry);
    this.modules = parts.modules(this.client);
    // As kube-proxy does at start: what is not installed is said once, here, with its package.
    checkPrograms(this.modules.flatMap((m) => m.programs ?? []));
    const noIPv6 = ipv6Off();
    if (noIPv6 && this.modules.length) log.info({ reason: noIPv6 }, `IPv6 skipped: ${noIPv6}; the modules program IPv4 only`);
    const kinds = watchedKinds(this.modules);
    // Readiness waits for these only: a kind no module reads is neither watched nor waited for.
    this.cache = new WatchCache(kinds);
    this.view = new NodeView(this.cache, config.nodeName as string);
    const im = new InformerMetrics(registry);
    this.informers = kinds.map((k) => new Informer(k, this.client, this.cache, log, im));
    registry.gauge('nodeway_cache_objects', 'Objects in the watch cache, by kind.', (g) => {
      for (const k of kinds) g.set({ kind: k }, this.cache.size(k));
    });
    registry.gauge('nodeway_view_services', 'Services in the node view.', (g) => g.set({}, this.view.services.size));
    registry.gauge('nodeway_cache_ready', '1 once every watched kind has been listed.', (g) => g.set({}, this.cache.ready ? 1 : 0));
    this.view.subscribe((c) => collectGarbageAfterChanges(c.services.size + c.peers.size + c.pods.size + c.namespaces.size + 1));
    if (this.modules.some((m) => m.drifted)) this.nftEvents = new NftEvents({ log: log.child({ part: 'nft-events' }), registry });
    this.runners = this.modules.map(
      (m) => new ModuleRunner(m, this.view, log, registry, { minIntervalMs: config.minSyncInterval as number, changes: this.nftEvents }),
    );
  }

  /** Starts watching and serving health; resolves once the health server listens. */
  async start(withHealth = true): Promise<void> {
    const { log, config, registry } = this.parts;
    if (withHealth) {
      this.health = await startHealthServer(config.healthListen as string, {
        cacheReady: () => this.view.ready,
        modules: () => this.runners.map((r) => r.status()),
        ownHealth: (name) => this.modules.find((m) => m.name === name)?.health?.(),
      }, registry);
      log.info({ listen: config.healthListen }, 'health server listening');
    }
    this.nftEvents?.start();
    this.stopCompacting = compactOnGrowth();
    // The first lists and the view built from them: held down as full syncs are (gc.ts).
    const listing = memoryFirst();
    for (const inf of this.informers) void inf.run();
    log.info({ node: config.nodeName, modules: this.modules.map((m) => m.name), kinds: this.cache.kinds }, 'watching the API server');
    void this.cache.whenReady().then(() => {
      this.view.flush();
      listing();
      log.info({ services: this.view.services.size, nodes: this.view.peers.size }, 'cache synced; node view published');
      collectGarbageSoon();
    });
  }

  /** Stops watching and serving; leaves every dataplane in place. */
  async stop(): Promise<void> {
    for (const inf of this.informers) inf.close();
    this.client.close();
    await Promise.all(this.runners.map((r) => r.close()));
    this.nftEvents?.close();
    this.stopCompacting?.();
    await new Promise<void>((r) => (this.health ? this.health.close(() => r()) : r()));
    this.health?.closeAllConnections();
  }
}
