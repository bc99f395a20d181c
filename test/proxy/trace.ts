// Runs one new connection through an NftState table the way the kernel walks the proxy's
// hooks: prerouting (or output for the host's own traffic) by priority, then input when the
// destination is this node's, else forward, then postrouting. Understands the expressions
// the proxy writes and throws on anything else, so a rule it cannot read fails the test.
import { BlockList, isIPv4 } from 'node:net';
import type { NftChain, NftSet, NftTable } from './nft-state.ts';

export interface Packet {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'sctp';
  port: number;
}

export interface TraceOptions {
  /** Addresses of this node (fib type local, the input hook). */
  local: string[];
  /** 'host': the node's own traffic (output hooks); 'pod' (default): arriving traffic. */
  from?: 'pod' | 'host';
  /** What `numgen random` returns (taken mod N). */
  random?: number;
}

export interface Verdict {
  verdict: 'accept' | 'drop' | 'reject';
  /** `ip:port` (v6 `[ip]:port`) after DNAT, when the packet was DNATed. */
  dnat?: string;
  masquerade: boolean;
  /** Chains walked, in order. */
  chains: string[];
  /** The largest `numgen random mod N` met (to enumerate every pick). */
  mod: number;
}

type Flow = 'continue' | 'return' | 'accept' | 'drop' | 'reject';

interface Ctx {
  pkt: { src: string; dst: string; proto: string; port: number };
  local: Set<string>;
  random: number;
  mark: number;
  dnat: boolean;
  masquerade: boolean;
  chains: string[];
  mod: number;
}

const HOOKS = { pod: ['prerouting'], host: ['output'] } as const;

function baseChains(t: NftTable, hook: string): [string, NftChain][] {
  const prio = (c: NftChain) => Number(/priority (-?\d+)/.exec(c.hook)?.[1] ?? 0);
  return [...t.chains].filter(([, c]) => new RegExp(`hook ${hook} `).test(c.hook)).sort(([, a], [, b]) => prio(a) - prio(b));
}

function inCIDRs(ip: string, cidrs: Iterable<string>): boolean {
  const bl = new BlockList();
  const fam = isIPv4(ip) ? 'ipv4' : 'ipv6';
  for (const c of cidrs) {
    const [a, len] = c.split('/');
    if ((isIPv4(a!) ? 'ipv4' : 'ipv6') !== fam) continue;
    if (len === undefined) bl.addAddress(a!, fam);
    else bl.addSubnet(a!, Number(len), fam);
  }
  return bl.check(ip, fam);
}

export function trace(t: NftTable, pkt: Packet, o: TraceOptions): Verdict {
  const c: Ctx = { pkt: { ...pkt }, local: new Set(o.local), random: o.random ?? 0, mark: 0, dnat: false, masquerade: false, chains: [], mod: 0 };
  const hooks: string[] = [...HOOKS[o.from ?? 'pod']];
  const run = (hook: string): Verdict['verdict'] => {
    for (const [name, chain] of baseChains(t, hook)) {
      const f = walk(t, name, chain, c);
      if (f === 'drop' || f === 'reject') return f;
    }
    return 'accept';
  };
  let out: Verdict['verdict'] = 'accept';
  for (const h of hooks) if ((out = run(h)) !== 'accept') break;
  if (out === 'accept' && o.from !== 'host') out = run(c.local.has(c.pkt.dst) ? 'input' : 'forward');
  if (out === 'accept') out = run('postrouting');
  const verdict: Verdict = { verdict: out, masquerade: c.masquerade, chains: c.chains, mod: c.mod };
  if (c.dnat) verdict.dnat = isIPv4(c.pkt.dst) ? `${c.pkt.dst}:${c.pkt.port}` : `[${c.pkt.dst}]:${c.pkt.port}`;
  return verdict;
}

