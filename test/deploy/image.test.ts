// The image, built as `npm run image` builds it (scripts/image.mjs: Debian packages extracted by
// mmdebstrap, Node.js from npm, no registry, no daemon), once for this file: its OCI layout is
// checked blob by blob, the arm64 Node.js runs under qemu-user, and podman loads the archive
// and runs it: --version, --help, and the agent with every module in a lab node's network
// namespace against the embedded API server, until /readyz answers 200.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANN } from '../../modules/mesh/annotations.ts';
import { LabCluster } from '../../testbed/lab/cluster.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const MB = 1e6;
// Linux/arm64 is built in CI too (both take ~1-2 min of the run); IMAGE_ARCHES narrows it by
// hand, and IMAGE_ARCHIVE=FILE checks an archive already built instead of building one.
const ARCHES = (process.env.IMAGE_ARCHES ?? 'amd64,arm64').split(',');
const dir = mkdtempSync(join(tmpdir(), 'nodeway-ins-image-'));
const archive = join(dir, 'nodeway-image.oci.tar');
const layout = join(dir, 'layout');
const storage = join(dir, 'podman');
const TAG = 'localhost/nodeway-ins-test:dev';
// As on CI machines with cgroups v1, where crun refuses: runc, and explicit ulimits.
const PODMAN = ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs'];
const RUN = ['--runtime', 'runc', 'run', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

type Desc = { mediaType: string; digest: string; size: number; platform?: { architecture: string; os: string; variant?: string }; annotations?: Record<string, string> };
const blobPath = (d: Desc) => join(layout, 'blobs', 'sha256', d.digest.replace(/^sha256:/, ''));
const blob = (d: Desc) => readFileSync(blobPath(d));
const json = <T>(d: Desc) => JSON.parse(blob(d).toString('utf8')) as T;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function sh(cmd: string, args: string[], timeout = 120_000) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
}
const podman = (args: string[], timeout?: number) => sh('podman', [...PODMAN, ...args], timeout);

let built = { code: -1, out: '', err: '' };
let manifests: { arch: string; manifest: { config: Desc; layers: Desc[] }; config: { architecture: string; config: { Entrypoint: string[]; Cmd: string[]; Env: string[] }; rootfs: { diff_ids: string[] } } }[] = [];

beforeAll(() => {
  if (process.env.IMAGE_ARCHIVE) copyFileSync(process.env.IMAGE_ARCHIVE, archive);
  built = process.env.IMAGE_ARCHIVE
    ? { code: 0, out: readFileSync(`${process.env.IMAGE_ARCHIVE}.log`, 'utf8'), err: '' }
    : sh(process.execPath, [join(ROOT, 'scripts', 'image.mjs'), '--arch', ARCHES.join(','), '--out', archive], 900_000);
  if (built.code !== 0) return;
  mkdirSync(layout);
  sh('tar', ['-C', layout, '-xf', archive]);
}, 900_000);

