// One IP family's table: plans the desired table (table.ts), diffs it against what it applied
// (changes.ts through the generic differ, owned elements through ElementStore) and applies the
// difference as one atomic `nft -f -` transaction. Memory changes only after nft took the
// transaction, so a failed one leaves both the kernel and memory as they were.
import type { Logger } from 'pino';
import type { IPFamily } from '../../src/kube/objects.ts';
import { diffMaps } from '../../src/reconcile/tracker.ts';
import type { ServiceView } from '../../src/view/types.ts';
import { Serial } from '../../src/runtime/serial.ts';
import { loadTable, sameChain, sameSet, serviceChanges, type Shared } from './changes.ts';
import { ElementStore, type ClaimLookup, type OwnerChange } from './elements.ts';
import type { ProxyMetrics } from './metrics.ts';
import { nftFamily, NODE_OWNER, type BasePlan, type ElementSpec, type NftFamily, type ServicePlan } from './model.ts';
import type { NftExec, TableNames } from './nft.ts';
import type { FamilyNode } from './node.ts';
import { nodeElements, planBase, S, type MasqOptions } from './plan-base.ts';
import type { Skipped } from './plan-service.ts';
import { SLOT_LIMIT } from './placement.ts';
import { planServices, planTable, replan, tableObjects, type DesiredTable, type PlanInputs, type PlannedService, type TableContext } from './table.ts';
import { Tx } from './tx.ts';

export interface FamilyOptions {
  table: string;
  masq: MasqOptions;
  nft: NftExec;
  log: Logger;
  metrics: ProxyMetrics;
  /**
   * Kernels before 6.2 notice only a little later that a chain lost the map element pointing
   * at it: there, removed chains are flushed at once and deleted by a later transaction.
   */
  deleteChainsNow: boolean;
  /** A brand-new table is loaded in scripts of at most this many lines (kubernetes#139328). */
  chunkOps: number;
  now?: () => number;
}

export interface FamilySyncResult {
  kind: 'full' | 'partial' | 'rewrite';
  /** nft operations applied (0: nothing to do). */
  ops: number;
  /** Service keys that were re-planned. */
  planned: string[];
}

const STALE_DELETE_AFTER_MS = 1_000;

function sameBase(a: BasePlan | null, b: BasePlan): boolean {
  return !!a && diffMaps(a.chains, b.chains, sameChain).length === 0 && diffMaps(a.sets, b.sets, sameSet).length === 0;
}

export class FamilyProxy {
  readonly family: IPFamily;
  private readonly nf: NftFamily;
  private readonly o: FamilyOptions;
  private readonly ctx: TableContext;
  private readonly label: { ip_family: string };
  /** What each applied Service's rules were planned from (see PlanInputs). */
  private applied = new Map<string, PlanInputs>();
  private elements = new ElementStore();
  private shared: Shared = { shards: new Set(), pickChains: new Set() };
  /** Services whose Local policy has no local endpoints, per policy (the kube-proxy gauge). */
  private readonly noLocal = { internal: new Set<string>(), external: new Set<string>() };
  private nodeEls: ElementSpec[] = [];
  private base: BasePlan | null = null;
  /** Memory matches the kernel: false before the first success and after any failure. */
  private trusted = false;
  private nodeIP = '';
  /** The next free key of the shard maps. */
  private nextSlot = 0;
  private readonly stale = new Map<string, number>();
  /** One transaction at a time per table: syncs and compactions are queued. */
  private readonly serial = new Serial();

  constructor(family: IPFamily, opts: FamilyOptions) {
    this.family = family;
    this.nf = nftFamily(family);
    this.o = opts;
    this.ctx = { family, masq: opts.masq };
    this.label = { ip_family: family === 4 ? 'IPv4' : 'IPv6' };
  }

  get isTrusted(): boolean {
    return this.trusted;
  }

  /** False when the table this family programmed is gone (a firewall reload); true before any. */
  present(): Promise<boolean> {
    return this.trusted ? this.o.nft.present(this.nf, this.o.table, S.clusterIPs) : Promise.resolve(true);
  }

  /** The plan a Service's applied rules came from (tests). */
  appliedPlan(key: string): ServicePlan | undefined {
    const a = this.applied.get(key);
    return a && replan(a, this.nodeIP, this.ctx);
  }

  /** The table as applied, re-derived from what it was planned from. */
  appliedTable(): DesiredTable | undefined {
    if (!this.base) return undefined;
    const services = new Map<string, PlannedService>();
    for (const [k, inputs] of this.applied) services.set(k, { inputs, plan: replan(inputs, this.nodeIP, this.ctx) });
    return { family: this.family, nodeIP: this.nodeIP, base: this.base, services, node: this.nodeEls };
  }

