// A PATH without some programs: a directory of symlinks to every other program on PATH (the
// first of each name wins), for testing what the agent and the lab do when one is missing.
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

export function pathWithout(dir: string, programs: readonly string[]): string {
  mkdirSync(dir, { recursive: true });
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const d of dirs) {
    if (!d || !existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      if (programs.includes(name) || existsSync(join(dir, name))) continue;
      try {
        if (statSync(join(d, name)).isFile()) symlinkSync(join(d, name), join(dir, name));
      } catch {
        // a dangling link on the host's PATH
      }
    }
  }
  return dir;
}
