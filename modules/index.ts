// The modules this build has. A module = options + a factory for its runner-facing Module
// + a cleanup that removes what it programmed (for `nodeway cleanup`).
import type { Logger } from 'pino';
import type { KubeClient } from '../src/kube/client.ts';
import type { Config, OptionSpec } from '../src/runtime/config.ts';
import type { Registry } from '../src/runtime/metrics.ts';
import type { Module } from '../src/runtime/module.ts';
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

export interface ModuleFactory {
  name: string;
  options: OptionSpec[];
  create(ctx: ModuleContext): Module;
  cleanup(ctx: ModuleContext): Promise<void>;
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
