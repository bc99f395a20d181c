// Same-node pod traffic crosses the CNI bridge; the ip/ip6 forward hook sees it only with
// br_netfilter loaded and bridge-nf-call-ip(6)tables set (per network namespace). Without
// them same-node policy is silently not enforced, so the module says so instead.
import { readFile, writeFile } from 'node:fs/promises';
import { exec } from '../../src/sys/exec.ts';

const DIR = '/proc/sys/net/bridge';
const KNOBS = ['bridge-nf-call-iptables', 'bridge-nf-call-ip6tables'];

/** '' when bridged traffic reaches the forward hook; else why not. */
export async function ensureBridgeNetfilter(dir = DIR): Promise<string> {
  const readable = async () => readFile(`${dir}/${KNOBS[0]}`, 'utf8').then(() => true, () => false);
  if (!(await readable())) {
    const why = await exec('modprobe', ['br_netfilter']).then((r) => r.stderr, (err: Error) => err.message);
    if (!(await readable())) {
      return `br_netfilter is not loaded and modprobe failed (${why.split('\n')[0]}): same-node pod traffic is not filtered; load it on the host`;
    }
  }
  for (const k of KNOBS) {
    const path = `${dir}/${k}`;
    const now = (await readFile(path, 'utf8').catch(() => '')).trim();
    if (now === '1') continue;
    try {
      await writeFile(path, '1');
    } catch (err) {
      return `${path} is ${now || 'unreadable'} and cannot be set (${(err as Error).message}): same-node pod traffic is not filtered`;
    }
  }
  return '';
}
