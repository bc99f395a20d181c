// `nodeway migrate corefile FILE`: a CoreDNS Corefile (kubeadm's, k3s's, and the edits people
// make to them) → the nodeway config keys that do the same, plus what nodeway does natively and,
// never dropped silently, every line it cannot express.

export interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
  line: number;
}

export interface ServerBlock {
  keys: string[];
  body: Directive[];
  line: number;
}

export class CorefileError extends Error {}

interface Token {
  text: string;
  line: number;
  /** First token on its line. */
  first: boolean;
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  text.split('\n').forEach((raw, i) => {
    let first = true;
    const re = /"((?:[^"\\]|\\.)*)"|([{}])|([^\s{}"#]+)|(#.*)/g;
    for (let m = re.exec(raw); m; m = re.exec(raw)) {
      if (m[4] !== undefined) break;
      const t = m[1] ?? m[2] ?? m[3]!;
      out.push({ text: t, line: i + 1, first });
      first = false;
    }
  });
  return out;
}

/** Corefile text → server blocks and top-level imports (as blocks with no keys). */
export function parseCorefile(text: string): ServerBlock[] {
  const toks = tokenize(text);
  let i = 0;
  const directives = (): Directive[] => {
    const out: Directive[] = [];
    while (i < toks.length && toks[i]!.text !== '}') {
      const head = toks[i++]!;
      if (head.text === '{') throw new CorefileError(`line ${head.line}: unexpected {`);
      const d: Directive = { name: head.text, args: [], line: head.line };
      while (i < toks.length && !toks[i]!.first && toks[i]!.text !== '{' && toks[i]!.text !== '}') d.args.push(toks[i++]!.text);
      if (i < toks.length && toks[i]!.text === '{' && toks[i]!.line === head.line) {
        i++;
        d.block = directives();
        if (toks[i]?.text !== '}') throw new CorefileError(`line ${head.line}: ${d.name}: missing }`);
        i++;
      }
      out.push(d);
    }
    return out;
  };
  const blocks: ServerBlock[] = [];
  while (i < toks.length) {
    const start = toks[i]!;
    if (start.text === 'import') {
      const args: string[] = [];
      i++;
      while (i < toks.length && !toks[i]!.first) args.push(toks[i++]!.text);
      blocks.push({ keys: [], body: [{ name: 'import', args, line: start.line }], line: start.line });
      continue;
    }
    const keys: string[] = [];
    while (i < toks.length && toks[i]!.text !== '{') keys.push(...toks[i++]!.text.split(',').filter(Boolean));
    if (i >= toks.length) throw new CorefileError(`line ${start.line}: server block ${keys.join(' ')} has no {`);
    i++;
    const body = directives();
    if (toks[i]?.text !== '}') throw new CorefileError(`line ${start.line}: server block ${keys.join(' ')}: missing }`);
    i++;
    blocks.push({ keys, body, line: start.line });
  }
  return blocks;
}

export interface Migration {
  /** nodeway config keys. */
  config: Record<string, unknown>;
  /** Directives nodeway covers natively (nothing to set). */
  builtIn: string[];
  /** Directives and options it cannot express, each with its line. */
  unsupported: string[];
}

