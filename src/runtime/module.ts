// The module contract. A module declares what it reads (`inputs`), turns the node view into a
// desired state with a pure plan (a plain value that `nodeway view --desired` prints through
// the factory's `plan`, without creating the module), diffs that value against what it
// applied with the one generic tracker (src/reconcile/tracker.ts), and only then executes.
// The runner calls `sync`; everything else is the module's own.
import type { Kind } from '../kube/objects.ts';
import type { ViewChanges } from '../view/types.ts';
import type { NodeView } from '../view/view.ts';

/** The parts of the node view a module can consume; each maps to a field of ViewChanges. */
export type ViewPart = 'services' | 'peers' | 'self' | 'pods' | 'namespaces' | 'serviceCIDRs' | 'policies';

export interface ModuleInputs {
  /** Kinds the agent must watch for this module; the agent watches the union over enabled modules. */
  kinds: readonly Kind[];
  /** View parts whose changes wake this module; a change to any other part never runs its sync. */
  view: readonly ViewPart[];
}

/** A module's own health rule, when it has one (the proxy: kube-proxy's /healthz). */
export interface OwnHealth {
  /** /healthz */
  healthy: boolean;
  /** /livez: the module's own state only (the proxy: without the node's eligibility). */
  live: boolean;
  /** The JSON body /healthz answers with. */
  body: Record<string, unknown>;
}

export interface Module {
  readonly name: string;
  readonly inputs: ModuleInputs;
  /**
   * Make the dataplane match the view. `changes` says what changed since the last successful
   * sync (only the parts in `inputs.view`); `changes.full` means: trust nothing remembered,
   * compare everything with the device. Throwing leaves the previous dataplane serving; the
   * runner retries.
   */
  sync(view: NodeView, changes: ViewChanges): Promise<void>;
  /**
   * External programs the module runs (nft, ip …). One missing — found at start or at a run —
   * keeps the module not ready, named with its Debian package in /readyz, while the agent and
   * every other module go on.
   */
  readonly programs?: readonly string[];
  /**
   * True when what the module programmed is no longer on the host although nothing changed in
   * the view (a firewall reload ran `nft flush ruleset`, someone deleted a table). Cheap: the
   * runner asks when nftables changed (src/sys/nft-events.ts), every minute, and every few
   * seconds while no change listener runs; it answers true with a full sync.
   */
  drifted?(): Promise<boolean>;
  /**
   * The module's desired state for this view, as a printable value. `nodeway view --desired`
   * does not create modules: it calls the factory's `plan` (modules/index.ts), which a module
   * that has this should offer too, planning from the config alone.
   */
  desired?(view: NodeView): unknown;
  /** Its own health rule; without one, a module is healthy while no change waits too long (health.ts). */
  health?(): OwnHealth;
  /**
   * The runner queued a change this module consumes (called at once, also while a sync runs or
   * hangs): for health rules on how long changes wait, as kube-proxy's /healthz has.
   */
  queued?(): void;
  /** Stop servers and timers; leave the dataplane in place (a restart must not break traffic). */
  close?(): Promise<void>;
}

/** True when `c` touches a view part the module consumes (full always does). */
export function consumes(inputs: ModuleInputs, c: ViewChanges): boolean {
  if (c.full) return true;
  for (const p of inputs.view) {
    const v = c[p];
    if (typeof v === 'boolean' ? v : v.size > 0) return true;
  }
  return false;
}