/** Every outcome over all values of `numgen random`, deduplicated. */
export function traceAll(t: NftTable, pkt: Packet, o: TraceOptions): Verdict[] {
  const first = trace(t, pkt, { ...o, random: 0 });
  const out = [first];
  for (let r = 1; r < first.mod; r++) out.push(trace(t, pkt, { ...o, random: r }));
  return out;
}

function walk(t: NftTable, name: string, chain: NftChain, c: Ctx): Flow {
  c.chains.push(name);
  for (const rule of chain.rules) {
    const f = evalRule(t, rule, c);
    if (f === 'continue') continue;
    return f;
  }
  return 'continue';
}

function jump(t: NftTable, target: string, c: Ctx): Flow {
  const chain = t.chains.get(target);
  if (!chain) throw new Error(`jump to missing chain ${target}`);
  const f = walk(t, target, chain, c);
  return f === 'return' ? 'continue' : f;
}

/** A verdict value of a map element or rule: `goto x` ends the calling chain when x returns. */
function verdict(t: NftTable, v: string, c: Ctx): Flow {
  const [kw, target] = v.split(' ');
  if (kw === 'drop' || kw === 'accept') return kw;
  if (kw === 'reject') return 'reject';
  if (kw === 'jump') return jump(t, target!, c);
  if (kw === 'goto') {
    const f = jump(t, target!, c);
    return f === 'continue' ? 'return' : f;
  }
  throw new Error(`unknown verdict ${v}`);
}

/** A selector's value for this packet, or undefined when the tokens at `i` are no selector. */
function selector(tok: string[], i: number, c: Ctx): [string, number] | undefined {
  const a = tok[i];
  const b = tok[i + 1];
  if ((a === 'ip' || a === 'ip6') && (b === 'saddr' || b === 'daddr')) return [b === 'saddr' ? c.pkt.src : c.pkt.dst, i + 2];
  if (a === 'meta' && b === 'l4proto') return [c.pkt.proto, i + 2];
  if ((a === 'th' || a === 'tcp' || a === 'udp' || a === 'sctp') && b === 'dport') {
    if (a !== 'th' && a !== c.pkt.proto) return ['\0', i + 2];
    return [String(c.pkt.port), i + 2];
  }
  if (a === 'numgen' && b === 'random' && tok[i + 2] === 'mod') {
    const n = Number(tok[i + 3]);
    c.mod = Math.max(c.mod, n);
    let v = c.random % n;
    let j = i + 4;
    if (tok[j] === 'offset') {
      v += Number(tok[j + 1]);
      j += 2;
    }
    return [String(v), j];
  }
  return undefined;
}

/** `sel [. sel]*`: the concatenated value. */
function concat(tok: string[], i: number, c: Ctx): [string, number] | undefined {
  const first = selector(tok, i, c);
  if (!first) return undefined;
  const parts = [first[0]];
  let j = first[1];
  while (tok[j] === '.') {
    const s = selector(tok, j + 1, c);
    if (!s) throw new Error(`bad concatenation at ${tok.slice(j).join(' ')}`);
    parts.push(s[0]);
    j = s[1];
  }
  return [parts.join(' . '), j];
}

function lookup(t: NftTable, ref: string): NftSet {
  const s = t.sets.get(ref.slice(1));
  if (!s) throw new Error(`missing set ${ref}`);
  return s;
}

function member(s: NftSet, v: string): boolean {
  if (/flags interval/.test(s.body)) return inCIDRs(v, s.elements.keys());
  return s.elements.has(v);
}

