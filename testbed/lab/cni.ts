// Creates a pod the way a container runtime does: a network namespace, then the standard
// CNI plugins run with the conflist the agent wrote (loopback first, then the chain).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabNode } from './endpoints.ts';
import { run } from './run.ts';

export interface CniPod {
  name: string;
  ns: string;
  /** The first address the plugins gave (IPv4 on a dual-stack node). */
  ip: string;
  /** Every address, one per family. */
  ips: string[];
  containerId: string;
}

interface Conflist {
  name: string;
  cniVersion: string;
  plugins: Record<string, unknown>[];
}

async function plugin(node: LabNode, binDir: string, conf: Record<string, unknown>, env: Record<string, string>): Promise<Record<string, unknown>> {
  const r = await run('ip', ['netns', 'exec', node.ns, join(binDir, String(conf.type))], { input: JSON.stringify(conf), env, timeoutMs: 20_000 });
  if (r.exitCode !== 0) throw new Error(`CNI ${env.CNI_COMMAND} ${String(conf.type)} on ${node.name}: ${r.stdout} ${r.stderr}`);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : {};
}

/** Waits (up to timeoutMs) for the node's conflist, then runs CNI ADD into a new namespace `ns`. */
export async function addCniPod(node: LabNode, ns: string, confDir: string, binDir: string, timeoutMs = 30_000): Promise<CniPod> {
  const file = join(confDir, '10-nodeway.conflist');
  const end = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > end) throw new Error(`no CNI config appeared in ${confDir} on ${node.name}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const conf = JSON.parse(readFileSync(file, 'utf8')) as Conflist;
  await run('ip', ['netns', 'add', ns], { check: true });
  const containerId = ns.replace(/[^a-zA-Z0-9]/g, '');
  const env = (ifname: string) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: `/var/run/netns/${ns}`, CNI_IFNAME: ifname, CNI_PATH: binDir });
  await plugin(node, binDir, { cniVersion: conf.cniVersion, name: 'cni-loopback', type: 'loopback' }, env('lo'));
  let prev: Record<string, unknown> | undefined;
  for (const p of conf.plugins) {
    prev = await plugin(node, binDir, { ...p, name: conf.name, cniVersion: conf.cniVersion, ...(prev ? { prevResult: prev } : {}) }, env('eth0'));
  }
  const ips = ((prev?.ips ?? []) as { address: string }[]).map((a) => a.address.split('/')[0]!);
  const ip = ips[0];
  if (!ip) throw new Error(`CNI ADD gave ${ns} no address`);
  return { name: ns, ns, ip, ips, containerId };
}
