// Converters for the policy kinds: networking.k8s.io/v1 NetworkPolicy and
// policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy. Whatever cannot be read fails
// closed: an unreadable peer or port never widens what a rule allows, and for the cluster
// kind's Deny and Pass rules it widens what they match (the API's rule for unknown peers).
import type {
  CNPAction, CNPPeer, CNPRule, ClusterNetworkPolicy, LabelSelector, NetworkPolicy, PolicyPeer, PolicyPort, PolicyRule, Protocol, SelectorOp,
} from './objects.ts';
import { parseCIDR, type CIDR } from '../net/ip.ts';
import { arr, fit, InvalidObject, meta, obj, port, protocol, show, str, type Raw, type Warn } from './raw.ts';

const OPS: ReadonlySet<string> = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);
const NAMED_PORT = /^(?=.{1,15}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** A metav1.LabelSelector; anything unreadable in it makes it match nothing. */
export function toSelector(v: unknown, at: string, warn: Warn): LabelSelector {
  const raw = obj(v);
  const out: LabelSelector = { matchLabels: {}, matchExpressions: [] };
  const never = (why: string): LabelSelector => {
    warn(`${at}: ${why}; the selector matches nothing`);
    return { matchLabels: {}, matchExpressions: [], never: true };
  };
  if (v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v))) return never(`selector ${show(v)} is not an object`);
  for (const [k, val] of Object.entries(obj(raw.matchLabels))) {
    if (typeof val !== 'string') return never(`matchLabels ${show(k)} is not a string`);
    out.matchLabels[k] = val;
  }
  for (const e of arr(raw.matchExpressions)) {
    const re = obj(e);
    const op = str(re.operator);
    const key = str(re.key);
    const values = arr(re.values);
    if (!key || !OPS.has(op)) return never(`matchExpression ${show(key)} ${show(re.operator)} is not understood`);
    if (values.some((x) => typeof x !== 'string')) return never(`matchExpression ${show(key)} has a non-string value`);
    const needsValues = op === 'In' || op === 'NotIn';
    if (needsValues !== values.length > 0) return never(`matchExpression ${show(key)} ${op} has ${values.length} values`);
    out.matchExpressions.push({ key, operator: op as SelectorOp, values: [...new Set(values as string[])].sort() });
  }
  return out;
}

/** Does `labels` satisfy `sel`? */
export function selects(sel: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  if (sel.never) return false;
  for (const k in sel.matchLabels) if (labels[k] !== sel.matchLabels[k]) return false;
  for (const e of sel.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In': if (!has || !e.values.includes(labels[e.key]!)) return false; break;
      case 'NotIn': if (has && e.values.includes(labels[e.key]!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
    }
  }
  return true;
}

function within(outer: CIDR, inner: CIDR): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  for (let bit = 0; bit < outer.prefix; bit++) {
    const i = bit >> 3, m = 0x80 >> (bit & 7);
    if ((outer.bytes[i]! & m) !== (inner.bytes[i]! & m)) return false;
  }
  return true;
}

function ipBlock(v: unknown, at: string, warn: Warn): PolicyPeer | null {
  const b = obj(v);
  const cidr = parseCIDR(str(b.cidr));
  if (!cidr) {
    warn(`${at}: ipBlock cidr ${show(b.cidr)} is not a CIDR; peer ignored`);
    return null;
  }
  const except: string[] = [];
  for (const e of arr(b.except)) {
    const c = parseCIDR(str(e));
    if (!c || !within(cidr, c)) {
      warn(`${at}: ipBlock except ${show(e)} is not a CIDR inside ${cidr.text}; peer ignored`);
      return null;
    }
    except.push(c.text);
  }
  return { kind: 'ipBlock', cidr: cidr.text, except: fit(except) };
}

function npPeer(v: unknown, at: string, warn: Warn): PolicyPeer | null {
  const p = obj(v);
  const hasSel = p.podSelector != null || p.namespaceSelector != null;
  if (p.ipBlock != null) {
    if (hasSel) {
      warn(`${at}: a peer with ipBlock and selectors; peer ignored`);
      return null;
    }
    return ipBlock(p.ipBlock, at, warn);
  }
  if (!hasSel) {
    warn(`${at}: a peer with neither podSelector, namespaceSelector nor ipBlock; peer ignored`);
    return null;
  }
  return {
    kind: 'pods',
    namespaceSelector: p.namespaceSelector == null ? null : toSelector(p.namespaceSelector, at, warn),
    podSelector: p.podSelector == null ? null : toSelector(p.podSelector, at, warn),
  };
}

