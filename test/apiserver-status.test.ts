// Writes through a status subresource: a Node keeps the labels and annotations they carry (the
// real node status strategy resets only the spec), other kinds keep only the status.
import { describe, expect, it } from 'vitest';
import { EmbeddedApiServer } from '../testbed/apiserver/index.ts';

describe('status subresource and metadata', () => {
  it('nodes/status writes annotations and labels, not the spec; pods/status writes neither', () => {
    const api = new EmbeddedApiServer();
    api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', annotations: { keep: 'me' } }, spec: { podCIDR: '10.0.0.0/24' } });
    const n = api.patch('v1', 'nodes', undefined, 'n1', { metadata: { annotations: { 'nodeway.dev/wg-public-key': 'k' }, labels: { l: 'v' } }, spec: { podCIDR: '10.9.9.0/24' } }, 'merge', { subresource: 'status' });
    expect(n.metadata?.annotations).toEqual({ keep: 'me', 'nodeway.dev/wg-public-key': 'k' });
    expect(n.metadata?.labels).toEqual({ l: 'v' });
    expect((n.spec as { podCIDR: string }).podCIDR).toBe('10.0.0.0/24');

    api.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'i' }] } });
    const p = api.patch('v1', 'pods', 'default', 'p', { metadata: { annotations: { a: 'b' } }, status: { phase: 'Running' } }, 'merge', { subresource: 'status' });
    expect(p.metadata?.annotations).toBeUndefined();
    expect((p.status as { phase: string }).phase).toBe('Running');
  });
});
