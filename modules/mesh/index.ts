// The mesh module: a WireGuard pod network between nodes, the CNI config that lets the
// container runtime put pods on it, and egress masquerade. See module.ts for the executor
// and plan.ts for the meaning.
import type { ModuleFactory } from '../index.ts';
import { cleanupMesh } from './cleanup.ts';
import { MeshModule } from './module.ts';
import { MESH_OPTIONS, meshConfig } from './options.ts';
import { printDesired, storedPublicKey } from './print.ts';

export const meshModule: ModuleFactory = {
  name: 'mesh',
  options: MESH_OPTIONS,
  create: (ctx) => new MeshModule(ctx),
  cleanup: (ctx) => cleanupMesh(meshConfig(ctx.config), ctx.log.child({ module: 'mesh' })),
  async plan(ctx, view) {
    const cfg = meshConfig(ctx.config);
    return printDesired(cfg, ctx.nodeName, view, await storedPublicKey(cfg.stateDir));
  },
};
