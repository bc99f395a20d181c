// The nodeway.dev/* annotations the mesh reads and writes on Node objects. Flat keys rather
// than one JSON blob: an operator can read or override one with kubectl, and one bad value
// spoils only itself.
import { canonicalIP, ipFamily } from '../../src/net/ip.ts';

export const ANN = {
  /** Agent-written: the node's WireGuard public key (base64). */
  publicKey: 'nodeway.dev/wg-public-key',
  /** Agent-written: UDP listen port. */
  port: 'nodeway.dev/wg-port',
  /** Agent-written: candidate endpoints (comma list of ip:port, [v6]:port), preferred first. */
  endpoints: 'nodeway.dev/wg-endpoints',
  /** Operator-set: the one endpoint peers must use (ip, ip:port, [v6]:port); wins over candidates. */
  endpoint: 'nodeway.dev/wg-endpoint',
  /** Operator-set: persistent keepalive in seconds (0 = off) for this node's peers. */
  keepalive: 'nodeway.dev/wg-keepalive',
} as const;

/** The annotations this agent owns on its own Node: written when they differ, removed when empty. */
export const OWNED = [ANN.publicKey, ANN.port, ANN.endpoints] as const;

export interface Endpoint {
  ip: string; // canonical
  port: number;
}

// 32 bytes in base64: 43 characters whose last one carries only 4 bits, then '='.
const KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export function isValidKey(k: string): boolean {
  return KEY.test(k);
}

export function formatEndpoint(e: Endpoint): string {
  return ipFamily(e.ip) === 6 ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

function parsePort(s: string): number {
  if (!/^\d{1,5}$/.test(s)) return 0;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : 0;
}

/** "ip", "ip:port", "[v6]:port" or a bare v6; null when it is none of these. */
export function parseEndpoint(text: string, defaultPort: number): Endpoint | null {
  const s = text.trim();
  let host = s;
  let port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) port = parsePort(bracket[2]);
  } else if (ipFamily(s) === 0 && s.lastIndexOf(':') > 0 && s.indexOf(':') === s.lastIndexOf(':')) {
    host = s.slice(0, s.lastIndexOf(':'));
    port = parsePort(s.slice(s.lastIndexOf(':') + 1));
  }
  const ip = canonicalIP(host);
  if (ip === '' || port === 0) return null;
  return { ip, port };
}

export interface PeerAnnotations {
  publicKey: string; // '' when absent
  keyProblem: string; // '' when the key is absent or valid
  port: number; // 0 when absent or bad
  endpoints: Endpoint[];
  forced: Endpoint | null;
  keepalive: number | null; // null = not set
  problems: string[];
}

/** Reads a Node's mesh annotations; anything unparsable is reported, never thrown. */
export function readAnnotations(ann: Record<string, string>, defaultPort: number): PeerAnnotations {
  const problems: string[] = [];
  const publicKey = (ann[ANN.publicKey] ?? '').trim();
  const keyProblem = publicKey !== '' && !isValidKey(publicKey) ? `${ANN.publicKey} is not a base64 WireGuard key` : '';
  let port = 0;
  if (ann[ANN.port] !== undefined) {
    port = parsePort(ann[ANN.port]!.trim());
    if (port === 0) problems.push(`${ANN.port} ${JSON.stringify(ann[ANN.port])} is not a port`);
  }
  const effectivePort = port || defaultPort;
  const endpoints: Endpoint[] = [];
  for (const item of (ann[ANN.endpoints] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const e = parseEndpoint(item, effectivePort);
    if (e) endpoints.push(e);
    else problems.push(`${ANN.endpoints} item ${JSON.stringify(item)} is not ip:port`);
  }
  let forced: Endpoint | null = null;
  if (ann[ANN.endpoint] !== undefined && ann[ANN.endpoint]!.trim() !== '') {
    forced = parseEndpoint(ann[ANN.endpoint]!, effectivePort);
    if (!forced) problems.push(`${ANN.endpoint} ${JSON.stringify(ann[ANN.endpoint])} is not ip[:port]`);
  }
  let keepalive: number | null = null;
  if (ann[ANN.keepalive] !== undefined) {
    const v = ann[ANN.keepalive]!.trim().replace(/s$/, '');
    if (/^\d{1,5}$/.test(v) && Number(v) <= 65535) keepalive = Number(v);
    else problems.push(`${ANN.keepalive} ${JSON.stringify(ann[ANN.keepalive])} is not a number of seconds`);
  }
  return { publicKey, keyProblem, port, endpoints, forced, keepalive, problems };
}
