import { describe, expect, it } from 'vitest';
import { diffMaps, hashOf, isEmpty, Tracker } from '../src/reconcile/tracker.ts';

describe('Tracker', () => {
  it('creates, updates and deletes by key and content hash', () => {
    const t = new Tracker<{ a: number }>();
    const d1 = t.diff(new Map([['x', { a: 1 }], ['y', { a: 2 }]]));
    expect(d1.create.map(([k]) => k)).toEqual(['x', 'y']);
    t.done(d1);
    const d2 = t.diff(new Map([['x', { a: 1 }], ['z', { a: 3 }], ['y', { a: 5 }]]));
    expect(d2).toEqual({ create: [['z', { a: 3 }]], update: [['y', { a: 5 }]], delete: [] });
    t.done(d2);
    const d3 = t.diff(new Map([['z', { a: 3 }]]));
    expect(d3.delete.sort()).toEqual(['x', 'y']);
    t.done(d3);
    expect(isEmpty(t.diff(new Map([['z', { a: 3 }]])))).toBe(true);
  });

  it('owes a failed key again and diffs only the keys asked for', () => {
    const t = new Tracker<number>();
    t.done(t.diff(new Map([['a', 1], ['b', 2]])));
    t.failed('a');
    expect(t.diff(new Map([['a', 1], ['b', 2]])).create).toEqual([['a', 1]]);
    const d = t.diffKeys(new Map([['b', 3]]), ['a', 'b', 'c']);
    expect(d).toEqual({ create: [], update: [['b', 3]], delete: [] });
  });

  it('records what was read from the device: equal is nothing to do, absent is a create', () => {
    const t = new Tracker<string>();
    t.observed('conflist', 'a');
    expect(isEmpty(t.diffKeys(new Map([['conflist', 'a']]), ['conflist']))).toBe(true);
    expect(t.diffKeys(new Map([['conflist', 'b']]), ['conflist']).update).toEqual([['conflist', 'b']]);
    t.observed('conflist', undefined);
    expect(t.diffKeys(new Map([['conflist', 'a']]), ['conflist']).create).toEqual([['conflist', 'a']]);
  });

  it('hashes plain values independently of key order, Maps and Sets included', () => {
    expect(hashOf({ a: 1, b: [1, 2] })).toBe(hashOf({ b: [1, 2], a: 1 }));
    expect(hashOf(new Map([['b', 1], ['a', 2]]))).toBe(hashOf(new Map([['a', 2], ['b', 1]])));
    expect(hashOf(new Set([2, 1]))).toBe(hashOf(new Set([1, 2])));
    expect(hashOf({ a: 1 })).not.toBe(hashOf({ a: 2 }));
  });

  it('diffs two held states: changes in the new order, then removals in the old; only the keys asked for', () => {
    const before = new Map([['a', { v: 1 }], ['b', { v: 2 }], ['c', { v: 3 }]]);
    const after = new Map([['c', { v: 4 }], ['a', { v: 1 }], ['d', { v: 5 }]]);
    expect(diffMaps(before, after)).toEqual([
      { key: 'c', before: { v: 3 }, after: { v: 4 } },
      { key: 'd', before: undefined, after: { v: 5 } },
      { key: 'b', before: { v: 2 }, after: undefined },
    ]);
    expect(diffMaps(before, after, () => true).map((c) => c.key)).toEqual(['d', 'b']);
    expect(diffMaps(before, after, undefined, ['b', 'a', 'x']).map((c) => c.key)).toEqual(['b']);
    expect(diffMaps(undefined, undefined)).toEqual([]);
  });
});
