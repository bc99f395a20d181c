// Runs the whole vitest suite and ends with the plain summary line CI reads:
// "tests: N passed, N failed[, N skipped]". Exit code is vitest's.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'nodeway-test-'));
const out = join(dir, 'results.json');
const r = spawnSync('vitest', ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)], { stdio: 'inherit' });
let line = 'tests: 0 passed, 1 failed (vitest wrote no results)';
try {
  const j = JSON.parse(readFileSync(out, 'utf8'));
  const skipped = (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  line = `tests: ${j.numPassedTests} passed, ${j.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`;
  // Suites that failed to load count as failures even when no test in them ran.
  if (j.numFailedTestSuites > 0 && j.numFailedTests === 0) line = `tests: ${j.numPassedTests} passed, ${j.numFailedTestSuites} failed`;
  // Unhandled errors fail the run without failing a test: say so in the line CI reads.
  if (r.status !== 0 && j.numFailedTests === 0 && j.numFailedTestSuites === 0) line = `tests: ${j.numPassedTests} passed, 1 failed (vitest reported errors outside the tests)`;
} catch {}
// Kept on request, for reading per-test durations after a run (how close each test runs to its limit).
if (process.env.NODEWAY_TEST_RESULTS) try { copyFileSync(out, process.env.NODEWAY_TEST_RESULTS); } catch {}
rmSync(dir, { recursive: true, force: true });
console.log(line);
process.exit(r.status ?? 1);