afterAll(() => {
  if (existsSync(storage)) podman(['system', 'reset', '--force']);
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('npm run image: the OCI archive', () => {
  it('is one OCI layout with one index over every architecture, each blob what its digest says', () => {
    expect(built.code, built.err).toBe(0);
    expect(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const top = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Desc[] };
    expect(top.manifests).toHaveLength(1);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(top.manifests[0]!.annotations?.['org.opencontainers.image.ref.name']).toBe(version);
    const index = json<{ manifests: Desc[] }>(top.manifests[0]!);
    expect(index.manifests.map((m) => m.platform?.architecture)).toEqual(ARCHES);
    manifests = index.manifests.map((m) => {
      const manifest = json<{ config: Desc; layers: Desc[] }>(m);
      return { arch: m.platform!.architecture, manifest, config: json(manifest.config) };
    });
    for (const { arch, manifest, config } of manifests) {
      expect(config.architecture).toBe(arch);
      for (const d of [manifest.config, ...manifest.layers]) {
        const b = blob(d);
        expect(sha(b), `${arch} ${d.digest}`).toBe(d.digest);
        expect(b.length).toBe(d.size);
      }
      // diff_ids are the digests of the uncompressed layers.
      expect(manifest.layers.map((l) => sha(gunzipSync(blob(l))))).toEqual(config.rootfs.diff_ids);
    }
  });

  it('is at most 60 MB compressed per architecture, and says so', () => {
    for (const { arch, manifest } of manifests) {
      const size = manifest.layers.reduce((n, l) => n + l.size, 0);
      expect(size / MB, arch).toBeLessThan(60);
      expect(built.out).toContain(`linux/${arch}: ${(size / MB).toFixed(1)} MB compressed`);
    }
  });

  it('holds the agent, Node.js, the tools the modules run and the CNI plugins, with deterministic metadata', () => {
    for (const { arch, manifest, config } of manifests) {
      const files = new Set<string>();
      for (const l of manifest.layers) {
        const listing = sh('tar', ['--full-time', '--numeric-owner', '-tvzf', blobPath(l)]).out.trim().split('\n');
        for (const line of listing) {
          // mode owner/group size date time name: every entry 0/0 at SOURCE_DATE_EPOCH (the last commit).
          const [, owner, , date] = line.split(/\s+/);
          expect(owner, line).toBe('0/0');
          expect(date, line).toMatch(/^\d{4}-\d\d-\d\d$/);
          files.add(line.slice(line.indexOf(' ./') + 3).replace(/ -> .*$/, ''));
        }
      }
      for (const f of ['opt/nodeway/bin/nodeway', 'opt/nodeway/dist/nodeway.mjs', 'usr/local/bin/node', 'usr/sbin/nft', 'usr/sbin/ip', 'usr/bin/wg',
        'usr/bin/wireguard-go', 'usr/sbin/conntrack', 'usr/lib/cni/bridge', 'usr/lib/cni/host-local', 'usr/lib/cni/portmap', 'usr/lib/cni/loopback', 'usr/bin/sh', 'usr/bin/cp', 'usr/bin/mv',
        'usr/sbin/xtables-monitor', 'usr/sbin/xtables-nft-multi', 'usr/bin/stdbuf', 'usr/libexec/coreutils/libstdbuf.so']) {
        expect(files.has(f), `${arch}: ${f}`).toBe(true);
      }
      // Not the twelve other CNI plugins, no package manager, no docs.
      expect([...files].filter((f) => /^usr\/lib\/cni\/./.test(f)).sort()).toEqual(['usr/lib/cni/bridge', 'usr/lib/cni/host-local', 'usr/lib/cni/loopback', 'usr/lib/cni/portmap']);
      expect([...files].filter((f) => /^(usr\/bin\/(apt|dpkg|perl)|usr\/share\/doc\/.)/.test(f))).toEqual([]);
      const ds = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'daemonset.yaml'), 'utf8'))[0]!.toJSON();
      expect(config.config.Entrypoint).toEqual([ds.spec.template.spec.containers[0].command[0]]);
      expect(config.config.Cmd).toEqual(['run']);
    }
  });

  it.runIf(ARCHES.includes('arm64'))('the arm64 image\'s Node.js, the agent, ip and wg run (under qemu-aarch64)', () => {
    const arm = manifests.find((m) => m.arch === 'arm64')!;
    const fs = join(dir, 'arm64-rootfs');
    mkdirSync(fs);
    for (const l of arm.manifest.layers) expect(sh('tar', ['-C', fs, '-xzf', blobPath(l)]).code).toBe(0);
    const node = sh('qemu-aarch64-static', ['-L', fs, join(fs, 'usr/local/bin/node'), '-p', 'process.arch + " " + process.version']);
    expect(node.out.trim(), node.err).toBe(`arm64 ${process.version}`);
    const agent = sh('qemu-aarch64-static', ['-L', fs, join(fs, 'usr/local/bin/node'), join(fs, 'opt/nodeway/dist/nodeway.mjs'), '--version']);
    expect(agent.out, agent.err).toMatch(/^nodeway \d+\.\d+\.\d+ \(Node\.js v[\d.]+, linux\/arm64\)\n$/);
    // (nft and conntrack open a netlink socket even for --version, which qemu-user cannot.)
    expect(sh('qemu-aarch64-static', ['-L', fs, join(fs, 'usr/bin/ip'), '-V']).out).toMatch(/^ip utility, iproute2-/);
    expect(sh('qemu-aarch64-static', ['-L', fs, join(fs, 'usr/bin/wg'), '--version']).out).toMatch(/^wireguard-tools v1\./);
  }, 120_000);

  it('the Dockerfile builds the same trees with the same entry point and environment', () => {
    const docker = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n').filter((l) => !l.startsWith('#'));
    expect(docker).toContain('RUN npm ci && node scripts/image.mjs --tree ${TARGETARCH} /tree');
    expect(docker.filter((l) => l.startsWith('COPY --from=build'))).toEqual([
      'COPY --from=build /tree/rootfs/ /', 'COPY --from=build /tree/node/ /', 'COPY --from=build /tree/app/ /',
    ]);
    const { config } = manifests[0]!;
    expect(docker).toContain(`ENV ${config.config.Env[0]}`);
    expect(docker).toContain(`ENTRYPOINT ${JSON.stringify(config.config.Entrypoint)}`);
    expect(docker).toContain(`CMD ${JSON.stringify(config.config.Cmd)}`);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(docker).toContain(`ARG NODE_VERSION=${pkg.dependencies.node}`);
  });
});

