import { spawnSync } from 'node:child_process';
import { ownerPid } from './names.ts';
import { listNetns, parseNetnsList, run } from './run.ts';

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function pidsOf(out: string): number[] {
  return out
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

// Deleting a namespace with processes still inside only unmounts its name; the
// namespace (and its veths) would live on, so the processes go first.
export async function removeNetns(ns: string): Promise<void> {
  try {
    const r = await run('ip', ['netns', 'pids', ns], { timeoutMs: 10_000 });
    for (const pid of pidsOf(r.stdout)) kill(pid);
    await run('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
  } catch {
    // best effort: teardown never throws
  }
}

export function removeNetnsSync(ns: string): void {
  try {
    const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5_000 });
    for (const pid of pidsOf(r.stdout ?? '')) kill(pid);
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5_000 });
  } catch {
    // best effort: runs while the process is dying
  }
}

export function listNetnsSync(): string[] {
  try {
    const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 5_000 });
    return parseNetnsList(r.stdout ?? '');
  } catch {
    return [];
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the namespaces (and the processes inside them) of lab runs whose
 * owning process is gone, e.g. a test worker that was SIGKILLed. Returns the
 * namespaces it removed.
 */
export async function cleanupStaleLabs(): Promise<string[]> {
  const stale = (await listNetns()).filter((ns) => {
    const pid = ownerPid(ns);
    return pid !== undefined && pid !== process.pid && !isAlive(pid);
  });
  for (const ns of stale) await removeNetns(ns);
  return stale;
}

interface Destroyable {
  destroySync(): void;
}

// Labs not yet destroyed; torn down synchronously if the process ends first.
const live = new Set<Destroyable>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function destroyAllSync(): void {
  for (const lab of [...live]) {
    live.delete(lab);
    lab.destroySync();
  }
}

function onSignal(sig: NodeJS.Signals): void {
  destroyAllSync();
  unlisten();
  // We run first (prepended) and are gone now, so a later listener such as
  // execa's signal-exit sees the count it expects and re-raises. With no
  // listener left, the default action is back and the re-raise ends us.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function listen(): void {
  process.on('exit', destroyAllSync);
  for (const s of SIGNALS) process.prependListener(s, onSignal);
}

function unlisten(): void {
  process.removeListener('exit', destroyAllSync);
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

export function trackLive(lab: Destroyable): void {
  if (live.size === 0) listen();
  live.add(lab);
}

export function untrackLive(lab: Destroyable): void {
  if (live.delete(lab) && live.size === 0) unlisten();
}
