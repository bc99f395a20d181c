// `nodeway lab`: the demo cluster in network namespaces. Its own bundle (dist/nodeway-lab.mjs),
// loaded by the command line only for `lab`, so the agent's bundle carries neither the lab nor
// the embedded API server, and the agent's config knows nothing of them.
import { DEFAULT_LAB_DIR, labDown, labServe, labStatus, labUp } from '../testbed/lab/daemon.ts';

const USAGE = `Usage: nodeway lab [up|status|down] [--lab-dir DIR]
  up (default)  build a 3-node demo cluster in network namespaces and prove it works (root)
  status        show the lab's nodes, peers, services and endpoints per node
  down          remove the lab
  --lab-dir DIR the lab's state: pid, kubeconfig, logs (default ${DEFAULT_LAB_DIR})`;

/**
 * Runs `nodeway lab ARGS`; `agentBin` is the nodeway launcher the lab's nodes run. Returns the exit
 * code, or nothing for `serve`, which holds the lab until SIGTERM.
 */
export async function labMain(args: string[], agentBin: string): Promise<number | void> {
  let dir = DEFAULT_LAB_DIR;
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h' || a === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (a === '--lab-dir' || a.startsWith('--lab-dir=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
      if (!v) return usageError('--lab-dir needs a directory');
      dir = v;
    } else if (a.startsWith('-')) return usageError(`unknown flag ${a}`);
    else words.push(a);
  }
  const [sub = 'up', ...extra] = words;
  const out = { line: (s: string) => process.stdout.write(`${s}\n`) };
  const subs: Record<string, () => Promise<number | void>> = {
    up: () => labUp(dir, agentBin, out),
    down: () => labDown(dir, out),
    status: () => labStatus(dir, out),
    serve: () => labServe(dir),
  };
  const fn = subs[sub];
  if (!fn || extra.length) return usageError(`unknown command lab ${words.join(' ')} (lab, lab status, lab down)`);
  return fn();
}

function usageError(msg: string): number {
  process.stderr.write(`nodeway: ${msg}\n${USAGE}\n`);
  return 2;
}
