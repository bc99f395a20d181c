// The modules this build has. A module = options + a factory for its runner-facing Module
// + a cleanup that removes what it programmed (for `nodeway cleanup`) + where it can, its
// plan without the module (for `nodeway view --desired`).
import type { Logger } from 'pino';
import type { KubeClient } from '../src/kube/client.ts';
import type { Config, OptionSpec } from '../src/runtime/config.ts';
import type { Registry } from '../src/runtime/metrics.ts';
import type { Module } from '../src/runtime/module.ts';
import type { NodeView } from '../src/view/view.ts';
import { dnsModule } from './dns/index.ts';
import { meshModule } from './mesh/index.ts';
import { netpolModule } from './netpol/index.ts';
import { proxyModule } from './proxy/index.ts';

export interface ModuleContext {
  config: Config;
  nodeName: string;
  log: Logger;
  registry: Registry;
  /** For the few writes a module owns (the mesh's own Node annotations and condition). Absent in `cleanup`. */
  client?: KubeClient;
}

/** What planning needs: the config and who we are. No logger, registry or client: a plan does nothing. */
export type PlanContext = Pick<ModuleContext, 'config' | 'nodeName'>;

export interface ModuleFactory {
  name: string;
  options: OptionSpec[];
  create(ctx: ModuleContext): Module;
  cleanup(ctx: ModuleContext): Promise<void>;
  /**
   * The module's desired state for `view` as a printable value, planned without creating the
   * module: no server started, nothing on the host changed, no root needed (reading what any
   * user may read is fine). Absent: the module cannot plan without starting.
   */
  plan?(ctx: PlanContext, view: NodeView): unknown;
}

export const MODULES: ModuleFactory[] = [proxyModule, dnsModule, meshModule, netpolModule];

/** Every module's flags once: a flag two modules share (--cluster-cidr) must mean the same. */
export function moduleOptions(): OptionSpec[] {
  const byFlag = new Map<string, OptionSpec>();
  for (const o of MODULES.flatMap((m) => m.options)) {
    const seen = byFlag.get(o.flag);
    if (seen && (seen.key !== o.key || seen.kind !== o.kind)) throw new Error(`modules disagree on --${o.flag}`);
    if (!seen) byFlag.set(o.flag, o);
  }
  return [...byFlag.values()];
}
