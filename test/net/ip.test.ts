// src/net/ip.ts against independent implementations on random addresses: the WHATWG URL
// parser (IPv6 text → canonical text) and net.BlockList (CIDR membership), with every
// spelling IPv6 allows (case, leading zeros, `::` anywhere it fits, a dotted-quad tail).
import { BlockList, isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { canonicalIP, cidrContains, ipBytes, ipFamily, parseCIDR } from '../../src/net/ip.ts';
import { seededRandom as rng } from '../support/rng.ts';


function v6Bytes(r: () => number): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = Math.floor(r() * 256);
  // Zero runs (to be compressed) and the IPv4-mapped prefix, often enough to matter.
  const kind = r();
  if (kind < 0.25) b.fill(0, 0, 10), (b[10] = 0xff), (b[11] = 0xff);
  else if (kind < 0.35) b.fill(0, 0, 8), (b[8] = 0xff), (b[9] = 0xff);
  else if (kind < 0.7) {
    const from = Math.floor(r() * 8) * 2;
    b.fill(0, from, Math.min(16, from + 2 * (1 + Math.floor(r() * 6))));
  }
  return b;
}

/** One of the many texts of `b`. */
function spell(b: Uint8Array, r: () => number): string {
  const dotted = r() < 0.2;
  const groups: string[] = [];
  for (let i = 0; i < (dotted ? 12 : 16); i += 2) {
    let g = ((b[i]! << 8) | b[i + 1]!).toString(16);
    if (r() < 0.2) g = g.padStart(4, '0');
    groups.push(r() < 0.3 ? g.toUpperCase() : g);
  }
  const tail = dotted ? [`${b[12]}.${b[13]}.${b[14]}.${b[15]}`] : [];
  // Compress one run of zero groups, chosen at random among all runs.
  const runs: [number, number][] = [];
  for (let i = 0; i < groups.length; i++) {
    if (!/^0+$/.test(groups[i]!)) continue;
    for (let j = i + 1; j <= groups.length && /^0+$/.test(groups[j - 1]!); j++) runs.push([i, j]);
  }
  if (runs.length && r() < 0.8) {
    const [i, j] = runs[Math.floor(r() * runs.length)]!;
    return `${groups.slice(0, i).join(':')}::${[...groups.slice(j), ...tail].join(':')}`;
  }
  return [...groups, ...tail].join(':');
}

/** The reference: WHATWG's IPv6 serializer (lowercase, longest zero run of 2+ compressed). */
function reference(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

describe('src/net/ip.ts against references', () => {
  it('IPv4-mapped addresses are rejected in every spelling, and only they', () => {
    expect(ipFamily('::ffff:abcd:ef01')).toBe(0);
    expect(ipFamily('::ffff:1.2.3.4')).toBe(0);
    expect(ipFamily('0:0:0:0:0:FFFF:0102:0304')).toBe(0);
    expect(ipFamily('::ffff:0:4934:0')).toBe(6);
    expect(ipFamily('::ffff')).toBe(6);
    expect(ipFamily('fe80::1%eth0')).toBe(0);
    const r = rng(14);
    let mapped = 0;
    for (let n = 0; n < 20_000; n++) {
      const b = v6Bytes(r);
      const text = spell(b, r);
      expect(isIPv6(text), text).toBe(true);
      const ref = reference(text);
      const isMapped = /^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(ref);
      if (isMapped) mapped++;
      expect(ipFamily(text), text).toBe(isMapped ? 0 : 6);
      expect(canonicalIP(text), text).toBe(isMapped ? '' : ref);
      expect([...ipBytes(text)], text).toEqual([...b]);
    }
    expect(mapped).toBeGreaterThan(3000);
  });

  it('CIDR membership agrees with net.BlockList', () => {
    const r = rng(15);
    for (let n = 0; n < 5_000; n++) {
      const v4 = r() < 0.5;
      const net = v4 ? Array.from({ length: 4 }, () => Math.floor(r() * 256)).join('.') : spell(v6Bytes(r).fill(1, 0, 1), r);
      const len = Math.floor(r() * (v4 ? 33 : 129));
      // Half the probes share the network's first bits, so both answers are exercised.
      const probeBytes = v4 ? Uint8Array.from(net.split('.').map(Number)) : ipBytes(net);
      const keep = r() < 0.5 ? len : Math.floor(r() * len);
      for (let bit = keep; bit < probeBytes.length * 8; bit++) if (r() < 0.5) probeBytes[bit >> 3]! ^= 0x80 >> (bit & 7);
      const probe = v4 ? [...probeBytes].join('.') : spell(probeBytes.fill(1, 0, 1), r);
      const fam = v4 ? 'ipv4' : 'ipv6';
      const bl = new BlockList();
      bl.addSubnet(v4 ? net : reference(net), len, fam);
      const c = parseCIDR(`${net}/${len}`);
      expect(c, net).not.toBeNull();
      expect(cidrContains(c!, probe), `${probe} in ${net}/${len}`).toBe(bl.check(v4 ? probe : reference(probe), fam));
    }
  });
});
