// The nodeway command line: parses, wires, and leaves all logic to src/ and modules/.
import { MODULES, moduleOptions, type ModuleContext } from '../modules/index.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { Agent } from '../src/runtime/agent.ts';
import { ConfigError, CORE_OPTIONS, parseArgs, selectModules, usage, type Config } from '../src/runtime/config.ts';
import { createLogger, type LogLevel, type Logger } from '../src/runtime/log.ts';
import { conntrackTargets, raiseConntrackSysctls } from '../src/runtime/conntrack.ts';
import { startMetricsServer } from '../src/runtime/health.ts';
import { Registry, registerBuildInfo, registerProcessMetrics } from '../src/runtime/metrics.ts';
import { VERSION, versionLine } from '../src/runtime/version.ts';
import { availableParallelism } from 'node:os';
import { viewToJSON } from '../src/view/json.ts';
import { existsSync, readFileSync } from 'node:fs';
import { explain } from '../modules/netpol/explain.ts';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify as stringifyYAML } from 'yaml';
import { CorefileError, migrate, parseCorefile, renderMigration } from '../modules/dns/corefile.ts';

const OPTIONS = [...CORE_OPTIONS, ...moduleOptions()];

function fail(msg: string, code = 2): never {
  process.stderr.write(`nodeway: ${msg}\n`);
  process.exit(code);
}

