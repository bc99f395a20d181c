// The whole-agent lab for the end-to-end suite: the `nodeway lab` cluster (testbed/lab/demo.ts),
// dual-stack, under names of this run, plus what a failing test needs to see.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningLab, startLab } from '../../testbed/lab/demo.ts';
import type { PathResult } from '../../testbed/lab/paths.ts';
import { problems, summary } from '../../testbed/lab/paths.ts';

export interface WholeLab extends RunningLab {
  dir: string;
}

export async function startWholeLab(): Promise<WholeLab> {
  const dir = mkdtempSync(join(process.env.NODEWAY_TEST_TMP ?? tmpdir(), 'nodeway-whole-'));
  // UAPI sockets live in one directory for every namespace: names of this run only.
  const wgPrefix = `nwwa${process.pid % 100_000}-`;
  const steps: string[] = [];
  try {
    const lab = await startLab(dir, (e) => steps.push(`${e.status} ${e.step}${'detail' in e && e.detail ? `: ${e.detail}` : ''}`), { ipv6: true, prefix: 'whole', wgPrefix, skipPaths: true, forwardDrop: true });
    return { ...lab, dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${String((err as Error).message)}\n${steps.join('\n')}`);
  }
}

export async function stopWholeLab(l: WholeLab | undefined): Promise<void> {
  if (!l) return;
  await l.stop();
  rmSync(l.dir, { recursive: true, force: true });
}

/** Per path: "IPv4 pod on node-1 → ClusterIP TCP: 72/72 answered, by all 6 pods, backend saw …". */
export function report(results: PathResult[]): string {
  return results.map((r) => `IPv${r.spec.family} ${r.spec.from} → ${r.spec.to}: ${summary(r)}${problems(r).length ? `  ✗ ${problems(r).join('; ')}` : ''}`).join('\n');
}

/** Rules, routes, addresses and the agents' last log lines of every node. */
export async function diag(l: WholeLab): Promise<string> {
  const out: string[] = [];
  for (const [i, n] of l.cluster.lab.nodes.entries()) {
    for (const c of [['ip', 'addr'], ['ip', 'route'], ['ip', '-6', 'route'], ['wg', 'show', l.ifaces[i]!], ['nft', 'list', 'ruleset'], ['conntrack', '-L']]) {
      const r = await l.cluster.lab.exec(n, c[0]!, c.slice(1));
      out.push(`== ${n.name}: ${c.join(' ')}\n${r.stdout}${r.stderr}`);
    }
  }
  for (const ns of [l.world.client.ns, ...l.world.echo.map((e) => e.ns)]) {
    const r = await l.cluster.lab.exec(ns, 'ip', ['neigh']);
    out.push(`== ${ns}: ip neigh\n${r.stdout}${r.stderr}`);
  }
  for (const p of l.cluster.lab.runningProcesses) if (p.lines.some((x) => x.includes('"module"'))) out.push(`== agent log tail\n${p.lines.slice(-20).join('\n')}`);
  return out.join('\n');
}
