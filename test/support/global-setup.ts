// One scratch directory for the whole test run, removed at the end even when workers are
// killed rather than exited (their own exit handlers would not run).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingForTests } from './programs.ts';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'nodeway-test-run-'));
  process.env.NODEWAY_TEST_TMP = dir;
  // Said first, so the failures it explains are read in its light.
  const missing = missingForTests();
  if (missing) process.stderr.write(`\n*** ${missing}\n\n`);
  return () => rmSync(dir, { recursive: true, force: true });
}
