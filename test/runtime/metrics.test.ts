import { describe, expect, it } from 'vitest';
import { Registry } from '../../src/runtime/metrics.ts';

describe('Registry', () => {
  it('renders counters, gauges and histograms in Prometheus text format', () => {
    const r = new Registry();
    r.counter('x_total', 'X.').inc({ kind: 'a"b' }, 2);
    r.gauge('g', 'G.', (g) => g.set({}, 7));
    const h = r.histogram('d_seconds', 'D.', [0.1, 1]);
    h.observe({ m: 'p' }, 0.05);
    h.observe({ m: 'p' }, 0.5);
    const text = r.render();
    expect(text).toContain('# TYPE x_total counter\nx_total{kind="a\\"b"} 2');
    expect(text).toContain('# TYPE g gauge\ng 7');
    expect(text).toContain('d_seconds_bucket{m="p",le="0.1"} 1');
    expect(text).toContain('d_seconds_bucket{m="p",le="1"} 2');
    expect(text).toContain('d_seconds_bucket{m="p",le="+Inf"} 2');
    expect(text).toContain('d_seconds_count{m="p"} 2');
  });

  it('returns the same metric for the same name, refuses a type clash', () => {
    const r = new Registry();
    expect(r.counter('c', 'C.')).toBe(r.counter('c', 'C.'));
    expect(() => r.gauge('c', 'C.')).toThrowError(/registered as counter and gauge/);
  });
});

describe('process and build metrics', () => {
  it('exports process_* from /proc/self and nodeway_build_info, as Prometheus clients do', async () => {
    const { registerBuildInfo, registerProcessMetrics } = await import('../../src/runtime/metrics.ts');
    const r = new Registry();
    registerProcessMetrics(r);
    registerBuildInfo(r, '9.8.7');
    const text = r.render();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
    // Within 20% of what Node.js itself reports for the same process.
    const rss = value('process_resident_memory_bytes');
    expect(Math.abs(rss - process.memoryUsage.rss()) / rss).toBeLessThan(0.2);
    expect(value('process_virtual_memory_bytes')).toBeGreaterThan(rss);
    expect(Math.abs(value('process_start_time_seconds') - (Date.now() / 1000 - process.uptime()))).toBeLessThan(2);
    expect(value('process_open_fds')).toBeGreaterThan(2);
    expect(value('process_max_fds')).toBeGreaterThanOrEqual(value('process_open_fds'));
    // The V8 heap by space, within the resident memory, and the external memory beside it.
    const space = (m: string, sp: string) => Number(new RegExp(`^${m}\\{space="${sp}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    for (const sp of ['new', 'old', 'code']) expect(space('nodejs_heap_space_size_used_bytes', sp)).toBeLessThanOrEqual(space('nodejs_heap_space_size_total_bytes', sp));
    expect(space('nodejs_heap_space_size_used_bytes', 'old')).toBeGreaterThan(0);
    expect(space('nodejs_heap_space_size_total_bytes', 'old')).toBeLessThan(rss);
    expect(value('nodejs_external_memory_bytes')).toBeGreaterThan(0);
    expect(text).toMatch(new RegExp(`^nodeway_build_info\\{arch="${process.arch}",nodeversion="${process.version}",version="9.8.7"\\} 1$`, 'm'));
  });
});

describe('Registry scrape hooks', () => {
  it('a scrape runs the hooks first (a module reading kernel counters); a removed hook no longer runs; a failing one does not fail the scrape', async () => {
    const r = new Registry();
    const g = r.gauge('drops', 'D.');
    let n = 0;
    const off = r.beforeScrape(async () => {
      await new Promise((res) => setTimeout(res, 10));
      g.set({}, ++n);
    });
    r.beforeScrape(async () => {
      throw new Error('nft gone');
    });
    expect(await r.scrape()).toMatch(/^drops 1$/m);
    expect(await r.scrape()).toMatch(/^drops 2$/m);
    off();
    expect(await r.scrape()).toMatch(/^drops 2$/m);
  });
});
