// Wires the one watch cache, the node view and the module runners into a running agent.
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { WatchCache } from '../kube/cache.ts';
import { KubeClient, loadKubeConfig } from '../kube/client.ts';
import { Informer, InformerMetrics } from '../kube/informer.ts';
import { KINDS } from '../kube/objects.ts';
import { NodeView } from '../view/view.ts';
import type { Config } from './config.ts';
import { startHealthServer } from './health.ts';
import { collectGarbageSoon } from './gc.ts';
import { Registry } from './metrics.ts';
import { checkPrograms, reportExecTo } from '../sys/exec.ts';
import { type Module, ModuleRunner } from './runner.ts';

export interface AgentParts {
  config: Config;
  log: Logger;
  registry: Registry;
  /** Builds the modules once the API client exists (the mesh writes its own Node). */
  modules: (client: KubeClient) => Module[];
}

export class Agent {
  readonly cache = new WatchCache(KINDS);
  readonly view: NodeView;
  readonly runners: ModuleRunner[];
  readonly modules: Module[];
  readonly client: KubeClient;
  private readonly informers: Informer<(typeof KINDS)[number]>[];
  private readonly parts: AgentParts;
  private health: Server | undefined;

  constructor(parts: AgentParts) {
    this.parts = parts;
    const { config, log, registry } = parts;
    this.client = new KubeClient(loadKubeConfig({ kubeconfig: config.kubeconfig as string | undefined, server: config.apiserver as string | undefined }));
    this.view = new NodeView(this.cache, config.nodeName as string);
    const im = new InformerMetrics(registry);
    this.informers = KINDS.map((k) => new Informer(k, this.client, this.cache, log, im));
    registry.gauge('nodeway_cache_objects', 'Objects in the watch cache, by kind.', (g) => {
      for (const k of KINDS) g.set({ kind: k }, this.cache.size(k));
    });
    registry.gauge('nodeway_view_services', 'Services in the node view.', (g) => g.set({}, this.view.services.size));
    registry.gauge('nodeway_cache_ready', '1 once every kind has been listed.', (g) => g.set({}, this.cache.ready ? 1 : 0));
    reportExecTo(log, registry);
    this.modules = parts.modules(this.client);
    // As kube-proxy does at start: what is not installed is said once, here, with its package.
    checkPrograms(this.modules.flatMap((m) => m.programs ?? []));
    this.runners = this.modules.map(
      (m) => new ModuleRunner(m, this.view, log, registry, { minIntervalMs: config.minSyncInterval as number }),
    );
  }

  /** Starts watching and serving health; resolves once the health server listens. */
  async start(withHealth = true): Promise<void> {
    const { log, config, registry } = this.parts;
    if (withHealth) {
      this.health = await startHealthServer(config.healthListen as string, {
        cacheReady: () => this.view.ready,
        modules: () => this.runners.map((r) => r.status()),
      }, registry);
      log.info({ listen: config.healthListen }, 'health server listening');
    }
    for (const inf of this.informers) void inf.run();
    log.info({ node: config.nodeName, modules: this.modules.map((m) => m.name) }, 'watching the API server');
    void this.cache.whenReady().then(() => {
      this.view.flush();
      log.info({ services: this.view.services.size, nodes: this.view.peers.size }, 'cache synced; node view published');
      collectGarbageSoon();
    });
  }

  /** Stops watching and serving; leaves every dataplane in place. */
  async stop(): Promise<void> {
    for (const inf of this.informers) inf.close();
    await Promise.all(this.runners.map((r) => r.close()));
    await new Promise<void>((r) => (this.health ? this.health.close(() => r()) : r()));
    this.health?.closeAllConnections();
  }
}
