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
