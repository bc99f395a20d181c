// When rules really change, seen from outside the agent: `nft monitor` in the bench's network
// namespace prints each committed table change as the kernel announces it; every line is
// stamped on arrival (wall clock, sub-millisecond), so a bench can time an API write to the
// moment its rules are live without trusting the agent's own histogram. Measured limit: nft
// 1.0.6's monitor loads the whole ruleset first and caches every element after; at 10,000
// Services × 10 endpoints it starts slowly and misses changes (27 of 50 seen), so there the
// agent's histogram and the CPU per change say more.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface MonitorLine {
  at: number;
  text: string;
}

export class NftMonitor {
  private readonly proc: ChildProcess;
  readonly lines: MonitorLine[] = [];
  private waiters: (() => void)[] = [];
  /** Set when `nft monitor` ended (a netlink overrun ends it): what it said last. */
  ended: string | undefined;

  constructor() {
    this.proc = spawn('nft', ['monitor'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    this.proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-300)));
    this.proc.once('exit', (code, signal) => {
      this.ended = `nft monitor ended (${signal ?? code}): ${err.trim()}`;
      for (const w of this.waiters.splice(0)) w();
    });
    createInterface({ input: this.proc.stdout! }).on('line', (text) => {
      this.lines.push({ at: performance.timeOrigin + performance.now(), text });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** The first line after `since` (ms epoch) that `match` accepts, or undefined after `timeoutMs`. */
  async first(since: number, match: (text: string) => boolean, timeoutMs: number): Promise<MonitorLine | undefined> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find((l) => l.at >= since && match(l.text));
      if (hit) return hit;
      const left = end - Date.now();
      if (left <= 0 || this.ended) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  /** Forget what was seen (lines are kept only between two measurements). */
  clear(): void {
    this.lines.length = 0;
  }

  stop(): void {
    this.proc.removeAllListeners('exit');
    this.proc.kill();
  }
}
