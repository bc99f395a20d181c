import { release } from 'node:os';

/** Whether a kernel release string ("6.1.0-13-amd64") is at least major.minor. */
export function kernelAtLeast(rel: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return !!m && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}

/**
 * Kernels from 6.2 release an nft chain as soon as the map element pointing at it is deleted;
 * older ones keep it busy until the next transaction (proxy and netpol delete chains a step later).
 */
export function deletesChainsAtOnce(): boolean {
  return kernelAtLeast(release(), 6, 2);
}
