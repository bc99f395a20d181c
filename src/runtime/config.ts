// Configuration from a YAML file, the environment and flags (flags win). Every flag has a
// config key; modules add their own options to the same table. Any bad input is a ConfigError
// whose message names the offending flag or key, in one line.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYAML } from 'yaml';
import { LOG_LEVELS } from './log.ts';
import { VERSION } from './version.ts';

export class ConfigError extends Error {}

type Kind = 'string' | 'int' | 'bool' | 'list' | 'hostport';

export interface OptionSpec {
  flag: string; // without dashes
  key: string; // config file key
  kind: Kind;
  help: string;
  default?: unknown;
  /** Allowed values (for strings, and for each item of a list). */
  choices?: readonly string[];
  /** Repeatable flag: each use adds to the list. */
  repeat?: boolean;
  check?: (v: never) => string | undefined;
  min?: number;
  max?: number;
}

export const MODULE_NAMES = ['proxy', 'dns', 'mesh', 'netpol'] as const;
export type ModuleName = (typeof MODULE_NAMES)[number];

/**
 * The config file's format. A file without apiVersion is read as this one. A file naming
 * another is read key by key all the same (a warning says so): an older agent restarting
 * after a newer ConfigMap landed must still start, with the keys it knows.
 */
export const CONFIG_API_VERSION = 'nodeway.dev/v1alpha1';

export const CORE_OPTIONS: OptionSpec[] = [
  { flag: 'config', key: 'config', kind: 'string', help: 'YAML config file; every flag has a key there; flags win' },
  { flag: 'kubeconfig', key: 'kubeconfig', kind: 'string', help: 'kubeconfig file (else in-cluster, else $KUBECONFIG, else ~/.kube/config)' },
  { flag: 'apiserver', key: 'apiserver', kind: 'string', help: 'API server URL overriding the kubeconfig\'s (bootstrap without the kubernetes Service)' },
  { flag: 'node-name', key: 'nodeName', kind: 'string', help: 'this node\'s name (else $NODE_NAME, else the hostname)' },
  { flag: 'modules', key: 'modules', kind: 'list', choices: [...MODULE_NAMES, 'none'], help: 'comma list of proxy,dns,mesh,netpol; "none" = cache only (default: every module this build has)' },
  { flag: 'health-listen', key: 'healthListen', kind: 'hostport', default: '0.0.0.0:10256', help: '/healthz /readyz /metrics address (0.0.0.0 or [::] = every address of both families)' },
  { flag: 'metrics-listen', key: 'metricsListen', kind: 'list', default: [], check: checkListenList, help: 'more /metrics addresses, where dashboards look: kube-proxy\'s 0.0.0.0:10249, CoreDNS\'s 0.0.0.0:9153 (deploy/ sets both)' },
  { flag: 'startup-timeout', key: 'startupTimeout', kind: 'int', default: 120, min: 0, max: 86_400, help: 'seconds to wait for the first complete list from the API server before exiting 1 (wrong address, no access); 0 = wait forever' },
  { flag: 'log-level', key: 'logLevel', kind: 'string', choices: LOG_LEVELS, default: 'info', help: 'trace|debug|info|warn|error|fatal|silent' },
  { flag: 'conntrack-max-per-core', key: 'conntrackMaxPerCore', kind: 'int', default: 32768, min: 0, max: 1 << 24, help: 'nf_conntrack_max is at least this × CPUs (with the proxy; 0 = leave it)' },
  { flag: 'conntrack-min', key: 'conntrackMin', kind: 'int', default: 131072, min: 0, max: 1 << 30, help: 'nf_conntrack_max is at least this' },
  { flag: 'conntrack-tcp-timeout-established', key: 'conntrackTCPTimeoutEstablished', kind: 'int', default: 86400, min: 0, max: 1 << 30, help: 'seconds; raises nf_conntrack_tcp_timeout_established to it (0 = leave it)' },
  { flag: 'conntrack-tcp-timeout-close-wait', key: 'conntrackTCPTimeoutCloseWait', kind: 'int', default: 3600, min: 0, max: 1 << 30, help: 'seconds; raises nf_conntrack_tcp_timeout_close_wait to it (0 = leave it)' },
  { flag: 'proc-sys-dir', key: 'procSysDir', kind: 'string', default: '/proc/sys', help: 'where the host\'s /proc/sys is (the DaemonSet mounts its net/ at /host/proc/sys/net, writable)' },
  { flag: 'desired', key: 'desired', kind: 'string', choices: MODULE_NAMES, help: 'with view: print this module\'s desired state (what it would program) instead of the view' },
  { flag: 'min-sync-interval', key: 'minSyncInterval', kind: 'int', default: 100, min: 0, max: 60_000, help: 'milliseconds between two syncs of one module (changes in between are coalesced)' },
];

