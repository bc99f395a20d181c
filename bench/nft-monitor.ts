// When rules really change, seen from outside the agent: `nft monitor` in the bench's network
// namespace prints each committed table change as the kernel announces it; every line is
// stamped on arrival (wall clock, sub-millisecond), so a bench can time an API write to the
// moment its rules are live without trusting the agent's own histogram.
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

  constructor() {
    this.proc = spawn('nft', ['monitor'], { stdio: ['ignore', 'pipe', 'inherit'] });
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
      if (left <= 0) return undefined;
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
    this.proc.kill();
  }
}
