// One IP family's table: remembers what it applied (per-Service plans, elements with owners)
// and turns each sync into one atomic `nft -f -` transaction. Memory changes only after nft
// took the transaction, so a failed one leaves both the kernel and memory as they were.
import type { Logger } from 'pino';
import type { IPFamily } from '../../src/kube/objects.ts';
import type { ServiceView } from '../../src/view/types.ts';
import { ElementStore, type ClaimLookup, type OwnerChange } from './elements.ts';
import type { ProxyMetrics } from './metrics.ts';
import { emptyServicePlan, nftFamily, NODE_OWNER, type BasePlan, type ChainSpec, type ElementSpec, type NftFamily, type ServicePlan, type SetDecl, type Slot } from './model.ts';
import { isServiceObject } from './names.ts';
import type { NftExec, TableNames } from './nft.ts';
import type { FamilyNode } from './node.ts';
import { BASE_CHAINS, nodeElements, pickChain, pickChainName, pickMapDecl, planBase, type MasqOptions } from './plan-base.ts';
import { planService } from './plan-service.ts';
import { SLOT_LIMIT, SlotAllocator, place } from './placement.ts';
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
  chunkLines: number;
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

function sameChain(a: ChainSpec, b: ChainSpec): boolean {
  return a.hook === b.hook && a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}

function sameBase(a: BasePlan | null, b: BasePlan): boolean {
  if (!a || a.chains.size !== b.chains.size || a.sets.size !== b.sets.size) return false;
  for (const [n, c] of b.chains) if (!a.chains.has(n) || !sameChain(a.chains.get(n)!, c)) return false;
  for (const [n, s] of b.sets) if (a.sets.get(n)?.body !== s.body || a.sets.get(n)?.kind !== s.kind) return false;
  return true;
}

/** A Service's applied rules, kept as what they were planned from. */
interface Applied {
  view: ServiceView;
  slots?: Map<string, Slot>;
}

interface Planned {
  view: ServiceView;
  plan: ServicePlan;
}

/** Shard map elements have one owner each (their key range is the chain's): a plain keyed diff. */
function diffPicked(before: readonly ElementSpec[], after: readonly ElementSpec[], tx: Tx): void {
  const old = new Map(before.map((e) => [`${e.set} ${e.key}`, e]));
  for (const e of after) {
    const k = `${e.set} ${e.key}`;
    const o = old.get(k);
    old.delete(k);
    if (o?.value === e.value) continue;
    if (o) tx.deleteElement(o.set, o.key);
    tx.addElement(e.set, e.key, e.value);
  }
  for (const o of old.values()) tx.deleteElement(o.set, o.key);
}

/** Endpoint counts of the shared pick chains a plan's chain-less ports jump to. */
function pickCounts(plan: ServicePlan | null | undefined): number[] {
  const out: number[] = [];
  for (const e of plan?.elements ?? []) if (e.picks) out.push(e.picks.values.length);
  return out;
}

export class FamilyProxy {
  readonly family: IPFamily;
  private readonly nf: NftFamily;
  private readonly o: FamilyOptions;
  private readonly label: { ip_family: string };
  /** What each Service's rules were planned from: the view itself (shared, not copied) and its key ranges. */
  private applied = new Map<string, Applied>();
  private elements = new ElementStore();
  /** Shared pick chains that exist (created on first use, kept until a rewrite). */
  private pickChains = new Set<string>();
  /** Services whose Local policy has no local endpoints, per policy (the kube-proxy gauge). */
  private readonly noLocal = { internal: new Set<string>(), external: new Set<string>() };
  private nodeEls: ElementSpec[] = [];
  private base: BasePlan | null = null;
  /** Memory matches the kernel: false before the first success and after any failure. */
  private trusted = false;
  private nodeIP = '';
  private readonly stale = new Map<string, number>();
  private readonly slots = new SlotAllocator();
  /** Shard maps of random picks that exist (created on first use, kept until a rewrite). */
  private shards = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(family: IPFamily, opts: FamilyOptions) {
    this.family = family;
    this.nf = nftFamily(family);
    this.o = opts;
    this.label = { ip_family: family === 4 ? 'IPv4' : 'IPv6' };
  }