  /** Ports whose replaced endpoints wait in the overrides maps for compact(). */
  get pendingOverrides(): number {
    return this.elements.pendingOverrides;
  }

  /**
   * Moves overridden endpoints into the main picks maps, in one transaction with the deletes
   * the change itself avoided. A failure applies nothing, so memory still matches the kernel:
   * it is only retried.
   */
  compact(): Promise<number> {
    return this.serial.run(async () => {
      const n = this.elements.pendingOverrides;
      if (!this.trusted || n === 0) return 0;
      const tx = new Tx(this.nf, this.o.table);
      const c = this.elements.compact(tx);
      await this.o.nft.apply(tx.render());
      c.commit();
      return n;
    });
  }

  sync(services: ReadonlyMap<string, ServiceView>, changed: ReadonlySet<string>, full: boolean, node: FamilyNode): Promise<FamilySyncResult> {
    return this.serial.run(() => this.syncNow(services, changed, full, node));
  }

  private async syncNow(services: ReadonlyMap<string, ServiceView>, changed: ReadonlySet<string>, full: boolean, node: FamilyNode): Promise<FamilySyncResult> {
    await this.deleteStaleChains();
    try {
      if (!this.trusted || !sameBase(this.base, planBase(this.family, node.nodePortIPs === 'all', this.o.masq.mark)) || this.nextSlot > SLOT_LIMIT) return await this.rewrite(services, node);
      if (full) {
        const names = await this.o.nft.names(this.nf, this.o.table);
        if (!this.matches(names)) {
          this.o.log.warn({ family: this.nf }, 'table differs from what was applied; rewriting it');
          return await this.rewrite(services, node, names);
        }
      }
      // The node IP decides the LB source-range exception of every Service: re-plan them all
      // (the diff keeps what did not change out of the transaction).
      const everything = full || node.nodeIP !== this.nodeIP;
      return await this.diff(services, everything ? new Set([...services.keys(), ...this.applied.keys()]) : changed, node, full);
    } catch (err) {
      this.trusted = false;
      this.o.metrics.syncFailures.inc(this.label);
      throw err;
    }
  }

  private noteSkipped(skipped: Skipped[]): void {
    for (const s of skipped) {
      this.o.metrics.skipped.inc({ ...this.label, reason: s.reason });
      this.o.log.warn({ family: this.nf, reason: s.reason, detail: s.detail }, 'left out of the proxy rules');
    }
  }

  /** Claims of owners outside a change, from what was applied (memoized per transaction). */
  private lookup(): ClaimLookup {
    const plans = new Map<string, ServicePlan | undefined>();
    return (owner, set, key) => {
      if (owner === NODE_OWNER) return this.nodeEls.find((e) => e.set === set && e.key === key);
      if (!plans.has(owner)) plans.set(owner, this.appliedPlan(owner));
      return plans.get(owner)?.elements.find((e) => e.set === set && e.key === key);
    };
  }

  /** An incremental transaction: the Services under `keys` and the node's elements. */
  private async diff(services: ReadonlyMap<string, ServiceView>, keys: ReadonlySet<string>, node: FamilyNode, full: boolean): Promise<FamilySyncResult> {
    const p = planServices(services, keys, node.nodeIP, this.ctx, { next: this.nextSlot, of: (k) => this.applied.get(k)?.slots });
    this.noteSkipped(p.skipped);
    const tx = new Tx(this.nf, this.o.table);
    const owners: OwnerChange[] = [];
    const gone: string[] = [];
    const added: Shared = { shards: new Set(), pickChains: new Set() };
    const changed = new Map<string, PlannedService | null>();
    for (const [key, next] of p.services) {
      const prev = this.applied.get(key);
      if (prev === undefined && next === null) continue;
      // Unchanged view, unchanged node: the same plan (planning is pure).
      if (prev && next && prev.view === next.inputs.view && node.nodeIP === this.nodeIP) continue;
      const old = prev && replan(prev, this.nodeIP, this.ctx);
      changed.set(key, next);
      serviceChanges(old, next?.plan, tx, this.ctx, { have: this.shared, added, deleteChainsNow: this.o.deleteChainsNow, gone });
      owners.push({ owner: key, before: old?.elements ?? [], after: next?.plan.elements ?? [] });
    }
    const nodeEls = nodeElements(node);
    owners.push({ owner: NODE_OWNER, before: this.nodeEls, after: nodeEls });
    const staged = this.elements.stage(owners, tx, this.lookup());
    this.noteConflicts(staged.conflicts);
    if (tx.size > 0) await this.o.nft.apply(tx.render());
    staged.commit();
    for (const m of added.shards) this.shared.shards.add(m);
    for (const n of added.pickChains) this.shared.pickChains.add(n);
    this.nodeEls = nodeEls;
    this.nodeIP = node.nodeIP;
    this.nextSlot = p.slotsOut;
    for (const [key, r] of changed) {
      this.remember(key, r);
      for (const name of r?.plan.chains.keys() ?? []) this.stale.delete(name);
    }
    const now = this.now();
    for (const name of gone) this.stale.set(name, now);
    this.updateGauges();
    return { kind: full ? 'full' : 'partial', ops: tx.size, planned: [...keys] };
  }