describe('the image under podman (runc)', () => {
  let cluster: LabCluster | undefined;
  const name = `nodeway-ins-${process.pid}`;

  beforeAll(() => {
    if (built.code !== 0) return;
    const pulled = podman(['pull', '-q', `oci-archive:${archive}`], 300_000);
    if (pulled.code !== 0) throw new Error(pulled.err);
    podman(['tag', pulled.out.trim(), TAG]);
  }, 300_000);

  afterAll(async () => {
    podman(['rm', '-f', '-t', '5', name]);
    await cluster?.destroy();
  }, 60_000);

  it('nodeway --version and --help', () => {
    const v = podman([...RUN, '--rm', '--network', 'none', TAG, '--version']);
    expect(v.out, v.err).toMatch(new RegExp(`^nodeway \\d+\\.\\d+\\.\\d+ \\(Node\\.js ${process.version.replace(/\./g, '\\.')}, linux/x64\\)\\n$`));
    const h = podman([...RUN, '--rm', '--network', 'none', TAG, 'view', '--help']);
    expect(h.code, h.err).toBe(0);
    expect(h.out).toContain('Usage: nodeway [command] [flags]');
  });

  it('runs the agent with every module in a lab node against the embedded API server: /readyz 200', async () => {
    cluster = await LabCluster.create({ ipv6: false });
    const n1 = await cluster.addNode('n1');
    for (const d of ['state', 'net.d', 'wireguard']) mkdirSync(join(dir, d));
    // The DaemonSet's settings: no privilege, only NET_ADMIN and NET_BIND_SERVICE, read-only
    // root, /tmp in memory, the host paths as volumes, /dev/net/tun for wireguard-go (this
    // kernel has no WireGuard module), the node's network namespace as the host network.
    const r = podman([...RUN, '-d', '--name', name, '--network', `ns:/run/netns/${n1.node.ns}`,
      '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN,NET_BIND_SERVICE', '--security-opt', 'no-new-privileges',
      '--read-only', '--tmpfs', '/tmp', '--device', '/dev/net/tun',
      '-v', `${n1.kubeconfig}:/etc/nodeway/kubeconfig:ro`, '-v', `${join(dir, 'state')}:/var/lib/nodeway`,
      '-v', `${join(dir, 'net.d')}:/etc/cni/net.d`, '-v', `${join(dir, 'wireguard')}:/run/wireguard`,
      TAG, 'run', '--node-name', 'n1', '--kubeconfig', '/etc/nodeway/kubeconfig', '--modules', 'proxy,dns,mesh',
      '--health-listen', '127.0.0.1:10256', '--metrics-listen', '127.0.0.1:10249', '--cluster-dns', '198.19.0.10', '--cluster-cidr', '198.18.128.0/17',
      '--cni-bin-dir', '/usr/lib/cni', '--wg-interface', 'nwins0', '--dns-upstream', '127.0.0.1:5301']);
    expect(r.code, r.err).toBe(0);
    const deadline = Date.now() + 60_000;
    let ready = { status: 0, body: '' };
    while (Date.now() < deadline) {
      ready = await cluster.httpGet(n1.node, 'http://127.0.0.1:10256/readyz');
      if (ready.status === 200) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const logs = () => podman(['logs', name]).err.split('\n').slice(-30).join('\n');
    expect(ready.status, `${ready.body}\n${logs()}`).toBe(200);
    const status = JSON.parse(ready.body) as { modules: { name: string; synced: boolean }[] };
    expect(status.modules.map((m) => [m.name, m.synced])).toEqual([['proxy', true], ['dns', true], ['mesh', true]]);
    const node = cluster.api.get('v1', 'nodes', undefined, 'n1') as { metadata: { annotations?: Record<string, string> } };
    expect(node.metadata.annotations?.[ANN.publicKey]).toBeTruthy();
    expect(existsSync(join(dir, 'net.d', '10-nodeway.conflist'))).toBe(true);
    const metrics = await cluster.httpGet(n1.node, 'http://127.0.0.1:10249/metrics');
    expect(metrics.body).toMatch(/^nodeway_build_info\{.*\} 1$/m);
    expect(metrics.body).toMatch(/^process_resident_memory_bytes \d+$/m);
    // The nftables event listener runs in the container (its own pid namespace, NET_ADMIN only);
    // it exits on the proxy's own rules in a full sync and is back within seconds.
    let up = '';
    for (const end = Date.now() + 15_000; Date.now() < end && up !== '1'; await new Promise((res) => setTimeout(res, 500))) {
      up = /^nodeway_nft_events_up (\d)$/m.exec((await cluster.httpGet(n1.node, 'http://127.0.0.1:10249/metrics')).body)?.[1] ?? '';
    }
    expect(up, logs()).toBe('1');
    const stop = podman(['stop', '-t', '10', name]);
    expect(stop.code, stop.err).toBe(0);
  }, 180_000);
});
