// The decisions between the plan and the device, kept pure: which endpoint each peer is dialled
// on (endpoint-choice.ts, per peer) and whose path MTU is to be probed. They read the device
// as last seen and what the previous decisions left (attempts, known path MTUs) and return the
// next ones; the executor only probes and applies.
import type { PlannedPeer } from './plan.ts';
import { parseEndpoint } from './annotations.ts';
import { type Attempt, chooseEndpoint } from './endpoint-choice.ts';
import type { PathMTU } from './mtu.ts';
import type { DesiredPeer, DeviceState } from './wg.ts';

export interface PeerDecisions {
  desired: DesiredPeer[];
  /** By public key: the endpoint trials still running (none for a peer that is gone). */
  attempts: Map<string, Attempt>;
  /** Candidates given up on for the next one (a log line and a metric each). */
  switches: { node: string; from: string; to: string }[];
  /** Where the peers are dialled, chosen or kept: the paths whose MTU matters. */
  endpoints: string[];
}

export function decidePeers(peers: readonly PlannedPeer[], dev: DeviceState, attempts: ReadonlyMap<string, Attempt>, now: number): PeerDecisions {
  const out: PeerDecisions = { desired: [], attempts: new Map(), switches: [], endpoints: [] };
  for (const pp of peers) {
    const d = dev.peers.get(pp.publicKey);
    const prev = attempts.get(pp.publicKey);
    const c = chooseEndpoint(pp, d, prev, now);
    if (c.attempt) out.attempts.set(pp.publicKey, c.attempt);
    if (c.endpoint && d?.endpoint && c.endpoint !== d.endpoint && prev) out.switches.push({ node: pp.node, from: d.endpoint, to: c.endpoint });
    out.desired.push({ publicKey: pp.publicKey, endpoint: c.endpoint, allowedIPs: pp.allowedIPs, keepalive: pp.keepalive });
    const ep = c.endpoint ?? d?.endpoint;
    if (ep) out.endpoints.push(ep);
  }
  return out;
}

export interface MTUProbes {
  /** The endpoint IPs the MTU is computed over. */
  ips: string[];
  /** Those to probe now. */
  probe: string[];
}

/**
 * Endpoint IPs to probe: those with no known path MTU, or none when `probeNew` is false (a
 * partial sync with an MTU in force: probing would put commands between a new node and its
 * peer; the poll probes within POLL_MS).
 */
export function mtuProbes(endpoints: readonly string[], known: ReadonlyMap<string, PathMTU | null>, probeNew: boolean): MTUProbes {
  const ips = [...new Set(endpoints.map((e) => parseEndpoint(e, 1)?.ip).filter((x): x is string => !!x))];
  return { ips, probe: probeNew ? ips.filter((ip) => !known.has(ip)) : [] };
}

/** The known path MTUs of `ips` (unprobed or unreachable ones left out). */
export function knownPaths(ips: readonly string[], known: ReadonlyMap<string, PathMTU | null>): PathMTU[] {
  return ips.map((ip) => known.get(ip)).filter((x): x is PathMTU => !!x);
}