  get isTrusted(): boolean {
    return this.trusted;
  }

  /** The plan a Service's applied rules came from (tests). */
  appliedPlan(key: string): ServicePlan | undefined {
    const a = this.applied.get(key);
    return a && this.replan(a, this.nodeIP);
  }

  /** Recomputes an applied plan; planning is pure, so this is what was applied. */
  private replan(a: Applied, nodeIP: string): ServicePlan {
    const raw = planService(a.view, { family: this.family, nodeIP, masq: this.o.masq }).plan ?? emptyServicePlan();
    return place(raw, a, this.slots);
  }

  /** Ports whose replaced endpoints wait in the overrides maps for compact(). */
  get pendingOverrides(): number {
    return this.elements.pendingOverrides;
  }

  /** One transaction at a time per table: syncs and compactions are queued. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Moves overridden endpoints into the main picks maps, in one transaction with the deletes
   * the change itself avoided. A failure applies nothing, so memory still matches the kernel:
   * it is only retried.
   */
  compact(): Promise<number> {
    return this.exclusive(async () => {
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
    return this.exclusive(() => this.syncNow(services, changed, full, node));
  }

  private async syncNow(services: ReadonlyMap<string, ServiceView>, changed: ReadonlySet<string>, full: boolean, node: FamilyNode): Promise<FamilySyncResult> {
    await this.deleteStaleChains();
    const base = planBase(this.family, node.nodePortIPs === 'all', this.o.masq.mark);
    // The node IP decides the LB source-range exception of every Service: re-plan them all
    // (the diff keeps what did not change out of the transaction).
    const everything = full || !this.trusted || node.nodeIP !== this.nodeIP;
    const keys = everything ? new Set([...services.keys(), ...this.applied.keys()]) : changed;
    const planned = this.plan(services, keys, node);
    try {
      if (!this.trusted || !sameBase(this.base, base) || this.slots.next > SLOT_LIMIT) return await this.rewrite(base, planned, node);
      if (full) {
        const names = await this.o.nft.names(this.nf, this.o.table);
        if (!this.matches(names)) {
          this.o.log.warn({ family: this.nf }, 'table differs from what was applied; rewriting it');
          return await this.rewrite(base, planned, node, names);
        }
      }
      return await this.diff(planned, node, full);
    } catch (err) {
      this.trusted = false;
      this.o.metrics.syncFailures.inc(this.label);
      throw err;
    }
  }

  private plan(services: ReadonlyMap<string, ServiceView>, keys: Iterable<string>, node: FamilyNode): Map<string, Planned | null> {
    const ctx = { family: this.family, nodeIP: node.nodeIP, masq: this.o.masq };
    const out = new Map<string, Planned | null>();
    for (const key of keys) {
      const svc = services.get(key);
      if (!svc) {
        out.set(key, null);
        continue;
      }
      const r = planService(svc, ctx);
      for (const s of r.skipped) {
        this.o.metrics.skipped.inc({ ...this.label, reason: s.reason });
        this.o.log.warn({ family: this.nf, reason: s.reason, detail: s.detail }, 'left out of the proxy rules');
      }
      out.set(key, r.plan && { view: svc, plan: r.plan });
    }
    return out;
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

  private async diff(planned: Map<string, Planned | null>, node: FamilyNode, full: boolean): Promise<FamilySyncResult> {
    const tx = new Tx(this.nf, this.o.table);
    const owners: OwnerChange[] = [];
    const gone: string[] = [];
    const slotsBefore = this.slots.next;
    const newShards = new Set<string>();
    const newPickChains = new Set<string>();
    const results = new Map<string, Planned | null>();
    for (const [key, raw] of planned) {
      const prev = this.applied.get(key);
      if (prev === undefined && raw === null) continue;
      // Unchanged view, unchanged node: the same plan (planning is pure).
      if (prev && raw && prev.view === raw.view && node.nodeIP === this.nodeIP) continue;
      const old = prev && this.replan(prev, this.nodeIP);
      const plan = raw && place(raw.plan, prev, this.slots);
      results.set(key, raw && plan && { view: raw.view, plan });
      for (const slot of plan?.slots?.values() ?? []) {
        if (this.shards.has(slot.map) || newShards.has(slot.map)) continue;
        newShards.add(slot.map);
        tx.addSet(slot.map, pickMapDecl(this.family, slot.map));
      }
      this.diffChains(old?.chains, plan?.chains, tx, gone);
      for (const [name, decl] of plan?.sets ?? []) if (!old?.sets.has(name)) tx.addSet(name, decl);
      for (const [name, decl] of old?.sets ?? []) if (!plan?.sets.has(name)) tx.deleteSet(name, decl.kind);
      diffPicked(old?.picked ?? [], plan?.picked ?? [], tx);
      for (const n of pickCounts(plan)) {
        const name = pickChainName(n);
        if (this.pickChains.has(name) || newPickChains.has(name)) continue;
        newPickChains.add(name);
        const c = pickChain(this.family, n, this.o.masq);
        tx.addChain(name, c.hook, c.rules);
      }
      owners.push({ owner: key, before: old?.elements ?? [], after: plan?.elements ?? [] });
    }
    const nodeEls = nodeElements(node);
    owners.push({ owner: NODE_OWNER, before: this.nodeEls, after: nodeEls });
    const staged = this.elements.stage(owners, tx, this.lookup());
    this.noteConflicts(staged.conflicts);
    if (tx.size > 0) {
      try {
        await this.o.nft.apply(tx.render());
      } catch (err) {
        this.slots.next = slotsBefore;
        throw err;
      }
    }
    staged.commit();
    for (const m of newShards) this.shards.add(m);
    for (const n of newPickChains) this.pickChains.add(n);
    this.nodeEls = nodeEls;
    this.nodeIP = node.nodeIP;
    for (const [key, r] of results) {
      this.remember(key, r);
      for (const name of r?.plan.chains.keys() ?? []) this.stale.delete(name);
    }
    const now = this.now();
    for (const name of gone) this.stale.set(name, now);
    this.updateGauges();
    return { kind: full ? 'full' : 'partial', ops: tx.size, planned: [...planned.keys()] };
  }

  private remember(key: string, r: Planned | null): void {
    if (r) this.applied.set(key, r.plan.slots ? { view: r.view, slots: r.plan.slots } : { view: r.view });
    else this.applied.delete(key);
    for (const p of ['internal', 'external'] as const) {
      if (r?.plan.noLocal[p]) this.noLocal[p].add(key);
      else this.noLocal[p].delete(key);
    }
  }

  private diffChains(before: Map<string, ChainSpec> | undefined, after: Map<string, ChainSpec> | undefined, tx: Tx, gone: string[]): void {
    for (const [name, spec] of after ?? []) {
      const old = before?.get(name);
      if (!old) tx.addChain(name, spec.hook, spec.rules);
      else if (!sameChain(old, spec)) {
        tx.flushChain(name);
        tx.addRules(name, spec.rules);
      }
    }
    for (const name of before?.keys() ?? []) {
      if (after?.has(name)) continue;
      tx.flushChain(name);
      if (this.o.deleteChainsNow) tx.deleteChain(name);
      else gone.push(name);
    }
  }

  /**
   * Replaces the whole table in one transaction: flush every rule and map, delete what is not
   * wanted any more, declare and fill everything. Affinity sets that are still wanted are
   * kept with their clients. A table that does not exist yet may be loaded in chunks.
   */
  private async rewrite(base: BasePlan, planned: Map<string, Planned | null>, node: FamilyNode, known?: TableNames): Promise<FamilySyncResult> {
    const names = known ?? (await this.o.nft.names(this.nf, this.o.table));
    const tx = new Tx(this.nf, this.o.table);
    tx.addTable();
    const chains = new Map(base.chains);
    const sets = new Map<string, SetDecl>(base.sets);
    const results = new Map<string, Planned>();
    const picked: ElementSpec[] = [];
    const pickChains = new Set<string>();
    this.slots.reset();
    for (const [key, raw] of planned) {
      if (!raw) continue;
      const plan = place(raw.plan, undefined, this.slots);
      results.set(key, { view: raw.view, plan });
      for (const [n, c] of plan.chains) chains.set(n, c);
      for (const [n, s] of plan.sets) sets.set(n, s);
      for (const slot of plan.slots?.values() ?? []) sets.set(slot.map, pickMapDecl(this.family, slot.map));
      for (const n of pickCounts(plan)) {
        const name = pickChainName(n);
        if (!pickChains.has(name)) chains.set(name, pickChain(this.family, n, this.o.masq));
        pickChains.add(name);
      }
      if (plan.picked) picked.push(...plan.picked);
    }
    const staleNow: string[] = [];
    if (names.exists) {
      tx.flushTable();
      for (const [name, kind] of names.sets) {
        // Still-wanted affinity sets keep their clients; everything else is re-created empty.
        if (isServiceObject(name) && sets.has(name)) continue;
        if (!isServiceObject(name)) tx.header.push(`flush ${kind} ${this.nf} ${this.o.table} ${name}`);
        tx.deleteSet(name, kind);
      }
      for (const name of names.chains) {
        // Base chains are re-created so a changed hook or priority takes effect.
        if ((BASE_CHAINS as readonly string[]).includes(name) || (!chains.has(name) && this.o.deleteChainsNow)) tx.deleteChain(name);
        else if (!chains.has(name)) staleNow.push(name);
      }
    }
    for (const [name, decl] of sets) if (!(names.exists && isServiceObject(name) && names.sets.has(name))) tx.addSet(name, decl);
    for (const [name, spec] of chains) tx.addChain(name, spec.hook, spec.rules);
    diffPicked([], picked, tx);
    const elements = new ElementStore();
    const nodeEls = nodeElements(node);
    const owners: OwnerChange[] = [...results].map(([owner, r]) => ({ owner, before: [], after: r.plan.elements }));
    owners.push({ owner: NODE_OWNER, before: [], after: nodeEls });
    const staged = elements.stage(owners, tx, () => undefined);
    this.noteConflicts(staged.conflicts);
    const scripts = names.exists ? [tx.render()] : tx.renderChunks(this.o.chunkLines);
    for (const s of scripts) await this.o.nft.apply(s);
    staged.commit();
    this.applied = new Map();
    this.noLocal.internal.clear();
    this.noLocal.external.clear();
    for (const [key, r] of results) this.remember(key, r);
    this.shards = new Set([...sets.keys()].filter((n) => !base.sets.has(n) && !n.includes('/')));
    this.pickChains = pickChains;
    this.elements = elements;
    this.nodeEls = nodeEls;
    this.base = base;
    this.nodeIP = node.nodeIP;
    this.trusted = true;
    this.stale.clear();
    const now = this.now();
    for (const name of staleNow) this.stale.set(name, now);
    this.updateGauges();
    this.o.log.info({ family: this.nf, services: results.size, ops: tx.size, scripts: scripts.length }, 'table rewritten');
    return { kind: 'rewrite', ops: tx.size, planned: [...planned.keys()] };
  }

  /** The kernel has exactly the chains and sets memory says (a cheap check: names only). */
  private matches(names: TableNames): boolean {
    if (!names.exists || !this.base) return false;
    const chains = new Set([...this.base.chains.keys(), ...this.stale.keys(), ...this.pickChains]);
    const sets = new Set([...this.base.sets.keys(), ...this.shards]);
    for (const a of this.applied.values()) {
      const p = this.replan(a, this.nodeIP);
      for (const n of p.chains.keys()) chains.add(n);
      for (const n of p.sets.keys()) sets.add(n);
    }
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
