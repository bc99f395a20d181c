// The modules this build has. A module = options + a factory for its runner-facing Module
// + a cleanup that removes what it programmed (for `nodeway cleanup`).
import type { Logger } from 'pino';
import type { Config, OptionSpec } from '../src/runtime/config.ts';
import type { Registry } from '../src/runtime/metrics.ts';
import type { Module } from '../src/runtime/runner.ts';

export interface ModuleContext {
  config: Config;
  log: Logger;
  registry: Registry;
}

export interface ModuleFactory {
  name: string;
  options: OptionSpec[];
  create(ctx: ModuleContext): Module;
  cleanup(ctx: ModuleContext): Promise<void>;
}

export const MODULES: ModuleFactory[] = [];
