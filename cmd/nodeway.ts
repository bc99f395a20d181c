// The nodeway command line: parses, wires, and leaves all logic to src/ and modules/.
import { MODULES, moduleOptions, type ModuleContext } from '../modules/index.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { Agent } from '../src/runtime/agent.ts';
import { ConfigError, CORE_OPTIONS, parseArgs, selectModules, usage, type Config } from '../src/runtime/config.ts';
import { createLogger, type LogLevel, type Logger } from '../src/runtime/log.ts';
import { Registry } from '../src/runtime/metrics.ts';
import { viewToJSON } from '../src/view/json.ts';
import { explain } from '../modules/netpol/explain.ts';
import { labDown, labServe, labStatus, labUp } from '../src/lab/daemon.ts';
import { dirname, join } from 'node:path';

const OPTIONS = [...CORE_OPTIONS, ...moduleOptions()];

function fail(msg: string, code = 2): never {
  process.stderr.write(`nodeway: ${msg}\n`);
  process.exit(code);
}

async function run(config: Config, log: Logger): Promise<void> {
  const registry = new Registry();
  const names = selectModules(config, MODULES.map((m) => m.name));
  const nodeName = config.nodeName as string;
  const modules = (client: KubeClient) =>
    MODULES.filter((m) => names.includes(m.name)).map((m) => m.create({ config, nodeName, log, registry, client }));
  const agent = new Agent({ config, log, registry, modules });
  await agent.start();
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

async function view(config: Config, log: Logger): Promise<void> {
  const agent = new Agent({ config, log, registry: new Registry(), modules: () => [] });
  const timeout = setTimeout(() => fail('timed out after 30 s waiting for the API server to list every kind', 1), 30_000);
  await agent.start(false);
  await agent.cache.whenReady();
  agent.view.flush();
  clearTimeout(timeout);
  process.stdout.write(`${JSON.stringify(config.desired ? desired(config, log, agent) : viewToJSON(agent.view), null, 2)}\n`);
  await agent.stop();
  process.exit(0);
}

/** `explain-policy SRC DST PORT[/PROTO]`: the verdict of the cluster's policies on one new flow, from the live view. */
async function explainPolicy(args: string[], config: Config, log: Logger): Promise<void> {
  if (args.length !== 3) fail('usage: nodeway explain-policy SRC DST PORT[/tcp|udp|sctp] (SRC, DST: namespace/pod or an IP)');
  const agent = new Agent({ config, log, registry: new Registry(), modules: () => [] });
  const timeout = setTimeout(() => fail('timed out after 30 s waiting for the API server to list every kind', 1), 30_000);
  await agent.start(false);
  await agent.cache.whenReady();
  agent.view.flush();
  clearTimeout(timeout);
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

/** A module's desired state for the current view (`view --desired MODULE`): planned, never applied. */
function desired(config: Config, log: Logger, agent: Agent): unknown {
  const name = config.desired as string;
  const factory = MODULES.find((m) => m.name === name);
  if (!factory) fail(`--desired: module ${name} is not in this build`);
  const mod = factory.create({ config, nodeName: config.nodeName as string, log, registry: new Registry() });
  if (!mod.desired) fail(`--desired: module ${name} cannot print its desired state yet`);
  return mod.desired(agent.view);
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

async function lab(args: string[], config: Config): Promise<void> {
  const [sub = 'up', ...extra] = args;
  const dir = config.labDir as string;
  const out = { line: (s: string) => process.stdout.write(`${s}\n`) };
  const self = join(dirname(process.argv[1]!), '..', 'bin', 'nodeway');
  const subs: Record<string, () => Promise<number | void>> = {
    up: () => labUp(dir, self, out),
    down: () => labDown(dir, out),
    status: () => labStatus(dir, out),
    serve: () => labServe(dir),
  };
  const fn = subs[sub];
  if (!fn || extra.length) fail(`unknown command lab ${args.join(' ')} (lab, lab down, lab status)`);
  const code = await fn();
  if (typeof code === 'number') process.exit(code);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2), OPTIONS);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const [command = 'run', ...rest] = parsed.command;
  if (command === 'help') {
    process.stdout.write(`${usage(OPTIONS)}\n`);
    return;
  }
  const log = createLogger(parsed.config.logLevel as LogLevel, { node: parsed.config.nodeName as string });
  process.on('unhandledRejection', (err) => log.error({ err: String(err) }, 'unhandled rejection'));
  if (command === 'lab') return lab(rest, parsed.config);
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
