// Bundles the agent and its dependencies into one ESM file. Bundling lets esbuild drop the
// parts of @kubernetes/client-node nodeway never calls (its generated API models), which
// otherwise cost ~45 MiB of heap at start-up: measured 73 MiB RssAnon unbundled, 28 bundled.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Keeps out of the bundle what nodeway never runs but would still load and keep in memory:
 * client-node's API clients and models, and undici (measured: 29 → 21 MiB RssAnon idle).
 */
const trim = {
  name: 'nodeway-trim',
  setup(b) {
    b.onResolve({ filter: /^@kubernetes\/client-node$/ }, () => ({ path: join(here, '..', 'node_modules', '@kubernetes', 'client-node', 'dist', 'config.js') }));
    b.onResolve({ filter: /^undici$/ }, () => ({ path: join(here, 'shims', 'undici.mjs') }));
    b.onResolve({ filter: /^\.\/gen\/index\.js$/ }, (a) =>
      a.importer.includes(join('@kubernetes', 'client-node', 'dist')) ? { path: join(here, 'shims', 'client-node-gen.mjs') } : undefined);
  },
};

/**
 * Bundles the agent to `outfile` and the lab (`nodeway lab`: the demo cluster and the embedded
 * API server) beside it as nodeway-lab.mjs, a bundle of its own that the agent imports only for
 * that command (tests bundle their own copy, so they never run a stale dist/).
 */
export async function bundle(outfile) {
  await Promise.all([
    bundleOne(join(here, '..', 'cmd', 'nodeway.ts'), outfile),
    bundleOne(join(here, '..', 'cmd', 'nodeway-lab.ts'), join(dirname(outfile), 'nodeway-lab.mjs')),
  ]);
}

function bundleOne(entry, outfile) {
  return build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // Whitespace and syntax only: names stay, so stack traces read without a source map
    // (--enable-source-maps would keep the 4.6 MB map parsed in memory: +60 MiB RssAnon, measured).
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    // CommonJS dependencies call require(); give the ESM bundle one.
    banner: { js: "import { createRequire as __nodewayRequire } from 'node:module'; const require = __nodewayRequire(import.meta.url);" },
    plugins: [trim],
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundle(join(here, '..', 'dist', 'nodeway.mjs'));
