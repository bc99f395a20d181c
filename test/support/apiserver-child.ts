// The child side of apiserver-process.ts: builds the cluster, serves it, answers IPC calls.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedApiServer, type Fault } from '../../testbed/apiserver/index.ts';
import type { ProcessOptions } from './apiserver-process.ts';

const dir = process.env.NODEWAY_SHP_DIR!;
const opts = JSON.parse(process.env.NODEWAY_SHP_OPTS!) as ProcessOptions & { tls: boolean };
const tls = opts.tls ? { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') } : undefined;
const api = new EmbeddedApiServer({
  tls, token: opts.token, bookmarkIntervalMs: opts.bookmarkIntervalMs, omitResources: opts.omitResources,
  unpagedLists: opts.unpagedLists, historyLimit: opts.historyLimit, serviceCIDRs: opts.serviceCIDRs, http1Only: opts.http1Only,
});

const NS = 'bench';
const shape = { services: 0, endpointsPerService: 10, nodes: 0, pods: 0, ...opts.shape };
/** 198.18.0.0/15 is the lab range: endpoints from 198.19.x (never routed anywhere). */
const epIP = (svc: number, j: number) => `198.19.${(svc * 16 + j) >> 8 & 255}.${(svc * 16 + j) & 255}`;
const ipOf = (n: number) => `198.18.${(n >> 8) & 127}.${n & 255}`;

function node(name: string, ip: string, cidr: string) {
  api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR: cidr, podCIDRs: [cidr] } });
  api.patch('v1', 'nodes', undefined, name, { status: { addresses: [{ type: 'InternalIP', address: ip }], conditions: [{ type: 'Ready', status: 'True' }] } }, 'merge', { subresource: 'status' });
}

function slice(i: number, gen: number) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      name: `svc-${i}-abcde`, namespace: NS, labels: { 'kubernetes.io/service-name': `svc-${i}` },
      // What the EndpointSlice controller stamps; the proxy's programming latency counts from it.
      annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': new Date().toISOString() },
    },
    addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints: Array.from({ length: shape.endpointsPerService }, (_, j) => ({
      addresses: [epIP(i, j)], nodeName: j === 0 ? opts.nodeName : 'other',
      // gen flips the last endpoint's readiness: one endpoint change per call.
      conditions: { ready: j !== shape.endpointsPerService - 1 || gen % 2 === 0 },
    })),
  };
}

function pod(i: number, gen: number) {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${i}`, namespace: NS, labels: { app: `a${i % 50}`, gen: String(gen) } },
    spec: { nodeName: `node-${i % Math.max(1, shape.nodes)}`, containers: [{ name: 'c', image: 'x' }] },
    status: { phase: 'Running', podIP: `198.19.200.${i & 255}`, podIPs: [{ ip: `198.19.200.${i & 255}` }] },
  };
}

api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
node(opts.nodeName, opts.nodeIP, '198.18.128.0/24');
for (let n = 0; n < shape.nodes; n++) node(`node-${n}`, ipOf(n + 2), `198.18.${129 + (n % 100)}.0/24`);
for (let i = 0; i < shape.services; i++) {
  api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: NS }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
  api.create(slice(i, 0));
}
for (let i = 0; i < shape.pods; i++) api.create(pod(i, 0));
// The creates above are history no watcher needs; a fresh agent lists.
api.compact();

const sliceGen = new Map<number, number>();
const podGen = new Map<number, number>();
const bump = (m: Map<number, number>, k: number) => { const g = (m.get(k) ?? 0) + 1; m.set(k, g); return g; };

function rssAnonMiB(): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** One step of steady churn: a slice, a Pod, a Service and (every 10th) a Node change. */
function churn(step: number) {
  const s = step % Math.max(1, shape.services);
  if (shape.services) api.update({ ...slice(s, bump(sliceGen, s)) } as never);
  if (shape.pods) { const p = step % shape.pods; api.delete('v1', 'Pod', NS, `pod-${p}`); api.create(pod(p, bump(podGen, p))); }
  if (shape.services) api.patch('v1', 'Service', NS, `svc-${s}`, { metadata: { annotations: { step: String(step) } }, spec: { ports: [{ name: 'http', port: 80, targetPort: step % 2 ? 8080 : 8081 }] } }, 'merge');
  if (step % 10 === 0 && shape.nodes) api.patch('v1', 'Node', undefined, `node-${step % shape.nodes}`, { metadata: { labels: { step: String(step) } } }, 'merge');
}

process.on('message', (m: { id: number; op: string; service?: number; pod?: number; step?: number; resource?: string; fault?: Fault; objects?: unknown[]; target?: { apiVersion: string; kind: string; namespace?: string; name: string }; patch?: unknown }) => {
  let result: unknown;
  switch (m.op) {
    case 'stats':
      result = { ...api.requests.snapshot(), rssAnonMiB: rssAnonMiB(), resourceVersion: api.resourceVersion };
      break;
    case 'endpointChange':
      api.update(slice(m.service!, bump(sliceGen, m.service!)) as never);
      result = Date.now();
      break;
    case 'podChange': {
      const g = bump(podGen, m.pod!);
      api.patch('v1', 'Pod', NS, `pod-${m.pod}`, { metadata: { labels: { gen: String(g) } } }, 'merge');
      result = Date.now();
      break;
    }
    case 'patch':
      // A merge patch of any object; answers when it was written (ms epoch).
      api.patch(m.target!.apiVersion, m.target!.kind, m.target!.namespace, m.target!.name, m.patch, 'merge');
      result = Date.now();
      break;
    case 'churn':
      churn(m.step!);
      result = true;
      break;
    case 'create': {
      let failed = 0;
      let first = '';
      for (const o of m.objects!) {
        try {
          api.create(o as never);
        } catch (err) {
          failed++;
          first ||= String((err as Error).message);
        }
      }
      result = { failed, first };
      break;
    }
    case 'fault':
      api.injectFaults(m.fault ? (r) => (r.resource === m.resource ? m.fault : undefined) : undefined);
      result = true;
      break;
  }
  process.send!({ id: m.id, result });
});
process.on('SIGTERM', () => void api.stop().then(() => process.exit(0)));

const url = await api.start();
process.send!({ url, kubeconfig: api.kubeconfig() });
