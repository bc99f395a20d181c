// Returning a burst's garbage to the OS. The agent allocates little in steady state, so V8,
// under no pressure, would keep the heap that a first list or a full proxy sync grew to for a
// long time. bin/nodeway passes --expose-gc; without it this does nothing.
// 'last-resort' is V8's memory-reducing collection: it compacts every fragmented page, where a
// plain gc() leaves pages a tenth full resident.
import { getHeapStatistics } from 'node:v8';

const rawGc = (globalThis as { gc?: (o?: { type: string; execution: string; flavor: string }) => void }).gc;
const reduce = { type: 'major', execution: 'sync', flavor: 'last-resort' };
/** Heap in use after the last compaction: what growth is measured from. */
let compactedAt = 0;
const gc = rawGc && ((o: typeof reduce) => {
  rawGc(o);
  compactedAt = getHeapStatistics().used_heap_size;
});
let timers: NodeJS.Timeout[] = [];

/** Two full collections, 1 and 3 s after the last call (the second compacts what the first freed). */
export function collectGarbageSoon(): void {
  if (!gc) return;
  for (const t of timers) clearTimeout(t);
  timers = [1000, 3000].map((ms) => setTimeout(() => gc(reduce), ms).unref());
}

const CHURN_CHANGES = 1000;
const CHURN_GAP_MS = 60_000;
let churned = 0;
let lastChurnGc = 0;
let settle: NodeJS.Timeout | undefined;

/**
 * Under steady churn the heap grows in old space between V8's own major collections, and the
 * pages stay resident (measured: RssAnon +13 % in 3 min of churn). Once CHURN_CHANGES view
 * changes have accumulated: the same compacting collection as after a burst, at most once a
 * minute while changes keep coming, and once more 3 s after the last of them.
 */
export function collectGarbageAfterChanges(n: number): void {
  if (!gc) return;
  churned += n;
  if (churned < CHURN_CHANGES) return;
  const run = () => {
    churned = 0;
    lastChurnGc = Date.now();
    gc(reduce);
  };
  clearTimeout(settle);
  if (Date.now() - lastChurnGc >= CHURN_GAP_MS) {
    lastChurnGc = Date.now();
    setTimeout(run, 1000).unref();
  } else settle = setTimeout(run, 3000).unref();
}

/** Quiet this long after the last piece of work, the agent compacts once. */
export const QUIET_MS = 10_000;
let quiet: NodeJS.Timeout | undefined;

/**
 * Any sync or drift check leaves garbage in old space that V8, under no pressure, keeps
 * committed (measured: old space 19.9 MiB committed, 15.2 used, 120 s into an idle agent with
 * every module at 1,000 × 10). One compacting collection once the agent has been quiet for
 * QUIET_MS after work; under steady work the timer keeps moving, and collectGarbageAfterChanges
 * covers churn.
 */
export function collectGarbageWhenQuiet(): void {
  if (!gc) return;
  clearTimeout(quiet);
  quiet = setTimeout(() => gc(reduce), QUIET_MS).unref();
}

const GROWTH_CHECK_MS = 30_000;
const GROWTH_BYTES = 3 * 1048576;
let growthTimer: NodeJS.Timeout | undefined;

/**
 * Work outside the runner (the mesh's device poll every few seconds, bookmarks) promotes a
 * little garbage into old space that no major collection takes back while the agent is quiet
 * (measured: +3 MiB a minute with the mesh, a sawtooth of 36–40 MiB RssAnon). Every
 * GROWTH_CHECK_MS the heap in use is compared with what the last compaction left, and grown by
 * GROWTH_BYTES it is compacted (a few tens of ms, about once a minute at that rate).
 */
export function compactOnGrowth(): () => void {
  if (!gc || growthTimer) return () => {};
  growthTimer = setInterval(() => {
    if (compactedAt && getHeapStatistics().used_heap_size - compactedAt >= GROWTH_BYTES) gc(reduce);
  }, GROWTH_CHECK_MS).unref();
  return () => {
    clearInterval(growthTimer);
    growthTimer = undefined;
  };
}
