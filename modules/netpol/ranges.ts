// ipBlocks as disjoint address ranges: cidr minus except, several blocks merged. nft interval
// sets refuse overlapping elements (EEXIST aborts the whole transaction), so a set is only
// ever given the canonical merge computed here.
import type { IPFamily } from '../../src/kube/objects.ts';
import { bytesToIP, ipBytes, parseCIDR } from '../../src/net/ip.ts';

export type Range = [lo: bigint, hi: bigint];

export function ipToBig(ip: string): bigint {
  let v = 0n;
  for (const b of ipBytes(ip)) v = (v << 8n) | BigInt(b);
  return v;
}

export function bigToIP(v: bigint, family: IPFamily): string {
  const n = family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return bytesToIP(out);
}

export function cidrRange(cidr: string): { family: IPFamily; range: Range } | null {
  const c = parseCIDR(cidr);
  if (!c) return null;
  const bits = c.family === 4 ? 32 : 128;
  const lo = ipToBig(bytesToIP(c.bytes));
  const hi = lo | ((1n << BigInt(bits - c.prefix)) - 1n);
  return { family: c.family, range: [lo, hi] };
}

/** Sorted, merged (overlapping or adjacent ranges joined). */
export function normalize(ranges: Range[]): Range[] {
  const s = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Range[] = [];
  for (const r of s) {
    const last = out.at(-1);
    if (last && r[0] <= last[1] + 1n) {
      if (r[1] > last[1]) last[1] = r[1];
    } else out.push([r[0], r[1]]);
  }
  return out;
}

/** `ranges` minus `cut`, both normalized. */
export function subtract(ranges: Range[], cut: Range[]): Range[] {
  let out = ranges;
  for (const [clo, chi] of cut) {
    const next: Range[] = [];
    for (const [lo, hi] of out) {
      if (chi < lo || clo > hi) next.push([lo, hi]);
      else {
        if (clo > lo) next.push([lo, clo - 1n]);
        if (chi < hi) next.push([chi + 1n, hi]);
      }
    }
    out = next;
  }
  return out;
}

/** The addresses of an ipBlock in `family` (none when the cidr is of the other family). */
export function blockRanges(cidr: string, except: string[], family: IPFamily): Range[] {
  const c = cidrRange(cidr);
  if (!c || c.family !== family) return [];
  const cuts = except.map(cidrRange).filter((x) => x !== null && x.family === family).map((x) => x!.range);
  return subtract([c.range], normalize(cuts));
}

export function rangeText([lo, hi]: Range, family: IPFamily): string {
  return lo === hi ? bigToIP(lo, family) : `${bigToIP(lo, family)}-${bigToIP(hi, family)}`;
}

export function inRanges(ip: bigint, ranges: Range[]): boolean {
  return ranges.some(([lo, hi]) => ip >= lo && ip <= hi);
}
