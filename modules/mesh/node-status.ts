// The mesh's two writes to its own Node: the annotations peers read (merge patch, only keys
// this agent owns, only when they differ from what the cache shows), and the
// NetworkUnavailable=False condition once the pod network works (status subresource,
// strategic merge by condition type, as flannel does).
import type { KubeClient } from '../../src/kube/client.ts';
import type { PeerView } from '../../src/view/types.ts';

const nodePath = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;

/** Keys whose value must change; '' in `desired` means the key should be absent. */
export function annotationPatch(desired: Record<string, string>, current: Record<string, string>): Record<string, string | null> | null {
  const patch: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(desired)) {
    if (v === '' && current[k] !== undefined) patch[k] = null;
    else if (v !== '' && current[k] !== v) patch[k] = v;
  }
  return Object.keys(patch).length ? patch : null;
}

/** Through nodes/status, as flannel does: the Node's status strategy keeps metadata, and the agent needs no `patch nodes`. */
export async function patchAnnotations(client: KubeClient, node: string, patch: Record<string, string | null>): Promise<void> {
  await client.request('PATCH', `${nodePath(node)}/status`, { metadata: { annotations: patch } }, 'application/merge-patch+json');
}

/**
 * Whether to (re)assert NetworkUnavailable=False: the pod network is up and the view shows the
 * condition otherwise (never set, set back to True by someone, or the Node re-created), unless
 * this very view of the Node is the one the last assertion already answered (the watch has not
 * brought our write back yet). View objects are replaced on every change, so a Node changed
 * since is a new object.
 */
export function needsNetworkAvailable(networkUp: boolean, self: PeerView, answered: PeerView | undefined): boolean {
  return networkUp && self.networkUnavailable !== 'False' && self !== answered;
}

/** Sets NetworkUnavailable=False unless it already is; true when it wrote. */
export async function markNetworkAvailable(client: KubeClient, node: string, message: string): Promise<boolean> {
  const current = await client.request('GET', nodePath(node));
  const conditions = ((current.status as Record<string, unknown> | undefined)?.conditions ?? []) as Record<string, unknown>[];
  if (Array.isArray(conditions) && conditions.some((c) => c?.type === 'NetworkUnavailable' && c.status === 'False')) return false;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const condition = {
    type: 'NetworkUnavailable',
    status: 'False',
    reason: 'NodewayMeshIsUp',
    message,
    lastTransitionTime: now,
    lastHeartbeatTime: now,
  };
  await client.request('PATCH', `${nodePath(node)}/status`, { status: { conditions: [condition] } }, 'application/strategic-merge-patch+json');
  return true;
}