async function run(config: Config, log: Logger): Promise<void> {
  const registry = new Registry();
  registerProcessMetrics(registry);
  registerBuildInfo(registry, VERSION);
  const names = selectModules(config, MODULES.map((m) => m.name));
  const nodeName = config.nodeName as string;
  log.info({ version: VERSION, nodejs: process.version }, 'nodeway starting');
  if (names.includes('proxy')) {
    const targets = conntrackTargets({
      maxPerCore: config.conntrackMaxPerCore as number,
      min: config.conntrackMin as number,
      tcpEstablished: config.conntrackTCPTimeoutEstablished as number,
      tcpCloseWait: config.conntrackTCPTimeoutCloseWait as number,
    }, availableParallelism());
    await raiseConntrackSysctls(config.procSysDir as string, targets, log);
  }
  const modules = (client: KubeClient) =>
    MODULES.filter((m) => names.includes(m.name)).map((m) => m.create({ config, nodeName, log, registry, client }));
  const agent = new Agent({ config, log, registry, modules });
  await agent.start();
  for (const listen of config.metricsListen as string[]) {
    // A busy port costs the dashboards, not the dataplane: say so and keep running.
    await startMetricsServer(listen, registry).then(
      () => log.info({ listen }, 'metrics listening'),
      (err: Error) => log.error({ listen, err: err.message }, 'cannot serve /metrics there; still served on the health address'),
    );
  }
  // A wrong API server address (the manifests' placeholder, a name that does not resolve, a
  // certificate that does not name it) or missing RBAC would leave the agent NotReady forever:
  // exit instead, so the pod crash-loops where people look. Only before the first complete
  // list: once the cache has synced, an API server outage is waited out with the dataplane kept.
  const startup = config.startupTimeout as number;
  if (startup > 0) {
    setTimeout(() => {
      if (agent.cache.ready) return;
      const server = (config.apiserver as string | undefined) ?? 'the kubeconfig\'s server';
      log.fatal({ apiserver: server, seconds: startup }, 'no complete list from the API server in time; check apiserver and RBAC (errors above)');
      fail(`no complete list from the API server at ${server} within ${startup} s (startupTimeout); check the apiserver address and the RBAC rules`, 1);
    }, startup * 1000).unref();
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping; the dataplane stays in place (nodeway cleanup removes it)');
    const force = setTimeout(() => process.exit(0), 10_000);
    force.unref();
    void agent.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** An agent without modules, its view published once every kind is listed (view, explain-policy). */
async function listedAgent(config: Config, log: Logger): Promise<Agent> {
  const agent = new Agent({ config, log, registry: new Registry(), modules: () => [] });
  const timeout = setTimeout(() => fail('timed out after 30 s waiting for the API server to list every kind', 1), 30_000);
  await agent.start(false);
  await agent.cache.whenReady();
  agent.view.flush();
  clearTimeout(timeout);
  return agent;
}

async function view(config: Config, log: Logger): Promise<void> {
  const agent = await listedAgent(config, log);
  process.stdout.write(`${JSON.stringify(config.desired ? await desired(config, agent) : viewToJSON(agent.view), null, 2)}\n`);
  await agent.stop();
  process.exit(0);
}

/** `explain-policy SRC DST PORT[/PROTO]`: the verdict of the cluster's policies on one new flow, from the live view. */
async function explainPolicy(args: string[], config: Config, log: Logger): Promise<void> {
  if (args.length !== 3) fail('usage: nodeway explain-policy SRC DST PORT[/tcp|udp|sctp] (SRC, DST: namespace/pod or an IP)');
  const agent = await listedAgent(config, log);
  let out;
  try {
    out = explain(agent.view.policy, args[0]!, args[1]!, args[2]!);
  } catch (err) {
    fail(String((err as Error).message));
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  await agent.stop();
  process.exit(out.allowed ? 0 : 3);
}

/**
 * A module's desired state for the current view (`view --desired MODULE`): planned by the
 * factory, never applied, and the module never created (creating one may start servers or
 * capture addresses).
 */
async function desired(config: Config, agent: Agent): Promise<unknown> {
  const name = config.desired as string;
  const factory = MODULES.find((m) => m.name === name);
  if (!factory) fail(`--desired: module ${name} is not in this build`);
  if (!factory.plan) fail(`--desired: module ${name} cannot plan without starting; it prints no desired state yet`);
  return factory.plan({ config, nodeName: config.nodeName as string }, agent.view);
}

async function cleanup(config: Config, log: Logger): Promise<void> {
  const ctx: ModuleContext = { config, nodeName: config.nodeName as string, log, registry: new Registry() };
  const names = selectModules(config, MODULES.map((m) => m.name));
  // One module that cannot clean up (a program missing) does not keep the others from it.
  const failed: string[] = [];
  for (const m of MODULES.filter((f) => names.includes(f.name))) {
    try {
      await m.cleanup(ctx);
      log.info({ module: m.name }, 'removed');
    } catch (err) {
      failed.push(`${m.name}: ${String((err as Error)?.message ?? err)}`);
    }
  }
  if (names.length === 0) log.info('no module in this build programs anything; nothing to remove');
  if (failed.length) throw new Error(`cleanup incomplete: ${failed.join('; ')}`);
}

/**
 * `nodeway lab …` runs from its own bundle beside this one (scripts/build.mjs), imported only
 * here: the agent never loads the lab or the embedded API server.
 */
async function lab(args: string[]): Promise<void> {
  const bundle = join(dirname(fileURLToPath(import.meta.url)), 'nodeway-lab.mjs');
  if (!existsSync(bundle)) fail(`the lab is not in this build (${bundle} is missing; npm run build makes it)`, 1);
  const self = join(dirname(process.argv[1]!), '..', 'bin', 'nodeway');
  const { labMain } = (await import(pathToFileURL(bundle).href)) as { labMain: (a: string[], bin: string) => Promise<number | void> };
  const code = await labMain(args, self);
  // `lab serve` returns nothing and keeps running: it holds the lab until SIGTERM.
  if (typeof code === 'number') process.exit(code);
}

/** `nodeway migrate corefile FILE`: the config on stdout; what it cannot express also on stderr. */
async function migrateCommand(args: string[]): Promise<void> {
  const [what, file, ...extra] = args;
  if (what !== 'corefile' || !file || extra.length) fail('usage: nodeway migrate corefile FILE');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    fail(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let m;
  try {
    m = migrate(parseCorefile(text));
  } catch (err) {
    if (err instanceof CorefileError) fail(`${file}: ${err.message}`);
    throw err;
  }
  process.stdout.write(renderMigration(m, (v) => stringifyYAML(v), file));
  for (const u of m.unsupported) process.stderr.write(`nodeway: not expressed: ${u}\n`);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'lab') return lab(process.argv.slice(3));
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2), OPTIONS);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const [command = 'run', ...rest] = parsed.command;
  // --help anywhere (nodeway view --help) prints the usage; --version / version the version.
  if (parsed.command.includes('help')) {
    process.stdout.write(`${usage(OPTIONS)}\n`);
    return;
  }
  if (parsed.command.includes('version')) {
    process.stdout.write(`${versionLine()}\n`);
    return;
  }
  const log = createLogger(parsed.config.logLevel as LogLevel, { node: parsed.config.nodeName as string });
  for (const w of parsed.warnings) log.warn(w);
  process.on('unhandledRejection', (err) => log.error({ err: String(err) }, 'unhandled rejection'));
  if (command === 'migrate') return migrateCommand(rest);
  if (command === 'explain-policy') return explainPolicy(rest, parsed.config, log);
  const commands: Record<string, (c: Config, l: Logger) => Promise<void>> = { run, view, cleanup };
  const fn = commands[command];
  if (!fn || rest.length > 0) fail(`unknown command ${[command, ...rest].join(' ')} (see nodeway --help)`);
  try {
    await fn(parsed.config, log);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    fail(String((err as Error)?.message ?? err), 1);
  }
}

void main();
