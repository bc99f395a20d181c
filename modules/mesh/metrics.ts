// What the mesh exports: per-peer WireGuard health (Calico Felix's set, under nodeway names),
// peers desired vs programmed, and the facts an operator asks first (pod CIDRs, MTU, mode).
import type { Registry } from '../../src/runtime/metrics.ts';
import type { MeshPlan } from './plan.ts';
import type { DeviceState } from './wg.ts';

export class MeshMetrics {
  private readonly peers;
  private readonly handshakeAge;
  private readonly rx;
  private readonly tx;
  private readonly info;
  private readonly podCIDRs;
  private readonly mtu;
  private readonly userspace;
  private readonly rejected;
  readonly publishes;
  readonly endpointSwitches;
  readonly handshakeRetries;
  readonly stalePodMTU;
  readonly hostWakes;

  constructor(reg: Registry) {
    this.peers = reg.gauge('nodeway_mesh_peers', 'WireGuard peers: desired (from the view), programmed (on the device), pending (nodes without a key), rejected.');
    this.handshakeAge = reg.gauge('nodeway_mesh_peer_handshake_age_seconds', 'Seconds since the latest handshake with a peer; -1 = never.');
    this.rx = reg.gauge('nodeway_mesh_peer_received_bytes', 'Bytes received from a peer (device counter).');
    this.tx = reg.gauge('nodeway_mesh_peer_sent_bytes', 'Bytes sent to a peer (device counter).');
    this.info = reg.gauge('nodeway_mesh_peer_info', 'One series per programmed peer: its node, public key and current endpoint.');
    this.podCIDRs = reg.gauge('nodeway_mesh_pod_cidrs', 'This node\'s pod CIDRs in use; 0 = none assigned (the mesh is not ready).');
    this.mtu = reg.gauge('nodeway_mesh_mtu', 'MTU of the WireGuard interface and pods.');
    this.userspace = reg.gauge('nodeway_mesh_userspace', '1 when WireGuard runs in wireguard-go, 0 in the kernel.');
    this.rejected = reg.gauge('nodeway_mesh_rejected_nodes', 'Nodes left out of the mesh because of what they publish.');
    this.publishes = reg.counter('nodeway_mesh_node_patches_total', 'Writes to this node\'s Node object, by kind (annotations, condition) and result.');
    this.endpointSwitches = reg.counter('nodeway_mesh_endpoint_switches_total', 'Peer endpoints moved to the next candidate after no handshake.');
    this.hostWakes = reg.counter('nodeway_mesh_host_wakes_total', 'Repairs woken by a link, address or route event that contradicts what the mesh applied, by reason (device, link, addresses, routes, underlay; lost: events missed).');
    this.stalePodMTU = reg.gauge('nodeway_mesh_stale_pod_mtu', 'After the pod MTU was lowered: the higher MTU pods created before may still carry until re-created (0 = none known).');
    this.handshakeRetries = reg.counter('nodeway_mesh_first_handshake_retries_total', 'New peers re-created to initiate again: no first handshake yet (crossed initiations, or the peer did not know this node yet).');
  }

  plan(p: MeshPlan, mtu: number, userspace: boolean): void {
    this.peers.set({ state: 'desired' }, p.peers.length);
    this.peers.set({ state: 'pending' }, p.pending.length);
    this.peers.set({ state: 'rejected' }, p.rejected.length);
    this.rejected.set({}, p.rejected.length);
    this.podCIDRs.set({}, p.podCIDRs.length);
    this.mtu.set({}, mtu);
    this.userspace.set({}, userspace ? 1 : 0);
  }

  noPodCIDRs(): void {
    this.podCIDRs.set({}, 0);
  }

  /** `programmed` when the device changed after `dev` was read. */
  device(dev: DeviceState, nodeOf: Map<string, string>, programmed = dev.peers.size, now = Date.now()): void {
    this.peers.set({ state: 'programmed' }, programmed);
    for (const g of [this.handshakeAge, this.rx, this.tx, this.info]) g.reset();
    for (const p of dev.peers.values()) {
      const peer = nodeOf.get(p.publicKey) ?? '';
      const l = { peer, public_key: p.publicKey };
      this.handshakeAge.set(l, p.latestHandshake ? Math.max(0, Math.round(now / 1000 - p.latestHandshake)) : -1);
      this.rx.set(l, p.rxBytes);
      this.tx.set(l, p.txBytes);
      this.info.set({ ...l, endpoint: p.endpoint ?? '' }, 1);
    }
  }
}
