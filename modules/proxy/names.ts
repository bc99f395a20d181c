// kube-proxy's object names (pkg/proxy/nftables: servicePortChainNameBase, hashAndTruncate):
// PREFIX-HASH-ns/svc/proto/portname, HASH = first 8 base32 chars of sha256(base). Readable in
// `nft list` and unique per service port without any registry.
import { createHash } from 'node:crypto';
import type { Protocol } from '../../src/kube/objects.ts';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 of the first 5 bytes of sha256(s): 8 characters. */
export function hash8(s: string): string {
  const d = createHash('sha256').update(s).digest();
  let bits = 0n;
  for (let i = 0; i < 5; i++) bits = (bits << 8n) | BigInt(d[i]!);
  let out = '';
  for (let i = 7; i >= 0; i--) out += B32[Number((bits >> BigInt(i * 5)) & 31n)];
  return out;
}

export function portBase(namespace: string, name: string, protocol: Protocol, portName: string): string {
  return `${namespace}/${name}/${protocol.toLowerCase()}/${portName}`;
}

function hashed(prefix: string, base: string, salt = ''): string {
  return `${prefix}-${hash8(base + salt)}-${base}`;
}

export interface PortChainNames {
  cluster: string;
  local: string;
  external: string;
  firewall: string;
}

export function portChainNames(base: string): PortChainNames {
  return {
    cluster: hashed('service', base),
    local: hashed('local', base),
    external: hashed('external', base),
    firewall: hashed('firewall', base),
  };
}

function endpointBase(base: string, ip: string, port: number): string {
  return `${base}__${ip.replaceAll(':', '.')}/${port}`;
}

export function endpointChainName(base: string, ip: string, port: number): string {
  return hashed('endpoint', endpointBase(base, ip, port));
}

/**
 * The timeout is hashed into the name: a set's flags cannot be changed in place (nft 1.0.6
 * silently drops `dynamic` when re-declared with another timeout), so a new timeout means a
 * new set, swapped in by the same transaction that rewrites the chains using it.
 */
export function affinitySetName(base: string, ip: string, port: number, timeout: number): string {
  return hashed('affinity', endpointBase(base, ip, port), `/${timeout}`);
}

/** Names our per-service objects carry (they all contain a '/'), as kube-proxy's isServiceChainName. */
export function isServiceObject(name: string): boolean {
  return name.includes('/');
}
