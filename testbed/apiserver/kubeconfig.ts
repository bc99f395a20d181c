import { stringify } from 'yaml';

export interface KubeconfigParams {
  server: string;
  user?: string;
  token?: string;
  caPem?: string;
}

/** A kubeconfig with one cluster, user and context, all named after this server. */
export function renderKubeconfig(p: KubeconfigParams): string {
  const userName = p.user ?? 'admin';
  const cluster: Record<string, string | boolean> = { server: p.server };
  if (p.caPem) cluster['certificate-authority-data'] = Buffer.from(p.caPem).toString('base64');
  // @kubernetes/client-node refuses plain http unless told that TLS is knowingly off.
  if (p.server.startsWith('http:')) cluster['insecure-skip-tls-verify'] = true;
  const user: Record<string, string> = {};
  if (p.token) user.token = p.token;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'nodeway', cluster }],
    users: [{ name: userName, user }],
    contexts: [{ name: 'nodeway', context: { cluster: 'nodeway', user: userName, namespace: 'default' } }],
    'current-context': 'nodeway',
    preferences: {},
  });
}
