import { isIPv4, isIPv6 } from 'node:net';
import { bytesToIP, ipBytes } from '../net/ip.ts';

export type Family = 'IPv4' | 'IPv6';

export function familyOf(ip: string): Family | undefined {
  return isIPv4(ip) ? 'IPv4' : isIPv6(ip) ? 'IPv6' : undefined;
}

/** The address as a number (bytes from src/net/ip.ts), for allocation arithmetic. */
export function ipToBigInt(ip: string): bigint {
  return ipBytes(ip).reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
}

export function bigIntToIp(n: bigint, family: Family): string {
  const len = family === 'IPv4' ? 4 : 16;
  const bytes = new Uint8Array(len);
  for (let i = 0; i < len; i++) bytes[i] = Number((n >> BigInt((len - 1 - i) * 8)) & 0xffn);
  return bytesToIP(bytes);
}

export interface Cidr {
  family: Family;
  base: bigint;
  bits: number;
  size: bigint;
  text: string;
}

export function parseCidr(text: string): Cidr {
  const [addr, len] = text.split('/');
  const family = familyOf(addr ?? '');
  const bits = Number(len);
  const max = family === 'IPv4' ? 32 : 128;
  if (!family || !Number.isInteger(bits) || bits < 0 || bits > max) throw new Error(`invalid CIDR ${text}`);
  const hostBits = BigInt(max - bits);
  const base = (ipToBigInt(addr!) >> hostBits) << hostBits;
  return { family, base, bits, size: 1n << hostBits, text };
}

export function cidrContains(c: Cidr, ip: string): boolean {
  if (familyOf(ip) !== c.family) return false;
  const n = ipToBigInt(ip);
  return n >= c.base && n < c.base + c.size;
}
