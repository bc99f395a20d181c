// End-to-end helpers: the bundled agent, free ports, Kubernetes object builders, and `dig` with its output parsed.
import { sleep, waitFor as waitUntil } from '../support/wait.ts';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAgent } from '../support/agent.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NODE = join(ROOT, 'node_modules', 'node', 'bin', 'node');

export { sleep };

/** The agent bundled as the product builds it (modules/index.ts wires the dns module). */
export const buildDnsAgent = buildAgent;

/** A port free for both UDP and TCP on `host`. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const u = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const port = await new Promise<number>((r) => u.bind(0, host, () => r(u.address().port)));
    const ok = await new Promise<boolean>((r) => {
      const t = net.createServer();
      t.once('error', () => r(false));
      t.listen(port, host, () => t.close(() => r(true)));
    });
    u.close();
    if (ok) return port;
  }
  throw new Error('no free port');
}

export function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  return waitUntil(what, fn, timeoutMs, everyMs);
}

export interface DigResult {
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  additional: string[];
  raw: string;
}

/** Parses dig's +comments output into sections; records as "name ttl type data" with single spaces. */
export function parseDig(out: string): DigResult {
  const r: DigResult = { status: '', flags: [], answer: [], authority: [], additional: [], raw: out };
  let section: 'answer' | 'authority' | 'additional' | '' = '';
  for (const line of out.split('\n')) {
    const st = /status: (\w+)/.exec(line);
    if (st && line.includes('->>HEADER<<-')) r.status = st[1]!;
    const fl = /^;; flags: ([^;]*);/.exec(line);
    if (fl) r.flags = fl[1]!.trim().split(/\s+/);
    if (line.startsWith(';; ANSWER SECTION')) section = 'answer';
    else if (line.startsWith(';; AUTHORITY SECTION')) section = 'authority';
    else if (line.startsWith(';; ADDITIONAL SECTION')) section = 'additional';
    else if (line.trim() === '' || line.startsWith(';')) continue;
    else if (section) r[section].push(line.trim().split(/\s+/).filter((_, i) => i !== 2).join(' '));
  }
  return r;
}

/** Runs dig (one try, short timeout) and parses the reply. */
export function dig(server: string, port: number, name: string, type = 'A', extra: string[] = [], ns?: string): Promise<DigResult> {
  const args = [`@${server}`, '-p', String(port), name, type, '+tries=1', '+time=2', '+noall', '+comments', '+answer', '+authority', '+additional', ...extra];
  const [cmd, full] = ns ? ['ip', ['netns', 'exec', ns, 'dig', ...args]] : ['dig', args];
  return new Promise((resolve) => {
    execFile(cmd, full as string[], { timeout: 10_000, maxBuffer: 4 << 20 }, (_err, stdout) => resolve(parseDig(String(stdout))));
  });
}

export function service(name: string, spec: Record<string, unknown>, ns = 'default') {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec };
}

export interface SliceEp {
  ip: string;
  hostname?: string;
  ready?: boolean;
  node?: string;
}

export function slice(svc: string, name: string, eps: SliceEp[], ports: { name: string; protocol?: string; port: number }[], ns = 'default', family: 'IPv4' | 'IPv6' = 'IPv4') {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: family,
    ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      nodeName: e.node ?? 'n1',
      ...(e.hostname ? { hostname: e.hostname } : {}),
      conditions: { ready: e.ready ?? true },
    })),
  };
}