function npPort(v: unknown, at: string, warn: Warn): PolicyPort | null {
  const p = obj(v);
  const proto = protocol(p.protocol, at, warn);
  if (proto === null) return null;
  const out: PolicyPort = { protocol: proto };
  if (p.port !== undefined && p.port !== null) {
    if (typeof p.port === 'string' && NAMED_PORT.test(p.port)) out.port = p.port;
    else if (typeof p.port === 'string' && /^\d+$/.test(p.port) && port(Number(p.port))) out.port = Number(p.port); // an IntOrString sent as text
    else if (port(p.port)) out.port = p.port as number;
    else {
      warn(`${at}: port ${show(p.port)} is neither a port number nor a port name; entry ignored`);
      return null;
    }
  }
  if (p.endPort !== undefined && p.endPort !== null) {
    if (typeof out.port !== 'number' || !port(p.endPort) || (p.endPort as number) < out.port) {
      warn(`${at}: endPort ${show(p.endPort)} needs a numeric port not above it; entry ignored`);
      return null;
    }
    if ((p.endPort as number) > out.port) out.endPort = p.endPort as number;
  }
  return out;
}

/** Missing or empty: null (everything); otherwise what could be read, possibly nothing. */
function list<T>(v: unknown, one: (x: unknown) => T | null): T[] | null {
  const items = arr(v);
  if (items.length === 0) return null;
  const out: T[] = [];
  for (const x of items) {
    const r = one(x);
    if (r !== null) out.push(r);
  }
  return out;
}

function npRule(v: unknown, peersField: 'from' | 'to', at: string, warn: Warn): PolicyRule {
  const r = obj(v);
  return {
    ports: list(r.ports, (x) => npPort(x, at, warn)),
    peers: list(r[peersField], (x) => npPeer(x, at, warn)),
  };
}

export function toNetworkPolicy(raw: Raw, warn: Warn): NetworkPolicy {
  const { namespace, name } = meta(raw, true);
  const at = `networkpolicy ${namespace}/${name}`;
  const spec = obj(raw.spec);
  if (spec.podSelector != null && (typeof spec.podSelector !== 'object' || Array.isArray(spec.podSelector))) {
    throw new InvalidObject(`${at}: podSelector is not an object`);
  }
  const podSelector = toSelector(spec.podSelector, at, warn);
  // A subject selector that cannot be read would silently select nothing: refuse the object
  // instead (the cache keeps its last readable version).
  if (podSelector.never) throw new InvalidObject(`${at}: podSelector cannot be read`);
  const types = arr(spec.policyTypes);
  for (const t of types) if (t !== 'Ingress' && t !== 'Egress') warn(`${at}: unknown policyType ${show(t)} ignored`);
  const egress = arr(spec.egress);
  return {
    namespace,
    name,
    podSelector,
    // The API server's defaults (SetDefaults_NetworkPolicy): Ingress always, Egress iff egress rules.
    ingressIsolation: types.length ? types.includes('Ingress') : true,
    egressIsolation: types.length ? types.includes('Egress') : egress.length > 0,
    ingress: arr(spec.ingress).map((r) => npRule(r, 'from', at, warn)),
    egress: egress.map((r) => npRule(r, 'to', at, warn)),
  };
}

const ACTIONS: ReadonlySet<string> = new Set(['Accept', 'Deny', 'Pass']);
const PROTOS: [string, Protocol][] = [['tcp', 'TCP'], ['udp', 'UDP'], ['sctp', 'SCTP']];

function cnpProtocol(v: unknown): PolicyPort[] | null {
  const p = obj(v);
  if (typeof p.destinationNamedPort === 'string' && NAMED_PORT.test(p.destinationNamedPort)) {
    // The name is matched with whatever protocol the pod declares it with.
    return PROTOS.map(([, proto]) => ({ protocol: proto, port: p.destinationNamedPort as string }));
  }
  for (const [field, proto] of PROTOS) {
    if (p[field] == null) continue;
    const dp = obj(obj(p[field]).destinationPort);
    if (obj(p[field]).destinationPort == null) return [{ protocol: proto }];
    if (port(dp.number)) return [{ protocol: proto, port: dp.number as number }];
    const range = obj(dp.range);
    if (port(range.start) && port(range.end) && (range.end as number) >= (range.start as number)) {
      return [{ protocol: proto, port: range.start as number, endPort: range.end as number }];
    }
    return null;
  }
  return null;
}

