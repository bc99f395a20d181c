// `nodeway cleanup` for the mesh: everything it programmed on this host goes — the
// interface (and the wireguard-go behind it), the bridge, its routes, its nft table, its
// conflist. The private key stays: it is identity, not dataplane.
import type { Logger } from 'pino';
import { removeConflist } from './cni.ts';
import { stopUserspace } from './device.ts';
import { exec } from '../../src/sys/exec.ts';
import { deleteLink } from './link.ts';
import { NFT_TABLE } from './nft.ts';
import type { MeshConfig } from './options.ts';
import { ROUTE_PROTO } from './routes.ts';

export async function cleanupMesh(cfg: MeshConfig, log: Logger): Promise<void> {
  await removeConflist(cfg.cniConfDir);
  const nft = await exec('nft', ['delete', 'table', 'inet', NFT_TABLE]);
  if (!nft.ok && !/No such file|does not exist/i.test(nft.stderr)) log.warn({ err: nft.stderr.trim() }, 'could not delete the mesh nft table');
  for (const fam of ['-4', '-6']) await exec('ip', [fam, 'route', 'flush', 'table', 'main', 'proto', String(ROUTE_PROTO)]);
  await stopUserspace(cfg.iface, cfg.stateDir);
  await deleteLink(cfg.iface);
  await deleteLink(cfg.bridge);
}
