// The mesh's two writes to its own Node: the annotations peers read (merge patch, only keys
// this agent owns), and the NetworkUnavailable=False condition once the pod network works
// (status subresource, strategic merge by condition type, as flannel does). When they are due
// is apply/node.ts's to say.
import type { KubeClient } from '../../src/kube/client.ts';

const nodePath = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;

/** Through nodes/status, as flannel does: the Node's status strategy keeps metadata, and the agent needs no `patch nodes`. */
export async function patchAnnotations(client: KubeClient, node: string, patch: Record<string, string | null>): Promise<void> {
  await client.request('PATCH', `${nodePath(node)}/status`, { metadata: { annotations: patch } }, 'application/merge-patch+json');
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