function evalRule(t: NftTable, rule: string, c: Ctx): Flow {
  const tok = rule.replaceAll('{', ' { ').replaceAll('}', ' } ').replaceAll(',', ' ').split(/\s+/).filter(Boolean);
  let i = 0;
  while (i < tok.length) {
    const w = tok[i]!;
    // Matches: a false one ends the rule.
    if (w === 'ct' && tok[i + 1] === 'state' && tok[i + 2] === 'new') {
      i += 3;
      continue;
    }
    if (w === 'ct' && tok[i + 1] === 'status' && tok[i + 2] === 'dnat') {
      if (!c.dnat) return 'continue';
      i += 3;
      continue;
    }
    if (w === 'fib' && tok[i + 2] === 'type' && tok[i + 3] === 'local') {
      const ip = tok[i + 1] === 'saddr' ? c.pkt.src : c.pkt.dst;
      if (!c.local.has(ip)) return 'continue';
      i += 4;
      continue;
    }
    if (w === 'meta' && tok[i + 1] === 'mark' && tok[i + 2] === '&') {
      const m = Number(tok[i + 3]);
      if ((c.mark & m) !== Number(tok[i + 5])) return 'continue';
      i += 6;
      continue;
    }
    if (w === 'meta' && tok[i + 1] === 'mark' && tok[i + 2] === 'set') {
      const op = tok[i + 5];
      const m = Number(tok[i + 6]);
      c.mark = op === '|' ? c.mark | m : op === '^' ? c.mark ^ m : m;
      i += 7;
      continue;
    }
    if (w === 'masquerade') {
      c.masquerade = true;
      return 'accept';
    }
    if (w === 'dnat') return dnat(t, tok, i + 1, c);
    if (w === 'update') {
      // Affinity: the kernel remembers the client; a trace starts with no memory.
      i += 1 + tok.slice(i + 1).indexOf('}') + 1;
      continue;
    }
    if (w === 'jump' || w === 'goto') return verdict(t, `${w} ${tok[i + 1]}`, c);
    if (w === 'drop' || w === 'accept' || w === 'reject') return w;
    const sel = concat(tok, i, c);
    if (!sel) throw new Error(`cannot read ${tok.slice(i).join(' ')} in: ${rule}`);
    const [v, j] = sel;
    const negate = tok[j] === '!=';
    const k = negate ? j + 1 : j;
    const arg = tok[k]!;
    if (arg === 'vmap') {
      const e = lookup(t, tok[k + 1]!).elements.get(v);
      if (!e) return 'continue';
      return verdict(t, e.value, c);
    }
    let hit: boolean;
    let next: number;
    if (arg.startsWith('@')) {
      hit = member(lookup(t, arg), v);
      next = k + 1;
    } else if (arg === '{') {
      const end = tok.indexOf('}', k);
      hit = inCIDRs(v, tok.slice(k + 1, end));
      next = end + 1;
    } else {
      hit = arg.includes('/') ? inCIDRs(v, [arg]) : v === arg;
      next = k + 1;
    }
    if (hit === negate) return 'continue';
    i = next;
  }
  return 'continue';
}

/** `dnat [ip] to (ADDR:PORT | sel . sel … map @m)`: a lookup miss ends the rule. */
function dnat(t: NftTable, tok: string[], i: number, c: Ctx): Flow {
  if (tok[i] === 'ip' || tok[i] === 'ip6') i++;
  if (tok[i] !== 'to') throw new Error(`bad dnat: ${tok.join(' ')}`);
  let target: string;
  const sel = concat(tok, i + 1, c);
  if (sel) {
    const [v, j] = sel;
    if (tok[j] !== 'map') throw new Error(`bad dnat map: ${tok.join(' ')}`);
    const e = lookup(t, tok[j + 1]!).elements.get(v);
    if (!e) return 'continue';
    target = e.value;
  } else target = tok[i + 1]!;
  // A literal is `ADDR:PORT` (`[ADDR]:PORT` for IPv6); a map value is `ADDR . PORT`.
  const m = /^(?:\[(.+)\]|([^:\s]+)):(\d+)$/.exec(target) ?? /^(\S+)() \. (\d+)$/.exec(target);
  if (!m) throw new Error(`bad dnat target ${target}`);
  c.pkt.dst = m[1] || m[2]!;
  c.pkt.port = Number(m[3]);
  c.dnat = true;
  return 'accept';
}
