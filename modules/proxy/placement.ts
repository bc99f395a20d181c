// Gives every picking chain a range of keys in a shard map and turns its Pick into a rule and
// elements. A chain whose number of targets did not change keeps its range, so an endpoint
// replaced is an element update and no chain rewrite.
import type { ChainSpec, ElementSpec, Pick as PickSpec, ServicePlan, Slot } from './model.ts';

/** numgen offsets are 32-bit; past this the table is rewritten and keys packed again. */
export const SLOT_LIMIT = 2 ** 31;

export class SlotAllocator {
  next = 0;

  take(size: number): number {
    const at = this.next;
    this.next += size;
    return at;
  }

  reset(): void {
    this.next = 0;
  }
}

/** The shard of a chain: by protocol and the first two characters of the hash in its name. */
export function pickMap(chain: string, pick: PickSpec): string {
  const shard = (chain.split('-')[1] ?? '').slice(0, 2);
  return pick.kind === 'dnat' ? `endpoints-${pick.proto}-${shard}` : `endpoint-chains-${shard}`;
}

export function pickKind(map: string): PickSpec['kind'] {
  return map.startsWith('endpoints-') ? 'dnat' : 'goto';
}

function pickRule(slot: Slot, prefix: string): string {
  return `${prefix}numgen random mod ${slot.size} offset ${slot.offset} ${pickKind(slot.map) === 'dnat' ? 'map' : 'vmap'} @${slot.map}`;
}

/** `plan` with its picks placed (reusing `prev`'s ranges where possible); pure but for `alloc`. */
export function place(plan: ServicePlan, prev: Pick<ServicePlan, 'slots'> | undefined, alloc: SlotAllocator): ServicePlan {
  let picks = 0;
  for (const c of plan.chains.values()) if (c.pick) picks++;
  if (picks === 0) return plan;
  const chains = new Map<string, ChainSpec>();
  const picked: ElementSpec[] = [];
  const slots = new Map<string, Slot>();
  for (const [name, c] of plan.chains) {
    if (!c.pick) {
      chains.set(name, c);
      continue;
    }
    const map = pickMap(name, c.pick);
    const old = prev?.slots?.get(name);
    const size = c.pick.values.length;
    const slot: Slot = old && old.size === size && old.map === map ? old : { map, size, offset: alloc.take(size) };
    slots.set(name, slot);
    chains.set(name, { hook: c.hook, rules: [...c.rules, pickRule(slot, c.pick.prefix)] });
    c.pick.values.forEach((value, i) => picked.push({ set: slot.map, key: String(slot.offset + i), value }));
  }
  return { ...plan, chains, slots, picked };
}
