// The node's WireGuard identity: a Curve25519 private key made once by the system CSPRNG
// (node:crypto), kept on persistent disk with mode 0600 and reused by every later start, so a
// restart or reboot never changes what peers know us by. flannel's /run (tmpfs) key and
// Cilium's per-boot keys are the churn this avoids.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isValidKey } from './annotations.ts';

// PKCS#8 and SPKI DER prefixes of an X25519 key: the raw 32 bytes follow.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function keyPath(stateDir: string): string {
  return join(stateDir, 'wireguard', 'private.key');
}

export function publicKeyOf(privateKey: string): string {
  const der = Buffer.concat([PKCS8_PREFIX, Buffer.from(privateKey, 'base64')]);
  const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32).toString('base64');
}

export function generatePrivateKey(): string {
  const der = generateKeyPairSync('x25519').privateKey.export({ format: 'der', type: 'pkcs8' });
  return der.subarray(der.length - 32).toString('base64');
}

export interface LoadedKey {
  privateKey: string;
  publicKey: string;
  path: string;
  created: boolean;
  /** What was wrong with the file, if it had to be replaced or fixed. */
  notes: string[];
}

async function writeNew(path: string, key: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await unlink(tmp).catch(() => undefined);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${key}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * Loads the key, or makes one when there is none. A file that holds no valid key is kept
 * aside (never silently overwritten) and replaced, so the mesh comes up and the evidence stays.
 */
export async function loadOrCreateKey(stateDir: string): Promise<LoadedKey> {
  const path = keyPath(stateDir);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const notes: string[] = [];
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read WireGuard key ${path}: ${(err as Error).message}`);
  }
  if (text !== undefined) {
    const key = text.trim();
    if (isValidKey(key)) {
      const mode = (await stat(path)).mode & 0o777;
      if (mode & 0o077) {
        await chmod(path, 0o600);
        notes.push(`key file mode was ${mode.toString(8)}; set to 600`);
      }
      return { privateKey: key, publicKey: publicKeyOf(key), path, created: false, notes };
    }
    const aside = `${path}.invalid-${Date.now()}`;
    await rename(path, aside);
    notes.push(`key file held no valid key; moved to ${aside}`);
  }
  const key = generatePrivateKey();
  await writeNew(path, key);
  return { privateKey: key, publicKey: publicKeyOf(key), path, created: true, notes };
}
