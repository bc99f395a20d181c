import { isIPv4, isIPv6 } from 'node:net';
import { bytesToIP, ipBytes, parseCIDR } from '../../src/net/ip.ts';

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

/** Parsed by src/net/ip.ts (one CIDR parser); the numbers are for allocation arithmetic. */
export function parseCidr(text: string): Cidr {
  const c = parseCIDR(text);
  if (!c) throw new Error(`invalid CIDR ${text}`);
  const max = c.family === 4 ? 32 : 128;
  const base = c.bytes.reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
  return { family: c.family === 4 ? 'IPv4' : 'IPv6', base, bits: c.prefix, size: 1n << BigInt(max - c.prefix), text };
}

export function cidrContains(c: Cidr, ip: string): boolean {
  if (familyOf(ip) !== c.family) return false;
  const n = ipToBigInt(ip);
  return n >= c.base && n < c.base + c.size;
}
