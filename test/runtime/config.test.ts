import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, CORE_OPTIONS, parseArgs, selectModules } from '../../src/runtime/config.ts';

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
    expect(() => parseArgs(['--config', file('b.yaml', 'logLevl: debug\n')], CORE_OPTIONS, {})).toThrowError(/config key logLevl in .* is unknown/);
    expect(() => parseArgs(['--config', file('c.yaml', 'minSyncInterval: [1]\n')], CORE_OPTIONS, {})).toThrowError(/config key minSyncInterval: .* is not an integer/);
    expect(() => parseArgs(['--config', file('d.yaml', 'a: [\n')], CORE_OPTIONS, {})).toThrowError(/is not valid YAML/);
    expect(() => parseArgs(['--config', file('e.yaml', '- a\n')], CORE_OPTIONS, {})).toThrowError(/must hold a mapping/);
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
