// Returning a burst's garbage to the OS. The agent allocates little in steady state, so V8,
// under no pressure, would keep the heap that a first list or a full proxy sync grew to for a
// long time. bin/nodeway passes --expose-gc; without it this does nothing.
// 'last-resort' is V8's memory-reducing collection: it compacts every fragmented page, where a
// plain gc() leaves pages a tenth full resident.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

const rawGc = (globalThis as { gc?: (o?: { type: string; execution: string; flavor: string }) => void }).gc;
const reduce = { type: 'major', execution: 'sync', flavor: 'last-resort' };

/** The heap outside the young generation (whose 0-1 MiB comes and goes between scavenges): in use, committed. */
function oldHeap(): { used: number; committed: number } {
  let used = 0, committed = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name === 'new_space' || s.space_name === 'new_large_object_space') continue;
    used += s.space_used_size;
    committed += s.space_size;
  }
  return { used, committed };
}

/** The heap after the last compaction: what growth is measured from. */
let compacted = { used: 0, committed: 0 };
const gc = rawGc && ((o: typeof reduce) => {
  rawGc(o);
  compacted = oldHeap();
});

const QUIET_MIN_GROWTH = 1048576;

/**
 * Whether the heap grew enough since the last compaction to be worth another: by a 32nd of what
 * it held (at least 1 MiB), in use or committed. A compaction's cost grows with the live heap
 * (measured: ~250 ms at 60 MiB, 10,000 × 10 with every module, loaded machine); what it can give
 * back is the growth. Without this, every 60 s drift check cost one (0.4 % of a core idle).
 */
function grownSinceCompaction(): boolean {
  if (!compacted.used) return true;
  const enough = Math.max(QUIET_MIN_GROWTH, compacted.used / 32);
  return grownBy(enough, enough);
}

/** The heap in use grew by `used`, or committed by `committed`, since the last compaction. */
function grownBy(used: number, committed: number): boolean {
  const now = oldHeap();
  return now.used - compacted.used >= used || now.committed - compacted.committed >= committed;
}
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
 * QUIET_MS after work, when the heap grew enough since the last one to pay for it; under
 * steady work the timer keeps moving, and collectGarbageAfterChanges covers churn.
 */
export function collectGarbageWhenQuiet(): void {
  if (!gc) return;
  clearTimeout(quiet);
  quiet = setTimeout(() => grownSinceCompaction() && gc(reduce), QUIET_MS).unref();
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
    if (!compacted.used) return;
    // Committed too: a burst outside any sync (the DNS zone snapshot's write, ~35 MB at 10,000 × 10)
    // leaves old space committed after V8's own collection has brought its use back.
    if (grownBy(GROWTH_BYTES, Math.max(GROWTH_BYTES, compacted.used / 16))) gc(reduce);
  }, GROWTH_CHECK_MS).unref();
  return () => {
    clearInterval(growthTimer);
    growthTimer = undefined;
  };
}

let memoryHolds = 0;

/**
 * While the agent lists the cluster and while a module builds its whole dataplane (the first
 * sync, any full one), V8 favours memory over speed (--optimize-for-size, switched at run time):
 * sized for the machine, not the pod, it let the heap reach 2-4x what was live before a major
 * collection (measured at 10,000 Services x 10, every module: RssAnon 257 MiB at start, the
 * V8 heap 224 MB for 109 live; with it 139 MiB, time to ready 5.0 -> 6.2 s). A pod's memory limit
 * counts that peak. Returns the release; the mode ends when every holder released it. Only with
 * --expose-gc (bin/nodeway), like the rest of this file.
 */
export function memoryFirst(): () => void {
  if (!rawGc) return () => {};
  if (memoryHolds++ === 0) setFlagsFromString('--optimize-for-size');
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--memoryHolds === 0) setFlagsFromString('--no-optimize-for-size');
  };
}
