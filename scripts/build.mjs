// Bundles our own code into one ESM file; npm dependencies stay in node_modules
// so pino, client-node and execa load exactly as their authors ship them.
import { build } from 'esbuild';

await build({
  entryPoints: ['cmd/nodeway.ts'],
  outfile: 'dist/nodeway.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
