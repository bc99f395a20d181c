// `nodeway lab` up / serve / down / status. The lab outlives the command that starts it: a
// detached `nodeway lab serve` holds the API server, the agents and the namespaces, and
// reports progress through a file the foreground command follows.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupStaleLabs, isAlive } from './cleanup.ts';
import { type LabFacts, type ProgressEvent, startLab } from './demo.ts';
import { labPrerequisites } from './prereqs.ts';
import { nsExec } from './run.ts';

export const DEFAULT_LAB_DIR = '/run/nodeway-lab';

const files = (dir: string) => ({
  pid: join(dir, 'pid'),
  progress: join(dir, 'progress.jsonl'),
  facts: join(dir, 'facts.json'),
  log: join(dir, 'serve.log'),
});

const alive = isAlive;

function runningPid(dir: string): number | undefined {
  const f = files(dir).pid;
  if (!existsSync(f)) return undefined;
  const pid = Number(readFileSync(f, 'utf8'));
  return pid > 0 && alive(pid) ? pid : undefined;
}

type Line = ProgressEvent | { status: 'ready' } | { status: 'failed'; detail: string };

/** The detached half: builds the lab, reports, then holds it until SIGTERM. */
export async function labServe(dir: string): Promise<void> {
  const f = files(dir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(f.pid, String(process.pid));
  const report = (l: Line) => appendFileSync(f.progress, `${JSON.stringify(l)}\n`);
  let lab;
  try {
    lab = await startLab(dir, report);
  } catch (err) {
    report({ status: 'failed', detail: String((err as Error)?.message ?? err).split('\n')[0]! });
    process.exit(1);
  }
  writeFileSync(f.facts, JSON.stringify(lab.facts, null, 2));
  report({ status: 'ready' });
  const stop = async () => {
    await lab.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  // Never resolves: the caller (cmd/nodeway-lab.ts) exits with the returned code, which would
  // tear the lab down at once; only SIGTERM/SIGINT (stop above) end it.
  await new Promise<never>(() => setInterval(() => {}, 1 << 30));
}

export interface Out {
  line(s: string): void;
}

/**
 * The lines of a file another process appends to. A reader can see an append half done (the lab
 * test once parsed a progress line cut at 211 bytes), so a line counts once its newline is there.
 */
export function completeLines(text: string): string[] {
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean);
}

/** The foreground half: starts `lab serve`, shows its progress, prints what was proved. */
export async function labUp(dir: string, nodewayBin: string, out: Out): Promise<number> {
  if (process.getuid?.() !== 0) {
    out.line('nodeway lab needs root (network namespaces, nftables, WireGuard).');
    return 2;
  }
  const missing = labPrerequisites();
  if (missing) {
    out.line(missing);
    return 2;
  }
  if (runningPid(dir)) {
    out.line(`a lab is already running (state in ${dir}); showing it — \`nodeway lab down\` removes it.`);
    return labStatus(dir, out);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const f = files(dir);
  await cleanupStaleLabs();
  const log = openSync(f.log, 'a');
  const child = spawn(nodewayBin, ['lab', 'serve', '--lab-dir', dir], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  out.line(`nodeway lab: building a three-node cluster in network namespaces (log: ${f.log})`);
  let seen = 0;
  const started = Date.now();
  for (;;) {
    const lines = completeLines(existsSync(f.progress) ? readFileSync(f.progress, 'utf8') : '');
    for (const raw of lines.slice(seen)) {
      const l = JSON.parse(raw) as Line;
      const secs = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
      if ('step' in l) {
        if (l.status === 'start') out.line(`${secs}s  …  ${l.step}`);
        else if (l.status === 'ok') out.line(`${secs}s  ✓  ${l.step}${l.detail ? ` — ${l.detail}` : ''}`);
        else out.line(`${secs}s  ✗  ${l.step} — ${l.detail}`);
      } else if (l.status === 'ready') {
        printFacts(JSON.parse(readFileSync(f.facts, 'utf8')) as LabFacts, out);
        return 0;
      } else {
        out.line(`the lab failed: ${l.detail} (details: ${f.log}); everything it built was removed`);
        return 1;
      }
    }
    seen = lines.length;
    if (child.exitCode !== null || (child.pid && !alive(child.pid))) {
      out.line(`the lab process exited early; see ${f.log}`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function printFacts(facts: LabFacts, out: Out): void {
  out.line('');
  out.line('It works:');
  for (const c of facts.checks) out.line(`  ${c.what}  →  ${c.result}`);
  out.line('');
  out.line('Nodes:');
  for (const n of facts.nodes) out.line(`  ${n.name.padEnd(8)} ${n.ip.padEnd(14)} pods ${n.podCIDR.padEnd(18)} netns ${n.ns}`);
  out.line(`  outside  ${facts.outside.ip.padEnd(14)} (a host that is not a node)   netns ${facts.outside.ns}`);
  out.line('Services:');
  for (const s of facts.services) out.line(`  ${s.name.padEnd(24)} ${s.clusterIP}${s.nodePort ? `  NodePort ${s.nodePort}` : ''}`);
  out.line('');
  out.line(`kubectl works against it:  export KUBECONFIG=${facts.kubeconfig}`);
  out.line('  kubectl get nodes,svc,endpointslices -A');
  out.line('  kubectl create service clusterip web --tcp=80:8080 && kubectl patch svc web -p \'{"spec":{"selector":{"app":"echo"}}}\'');
  out.line(`  ip netns exec ${facts.nodes[0]?.ns} nft list ruleset     # what the proxy programmed`);
  out.line('nodeway lab status   shows nodes, peers, services and endpoints per node');
  out.line('nodeway lab down     removes everything');
}

/** Stops `lab serve` (which tears down its namespaces) and removes leftovers. */
export async function labDown(dir: string, out: Out): Promise<number> {
  const pid = runningPid(dir);
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const end = Date.now() + 30_000;
    while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  const stale = await cleanupStaleLabs();
  rmSync(dir, { recursive: true, force: true });
  out.line(pid ? `lab stopped and removed${stale.length ? ` (${stale.length} leftover namespaces too)` : ''}` : `no lab was running${stale.length ? `; removed ${stale.length} leftover namespaces` : ''}`);
  return 0;
}

interface Raw { metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: any; endpoints?: any[] }

/** Nodes, WireGuard peers, Services and their endpoints, as each node sees them. */
export async function labStatus(dir: string, out: Out): Promise<number> {
  const f = files(dir);
  if (!runningPid(dir) || !existsSync(f.facts)) {
    out.line('no lab is running (start one with `nodeway lab`)');
    return 1;
  }
  const facts = JSON.parse(readFileSync(f.facts, 'utf8')) as LabFacts;
  const get = async (path: string) => ((await (await fetch(facts.apiserver + path)).json()) as { items: Raw[] }).items;
  const [nodes, services, slices] = await Promise.all([get('/api/v1/nodes'), get('/api/v1/services'), get('/apis/discovery.k8s.io/v1/endpointslices')]);
  out.line('Nodes (from the API server):');
  for (const n of nodes) {
    const key = n.metadata.annotations?.['nodeway.dev/wg-public-key'] ?? '';
    out.line(`  ${n.metadata.name.padEnd(8)} podCIDRs ${(n.spec?.podCIDRs ?? []).join(',').padEnd(18)} wg key ${key ? `${key.slice(0, 10)}…` : '(none yet)'}`);
  }
  out.line('Per node (from inside each node):');
  for (const [i, n] of facts.nodes.entries()) {
    const wg = await nsExec(n.ns, 'wg', ['show', n.iface ?? `nwlab${i + 1}`, 'dump'], { timeoutMs: 5000 });
    const peers = wg.stdout.trim().split('\n').slice(1).filter(Boolean).map((l) => l.split('\t'));
    const now = Date.now() / 1000;
    const peerText = peers.map((p) => `${p[3] ?? '?'} (${p[4] && p[4] !== '0' ? `handshake ${Math.round(now - Number(p[4]))}s ago` : 'no handshake yet'})`).join('; ');
    const tables = await nsExec(n.ns, 'nft', ['list', 'tables'], { timeoutMs: 5000 });
    out.line(`  ${n.name}: peers ${peers.length}: ${peerText || '-'}`);
    out.line(`  ${' '.repeat(n.name.length)}  nft tables: ${tables.stdout.trim().split('\n').map((t) => t.replace(/^table /, '')).join(', ')}`);
  }
  out.line('Services and endpoints:');
  for (const s of services) {
    const eps = slices.filter((x) => x.metadata.namespace === s.metadata.namespace && (x as any).metadata.labels?.['kubernetes.io/service-name'] === s.metadata.name)
      .flatMap((x) => (x.endpoints ?? []).map((e: any) => `${e.addresses[0]}@${e.nodeName ?? '?'}${e.conditions?.ready === false ? '(not ready)' : ''}`));
    const ports = (s.spec?.ports ?? []).map((p: any) => `${p.port}/${p.protocol}${p.nodePort ? `→${p.nodePort}` : ''}`).join(',');
    out.line(`  ${`${s.metadata.namespace}/${s.metadata.name}`.padEnd(28)} ${String(s.spec?.clusterIP).padEnd(14)} ${ports.padEnd(18)} ${eps.join(' ') || '(no endpoints)'}`);
  }
  return 0;
}
