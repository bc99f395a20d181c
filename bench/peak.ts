// The agent's memory peak as a pod's memory limit would meet it. Two views:
// - RssAnon of the agent and of its live descendants (nft, ip, wg runs, wireguard-go), summed,
//   sampled every SAMPLE_MS from /proc: what a limit counts and cannot reclaim. VmHWM is beside it
//   for comparison (it counts file-backed pages too: the node binary's text, mapped files).
// - a memory cgroup of its own (v2 memory.peak where the machine has a v2 memory controller,
//   else v1 memory.max_usage_in_bytes), which the agent and every child it starts are in, as in a
//   pod. It counts page cache too (reclaimable before an OOM kill), so the sampled anon peak is the
//   figure to hold against the limit; NODEWAY_BENCH_MEMLIMIT=256M sets the cgroup's limit to see
//   whether the kernel would OOM-kill it (the failures and kills are reported).
// NODEWAY_BENCH_PEAK_TRACE=FILE appends every sample (ms since start, the agent's RssAnon, each live
// descendant's) to FILE, to line up with the agent's --trace-gc or logs.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { status } from './agent-harness.ts';

const SAMPLE_MS = Number(process.env.NODEWAY_BENCH_PEAK_MS ?? 20);
const TRACE = process.env.NODEWAY_BENCH_PEAK_TRACE;

/** A /proc/PID/status field in KiB; 0 when the process is gone. */
const statusKiB = (pid: number, field: string): number => status(pid, field) * 1024 || 0;

function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
      } catch {}
    }
  } catch {}
  return out;
}

export interface Peak {
  /** MiB: the highest sum of RssAnon over the agent and its live descendants in one sample. */
  tree: number;
  /** MiB: the agent's own highest RssAnon. */
  agent: number;
  /** MiB: the biggest descendant seen at that moment of the tree's peak (its RssAnon), named. */
  childAtPeak: string;
  /** MiB: the agent's VmHWM (peak resident, file-backed pages included). */
  hwm: number;
  /** Seconds since the sampler started, when the tree's peak was seen. */
  atS: number;
  samples: number;
}

/** Samples the agent's tree every SAMPLE_MS until stop(). */
export class PeakSampler {
  private readonly t0 = performance.now();
  private readonly timer: NodeJS.Timeout;
  private p: Peak = { tree: 0, agent: 0, childAtPeak: 'none', hwm: 0, atS: 0, samples: 0 };
  private readonly pid: number;
  constructor(pid: number) {
    this.pid = pid;
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.sample();
  }

  private sample(): void {
    const own = statusKiB(this.pid, 'RssAnon');
    if (!own) return;
    let sum = own;
    let big = { name: 'none', kib: 0 };
    const todo = children(this.pid);
    const line: string[] = [];
    const self = exe(this.pid);
    for (let i = 0; i < todo.length; i++) {
      const c = todo[i]!;
      // A child forked but not yet exec'd shares the agent's pages (copy-on-write): its RssAnon
      // counts them again, a cgroup does not.
      if (exe(c) === self) continue;
      const kib = statusKiB(c, 'RssAnon');
      sum += kib;
      if (TRACE) line.push(`${comm(c)}=${(kib / 1024).toFixed(1)}`);
      if (kib > big.kib) big = { name: comm(c), kib };
      todo.push(...children(c));
    }
    this.p.samples++;
    if (TRACE) appendFileSync(TRACE, `${Math.round(performance.now() - this.t0)} ${(own / 1024).toFixed(1)} ${line.join(' ')}\n`);
    this.p.agent = Math.max(this.p.agent, own / 1024);
    if (sum / 1024 > this.p.tree) {
      this.p.tree = sum / 1024;
      this.p.childAtPeak = big.kib ? `${big.name} ${(big.kib / 1024).toFixed(1)} MiB` : 'none';
      this.p.atS = (performance.now() - this.t0) / 1000;
    }
    this.p.hwm = Math.max(this.p.hwm, statusKiB(this.pid, 'VmHWM') / 1024);
  }

  /** The peak so far (sampling goes on). */
  now(): Peak {
    this.sample();
    return { ...this.p };
  }

  stop(): Peak {
    clearInterval(this.timer);
    return { ...this.p };
  }
}

function exe(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '?';
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** A memory cgroup of the bench's own; null when the machine offers none we can make. */
export class MemCgroup {
  readonly dir: string;
  readonly v2: boolean;
  private constructor(dir: string, v2: boolean) {
    this.dir = dir;
    this.v2 = v2;
  }

  static create(name: string): MemCgroup | null {
    const v2root = '/sys/fs/cgroup';
    const v2 = existsSync(`${v2root}/cgroup.controllers`) && readFileSync(`${v2root}/cgroup.controllers`, 'utf8').split(/\s+/).includes('memory');
    const base = v2 ? v2root : '/sys/fs/cgroup/memory';
    if (!v2 && !existsSync(`${base}/memory.max_usage_in_bytes`)) return null;
    const dir = `${base}/${name}`;
    try {
      mkdirSync(dir);
    } catch {
      return null;
    }
    const cg = new MemCgroup(dir, v2);
    const limit = process.env.NODEWAY_BENCH_MEMLIMIT;
    if (limit) writeFileSync(`${dir}/${v2 ? 'memory.max' : 'memory.limit_in_bytes'}`, limit);
    return cg;
  }

  /** `sh -c` prefix that moves the shell into the cgroup before it execs the agent. */
  enter(): string {
    return `echo $$ > ${this.dir}/cgroup.procs && exec "$@"`;
  }

  private read(file: string): string {
    try {
      return readFileSync(`${this.dir}/${file}`, 'utf8');
    } catch {
      return '';
    }
  }

  /** Peak charge (MiB), the current anon and file charge, and limit hits / OOM kills. */
  figures(): { peak: number; anon: number; file: number; failcnt: number; oomKills: number } {
    const num = (k: string, text: string) => Number(new RegExp(`^${k} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    const s = this.read('memory.stat');
    const M = 1048576;
    if (this.v2) {
      const ev = this.read('memory.events');
      return { peak: Number(this.read('memory.peak')) / M, anon: num('anon', s) / M, file: num('file', s) / M, failcnt: num('max', ev), oomKills: num('oom_kill', ev) };
    }
    return { peak: Number(this.read('memory.max_usage_in_bytes')) / M, anon: num('total_rss', s) / M, file: num('total_cache', s) / M, failcnt: Number(this.read('memory.failcnt')), oomKills: num('oom_kill', this.read('memory.oom_control')) };
  }

  /** Starts a new peak window (v1: max_usage reset; v2: memory.peak is reset by a write on 6.12+). */
  resetPeak(): void {
    try {
      writeFileSync(`${this.dir}/${this.v2 ? 'memory.peak' : 'memory.max_usage_in_bytes'}`, this.v2 ? 'reset' : '0');
    } catch {}
  }

  /** Removes the cgroup once its processes are gone (retries: exits are reaped asynchronously). */
  async remove(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(this.dir);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    console.error(`could not remove ${this.dir}`);
  }
}

export const fmtPeak = (p: Peak) => `RssAnon agent + children ${p.tree.toFixed(1)} MiB at ${p.atS.toFixed(1)} s (largest child then: ${p.childAtPeak}); agent alone ${p.agent.toFixed(1)} MiB; VmHWM ${p.hwm.toFixed(1)} MiB; ${p.samples} samples every ${SAMPLE_MS} ms`;
