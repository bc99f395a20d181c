// The Helm chart cannot be rendered here (no helm binary), so this checks what can be checked
// without it: values.yaml and Chart.yaml parse, every .Values path a template uses exists, the
// template actions balance, the defaults are deploy/'s, and the ClusterRole rules are the same.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHART = join(ROOT, 'deploy', 'helm', 'nodeway');
const TEMPLATES = join(CHART, 'templates');
const templates = readdirSync(TEMPLATES).map((f) => ({ file: f, text: readFileSync(join(TEMPLATES, f), 'utf8') }));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const deployed = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'nodeway.yaml'), 'utf8')).map((d) => d.toJSON() as any);
const ds = deployed.find((o) => o.kind === 'DaemonSet');
const config = parse(deployed.find((o) => o.kind === 'ConfigMap').data['config.yaml']);

function lookup(obj: unknown, path: string[]): boolean {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object' || !(p in (cur as object))) return false;
    cur = (cur as Record<string, unknown>)[p];
  }
  return true;
}

describe('helm chart deploy/helm/nodeway', () => {
  it('Chart.yaml and values.yaml parse', () => {
    const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'));
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'nodeway', type: 'application' });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(values).toBeTypeOf('object');
  });

  it('every .Values path a template uses is in values.yaml', () => {
    const missing: string[] = [];
    let seen = 0;
    for (const t of templates) {
      for (const m of t.text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        seen++;
        const path = m[1]!.slice(1).split('.');
        if (!lookup(values, path)) missing.push(`${t.file}: .Values.${path.join('.')}`);
      }
    }
    expect(seen).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });

  it('template actions balance (if/with/range/define … end) and only known includes are used', () => {
    const defined = new Set<string>();
    for (const t of templates) for (const m of t.text.matchAll(/\{\{-?\s*define\s+"([^"]+)"/g)) defined.add(m[1]!);
    for (const t of templates) {
      const actions = [...t.text.matchAll(/\{\{-?\s*(.*?)\s*-?\}\}/gs)].map((m) => m[1]!);
      expect(t.text.split('{{').length, t.file).toBe(t.text.split('}}').length);
      const opens = actions.filter((a) => /^(if|with|range|define)\b/.test(a)).length;
      const ends = actions.filter((a) => /^end\b/.test(a)).length;
      expect(ends, t.file).toBe(opens);
      for (const m of t.text.matchAll(/include\s+"([^"]+)"/g)) expect(defined.has(m[1]!), `${t.file}: include ${m[1]}`).toBe(true);
    }
  });

  it('has the defaults of deploy/', () => {
    expect(values.apiserver).toBe(config.apiserver);
    expect(values.modules).toEqual(config.modules);
    expect(values.clusterCIDR).toEqual(config.clusterCIDR);
    expect(values.clusterDNS).toEqual(config.clusterDNS);
    expect(values.clusterDomain).toBe(config.clusterDomain);
    expect(values.dnsUpstream).toEqual(config.dnsUpstream);
    expect(values.logLevel).toBe(config.logLevel);
    expect(`0.0.0.0:${values.healthPort}`).toBe(config.healthListen);
    expect(values.wireguard).toEqual({ interface: config.wgInterface, port: config.wgPort, userspace: config.wgUserspace });
    const spec = ds.spec.template.spec;
    const agent = spec.containers[0];
    expect(`${values.image.repository}:${values.image.tag}`).toBe(agent.image);
    expect(values.image.pullPolicy).toBe(agent.imagePullPolicy);
    expect(values.resources).toEqual(agent.resources);
    expect(values.tolerations).toEqual(spec.tolerations);
    expect(values.nodeSelector).toEqual(spec.nodeSelector);
    expect(values.priorityClassName).toBe(spec.priorityClassName);
    expect(values.maxUnavailable).toBe(ds.spec.updateStrategy.rollingUpdate.maxUnavailable);
    const hostPath = (name: string) => spec.volumes.find((v: { name: string }) => v.name === name).hostPath.path;
    expect(values.stateDir).toBe(hostPath('state'));
    expect(values.cni.confDir).toBe(hostPath('cni-conf'));
    expect(values.cni.binDir).toBe(hostPath('cni-bin'));
    expect(values.dnsService.create).toBe(true);
    // The config keys the chart writes are the ones deploy/config.yaml sets (same file shape).
    const helpers = templates.find((t) => t.file === '_helpers.tpl')!.text;
    const keys = [...helpers.matchAll(/^\s+"([A-Za-z]+)" /gm)].map((m) => m[1]).sort();
    expect(keys).toEqual(Object.keys(config).sort());
  });

  it('grants the same RBAC rules as deploy/ (which the audited-agent test measures)', () => {
    const text = templates.find((t) => t.file === 'rbac.yaml')!.text;
    const rulesBlock = /^rules:\n((?: {2}.*\n)+)/m.exec(text)![1]!;
    expect(rulesBlock).not.toContain('{{');
    expect(parse(`rules:\n${rulesBlock}`).rules).toEqual(deployed.find((o) => o.kind === 'ClusterRole').rules);
  });

  it('the DaemonSet template keeps deploy/\'s static settings', () => {
    const text = templates.find((t) => t.file === 'daemonset.yaml')!.text;
    const plain = readFileSync(join(ROOT, 'deploy', 'daemonset.yaml'), 'utf8');
    // Lines without template actions and comments: everything literal in the chart is in deploy/.
    const literal = (s: string) => s.split('\n').filter((l) => l.trim() && !l.includes('{{') && !l.trim().startsWith('#')).map((l) => l.trim());
    const deployLines = new Set(literal(plain));
    // Chart-only: the config checksum annotation and optional pull secrets.
    expect(literal(text).filter((l) => !deployLines.has(l))).toEqual(['annotations:', 'imagePullSecrets:']);
  });
});
