// Writing the conflist where the container runtime reads it: atomically (temp file in the
// same directory, then rename), so the runtime never loads half a file, and only when the
// bytes differ. The runtime uses the lexically first config, so earlier ones are reported.
import { access, lstat, mkdir, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { exec } from '../../src/sys/exec.ts';
import { CONFLIST_NAME } from './conflist.ts';

export async function readConflist(dir: string): Promise<string | null> {
  return readFile(join(dir, CONFLIST_NAME), 'utf8').catch(() => null);
}

export async function writeConflist(dir: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${CONFLIST_NAME}.tmp-${process.pid}`);
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, join(dir, CONFLIST_NAME));
}

export async function removeConflist(dir: string): Promise<void> {
  await rm(join(dir, CONFLIST_NAME), { force: true });
}

/** Configs the runtime would pick before ours. */
export async function shadowingConfigs(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => /\.(conf|conflist|json)$/.test(n) && !n.startsWith('.') && n < CONFLIST_NAME).sort();
}

export const REQUIRED_PLUGINS = ['bridge', 'host-local'] as const;

/**
 * Which of the named plugins are not executable in binDir. A symlink into a path this process
 * cannot see counts as there: k3s's plugin directory holds absolute links into
 * data/<hash>/bin, which a container is not given; the runtime on the host resolves them.
 */
export async function missingPlugins(binDir: string, names: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const n of names) {
    const path = join(binDir, n);
    try {
      await access(path, constants.X_OK);
      continue;
    } catch {}
    if (!(await linksOutOfSight(binDir, path))) out.push(n);
  }
  return out;
}

/** `path` is a chain of symlinks ending at a path that does not exist here, outside binDir. */
async function linksOutOfSight(binDir: string, path: string): Promise<boolean> {
  const dir = resolve(binDir);
  let at = path;
  for (let hops = 0; hops < 8; hops++) {
    let target: string;
    try {
      target = await readlink(at);
    } catch {
      return false; // not a link: absent, or there and not executable
    }
    at = resolve(dirname(at), target);
    try {
      await lstat(at);
    } catch {
      return at !== dir && !at.startsWith(`${dir}/`);
    }
  }
  return false;
}

/** Spec versions nodeway can write its conflist as, newest first (a plugin list needs 0.3.0 or later). */
export const WRITABLE_CNI_VERSIONS = ['1.0.0', '0.4.0', '0.3.1', '0.3.0'] as const;

/**
 * The spec versions a plugin supports, as it answers CNI_COMMAND=VERSION; null when it would
 * not say (it failed, or printed something else).
 */
export async function pluginVersions(binDir: string, name: string): Promise<string[] | null> {
  const r = await exec(join(binDir, name), [], { env: { CNI_COMMAND: 'VERSION', CNI_PATH: binDir }, input: '', timeoutMs: 5_000 }).catch(() => null);
  if (!r?.ok) return null;
  try {
    const v = (JSON.parse(r.stdout) as { supportedVersions?: unknown }).supportedVersions;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}

/**
 * The newest version nodeway can write that every plugin supports: a conflist of a version a
 * plugin does not know fails every pod sandbox (plugins before 1.0 refuse 1.0.0). Plugins that
 * would not say are left out of the choice; null when no version fits them all. Pure.
 */
export function chooseCniVersion(supported: (string[] | null)[]): string | null {
  for (const v of WRITABLE_CNI_VERSIONS) if (supported.every((s) => s === null || s.includes(v))) return v;
  return null;
}
