// The agent as the product builds it (scripts/build.mjs), bundled once per test file into a
// temporary directory: end-to-end tests never run a stale dist/.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundle } from '../../scripts/build.mjs';

let built: Promise<string> | undefined;

export function buildAgent(): Promise<string> {
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nodeway-agent-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'nodeway.mjs');
    await bundle(out);
    return out;
  })();
  return built;
}
