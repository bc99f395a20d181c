// The WireGuard device and its identity (private key, listen port). The device is adopted or
// created, never deleted; the identity is one tracked value, observed whenever the device is
// read, and set before anything else so a published key is one the device already has.
import type { Logger } from 'pino';
import { isEmpty, Tracker } from '../../../src/reconcile/tracker.ts';
import { type Device, ensureDevice } from '../device.ts';
import { type Identity, type WgControl, wgControl } from '../control.ts';
import type { MeshConfig } from '../options.ts';
import type { DeviceState } from '../wg.ts';

const KEY = 'identity';

type Tracked = Pick<Identity, 'privateKey' | 'listenPort'>;

export class DeviceApplier {
  device: Device | undefined;
  ctl: WgControl | undefined;
  private readonly applied = new Tracker<Tracked>();

  private readonly cfg: MeshConfig;
  private readonly log: Logger;

  constructor(cfg: MeshConfig, log: Logger) {
    this.cfg = cfg;
    this.log = log;
  }

  /** The device exists (adopted or created). True when it is new to this run: what was remembered of it means nothing. */
  async ensure(full: boolean): Promise<boolean> {
    if (this.device && this.ctl && !full) return false;
    this.ctl = undefined;
    this.device = await ensureDevice(this.cfg.iface, this.cfg.userspace, this.cfg.stateDir, this.log);
    this.ctl = wgControl(this.cfg.iface, this.device.userspace);
    this.applied.reset();
    return true;
  }

  /** The device was read: its identity is what is live. A device without a key has none. */
  observe(dev: DeviceState): void {
    this.applied.observed(KEY, dev.privateKey ? { privateKey: dev.privateKey, listenPort: dev.listenPort } : undefined);
  }

  /** Sets key and port when they differ from what is live; true when it did. */
  async apply(want: Identity): Promise<boolean> {
    const d = this.applied.diffKeys(new Map([[KEY, { privateKey: want.privateKey, listenPort: want.listenPort }]]), [KEY]);
    if (isEmpty(d) || !this.ctl) return false;
    try {
      await this.ctl.apply({ remove: [], set: [] }, want);
    } catch (err) {
      this.applied.failed(KEY);
      throw err;
    }
    if (d.update.length) this.log.warn({ iface: this.cfg.iface }, 'the device had another key or port; set to the stored ones');
    this.applied.done(d);
    return true;
  }

  /** The link is gone (a killed wireguard-go): the next sync builds the device again. */
  forget(): void {
    this.device = undefined;
    this.ctl = undefined;
    this.applied.reset();
  }
}
