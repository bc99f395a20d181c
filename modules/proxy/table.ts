// The desired state of one family's table, as a value: planTable(views, node, slotsIn) gives
// every Service's placed plan plus the table skeleton and the node's elements, and
// tableObjects() flattens that into the chains, sets and elements the kernel should hold (what
// a full load writes and `nodeway view --desired proxy` prints). Pure: slot placement reads
// `slotsIn` and returns where the next free key is instead of keeping a counter.
import type { IPFamily } from '../../src/kube/objects.ts';
import type { ServiceView } from '../../src/view/types.ts';
import type { OwnerChange } from './elements.ts';
import { emptyServicePlan, NODE_OWNER, type BasePlan, type ChainSpec, type ElementSpec, type ServicePlan, type SetDecl, type Slot } from './model.ts';
import type { FamilyNode } from './node.ts';
import { nodeElements, pickChain, pickChainName, pickMapDecl, planBase, type MasqOptions } from './plan-base.ts';
import { planService, type Skipped } from './plan-service.ts';
import { place, SlotAllocator } from './placement.ts';

export interface TableContext {
  family: IPFamily;
  masq: MasqOptions;
}

/**
 * What a Service's rules were planned from. Planning is pure, so these inputs stand for the
 * plan: the executor remembers them, not plans (10,000 placed plans cost 23 MiB of heap; their
 * views nothing, the node view holds them anyway).
 */
export interface PlanInputs {
  view: ServiceView;
  slots?: Map<string, Slot>;
}

/** A Service's placed plan and what it came from. */
export interface PlannedService {
  inputs: PlanInputs;
  plan: ServicePlan;
}

/** Key ranges already given out: each Service's own, and the next free key. */
export interface SlotsIn {
  next: number;
  of(key: string): Map<string, Slot> | undefined;
}

export const FRESH_SLOTS: SlotsIn = { next: 0, of: () => undefined };

export interface DesiredTable {
  family: IPFamily;
  nodeIP: string;
  base: BasePlan;
  /** Service key → its placed plan; a Service that programs nothing in this family is absent. */
  services: Map<string, PlannedService>;
  node: ElementSpec[];
}

export interface Planned {
  /** null: the Service programs nothing in this family (gone, not proxied, no address of it). */
  services: Map<string, PlannedService | null>;
  slotsOut: number;
  skipped: Skipped[];
}

function inputsOf(view: ServiceView, plan: ServicePlan): PlanInputs {
  return plan.slots ? { view, slots: plan.slots } : { view };
}

/** Plans and places the Services under `keys` (absent from `services`: null). */
export function planServices(services: ReadonlyMap<string, ServiceView>, keys: Iterable<string>, nodeIP: string, ctx: TableContext, slotsIn: SlotsIn): Planned {
  const alloc = new SlotAllocator();
  alloc.next = slotsIn.next;
  const pctx = { family: ctx.family, nodeIP, masq: ctx.masq };
  const out = new Map<string, PlannedService | null>();
  const skipped: Skipped[] = [];
  for (const key of keys) {
    const view = services.get(key);
    const r = view && planService(view, pctx);
    if (r) skipped.push(...r.skipped);
    if (!view || !r?.plan) {
      out.set(key, null);
      continue;
    }
    const slots = slotsIn.of(key);
    const plan = place(r.plan, slots && { slots }, alloc);
    out.set(key, { inputs: inputsOf(view, plan), plan });
  }
  return { services: out, slotsOut: alloc.next, skipped };
}

/** The whole table for `services` on `node`, keys packed from `slotsIn` (fresh by default). */
export function planTable(services: ReadonlyMap<string, ServiceView>, node: FamilyNode, ctx: TableContext, slotsIn: SlotsIn = FRESH_SLOTS): { table: DesiredTable; slotsOut: number; skipped: Skipped[] } {
  const p = planServices(services, services.keys(), node.nodeIP, ctx, slotsIn);
  const planned = new Map<string, PlannedService>();
  for (const [k, s] of p.services) if (s) planned.set(k, s);
  const table: DesiredTable = { family: ctx.family, nodeIP: node.nodeIP, base: planBase(ctx.family, node.nodePortIPs === 'all', ctx.masq.mark), services: planned, node: nodeElements(node) };
  return { table, slotsOut: p.slotsOut, skipped: p.skipped };
}

