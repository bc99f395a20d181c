// `nodeway cleanup` for the mesh: everything it programmed on this host goes — the
// interface (and the wireguard-go behind it), the bridge, its routes, its nft table, the
// forward accepts in the host firewall's tables, its conflist. The private key stays: it is identity, not dataplane.
import type { Logger } from 'pino';
import { removeConflist } from './cni.ts';
import { stopUserspace } from './device.ts';
import { exec } from '../../src/sys/exec.ts';
import { removeForward } from './forward.ts';
import { deleteLink } from './link.ts';
import { NFT_TABLE } from './nft.ts';
import type { MeshConfig } from './options.ts';
import { ROUTE_PROTO } from './routes.ts';

/** Each step is tried whatever the others did (nft missing still leaves no conflist or link); the failures are thrown together. */
export async function cleanupMesh(cfg: MeshConfig, log: Logger): Promise<void> {
  const failed: string[] = [];
  const step = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      if (!failed.includes((err as Error).message)) failed.push((err as Error).message);
    }
  };
  await step(() => removeConflist(cfg.cniConfDir));
  await step(async () => {
    const nft = await exec('nft', ['delete', 'table', 'inet', NFT_TABLE]);
    if (!nft.ok && !/No such file|does not exist/i.test(nft.stderr)) log.warn({ err: nft.stderr.trim() }, 'could not delete the mesh nft table');
  });
  await step(() => removeForward());
  for (const fam of ['-4', '-6']) await step(() => exec('ip', [fam, 'route', 'flush', 'table', 'main', 'proto', String(ROUTE_PROTO)]));
  await step(() => stopUserspace(cfg.iface, cfg.stateDir));
  await step(() => deleteLink(cfg.iface));
  await step(() => deleteLink(cfg.bridge));
  if (failed.length) throw new Error(failed.join('; '));
}
