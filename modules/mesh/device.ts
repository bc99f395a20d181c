// The WireGuard interface: the kernel's when it has WireGuard, else wireguard-go. Whatever
// exists is reused — a kernel link, or a wireguard-go still answering on its UAPI socket from
// before an agent restart. A kernel link always outlives the agent, with its peers and
// sessions. wireguard-go outlives only an agent whose cgroup is not killed whole (started by
// hand, the lab; systemd only with KillMode=process): in the shipped DaemonSet it is a process
// of the agent's container, which a restart or rollout kills whole, so the tunnel is rebuilt
// (modules/mesh/README.md gives the cost).
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { exec, spawnDaemon } from '../../src/sys/exec.ts';
import { type LinkInfo, readLink } from './link.ts';
import type { UserspaceMode } from './options.ts';

export const UAPI_DIR = '/var/run/wireguard';

export function socketPath(iface: string): string {
  return join(UAPI_DIR, `${iface}.sock`);
}

export function pidPath(stateDir: string, iface: string): string {
  return join(stateDir, 'wireguard', `wireguard-go.${iface}.pid`);
}

/** Something answers on the UAPI socket. */
export function socketAlive(path: string, timeoutMs = 1000): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface Device {
  link: LinkInfo;
  userspace: boolean;
  created: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function spawnUserspace(iface: string, stateDir: string): Promise<void> {
  await mkdir(join(stateDir, 'wireguard'), { recursive: true, mode: 0o700 });
  const logFile = join(stateDir, 'wireguard', `wireguard-go.${iface}.log`);
  const out = await open(logFile, 'a', 0o600);
  // Its own session: a signal to the agent's process group (Ctrl-C) leaves the tunnel
  // forwarding. A container runtime, or systemd by default, kills every process of the cgroup
  // anyway. -f keeps it in the process we spawn, so the pid is the daemon's.
  // Not through a pipe: the log must be the daemon's own fd, or it would break (SIGPIPE) when
  // the agent exits. Not installed: spawnDaemon rejects with the package to install.
  const started = spawnDaemon('wireguard-go', ['-f', iface], {
    stdio: ['ignore', out.fd, out.fd],
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LOG_LEVEL: 'error', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' },
  });
  let exited = false;
  const child = await started.finally(() => out.close());
  child.once('exit', () => (exited = true));
  child.unref();
  if (child.exitCode !== null || child.signalCode !== null) exited = true;
  if (child.pid) await writeFile(pidPath(stateDir, iface), `${child.pid}\n`, { mode: 0o600 });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited) break;
    if ((await socketAlive(socketPath(iface), 200)) && (await readLink(iface))) return;
    await sleep(50);
  }
  const tail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' | ');
  throw new Error(`wireguard-go ${iface} did not come up${exited ? ' (it exited)' : ''}${tail ? `: ${tail}` : ''}`);
}

export async function ensureDevice(iface: string, mode: UserspaceMode, stateDir: string, log: Logger): Promise<Device> {
  const sock = socketPath(iface);
  const existing = await readLink(iface);
  if (existing) {
    if (existing.kind === 'wireguard') {
      if (mode === 'always') log.warn({ iface }, 'kept the existing kernel WireGuard interface although --wg-userspace=always');
      return { link: existing, userspace: false, created: false };
    }
    if (existing.kind === 'tun' && (await socketAlive(sock))) {
      if (mode === 'never') log.warn({ iface }, 'kept the running wireguard-go although --wg-userspace=never');
      return { link: existing, userspace: true, created: false };
    }
    throw new Error(`${iface} exists and is ${existing.kind ? `a ${existing.kind} link` : 'no WireGuard interface'}; not taking it over (pick another --wg-interface)`);
  }
  // The UAPI directory is shared by every network namespace: a live socket without our link
  // is another namespace's device of the same name.
  if (await socketAlive(sock)) throw new Error(`${sock} belongs to a wireguard-go outside this network namespace; pick another --wg-interface`);
  await unlink(sock).catch(() => undefined);

  let kernelError = '';
  if (mode !== 'always') {
    const r = await exec('ip', ['link', 'add', 'dev', iface, 'type', 'wireguard']);
    if (r.ok) {
      const link = await readLink(iface);
      if (link) return { link, userspace: false, created: true };
    }
    kernelError = r.stderr.trim();
    if (mode === 'never') throw new Error(`kernel WireGuard unavailable (ip link add type wireguard: ${kernelError}) and --wg-userspace=never`);
  }
  await spawnUserspace(iface, stateDir);
  const link = await readLink(iface);
  if (!link) throw new Error(`wireguard-go started but ${iface} is missing`);
  log.info({ iface, kernel: kernelError || undefined }, 'started wireguard-go (userspace WireGuard)');
  return { link, userspace: true, created: true };
}

/** Ends a wireguard-go: removing its UAPI socket makes it close the TUN and exit. */
export async function stopUserspace(iface: string, stateDir: string): Promise<void> {
  await rm(socketPath(iface), { force: true });
  const pidFile = pidPath(stateDir, iface);
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (pid > 1) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    // Only the daemon we started, never a recycled pid.
    if (cmdline.includes('wireguard-go') && cmdline.split('\0').includes(iface)) {
      for (let i = 0; i < 20 && existsSync(`/proc/${pid}`); i++) await sleep(50);
      try {
        process.kill(pid, 'SIGTERM');
      } catch {}
    }
  }
  await rm(pidFile, { force: true });
}
