// Upstream resolvers: from --dns-upstream items, each an address (IP, IP:PORT, [IPv6]:PORT) or
// a resolv.conf file whose nameserver lines count (the default is the host's /etc/resolv.conf).
import { readFileSync } from 'node:fs';
import { ipFamily } from '../../src/net/ip.ts';
import { canonical } from './names.ts';
import type { UpstreamAddr } from './upstream.ts';

/** An address item → upstream, or null when it is not one. */
export function parseAddress(item: string): UpstreamAddr | null {
  const s = item.trim();
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s);
  let host: string;
  let port = 53;
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2]) port = Number(bracket[2]);
  } else if (ipFamily(s) !== 0) host = s;
  else {
    const m = /^([^:]+):(\d{1,5})$/.exec(s);
    if (!m) return null;
    host = m[1]!;
    port = Number(m[2]);
  }
  host = canonical(host);
  if (!host || port < 1 || port > 65535) return null;
  return { host, port };
}

/** Nameserver addresses of a resolv.conf text (zone indexes dropped; port 53). */
export function parseResolvConf(text: string): UpstreamAddr[] {
  const out: UpstreamAddr[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = canonical(m[1]!.replace(/%.*$/, ''));
    if (host && !out.some((u) => u.host === host)) out.push({ host, port: 53 });
  }
  return out;
}

export function isFileItem(item: string): boolean {
  return item.startsWith('/') || item.startsWith('.');
}

/** Why an --dns-upstream item is unusable, or undefined. */
export function checkUpstreamItem(item: string): string | undefined {
  if (isFileItem(item) || parseAddress(item)) return undefined;
  return `${JSON.stringify(item)} is neither an IP[:PORT] nor a resolv.conf path`;
}

/** Resolves items to addresses, reading files now; unreadable files are reported, not fatal. */
export function loadUpstreams(items: string[], read: (f: string) => string = (f) => readFileSync(f, 'utf8')): { addrs: UpstreamAddr[]; errors: string[] } {
  const addrs: UpstreamAddr[] = [];
  const errors: string[] = [];
  const add = (a: UpstreamAddr) => {
    if (!addrs.some((x) => x.host === a.host && x.port === a.port)) addrs.push(a);
  };
  for (const item of items) {
    if (isFileItem(item)) {
      try {
        parseResolvConf(read(item)).forEach(add);
      } catch (err) {
        errors.push(`${item}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    } else {
      const a = parseAddress(item);
      if (a) add(a);
    }
  }
  return { addrs, errors };
}
