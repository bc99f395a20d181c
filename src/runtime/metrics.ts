// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the
// text exposition format. Small on purpose: prom-client costs more memory than nodeway's cache.
import { readdirSync, readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return keys.map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',');
}

function fmt(name: string, key: string, extra = ''): string {
  const inner = [key, extra].filter(Boolean).join(',');
  return inner ? `${name}{${inner}}` : name;
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

export interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

export class Counter implements Metric {
  readonly type = 'counter';
  private readonly values = new Map<string, number>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    return [...this.values].map(([k, v]) => `${fmt(this.name, k)} ${num(v)}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge';
  private readonly values = new Map<string, number>();
  private collector: (() => void) | undefined;
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string, collect?: (g: Gauge) => void) {
    this.name = name;
    this.help = help;
    this.collector = collect ? () => collect(this) : undefined;
  }
  set(labels: Labels, v: number): void {
    this.values.set(labelKey(labels), v);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  /** Forget every series, e.g. before a collector re-fills them. */
  reset(): void {
    this.values.clear();
  }
  render(): string[] {
    this.collector?.();
    return [...this.values].map(([k, v]) => `${fmt(this.name, k)} ${num(v)}`);
  }
}

/** How long a scrape waits for its hooks. */
export const SCRAPE_HOOK_MS = 2_000;

export const DURATION_BUCKETS = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384];

export class Histogram implements Metric {
  readonly type = 'histogram';
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  readonly name: string;
  readonly help: string;
  readonly buckets: number[];
  constructor(name: string, help: string, buckets: number[] = DURATION_BUCKETS) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }
  observe(labels: Labels, v: number): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }
  count(labels: Labels = {}): number {
    return this.series.get(labelKey(labels))?.count ?? 0;
  }
  render(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.series) {
      this.buckets.forEach((b, i) => out.push(`${fmt(`${this.name}_bucket`, k, `le="${b}"`)} ${s.counts[i]}`));
      out.push(`${fmt(`${this.name}_bucket`, k, 'le="+Inf"')} ${s.count}`);
      out.push(`${fmt(`${this.name}_sum`, k)} ${s.sum}`);
      out.push(`${fmt(`${this.name}_count`, k)} ${s.count}`);
    }
    return out;
  }
}

export class Registry {
  private readonly metrics = new Map<string, Metric>();
  private readonly hooks = new Set<() => Promise<void>>();

  /**
   * Work before each scrape renders, such as reading kernel counters (a module's own cache
   * keeps it cheap); returns the function that removes it. A hook that fails or takes more
   * than SCRAPE_HOOK_MS is not waited for: the scrape renders what the metrics hold.
   */
  beforeScrape(fn: () => Promise<void>): () => void {
    this.hooks.add(fn);
    return () => void this.hooks.delete(fn);
  }

  /** The exposition text after the scrape hooks ran (what /metrics serves). */
  async scrape(): Promise<string> {
    if (this.hooks.size) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => (timer = setTimeout(r, SCRAPE_HOOK_MS)));
      await Promise.race([Promise.allSettled([...this.hooks].map((h) => h())), late]);
      clearTimeout(timer);
    }
    return this.render();
  }

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string, collect?: (g: Gauge) => void): Gauge {
    return this.add(new Gauge(name, help, collect));
  }
  histogram(name: string, help: string, buckets?: number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  /** A metric kept in its own form (e.g. typed arrays on a hot path) and rendered on scrape. */
  register<M extends Metric>(m: M): M {
    return this.add(m);
  }

  render(): string {
    const lines: string[] = [];
    for (const m of this.metrics.values()) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render());
    }
    return `${lines.join('\n')}\n`;
  }

  /** Registering a name twice returns the first metric, so modules restarted in-process share series. */
  private add<M extends Metric>(m: M): M {
    const existing = this.metrics.get(m.name);
    if (existing) {
      if (existing.type !== m.type) throw new Error(`metric ${m.name} registered as ${existing.type} and ${m.type}`);
      return existing as M;
    }
    this.metrics.set(m.name, m);
    return m;
  }
}

/** Linux's clock ticks per second, which /proc/PID/stat counts CPU time in (USER_HZ, 100 everywhere Linux runs). */
const USER_HZ = 100;
const PAGE = 4096;

/**
 * The process_* metrics every Prometheus client exports (dashboards' CPU and memory panels use
 * them, kube-proxy's and CoreDNS's alike), from /proc/self, read at scrape time.
 */
export function registerProcessMetrics(reg: Registry, now: () => number = Date.now): void {
  const stat = () => {
    // Fields after the command name (which may hold spaces), see proc(5).
    try {
      const s = readFileSync('/proc/self/stat', 'utf8');
      return s.slice(s.lastIndexOf(')') + 2).split(' ');
    } catch {
      return undefined;
    }
  };
  reg.register({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    type: 'counter',
    render: () => {
      const f = stat();
      return f ? [`process_cpu_seconds_total ${(Number(f[11]) + Number(f[12])) / USER_HZ}`] : [];
    },
  });
  reg.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', (g) => {
    const f = stat();
    if (f) g.set({}, Number(f[21]) * PAGE);
  });
  reg.gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.', (g) => {
    const f = stat();
    if (f) g.set({}, Number(f[20]));
  });
  const start = now() / 1000 - process.uptime();
  reg.gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', (g) => g.set({}, Math.round(start)));
  reg.gauge('process_open_fds', 'Number of open file descriptors.', (g) => {
    try {
      g.set({}, readdirSync('/proc/self/fd').length - 1); // less the one readdir itself opened
    } catch {}
  });
  // Node.js's own, as prom-client names them: where the resident memory goes (the V8 heap by
  // space, code included, against external and malloc'd memory).
  reg.gauge('nodejs_heap_space_size_total_bytes', 'Process heap space size total from Node.js in bytes.', (g) => {
    for (const s of getHeapSpaceStatistics()) g.set({ space: s.space_name.replace(/_space$/, '') }, s.space_size);
  });
  reg.gauge('nodejs_heap_space_size_used_bytes', 'Process heap space size used from Node.js in bytes.', (g) => {
    for (const s of getHeapSpaceStatistics()) g.set({ space: s.space_name.replace(/_space$/, '') }, s.space_used_size);
  });
  reg.gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', (g) => g.set({}, process.memoryUsage().external));
  reg.gauge('process_max_fds', 'Maximum number of open file descriptors.', (g) => {
    try {
      const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
      if (m) g.set({}, Number(m[1]));
    } catch {}
  });
}

/** nodeway_build_info: 1, labelled with the version and the runtime (as *_build_info everywhere). */
export function registerBuildInfo(reg: Registry, version: string): void {
  reg.gauge('nodeway_build_info', 'A metric with a constant 1 value labelled by the nodeway version and Node.js version it runs on.')
    .set({ version, nodeversion: process.version, arch: process.arch }, 1);
}
