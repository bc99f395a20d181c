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
