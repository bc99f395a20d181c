import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_API_VERSION, ConfigError, CORE_OPTIONS, parseArgs, selectModules } from '../../src/runtime/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'nodeway-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('parseArgs', () => {
  it('applies defaults, then file, then env, then flags', () => {
    const cfg = file('a.yaml', 'logLevel: debug\nhealthListen: 127.0.0.1:9000\nnodeName: from-file\n');
    const { command, config } = parseArgs(['view', '--config', cfg, '--health-listen=127.0.0.1:9100'], CORE_OPTIONS, { NODE_NAME: 'from-env' });
    expect(command).toEqual(['view']);
    expect(config.logLevel).toBe('debug');
    expect(config.healthListen).toBe('127.0.0.1:9100');
    expect(config.nodeName).toBe('from-env');
    expect(config.minSyncInterval).toBe(100);
  });

  it('flag beats env for the node name, and the hostname is the last resort', () => {
    expect(parseArgs(['--node-name', 'n1'], CORE_OPTIONS, { NODE_NAME: 'e' }).config.nodeName).toBe('n1');
    expect(typeof parseArgs([], CORE_OPTIONS, {}).config.nodeName).toBe('string');
  });

  it.each([
    [['--bogus'], /unknown flag --bogus/],
    [['--log-level', 'loud'], /--log-level: "loud" is not one of/],
    [['--modules', 'proxy,dnss'], /--modules: "dnss" is not one of/],
    [['--health-listen', '10256'], /--health-listen: expected HOST:PORT/],
    [['--min-sync-interval', 'soon'], /--min-sync-interval: "soon" is not an integer/],
    [['--min-sync-interval', '-5'], /--min-sync-interval: -5 is below 0/],
    [['--kubeconfig'], /--kubeconfig: missing value/],
    [['--config', '/nonexistent/nodeway.yaml'], /--config: cannot read \/nonexistent\/nodeway.yaml/],
  ])('rejects %j with one clear line', (argv, re) => {
    expect(() => parseArgs(argv, CORE_OPTIONS, {})).toThrowError(re);
    try {
      parseArgs(argv, CORE_OPTIONS, {});
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect(String((err as Error).message)).not.toContain('\n');
    }
  });

  it('names the offending key of a config file', () => {
    expect(() => parseArgs(['--config', file('c.yaml', 'minSyncInterval: [1]\n')], CORE_OPTIONS, {})).toThrowError(/config key minSyncInterval: .* is not an integer/);
    expect(() => parseArgs(['--config', file('d.yaml', 'a: [\n')], CORE_OPTIONS, {})).toThrowError(/is not valid YAML/);
    expect(() => parseArgs(['--config', file('e.yaml', '- a\n')], CORE_OPTIONS, {})).toThrowError(/must hold a mapping/);
  });

  it('skips unknown keys and other apiVersions with a warning (an old agent reads a newer ConfigMap)', () => {
    const cfg = file('g.yaml', `apiVersion: nodeway.dev/v1beta9\nlogLevel: debug\nlogLevl: warn\nsomeFutureKey: {a: 1}\n`);
    const { config, warnings } = parseArgs(['--config', cfg], CORE_OPTIONS, {});
    expect(config.logLevel).toBe('debug');
    expect(config).not.toHaveProperty('logLevl');
    expect(config).not.toHaveProperty('apiVersion');
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/apiVersion nodeway.dev\/v1beta9; this agent reads nodeway.dev\/v1alpha1/);
    expect(warnings[1]).toMatch(/config key logLevl in .* is unknown to this agent \(\d+\.\d+\.\d+\); ignored/);
    expect(warnings[2]).toMatch(/someFutureKey/);
    // The current apiVersion, and none at all, are silent; a bad value of a known key still fails.
    expect(parseArgs(['--config', file('h.yaml', `apiVersion: ${CONFIG_API_VERSION}\nlogLevel: warn\n`)], CORE_OPTIONS, {}).warnings).toEqual([]);
    expect(parseArgs(['--config', file('i.yaml', 'logLevel: warn\n')], CORE_OPTIONS, {}).warnings).toEqual([]);
    expect(() => parseArgs(['--config', file('j.yaml', 'apiVersion: [1]\n')], CORE_OPTIONS, {})).toThrowError(/apiVersion .* expected a string/);
    expect(() => parseArgs(['--config', file('k.yaml', 'config: other.yaml\n')], CORE_OPTIONS, {})).toThrowError(/cannot name another/);
  });

  it('--help and --version anywhere are commands, not flags (nodeway view --help)', () => {
    expect(parseArgs(['view', '--help'], CORE_OPTIONS, {}).command).toEqual(['view', 'help']);
    expect(parseArgs(['--version'], CORE_OPTIONS, {}).command).toEqual(['version']);
  });

  it('checks every extra metrics address', () => {
    expect(parseArgs(['--metrics-listen', '0.0.0.0:10249,[::]:9153'], CORE_OPTIONS, {}).config.metricsListen).toEqual(['0.0.0.0:10249', '[::]:9153']);
    expect(parseArgs([], CORE_OPTIONS, {}).config.metricsListen).toEqual([]);
    expect(() => parseArgs(['--metrics-listen', '10249'], CORE_OPTIONS, {})).toThrowError(/--metrics-listen: "10249": expected HOST:PORT/);
  });

  it('accepts IPv6 health addresses and lists from YAML', () => {
    const cfg = file('f.yaml', 'modules: [none]\nhealthListen: "[::1]:10256"\n');
    const { config } = parseArgs(['--config', cfg], CORE_OPTIONS, {});
    expect(config.modules).toEqual(['none']);
    expect(config.healthListen).toBe('[::1]:10256');
  });
});

describe('selectModules', () => {
  it('defaults to every module of the build, honours none, refuses missing ones', () => {
    expect(selectModules({}, ['proxy', 'dns'])).toEqual(['proxy', 'dns']);
    expect(selectModules({ modules: ['none'] }, ['proxy'])).toEqual([]);
    expect(selectModules({ modules: ['dns', 'dns'] }, ['proxy', 'dns'])).toEqual(['dns']);
    expect(() => selectModules({ modules: ['mesh'] }, ['proxy'])).toThrowError(/module mesh is not in this build/);
    expect(() => selectModules({ modules: ['none', 'dns'] }, ['dns'])).toThrowError(/cannot be combined/);
  });
});