const text = (d: Directive) => `${d.name}${d.args.length ? ` ${d.args.join(' ')}` : ''}`;
const zoneOf = (key: string): { zone: string; port: number } => {
  const k = key.replace(/^dns:\/\//, '');
  const m = /^(.*?)(?::(\d+))?$/.exec(k)!;
  const zone = m[1]!.toLowerCase().replace(/\.$/, '') || '.';
  return { zone: zone === '' ? '.' : zone, port: m[2] ? Number(m[2]) : 53 };
};
const isArpa = (z: string) => z.endsWith('in-addr.arpa') || z.endsWith('ip6.arpa');
const seconds = (s: string): number | null => {
  const m = /^(\d+)(s|m|h)?$/.exec(s);
  if (!m) return null;
  return Number(m[1]) * (m[2] === 'm' ? 60 : m[2] === 'h' ? 3600 : 1);
};
/** A forward target nodeway can use (plain DNS): the address or resolv.conf path, else null. */
const upstreamOf = (to: string): string | null => {
  if (/^(tls|https|grpc):\/\//.test(to)) return null;
  return to.replace(/^dns:\/\//, '');
};

/** The migration of a parsed Corefile. */
export function migrate(blocks: ServerBlock[]): Migration {
  const m: Migration = { config: {}, builtIn: [], unsupported: [] };
  const cfg = m.config;
  const no = (d: Directive, why: string) => m.unsupported.push(`line ${d.line}: ${text(d)} — ${why}`);
  const yes = (d: Directive, how: string) => m.builtIn.push(`line ${d.line}: ${text(d)} — ${how}`);
  const stubs: string[] = [];
  const hosts: string[] = [];
  const stub = (d: Directive, zone: string, tos: string[]) => {
    const ups = tos.map(upstreamOf);
    if (ups.some((u) => u === null) || ups.length === 0) return no(d, 'only plain DNS upstreams (no tls://, https://, grpc://)');
    stubs.push(`${zone}=${ups.join(' ')}`);
  };
  let mainSeen = false;
  for (const b of blocks) {
    if (b.keys.length === 0) {
      for (const d of b.body) no(d, 'imports are not followed: add what the imported files say by hand');
      continue;
    }
    const zones = b.keys.map(zoneOf);
    const blockText: Directive = { name: b.keys.join(' '), args: ['{…}'], line: b.line };
    for (const z of zones) if (z.port !== 53) no(blockText, `port ${z.port}: nodeway serves port 53 on --cluster-dns, other addresses through dnsListen`);
    if (!zones.some((z) => z.zone === '.')) {
      // A zone's own server block: a stub domain when all it does is forward.
      const fwd = b.body.find((d) => d.name === 'forward');
      for (const d of b.body) {
        if (d === fwd || ['errors', 'log', 'cache', 'loop', 'reload'].includes(d.name)) continue;
        no(d, `in the ${zones.map((z) => z.zone).join(' ')} block: only forwarding is expressed for a zone's own block`);
      }
      if (!fwd) no(blockText, 'a zone block without forward cannot be expressed');
      else {
        if (fwd.args[0] !== '.') no(fwd, 'forward with a FROM other than . inside a zone block');
        for (const z of zones) stub(fwd, z.zone, fwd.args.slice(1));
        for (const o of fwd.block ?? []) forwardOption(o, no, yes);
      }
      continue;
    }
    if (mainSeen) no(blockText, 'a second root server block (nodeway has one)');
    mainSeen = true;
    for (const d of b.body) {
      switch (d.name) {
        case 'errors':
        case 'log':
          yes(d, 'errors and refused clients are logged and counted in metrics');
          break;
        case 'ready':
          yes(d, 'the agent\'s /readyz');
          break;
        case 'health':
          yes(d, 'the agent\'s /healthz');
          for (const o of d.block ?? []) if (o.name === 'lameduck') yes(o, 'the DaemonSet\'s rolling update keeps the node answering');
          break;
        case 'prometheus':
          yes(d, 'CoreDNS-named metrics on the agent\'s metrics listener (the install kit exposes the kube-dns metrics port)');
          break;
        case 'loop':
          yes(d, 'upstreams found to forward back to nodeway are left out (nodeway_dns_forward_loops_total)');
          break;
        case 'reload':
          yes(d, 'the config is read at start; resolv.conf is re-read when it changes');
          break;
        case 'loadbalance':
          no(d, 'answers keep a fixed record order');
          break;
        case 'kubernetes':
          kubernetes(d, cfg, no, yes);
          break;
        case 'forward': {
          const [from = '', ...tos] = d.args;
          if (zoneOf(from).zone !== '.') {
            stub(d, zoneOf(from).zone, tos);
            for (const o of d.block ?? []) forwardOption(o, no, yes);
            break;
          }
          const ups = tos.map(upstreamOf);
          if (ups.some((u) => u === null) || ups.length === 0) no(d, 'only plain DNS upstreams (no tls://, https://, grpc://)');
          else cfg.dnsUpstream = ups;
          for (const o of d.block ?? []) forwardOption(o, no, yes);
          break;
        }
        case 'cache':
          cache(d, cfg, no, yes);
          break;
        case 'hosts':
          hostsPlugin(d, cfg, hosts, no, yes);
          break;
        case 'import':
          no(d, 'imports are not followed: add what the imported files say by hand');
          break;
        default:
          no(d, 'no nodeway equivalent');
          for (const o of d.block ?? []) no(o, `inside ${d.name}`);
      }
    }
  }
  if (stubs.length) cfg.dnsStubDomains = stubs;
  if (hosts.length) cfg.dnsHosts = hosts;
  const byLine = (a: string, b: string) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]);
  m.builtIn.sort(byLine);
  m.unsupported.sort(byLine);
  return m;
}

type Say = (d: Directive, why: string) => void;

function forwardOption(o: Directive, no: Say, yes: Say): void {
  if (o.name === 'max_concurrent') return o.args[0] === '1000' ? yes(o, 'nodeway caps forwarded questions in flight at 1000 (REFUSED beyond)') : no(o, 'the cap is fixed at 1000');
  if (o.name === 'prefer_udp') return yes(o, 'UDP first, TCP when truncated');
  if (o.name === 'policy' && o.args[0] === 'sequential') return yes(o, 'upstreams are tried in order');
  if (o.name === 'health_check' || o.name === 'max_fails') return yes(o, 'an upstream that fails twice rests, with backoff, and is tried last');
  no(o, 'forward option not expressible');
}

function kubernetes(d: Directive, cfg: Record<string, unknown>, no: Say, yes: Say): void {
  const zones = d.args.map((z) => zoneOf(z).zone);
  const cluster = zones.filter((z) => !isArpa(z) && z !== '.');
  if (cluster[0]) cfg.clusterDomain = cluster[0];
  if (cluster.length > 1) no(d, `one cluster domain (${cluster[0]}); ${cluster.slice(1).join(' ')} not served`);
  for (const o of d.block ?? []) {
    switch (o.name) {
      case 'pods':
        if (['disabled', 'insecure', 'verified'].includes(o.args[0] ?? '')) cfg.dnsPods = o.args[0];
        else no(o, 'pods takes disabled, insecure or verified');
        break;
      case 'ttl': {
        const n = Number(o.args[0]);
        if (Number.isInteger(n) && n >= 0 && n <= 3600) cfg.dnsTTL = n;
        else no(o, 'ttl is 0..3600');
        break;
      }
      case 'fallthrough':
        if (o.args.every(isArpa)) yes(o, 'reverse names of non-cluster IPs go to the upstreams');
        else no(o, 'only in-addr.arpa and ip6.arpa fall through');
        break;
      case 'upstream':
        yes(o, 'ExternalName targets are resolved through the upstreams (CoreDNS ignores this option too)');
        break;
      default:
        no(o, 'kubernetes option not expressible');
    }
  }
}

function cache(d: Directive, cfg: Record<string, unknown>, no: Say, yes: Say): void {
  let args = d.args;
  if (args[0] && /^\d+$/.test(args[0])) {
    cfg.dnsCacheSuccessTTL = Number(args[0]);
    cfg.dnsCacheDenialTTL = Number(args[0]);
    args = args.slice(1);
  }
  if (args.some((z) => zoneOf(z).zone !== '.')) no(d, 'the cache covers every forwarded zone');
  const caps: number[] = [];
  for (const o of d.block ?? []) {
    const [a0, a1, a2] = o.args;
    switch (o.name) {
      case 'success':
      case 'denial': {
        if (a0 && /^\d+$/.test(a0)) caps.push(Number(a0));
        if (a1 && /^\d+$/.test(a1)) cfg[o.name === 'success' ? 'dnsCacheSuccessTTL' : 'dnsCacheDenialTTL'] = Number(a1);
        if (a2 && /^\d+$/.test(a2)) cfg.dnsCacheMinTTL = Number(a2);
        break;
      }
      case 'servfail': {
        const s = seconds(a0 ?? '');
        if (s !== null && s <= 300) cfg.dnsCacheServfailTTL = s;
        else no(o, 'servfail is 0..300 s');
        break;
      }
      case 'disable':
        if (o.args.slice(1).every((z) => !isArpa(z) && zoneOf(z).zone !== '.')) yes(o, 'the cluster zone is answered from the watch cache, never from a response cache');
        else no(o, 'only the cluster zone is left uncached');
        break;
      default:
        no(o, 'cache option not expressible');
    }
  }
  if (caps.length) {
    cfg.dnsCacheSize = Math.max(...caps);
    if (new Set(caps).size > 1) no(d, `one size for positive and negative answers (${cfg.dnsCacheSize} each)`);
  }
}

function hostsPlugin(d: Directive, cfg: Record<string, unknown>, hosts: string[], no: Say, yes: Say): void {
  const [file, ...zones] = d.args;
  if (file) {
    if (/NodeHosts$/.test(file)) {
      cfg.dnsNodeHosts = true;
      yes(d, 'k3s writes node names to NodeHosts; nodeway reads them from the Nodes (dnsNodeHosts)');
    } else no(d, `the hosts file ${file} is not read: put its lines in dnsHosts`);
  }
  if (zones.some((z) => zoneOf(z).zone !== '.')) no(d, 'host entries apply to every name');
  let fallthrough = false;
  for (const o of d.block ?? []) {
    if (/^[0-9a-fA-F:.]+$/.test(o.name) && o.args.length) hosts.push(`${o.name} ${o.args.join(' ')}`);
    else if (o.name === 'ttl' && /^\d+$/.test(o.args[0] ?? '')) cfg.dnsHostsTTL = Number(o.args[0]);
    else if (o.name === 'fallthrough' && o.args.length === 0) fallthrough = true;
    else if (o.name === 'reload') yes(o, 'node names follow the Nodes as they change');
    else no(o, 'hosts option not expressible');
  }
  if (!fallthrough) no(d, 'without fallthrough CoreDNS answers NXDOMAIN for every other name; nodeway always falls through');
}

/** The config file text: the keys, then what nodeway does natively and what it cannot express, as comments. */
export function renderMigration(m: Migration, stringify: (v: unknown) => string, source: string): string {
  const lines = [`# nodeway config migrated from ${source} by \`nodeway migrate corefile\``];
  const keys = Object.keys(m.config).length ? stringify(m.config).trimEnd() : '# (no keys: the defaults match)';
  lines.push(keys);
  if (m.builtIn.length) lines.push('', '# Built in (nothing to set):', ...m.builtIn.map((s) => `#   ${s}`));
  if (m.unsupported.length) lines.push('', `# NOT EXPRESSED (${m.unsupported.length}): nodeway does not do these; review before switching:`, ...m.unsupported.map((s) => `#   ${s}`));
  return `${lines.join('\n')}\n`;
}
