import { execa, type ResultPromise } from 'execa';

const MAX_LINES = 10_000;

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Mirror every output line here (e.g. to show a demo's workloads). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface ExitInfo {
  exitCode: number | undefined;
  signal: string | undefined;
}

interface Waiter {
  re: RegExp;
  resolve: (m: RegExpMatchArray) => void;
  reject: (e: Error) => void;
}

/** A long-running command inside a namespace, with its output kept for assertions. */
export class LabProcess {
  readonly ns: string;
  readonly command: string;
  readonly pid: number;
  readonly lines: string[] = [];
  private readonly child: ResultPromise;
  private readonly done: Promise<ExitInfo>;
  private exit: ExitInfo | undefined;
  private waiters = new Set<Waiter>();

  constructor(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}) {
    this.ns = ns;
    this.command = [cmd, ...args].join(' ');
    // stdin stays an open pipe: workloads started with --exit-with-stdin die
    // with us even when we are SIGKILLed and no cleanup code runs.
    this.child = execa('ip', ['netns', 'exec', ns, cmd, ...args], {
      reject: false,
      buffer: false,
      stdin: 'pipe',
      env: opts.env,
      cleanup: true,
    });
    if (this.child.pid === undefined) throw new Error(`could not start ${this.command} in ${ns}`);
    this.pid = this.child.pid;
    for (const stream of ['stdout', 'stderr'] as const) {
      let partial = '';
      this.child[stream]?.setEncoding('utf8');
      this.child[stream]?.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) this.push(line, stream, opts.onLine);
      });
      this.child[stream]?.on('end', () => {
        if (partial) this.push(partial, stream, opts.onLine);
        partial = '';
      });
    }
    this.child.stdin?.on('error', () => {});
    this.done = this.child.then((r) => {
      this.exit = { exitCode: r.exitCode, signal: r.signal };
      for (const w of this.waiters) w.reject(new Error(`${this.describe()} exited before printing ${w.re}${this.tail()}`));
      this.waiters.clear();
      return this.exit;
    });
  }

  get output(): string {
    return this.lines.join('\n');
  }

  get exited(): boolean {
    return this.exit !== undefined;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.exit;
  }

  wait(): Promise<ExitInfo> {
    return this.done;
  }

  /** Resolves with the first line (already printed or still to come) matching re. */
  waitForLine(re: RegExp, timeoutMs = 5_000): Promise<RegExpMatchArray> {
    for (const line of this.lines) {
      const m = line.match(re);
      if (m) return Promise.resolve(m);
    }
    if (this.exit) return Promise.reject(new Error(`${this.describe()} exited before printing ${re}${this.tail()}`));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`${this.describe()} printed no line matching ${re} within ${timeoutMs} ms${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
  async stop(graceMs = 1_000): Promise<ExitInfo> {
    if (this.exit) return this.exit;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.done;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Synchronous last resort for process exit handlers. */
  killNow(): void {
    if (!this.exit) this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch {
      // already gone
    }
  }

  private push(line: string, stream: 'stdout' | 'stderr', onLine: SpawnOptions['onLine']): void {
    if (this.lines.length >= MAX_LINES) this.lines.shift();
    this.lines.push(line);
    try {
      onLine?.(line, stream);
    } catch {
      // a faulty observer must not break output capture
    }
    for (const w of this.waiters) {
      const m = line.match(w.re);
      if (m) {
        this.waiters.delete(w);
        w.resolve(m);
      }
    }
  }

  private describe(): string {
    return `[${this.ns}] ${this.command}`;
  }

  private tail(): string {
    const t = this.lines.slice(-20).join('\n');
    return t ? `; last output:\n${t}` : '';
  }
}
