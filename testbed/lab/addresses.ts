import { ipFamily } from '../../src/net/ip.ts';

// Node networks come from the benchmarking range 198.18.0.0/15 and a ULA
// prefix that exists only inside lab namespaces, so nothing here can collide
// with, or route to, a real network.
export const NODE_NET_V4 = { base: '198.18.0.', len: 24 };
export const NODE_NET_V6 = { base: 'fd00:198:18::', len: 64 };
/** Node-side gateway every pod uses; on each pod veth, never on the wire. */
export const POD_GATEWAY_V4 = '169.254.1.1';
export const POD_GATEWAY_V6 = 'fe80::1';

// Pods live in 198.18.128.0/17 (one /24 per node) and fd00:198:18:1xx::/64, clear of the
// embedded API server's Service ranges (198.19.0.0/16, fd00:198:19::/112).
export function podCidrV4(nodeIndex: number): string {
  return `198.18.${128 + nodeIndex}.0/24`;
}

export function podCidrV6(nodeIndex: number): string {
  return `fd00:198:18:${(0x100 + nodeIndex).toString(16)}::/64`;
}

export function podAddrV4(nodeIndex: number, n: number): string {
  return `198.18.${128 + nodeIndex}.${n}`;
}

export function podAddrV6(nodeIndex: number, n: number): string {
  return `fd00:198:18:${(0x100 + nodeIndex).toString(16)}::${n.toString(16)}`;
}

export interface Cidr {
  addr: string;
  len: number;
}

/** "198.18.0.7" or "198.18.0.7/24"; defaultLen applies when no length is given. */
export function parseCidr(s: string, defaultLen: number, family: 4 | 6): Cidr {
  const [addr = '', len] = s.split('/');
  if (ipFamily(addr) !== family) throw new Error(`not an IPv${family} address: ${s}`);
  const n = len === undefined ? defaultLen : Number(len);
  if (!Number.isInteger(n) || n < 0 || n > (family === 4 ? 32 : 128)) throw new Error(`bad prefix length in ${s}`);
  return { addr, len: n };
}
