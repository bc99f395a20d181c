// Checks every value that ends up in nft text before anything is rendered: one bad object must
// never reach `nft -f -`, where it would fail the whole transaction for every Service.
import type { IPFamily, Protocol } from '../../src/kube/objects.ts';
import { canonicalIP, cidrContains, ipFamily, parseCIDR, type CIDR } from '../../src/net/ip.ts';

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

/** The canonical IP of this family, or '' when `ip` is not one. */
export function familyIP(ip: string, family: IPFamily): string {
  const c = canonicalIP(ip);
  return c !== '' && ipFamily(c) === family ? c : '';
}

/** Valid CIDRs (or bare IPs) of one family, canonical, with those inside another one dropped. */
export function disjointCIDRs(list: string[], family: IPFamily): { cidrs: string[]; bad: string[] } {
  const parsed: CIDR[] = [];
  const bad: string[] = [];
  for (const raw of list) {
    const text = raw.trim();
    const c = parseCIDR(text.includes('/') ? text : `${text}/${ipFamily(text) === 6 ? 128 : 32}`);
    if (!c) bad.push(raw);
    else if (c.family === family) parsed.push(c);
  }
  parsed.sort((a, b) => a.prefix - b.prefix || (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  const kept: CIDR[] = [];
  for (const c of parsed) {
    const addr = c.text.slice(0, c.text.indexOf('/'));
    if (!kept.some((k) => k.prefix <= c.prefix && cidrContains(k, addr))) kept.push(c);
  }
  const hostBits = family === 4 ? 32 : 128;
  return { cidrs: kept.map((c) => (c.prefix === hostBits ? c.text.slice(0, c.text.indexOf('/')) : c.text)), bad };
}

export function inAnyCIDR(ip: string, cidrs: string[]): boolean {
  return cidrs.some((t) => {
    const c = parseCIDR(t.includes('/') ? t : `${t}/${ipFamily(t) === 6 ? 128 : 32}`);
    return c !== null && cidrContains(c, ip);
  });
}
