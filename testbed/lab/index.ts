// Network-namespace lab for dataplane tests and the `nodeway lab` demo.
//
// In vitest, clear leftovers of killed runs first and always destroy:
//   beforeAll(async () => { await cleanupStaleLabs(); lab = await Lab.create({ prefix: 'pxy' }); });
//   afterAll(() => lab?.destroy());
// or scope a lab to one body with withLab(async (lab) => { ... }).
// Labs still alive when the process exits or gets SIGINT/SIGTERM/SIGHUP are
// torn down synchronously; a SIGKILLed owner leaves them to cleanupStaleLabs().
export { Lab, withLab, type LabOptions, type AddressOptions } from './lab.ts';
export { LabEndpoint, LabNode, LabPod, type NsRef } from './endpoints.ts';
export { LabProcess, type SpawnOptions, type ExitInfo } from './process.ts';
export type { ExecOptions, ExecResult } from './run.ts';
export { cleanupStaleLabs } from './cleanup.ts';
export {
  workloadPaths,
  parseProbeLine,
  type EchoServerOptions,
  type ProbeTarget,
  type ProbeResult,
  type ProbeOutcome,
} from './workloads.ts';
export { NODE_NET_V4, NODE_NET_V6, POD_GATEWAY_V4, POD_GATEWAY_V6 } from './addresses.ts';
