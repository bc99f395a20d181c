import { dirname, join } from 'node:path';
import type { Lab } from './lab.ts';
import type { NsRef } from './endpoints.ts';
import type { LabProcess } from './process.ts';
import { workloadPaths } from './workloads.ts';

/**
 * Makes `listen` (e.g. 127.0.0.1:6443) inside a lab namespace lead to a Unix socket, so an
 * agent in a lab node reaches a server (the embedded API server) running in the test process.
 */
export async function bridgeToUnixSocket(lab: Lab, where: NsRef, listen: string, socketPath: string): Promise<LabProcess> {
  const paths = workloadPaths();
  const script = join(dirname(paths.echoServer), 'unix-forward.ts');
  const p = lab.spawn(where, paths.node, [script, '--listen', listen, '--socket', socketPath, '--exit-with-stdin']);
  try {
    await p.waitForLine(/^ready /, 10_000);
  } catch (e) {
    await p.stop(0);
    throw e;
  }
  return p;
}