function cnpRule(v: unknown, peersField: 'from' | 'to', at: string, warn: Warn): CNPRule {
  const r = obj(v);
  let action = str(r.action) as CNPAction;
  if (!ACTIONS.has(action)) {
    warn(`${at}: unknown action ${show(r.action)}; treated as Deny`);
    action = 'Deny';
  }
  const peers: CNPPeer[] = [];
  let unknownPeer = arr(r[peersField]).length === 0;
  let unsupported = 'unreadable';
  for (const x of arr(r[peersField])) {
    const p = obj(x);
    const fields = Object.keys(p).filter((k) => p[k] != null);
    if (fields.length !== 1) unknownPeer = true;
    else if (fields[0] === 'namespaces') {
      peers.push({ kind: 'pods', namespaceSelector: toSelector(p.namespaces, at, warn), podSelector: null });
    } else if (fields[0] === 'pods') {
      const np = obj(p.pods);
      peers.push({ kind: 'pods', namespaceSelector: toSelector(np.namespaceSelector ?? {}, at, warn), podSelector: toSelector(np.podSelector ?? {}, at, warn) });
    } else if (fields[0] === 'nodes' && peersField === 'to') {
      peers.push({ kind: 'nodes', nodeSelector: toSelector(p.nodes, at, warn) });
    } else if (fields[0] === 'domainNames' && peersField === 'to') {
      unknownPeer = true;
      unsupported = 'domainNames';
    } else if (fields[0] === 'networks' && peersField === 'to') {
      for (const c of arr(p.networks)) {
        const cidr = parseCIDR(str(c));
        if (cidr) peers.push({ kind: 'ipBlock', cidr: cidr.text, except: fit([]) });
        else unknownPeer = true;
      }
    } else unknownPeer = true;
  }
  if (unknownPeer) {
    const what = unsupported === 'domainNames'
      // FQDN policy needs the answers of a DNS-snooping proxy on the pod's path; nodeway's dns
      // module forwards such names but modules share only the view, never their state.
      ? 'a domainNames peer, which nodeway does not support (it needs the DNS answers pods get, which the netpol module never sees)'
      : 'a peer nodeway cannot read';
    warn(`${at}: rule ${show(str(r.name))} has ${what}; ${action === 'Accept' ? 'it matches nothing' : 'it matches everything'} (fail closed)`);
  }
  let ports: PolicyPort[] | null = null;
  if (arr(r.protocols).length) {
    ports = [];
    for (const x of arr(r.protocols)) {
      const got = cnpProtocol(x);
      if (got) ports.push(...got);
      else if (action !== 'Accept') {
        ports = null; // fail closed: a Deny or Pass with an unreadable protocol matches every port
        break;
      }
    }
    if (ports && ports.length < arr(r.protocols).length) warn(`${at}: rule ${show(str(r.name))} has protocols nodeway cannot read; ignored`);
  }
  return { name: str(r.name).slice(0, 100), action, peers: fit(peers), unknownPeer, ...(unknownPeer ? { unsupported } : {}), ports };
}

export function toClusterNetworkPolicy(raw: Raw, warn: Warn): ClusterNetworkPolicy {
  const { name } = meta(raw, false);
  const at = `clusternetworkpolicy ${name}`;
  const spec = obj(raw.spec);
  const tier = spec.tier;
  if (tier !== 'Admin' && tier !== 'Baseline') throw new InvalidObject(`${at}: tier ${show(tier)} is not Admin or Baseline`);
  const priority = spec.priority;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0 || priority > 1000) {
    throw new InvalidObject(`${at}: priority ${show(priority)} is not an integer in 0–1000`);
  }
  const subj = obj(spec.subject);
  let subject: ClusterNetworkPolicy['subject'];
  if (subj.namespaces != null && subj.pods == null) subject = { namespaceSelector: toSelector(subj.namespaces, at, warn), podSelector: null };
  else if (subj.pods != null && subj.namespaces == null) {
    const p = obj(subj.pods);
    subject = { namespaceSelector: toSelector(p.namespaceSelector ?? {}, at, warn), podSelector: toSelector(p.podSelector ?? {}, at, warn) };
  } else throw new InvalidObject(`${at}: subject needs exactly one of namespaces or pods`);
  if (subject.namespaceSelector.never || subject.podSelector?.never) throw new InvalidObject(`${at}: subject selector cannot be read`);
  return {
    name,
    tier,
    priority,
    subject,
    ingress: arr(spec.ingress).map((r) => cnpRule(r, 'from', at, warn)),
    egress: arr(spec.egress).map((r) => cnpRule(r, 'to', at, warn)),
  };
}

/** Whether any ClusterNetworkPolicy has a `nodes` peer (else node changes cannot change policy). */
export function usesNodePeers(cnps: Iterable<ClusterNetworkPolicy>): boolean {
  for (const c of cnps) for (const r of c.egress) if (r.peers.some((p) => p.kind === 'nodes')) return true;
  return false;
}