/** The plan remembered inputs give again (with their own key ranges). */
export function replan(inputs: PlanInputs, nodeIP: string, ctx: TableContext): ServicePlan {
  const raw = planService(inputs.view, { family: ctx.family, nodeIP, masq: ctx.masq }).plan ?? emptyServicePlan();
  return place(raw, inputs, new SlotAllocator());
}

/** Endpoint counts of the shared pick chains a plan's chain-less ports jump to. */
function pickCounts(plan: ServicePlan | null | undefined): number[] {
  const out: number[] = [];
  for (const e of plan?.elements ?? []) if (e.picks) out.push(e.picks.values.length);
  return out;
}

/** Objects a plan needs that Services share: shard maps of its key ranges and pick-N chains. */
export function sharedObjects(plan: ServicePlan | null | undefined, ctx: TableContext): { maps: [string, SetDecl][]; chains: [string, ChainSpec][] } {
  const maps: [string, SetDecl][] = [];
  for (const slot of plan?.slots?.values() ?? []) maps.push([slot.map, pickMapDecl(ctx.family, slot.map)]);
  const chains: [string, ChainSpec][] = pickCounts(plan).map((n) => [pickChainName(n), pickChain(ctx.family, n, ctx.masq)]);
  return { maps, chains };
}

/** Everything the kernel should hold for a table, in load order. */
export interface TableObjects {
  sets: Map<string, SetDecl>;
  chains: Map<string, ChainSpec>;
  /** Shard map elements of the key ranges (one owner each). */
  picked: ElementSpec[];
  /** Owned map and set elements, per owner (several may claim one key: ElementStore decides). */
  owners: OwnerChange[];
  /** The shared objects Services created: shard maps and pick chains. */
  shards: Set<string>;
  pickChains: Set<string>;
}

export function tableObjects(t: DesiredTable, ctx: TableContext): TableObjects {
  const out: TableObjects = { sets: new Map(t.base.sets), chains: new Map(t.base.chains), picked: [], owners: [], shards: new Set(), pickChains: new Set() };
  for (const [owner, { plan }] of t.services) {
    for (const [n, c] of plan.chains) out.chains.set(n, c);
    for (const [n, s] of plan.sets) out.sets.set(n, s);
    const shared = sharedObjects(plan, ctx);
    for (const [n, s] of shared.maps) {
      out.sets.set(n, s);
      out.shards.add(n);
    }
    for (const [n, c] of shared.chains) {
      if (!out.pickChains.has(n)) out.chains.set(n, c);
      out.pickChains.add(n);
    }
    if (plan.picked) out.picked.push(...plan.picked);
    out.owners.push({ owner, before: [], after: plan.elements });
  }
  out.owners.push({ owner: NODE_OWNER, before: [], after: t.node });
  return out;
}

/** The table as a printable value, sorted (`nodeway view --desired proxy`); several claims of one key: the smallest owner's. */
export interface PrintedTable {
  sets: Record<string, string>;
  chains: Record<string, string[]>;
  elements: Record<string, string[]>;
}

export function printTable(objs: TableObjects): PrintedTable {
  const byName = <T>(m: Map<string, T>, f: (v: T) => unknown) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, f(v)]));
  const won = new Map<string, { owner: string; e: ElementSpec }>();
  for (const { owner, after } of objs.owners) {
    for (const e of after) {
      const k = `${e.set}\n${e.key}`;
      const w = won.get(k);
      if (!w || owner < w.owner) won.set(k, { owner, e });
    }
  }
  const elements = new Map<string, string[]>();
  const add = (set: string, key: string, value: string) => {
    const list = elements.get(set) ?? [];
    elements.set(set, list);
    list.push(value ? `${key} : ${value}` : key);
  };
  for (const e of objs.picked) add(e.set, e.key, e.value);
  for (const { e } of won.values()) {
    add(e.set, e.comment ? `${e.key} comment "${e.comment}"` : e.key, e.value);
    e.picks?.values.forEach((v, i) => add(e.picks!.set, `${e.picks!.key} . ${i}`, v));
  }
  return {
    sets: byName(objs.sets, (d) => `${d.kind} { ${d.body} }`) as Record<string, string>,
    chains: byName(objs.chains, (c) => (c.hook ? [`{ ${c.hook} }`, ...c.rules] : c.rules)) as Record<string, string[]>,
    elements: byName(elements, (l) => [...l].sort()) as Record<string, string[]>,
  };
}