export type Config = Record<string, unknown>;

function parseHostPort(v: string): string | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  if (!m || Number(m[3]) > 65535) return 'expected HOST:PORT (IPv6 as [ADDR]:PORT)';
  return undefined;
}

function checkListenList(v: string[]): string | undefined {
  for (const a of v) {
    const why = parseHostPort(a);
    if (why) return `${JSON.stringify(a)}: ${why}`;
  }
  return undefined;
}

function coerce(spec: OptionSpec, raw: unknown, where: string): unknown {
  const bad = (why: string) => new ConfigError(`${where}: ${why}`);
  switch (spec.kind) {
    case 'string': {
      if (typeof raw !== 'string' || raw === '') throw bad('expected a non-empty string');
      if (spec.choices && !spec.choices.includes(raw)) throw bad(`${JSON.stringify(raw)} is not one of ${spec.choices.join(', ')}`);
      return raw;
    }
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isInteger(n)) throw bad(`${JSON.stringify(raw)} is not an integer`);
      if (spec.min !== undefined && n < spec.min) throw bad(`${n} is below ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw bad(`${n} is above ${spec.max}`);
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '') return true;
      if (raw === 'false') return false;
      throw bad(`${JSON.stringify(raw)} is not true or false`);
    }
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : null;
      if (!items || items.some((i) => typeof i !== 'string')) throw bad('expected a comma list or a list of strings');
      const list = (items as string[]).map((s) => s.trim()).filter((s) => s !== '');
      for (const i of list) if (spec.choices && !spec.choices.includes(i)) throw bad(`${JSON.stringify(i)} is not one of ${spec.choices.join(', ')}`);
      return list;
    }
    case 'hostport': {
      if (typeof raw !== 'string') throw bad('expected HOST:PORT');
      const why = parseHostPort(raw);
      if (why) throw bad(why);
      return raw;
    }
  }
}

function validate(spec: OptionSpec, v: unknown, where: string): unknown {
  const out = coerce(spec, v, where);
  const why = spec.check?.(out as never);
  if (why) throw new ConfigError(`${where}: ${why}`);
  return out;
}

export interface Parsed {
  command: string[];
  config: Config;
  /** What the config file had that this agent ignores (logged once the logger exists). */
  warnings: string[];
}

/**
 * argv → positional command words + config. `--flag value`, `--flag=value`, bare `--flag`
 * for booleans. Values come from defaults, then the config file, then env, then flags.
 */
export function parseArgs(argv: string[], specs: OptionSpec[], env: NodeJS.ProcessEnv = process.env): Parsed {
  const byFlag = new Map(specs.map((s) => [s.flag, s]));
  const fromFlags: Config = {};
  const command: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      command.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      command.push(arg);
      continue;
    }
    if (arg === '-h') {
      command.push('help');
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === 'help' || name === 'version') {
      command.push(name);
      continue;
    }
    const spec = byFlag.get(name);
    if (!spec) throw new ConfigError(`unknown flag --${name} (see nodeway --help)`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (spec.kind === 'bool' && (argv[i + 1] === undefined || !/^(true|false)$/.test(argv[i + 1]!))) value = 'true';
    else {
      const next = argv[++i];
      if (next === undefined) throw new ConfigError(`--${name}: missing value`);
      value = next;
    }
    const v = validate(spec, value, `--${name}`);
    fromFlags[spec.key] = spec.repeat && Array.isArray(fromFlags[spec.key]) ? [...(fromFlags[spec.key] as unknown[]), ...(v as unknown[])] : v;
  }

  const config: Config = {};
  const warnings: string[] = [];
  for (const s of specs) if (s.default !== undefined) config[s.key] = s.default;
  const file = fromFlags.config as string | undefined;
  if (file) Object.assign(config, readConfigFile(file, specs, warnings));
  if (env.NODE_NAME && env.NODE_NAME !== '') config.nodeName = env.NODE_NAME;
  Object.assign(config, fromFlags);
  if (config.nodeName === undefined) config.nodeName = hostname();
  return { command, config, warnings };
}

/**
 * Reads the config file. A key this agent does not know is skipped with a warning (pushed to
 * `warnings`), not fatal: a rolled-back or not yet restarted agent reads a ConfigMap written for
 * a newer one. A known key with a bad value is still an error.
 */
export function readConfigFile(file: string, specs: OptionSpec[], warnings: string[] = []): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--config: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let doc: unknown;
  try {
    doc = parseYAML(text);
  } catch (err) {
    throw new ConfigError(`--config: ${file} is not valid YAML: ${String((err as Error).message).split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`--config: ${file} must hold a mapping of keys`);
  const byKey = new Map(specs.map((s) => [s.key, s]));
  const out: Config = {};
  const { apiVersion, ...keys } = doc as Record<string, unknown>;
  if (apiVersion !== undefined && typeof apiVersion !== 'string') throw new ConfigError(`config key apiVersion in ${file}: expected a string such as ${CONFIG_API_VERSION}`);
  if (apiVersion !== undefined && apiVersion !== CONFIG_API_VERSION) {
    warnings.push(`${file} is apiVersion ${apiVersion}; this agent reads ${CONFIG_API_VERSION} and uses the keys it knows`);
  }
  for (const [k, v] of Object.entries(keys)) {
    const spec = byKey.get(k);
    if (k === 'config') throw new ConfigError(`config key config in ${file}: a config file cannot name another`);
    if (!spec) {
      warnings.push(`config key ${k} in ${file} is unknown to this agent (${VERSION}); ignored`);
      continue;
    }
    out[k] = validate(spec, typeof v === 'number' && spec.kind !== 'int' ? String(v) : v, `config key ${k}`);
  }
  return out;
}

/** The modules to run: explicit list, "none", or by default every module this build has. */
export function selectModules(config: Config, available: readonly string[]): string[] {
  const asked = config.modules as string[] | undefined;
  if (asked === undefined) return [...available];
  if (asked.includes('none')) {
    if (asked.length > 1) throw new ConfigError('--modules: "none" cannot be combined with modules');
    return [];
  }
  for (const m of asked) {
    if (!available.includes(m)) throw new ConfigError(`--modules: module ${m} is not in this build yet (available: ${available.join(', ') || 'none'})`);
  }
  return [...new Set(asked)];
}

export function usage(specs: OptionSpec[]): string {
  const lines = [
    `nodeway ${VERSION}`,
    '',
    'Usage: nodeway [command] [flags]',
    '',
    'Commands:',
    '  run        run the agent (default)',
    '  view       print this node\'s resolved view as JSON, then exit (--desired MODULE: that module\'s desired state)',
    '  cleanup    remove everything nodeway programmed on this host, then exit',
    '  migrate corefile FILE  print the nodeway config for a CoreDNS Corefile (kubeadm, k3s) and what it cannot express',
    '  explain-policy SRC DST PORT[/PROTO]  is a new flow allowed by the cluster\'s NetworkPolicies, and by which rule (SRC, DST: ns/pod or IP)',
    '  lab        build a 3-node demo cluster in network namespaces and prove it works (root)',
    '  lab status show the lab\'s nodes, peers, services and endpoints per node',
    '  lab down   remove the lab',
    '  version    print the version, then exit (also --version)',
    '',
    `The config file (--config) holds the same keys, with apiVersion: ${CONFIG_API_VERSION}.`,
    '',
    'Flags:',
  ];
  for (const s of specs) {
    const arg = s.kind === 'bool' ? '' : s.kind === 'int' ? ' N' : s.kind === 'list' ? ' LIST' : s.kind === 'hostport' ? ' HOST:PORT' : ' VALUE';
    const empty = s.default === undefined || (Array.isArray(s.default) && s.default.length === 0);
    const dflt = !empty ? ` (default ${Array.isArray(s.default) ? s.default.join(',') : String(s.default)})` : '';
    lines.push(`  --${s.flag}${arg}`.padEnd(32) + ` ${s.help}${dflt} [config: ${s.key}]`);
  }
  return lines.join('\n');
}
