// The embedded API server in a process of its own, over TLS with a bearer token, as an agent
// meets a real one: its CPU and memory are not the agent's, and the agent's requests cross a
// real TLS socket. Benchmarks and tests drive it over the fork IPC channel. Never imported by
// the agent (the agent's bundle does not include it).
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ApiServerOptions } from '../../testbed/apiserver/index.ts';

export interface ClusterShape {
  services?: number;
  endpointsPerService?: number;
  /** Nodes besides the agent's own (each with a podCIDR, as the mesh reads them). */
  nodes?: number;
  /** Pods spread over the namespace, running, none on the agent's node. */
  pods?: number;
}

export interface ProcessOptions extends Pick<ApiServerOptions, 'bookmarkIntervalMs' | 'omitResources' | 'unpagedLists' | 'historyLimit' | 'serviceCIDRs' | 'http1Only'> {
  tls?: boolean;
  token?: string;
  /** The agent's node (created with an InternalIP and a podCIDR). */
  nodeName: string;
  nodeIP: string;
  shape?: ClusterShape;
}

export interface Stats {
  total: number;
  connections: number;
  /** Bytes the server sent on every connection so far (TLS included). */
  bytesSent: number;
  byRequest: Record<string, number>;
  rssAnonMiB: number;
  resourceVersion: string;
}

type Op =
  | { op: 'stats' }
  | { op: 'endpointChange'; service: number }
  | { op: 'podChange'; pod: number }
  | { op: 'churn'; step: number }
  /** A merge patch of one object; answers the time it was written (ms epoch). */
  | { op: 'patch'; target: { apiVersion: string; kind: string; namespace?: string; name: string }; patch: unknown }
  | { op: 'fault'; resource: string; fault: unknown }
  /** Creates these objects; answers how many failed (and the first error). */
  | { op: 'create'; objects: unknown[] };

export class ApiServerProcess {
  readonly url: string;
  readonly kubeconfig: string;
  private readonly child: ChildProcess;
  private readonly dir: string;
  private seq = 0;
  private readonly waiting = new Map<number, (v: unknown) => void>();

  private constructor(child: ChildProcess, url: string, kubeconfig: string, dir: string) {
    this.child = child;
    this.url = url;
    this.kubeconfig = kubeconfig;
    this.dir = dir;
    child.on('message', (m: { id?: number; result?: unknown }) => {
      if (m.id !== undefined) this.waiting.get(m.id)?.(m.result), this.waiting.delete(m.id);
    });
  }

  static async start(opts: ProcessOptions): Promise<ApiServerProcess> {
    const dir = mkdtempSync(join(process.env.NODEWAY_TEST_TMP ?? tmpdir(), 'nodeway-shp-apiserver-'));
    const tls = opts.tls !== false;
    if (tls) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=nodeway-bench', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    }
    const child = fork(fileURLToPath(new URL('./apiserver-child.ts', import.meta.url)), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, NODEWAY_SHP_DIR: dir, NODEWAY_SHP_OPTS: JSON.stringify({ ...opts, tls }) },
      execArgv: ['--max-old-space-size=4096'],
    });
    const ready = await new Promise<{ url: string; kubeconfig: string }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { url: string; kubeconfig: string }));
      child.once('exit', (code) => reject(new Error(`API server process exited (${code}) before it was ready`)));
    });
    const kc = join(dir, 'kubeconfig');
    writeFileSync(kc, ready.kubeconfig);
    return new ApiServerProcess(child, ready.url, kc, dir);
  }

  call<T = unknown>(op: Op): Promise<T> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve as (v: unknown) => void);
      this.child.send({ id, ...op });
    });
  }

  stats(): Promise<Stats> {
    return this.call<Stats>({ op: 'stats' });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const gone = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function readCert(dir: string): { cert: string; key: string } {
  return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
}
