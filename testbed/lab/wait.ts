import { appendFileSync } from 'node:fs';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `fn` until it returns something other than undefined or false (a throw counts as
 * "not yet"); on timeout the error names what was awaited and the last answer or error.
 */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const start = Date.now();
  const end = start + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) {
        report?.(what, Date.now() - start, timeoutMs);
        return v;
      }
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      report?.(what, Date.now() - start, timeoutMs);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${String((last as Error)?.message ?? JSON.stringify(last))}`);
    }
    await sleep(everyMs);
  }
}

// NODEWAY_WAIT_REPORT=FILE: every wait's time against its limit, one JSON line each, to find the waits
// that come close to their limit under load before CI does.
const reportFile = process.env.NODEWAY_WAIT_REPORT;
const report = reportFile
  ? (what: string, ms: number, limit: number) => appendFileSync(reportFile, `${JSON.stringify({ what, ms, limit })}\n`)
  : undefined;
