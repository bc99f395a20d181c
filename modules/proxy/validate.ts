// Checks every value that ends up in nft text before anything is rendered: one bad object must
// never reach `nft -f -`, where it would fail the whole transaction for every Service. Addresses
// and CIDRs are checked by src/net/ip.ts.
import type { Protocol } from '../../src/kube/objects.ts';

// DNS labels/subdomains (namespaces, Service names) and IANA service names (port names):
// characters nft accepts in an unquoted identifier.
const NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const PORT_NAME_RE = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$/;
const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];

export function validName(s: string): boolean {
  return NAME_RE.test(s);
}

export function validPortName(s: string): boolean {
  return PORT_NAME_RE.test(s);
}

export function validProtocol(p: string): p is Protocol {
  return PROTOCOLS.includes(p);
}

export function validPort(n: number, allowZero = false): boolean {
  return Number.isInteger(n) && n <= 65535 && (n >= 1 || (allowZero && n === 0));
}
