// The agent's version, from package.json (bundled in by esbuild), and what it was built with.
import pkg from '../../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;

export function versionLine(): string {
  return `nodeway ${VERSION} (Node.js ${process.version}, ${process.platform}/${process.arch})`;
}
