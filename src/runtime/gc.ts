// Returning a burst's garbage to the OS. The agent allocates little in steady state, so V8,
// under no pressure, would keep the heap that a first list or a full proxy sync grew to for a
// long time. bin/nodeway passes --expose-gc; without it this does nothing.
// 'last-resort' is V8's memory-reducing collection: it compacts every fragmented page, where a
// plain gc() leaves pages a tenth full resident.
const gc = (globalThis as { gc?: (o?: { type: string; execution: string; flavor: string }) => void }).gc;
const reduce = { type: 'major', execution: 'sync', flavor: 'last-resort' };
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

/**
 * Under steady churn the heap grows in old space between V8's own major collections, and the
 * pages stay resident (measured: RssAnon +25 % in 3 min of churn). After every CHURN_CHANGES
 * view changes, and at most once a minute, the same compacting collection as after a burst.
 */
export function collectGarbageAfterChanges(n: number): void {
  if (!gc) return;
  churned += n;
  const now = Date.now();
  if (churned < CHURN_CHANGES || now - lastChurnGc < CHURN_GAP_MS) return;
  churned = 0;
  lastChurnGc = now;
  setTimeout(() => gc(reduce), 1000).unref();
}