  private remember(key: string, r: PlannedService | null): void {
    if (r) this.applied.set(key, r.inputs);
    else this.applied.delete(key);
    for (const p of ['internal', 'external'] as const) {
      if (r?.plan.noLocal[p]) this.noLocal[p].add(key);
      else this.noLocal[p].delete(key);
    }
  }

  /**
   * Replaces the whole table with the desired one in one transaction (changes.ts loadTable).
   * A table that does not exist yet may be loaded in chunks.
   */
  private async rewrite(services: ReadonlyMap<string, ServiceView>, node: FamilyNode, known?: TableNames): Promise<FamilySyncResult> {
    const keys = [...new Set([...services.keys(), ...this.applied.keys()])];
    const names = known ?? (await this.o.nft.names(this.nf, this.o.table));
    const { table, slotsOut, skipped } = planTable(services, node, this.ctx);
    this.noteSkipped(skipped);
    const objs = tableObjects(table, this.ctx);
    const tx = new Tx(this.nf, this.o.table);
    tx.addTable();
    const staleNow = loadTable(tx, objs, names, this.o.deleteChainsNow);
    const elements = new ElementStore();
    const staged = elements.stage(objs.owners, tx, () => undefined);
    this.noteConflicts(staged.conflicts);
    const scripts = names.exists ? [tx.render()] : tx.renderChunks(this.o.chunkOps);
    for (const s of scripts) await this.o.nft.apply(s);
    staged.commit();
    this.applied = new Map();
    this.noLocal.internal.clear();
    this.noLocal.external.clear();
    for (const [key, r] of table.services) this.remember(key, r);
    this.shared = { shards: objs.shards, pickChains: objs.pickChains };
    this.elements = elements;
    this.nodeEls = table.node;
    this.base = table.base;
    this.nodeIP = node.nodeIP;
    this.nextSlot = slotsOut;
    this.trusted = true;
    this.stale.clear();
    const now = this.now();
    for (const name of staleNow) this.stale.set(name, now);
    this.updateGauges();
    this.o.log.info({ family: this.nf, services: table.services.size, ops: tx.size, scripts: scripts.length }, 'table rewritten');
    return { kind: 'rewrite', ops: tx.size, planned: keys };
  }

  /** The kernel has exactly the chains and sets memory says (a cheap check: names only). */
  private matches(names: TableNames): boolean {
    const t = this.appliedTable();
    if (!names.exists || !t) return false;
    const objs = tableObjects(t, this.ctx);
    const chains = new Set([...objs.chains.keys(), ...this.stale.keys(), ...this.shared.pickChains]);
    const sets = new Set([...objs.sets.keys(), ...this.shared.shards]);
    if (chains.size !== names.chains.size || sets.size !== names.sets.size) return false;
    for (const c of names.chains) if (!chains.has(c)) return false;
    for (const s of names.sets.keys()) if (!sets.has(s)) return false;
    return true;
  }

  /** Deletes chains flushed at least a second ago (only on kernels before 6.2). */
  private async deleteStaleChains(): Promise<void> {
    if (this.stale.size === 0) return;
    const due = [...this.stale].filter(([, t]) => this.now() - t >= STALE_DELETE_AFTER_MS).map(([n]) => n);
    if (due.length === 0) return;
    const tx = new Tx(this.nf, this.o.table);
    for (const n of due) tx.deleteChain(n);
    try {
      await this.o.nft.apply(tx.render());
      for (const n of due) this.stale.delete(n);
    } catch (err) {
      // Harmless: an empty chain nothing points at. Retried at the next sync.
      this.o.metrics.cleanupFailures.inc(this.label);
      this.o.log.warn({ family: this.nf, err: String((err as Error).message) }, 'deleting stale chains failed');
    }
  }

  private noteConflicts(conflicts: string[]): void {
    for (const c of conflicts) {
      this.o.metrics.conflicts.inc(this.label);
      this.o.log.warn({ family: this.nf, element: c }, 'several Services claim one address and port; the first by name wins');
    }
  }

  private updateGauges(): void {
    this.o.metrics.noLocal.set({ ...this.label, traffic_policy: 'internal' }, this.noLocal.internal.size);
    this.o.metrics.noLocal.set({ ...this.label, traffic_policy: 'external' }, this.noLocal.external.size);
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }
}
