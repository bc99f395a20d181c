// The CNI plugin check: k3s's plugin directory is absolute symlinks into a path a container
// does not see (data/<hash>/bin); they must count as present, or the conflist is never written
// and the node stays NotReady. Truly broken entries still count as missing.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { missingPlugins } from '../../modules/mesh/cni.ts';

const root = mkdtempSync(join(tmpdir(), 'nodeway-rob-cni-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('missingPlugins', () => {
  it('accepts absolute symlinks into a path not mounted here (k3s), as the runtime on the host resolves them', async () => {
    const bin = join(root, 'k3s-cni');
    mkdirSync(bin);
    // As k3s lays it out: every plugin a link to one multi-call binary under data/<hash>/bin.
    for (const n of ['bridge', 'host-local', 'portmap', 'loopback']) symlinkSync(`${root}/not-mounted/data/0123abcd/bin/cni`, join(bin, n));
    expect(await missingPlugins(bin, ['bridge', 'host-local'])).toEqual([]);
    expect(await missingPlugins(bin, ['portmap'])).toEqual([]);
    // A relative link leaving the directory is out of sight as well; one hop through another link too.
    symlinkSync('../not-mounted/cni', join(bin, 'tuning'));
    symlinkSync(join(bin, 'bridge'), join(bin, 'vlan'));
    expect(await missingPlugins(bin, ['tuning', 'vlan'])).toEqual([]);
  });

  it('still reports what is really missing: absent, not executable, or a link to nothing inside the directory', async () => {
    const bin = join(root, 'std');
    mkdirSync(bin);
    writeFileSync(join(bin, 'bridge'), '#!/bin/sh\n');
    chmodSync(join(bin, 'bridge'), 0o755);
    writeFileSync(join(bin, 'host-local'), 'not executable');
    chmodSync(join(bin, 'host-local'), 0o644);
    symlinkSync('./gone', join(bin, 'portmap'));
    symlinkSync('bridge', join(bin, 'loopback'));
    expect(await missingPlugins(bin, ['bridge', 'host-local', 'portmap', 'loopback', 'absent'])).toEqual(['host-local', 'portmap', 'absent']);
  });
});
