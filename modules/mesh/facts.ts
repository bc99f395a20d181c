// What the decisions read from the host, gathered before anything is applied: the path MTUs
// toward the peers' endpoints (which to probe, and the MTU they give, is decide.ts's) and the
// underlay's, and what the installed CNI plugins support. Reading only: nothing is changed.
import type { Logger } from 'pino';
import { ipFamily } from '../../src/net/ip.ts';
import { chooseCniVersion, missingPlugins, pluginVersions, REQUIRED_PLUGINS, shadowingConfigs, WRITABLE_CNI_VERSIONS } from './cni.ts';
import { knownPaths, mtuProbes } from './decide.ts';
import type { CniChoice } from './desired.ts';
import { pathMTUs, underlayMTU } from './link.ts';
import { type PathMTU, tunnelMTU } from './mtu.ts';
import type { MeshConfig } from './options.ts';

export interface MTUQuery {
  /** Where the peers are dialled (decidePeers). */
  endpoints: string[];
  /** Probe endpoints not probed yet (a partial sync with an MTU in force does not). */
  probeNew: boolean;
  /** Forget what was probed (a full sync). */
  refresh: boolean;
  /** This node's address: its link's MTU is the underlay's before there are peers. */
  selfIP: string | undefined;
}

export class PathFacts {
  private readonly paths = new Map<string, PathMTU | null>();
  private underlay: PathMTU | null | undefined;

  /** The default route or this node's address changed: probe again. */
  forget(): void {
    this.paths.clear();
    this.underlay = undefined;
  }

  async mtu(q: MTUQuery): Promise<number> {
    if (q.refresh) this.paths.clear();
    const { ips, probe } = mtuProbes(q.endpoints, this.paths, q.probeNew);
    if (probe.length) {
      const found = await pathMTUs(probe);
      // ip prints IPv6 destinations canonically, as parseEndpoint keeps them.
      for (const ip of probe) {
        const mtu = found.get(ip);
        this.paths.set(ip, mtu === undefined ? null : { family: ipFamily(ip) as 4 | 6, mtu });
      }
    }
    const paths = knownPaths(ips, this.paths);
    if (paths.length) return tunnelMTU(0, paths, null);
    if (q.refresh || this.underlay === undefined) {
      const m = await underlayMTU(q.selfIP);
      this.underlay = m ? { family: q.selfIP && ipFamily(q.selfIP) === 6 ? 6 : 4, mtu: m } : null;
    }
    return tunnelMTU(0, [], this.underlay);
  }
}

export class CniFacts {
  private ok = false;
  private version = '1.0.0';

  private readonly cfg: MeshConfig;
  private readonly log: Logger;

  constructor(cfg: MeshConfig, log: Logger) {
    this.cfg = cfg;
    this.log = log;
  }

  /**
   * The plugins, checked on full syncs and until they are usable: a problem (a plugin
   * missing, no spec version they share) or what the conflist may say. `checked` is true when
   * the check ran this time (the conflist on disk is worth reading again).
   */
  async check(full: boolean): Promise<{ choice?: CniChoice; problem?: string; checked: boolean }> {
    const { cniBinDir, cniConfDir } = this.cfg;
    const checked = full || !this.ok;
    if (checked) {
      const missing = await missingPlugins(cniBinDir, REQUIRED_PLUGINS);
      this.ok = missing.length === 0;
      if (missing.length) return { checked, problem: `CNI plugins ${missing.join(', ')} missing in ${cniBinDir}; the conflist is not written until they are there` };
      const shadows = await shadowingConfigs(cniConfDir);
      if (shadows.length) this.log.warn({ dir: cniConfDir, files: shadows }, 'the container runtime uses the lexically first CNI config: these come before nodeway\'s');
      // The plugins may be older than the spec this build writes (an init container keeps them).
      const names = [...REQUIRED_PLUGINS, ...((await missingPlugins(cniBinDir, ['portmap'])).length ? [] : ['portmap'])];
      const supported = await Promise.all(names.map((n) => pluginVersions(cniBinDir, n)));
      const silent = names.filter((_, i) => supported[i] === null);
      if (silent.length) this.log.warn({ plugins: silent }, 'CNI plugins did not say which spec versions they support (CNI_COMMAND=VERSION)');
      const version = chooseCniVersion(supported);
      if (!version) {
        this.ok = false;
        return { checked, problem: `the CNI plugins in ${cniBinDir} share no spec version nodeway can write (${WRITABLE_CNI_VERSIONS.join(', ')}): ${names.map((n, i) => `${n} ${supported[i]?.join('/') ?? '?'}`).join(', ')}` };
      }
      if (version !== this.version) this.log.info({ cniVersion: version, plugins: names }, 'CNI spec version every plugin supports');
      this.version = version;
    }
    const portmap = (await missingPlugins(cniBinDir, ['portmap'])).length === 0;
    return { checked, choice: { version: this.version, portmap } };
  }
}
