// What can be checked of the Dockerfile without a container engine: the files it copies out of
// the build exist after `npm run build`, .dockerignore keeps the build's inputs, the Node.js
// version is the one package.json pins, and the paths the DaemonSet uses are where the image
// puts things.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const lines = dockerfile.split('\n').filter((l) => !l.trimStart().startsWith('#'));

describe('Dockerfile', () => {
  it('copies out of the build stage only files that exist after npm run build', () => {
    expect(existsSync(join(ROOT, 'dist', 'nodeway.mjs')), 'run npm run build first').toBe(true);
    const copies = lines.filter((l) => /^COPY --from=build /.test(l));
    expect(copies.length).toBeGreaterThan(0);
    for (const l of copies) {
      const [src] = l.replace(/^COPY --from=build /, '').split(/\s+/) as [string];
      expect(src.startsWith('/src/'), l).toBe(true);
      expect(existsSync(join(ROOT, src.slice('/src/'.length))), l).toBe(true);
    }
    // Everything else comes from the build context (COPY . .) or the official node image.
    for (const l of lines.filter((x) => /^COPY /.test(x) && !/--from=/.test(x))) expect(l.trim()).toBe('COPY . .');
    expect(lines.filter((l) => /^COPY --from=node /.test(l))).toEqual(['COPY --from=node /usr/local/bin/node /usr/local/bin/node']);
  });

  it('builds once on the build platform, runs on debian:bookworm-slim with the pinned Node.js', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(dockerfile).toContain(`ARG NODE_VERSION=${pkg.dependencies.node}`);
    expect(lines.filter((l) => l.startsWith('FROM '))).toEqual([
      'FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS build',
      'FROM node:${NODE_VERSION}-bookworm-slim AS node',
      'FROM debian:bookworm-slim',
    ]);
    expect(dockerfile).toMatch(/RUN npm ci && npm run build/);
    for (const p of ['nftables', 'iproute2', 'wireguard-tools', 'wireguard-go', 'conntrack', 'containernetworking-plugins', 'ca-certificates']) {
      expect(dockerfile).toMatch(new RegExp(`install -y --no-install-recommends[\\s\\\\]*[^\\n]*\\b${p}\\b`));
    }
  });

  it('.dockerignore keeps every input of the build', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const build = readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8');
    expect(build).toContain("join(here, '..', 'cmd', 'nodeway.ts')");
    for (const input of ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts', 'cmd', 'src', 'modules', 'bin']) {
      expect(existsSync(join(ROOT, input)), input).toBe(true);
      expect(ignored.some((p) => p === input || p === `${input}/` || p === '*' || p === '.'), input).toBe(false);
    }
    for (const made of ['node_modules', 'dist']) expect(ignored).toContain(made);
  });

  it('puts the launcher and the CNI plugins where the DaemonSet expects them', () => {
    const objs = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'nodeway.yaml'), 'utf8')).map((d) => d.toJSON());
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const ds = objs.find((o: any) => o?.kind === 'DaemonSet') as any;
    const agent = ds.spec.template.spec.containers[0];
    expect(lines).toContain(`COPY --from=build /src/bin/nodeway ${agent.command[0]}`);
    expect(lines).toContain('COPY --from=build /src/dist/nodeway.mjs /opt/nodeway/dist/nodeway.mjs');
    // bin/nodeway finds the bundle at ../dist/nodeway.mjs, and node on PATH when there is no node_modules.
    const launcher = readFileSync(join(ROOT, 'bin', 'nodeway'), 'utf8');
    expect(launcher).toContain('"$root/dist/nodeway.mjs"');
    expect(launcher).toMatch(/\|\| node=node/);
    // Debian's containernetworking-plugins installs into /usr/lib/cni, where the init container copies from.
    expect(ds.spec.template.spec.initContainers[0].command.join(' ')).toContain('/usr/lib/cni/$p');
    expect(existsSync('/usr/lib/cni/bridge') ? '/usr/lib/cni' : 'no Debian CNI plugins on this machine').toBe('/usr/lib/cni');
  });
});
