// CI's short soak: bench/soak.ts for 3 minutes (the shipped agent, DaemonSet config, steady
// Service / slice / Pod / Node churn against an API server in its own process). Fails when
// the median RssAnon over the last minute is more than 10 % above that over minute 1–2.
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('soak (3 min)', () => {
  it('RssAnon stays flat under steady churn', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['bench/soak.ts', '3', '5', '500', '--json'], { timeout: 360_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr.slice(-2000)}`)) : resolve(stdout)));
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { steps: number; rssAtReference: number; rssAtEnd: number; growth: number };
    // 3 min at 5 steps/s; fewer only if the machine stalled the harness itself.
    expect(r.steps).toBeGreaterThan(600);
    expect(r.rssAtReference).toBeGreaterThan(5);
    expect(r.growth, `RssAnon ${r.rssAtReference.toFixed(1)} → ${r.rssAtEnd.toFixed(1)} MiB`).toBeLessThanOrEqual(0.1);
  }, 420_000);
});
