// The agent as the product builds it (scripts/build.mjs), bundled once per test file into a
// temporary directory: end-to-end tests never run a stale dist/.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundle } from '../../scripts/build.mjs';

let built: Promise<string> | undefined;

export function buildAgent(): Promise<string> {
  built ??= (async () => {
    // Inside the run's scratch directory (test/support/global-setup.ts) when there is one.
    const dir = mkdtempSync(join(process.env.NODEWAY_TEST_TMP ?? tmpdir(), 'nodeway-agent-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'nodeway.mjs');
    await bundle(out);
    return out;
  })();
  return built;
}
