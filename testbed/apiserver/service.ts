import { AllocTx, IpAllocator, PortAllocator } from './allocator.ts';
import { fieldError, type StatusCause } from './errors.ts';
import { familyOf, type Family } from './ipnet.ts';
import { isObject, type KubeObject } from './types.ts';

type Spec = Record<string, unknown>;
type Port = Record<string, unknown>;

const TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

function specOf(svc: KubeObject | undefined): Spec {
  return svc && isObject(svc.spec) ? svc.spec : {};
}

function portsOf(spec: Spec): Port[] {
  return Array.isArray(spec.ports) ? spec.ports.filter(isObject) : [];
}

function ipsOf(spec: Spec): string[] {
  return Array.isArray(spec.clusterIPs) ? spec.clusterIPs.map(String) : [];
}

function needsNodePorts(spec: Spec): boolean {
  return spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
}

function hasSelector(spec: Spec): boolean {
  return isObject(spec.selector) && Object.keys(spec.selector).length > 0;
}

/**
 * Service defaulting and the ClusterIP / NodePort allocation the real apiserver does in its
 * service registry: one allocator per configured family, released on delete and on type change.
 */
export class ServiceAllocator {
  readonly #ips = new Map<Family, IpAllocator>();
  readonly #families: Family[] = [];
  readonly #ports: PortAllocator;

  constructor(cidrs: string[], nodePortRange: [number, number]) {
    for (const c of cidrs) {
      const a = new IpAllocator(c);
      if (this.#ips.has(a.family)) throw new Error(`more than one ${a.family} service CIDR`);
      this.#ips.set(a.family, a);
      this.#families.push(a.family);
    }
    if (!this.#families.length) throw new Error('at least one service CIDR is needed');
    this.#ports = new PortAllocator(nodePortRange);
  }

  /** Defaults and allocates `svc` in place (an update when `old` is given). Returns the invalid fields. */
  prepare(svc: KubeObject, old: KubeObject | undefined, tx: AllocTx): StatusCause[] {
    if (!isObject(svc.spec)) svc.spec = {};
    const spec = svc.spec as Spec;
    const oldSpec = specOf(old);
    const errs: StatusCause[] = [];
    spec.type ??= 'ClusterIP';
    if (!TYPES.includes(String(spec.type))) errs.push(fieldError('spec.type', 'NotSupported', `supported values: "${TYPES.join('", "')}"`, spec.type));
    spec.sessionAffinity ??= 'None';
    if (spec.sessionAffinity === 'ClientIP') {
      const cfg = isObject(spec.sessionAffinityConfig) ? spec.sessionAffinityConfig : (spec.sessionAffinityConfig = {});
      const client = isObject(cfg.clientIP) ? cfg.clientIP : (cfg.clientIP = {});
      client.timeoutSeconds ??= 10800;
    } else if (spec.sessionAffinity !== 'None') errs.push(fieldError('spec.sessionAffinity', 'NotSupported', 'supported values: "ClientIP", "None"', spec.sessionAffinity));
    this.#defaultPorts(spec, errs);
    if (!svc.status) svc.status = { loadBalancer: {} };
    if (errs.length) return errs;

    if (spec.type === 'ExternalName') {
      if (typeof spec.externalName !== 'string' || !spec.externalName) errs.push(fieldError('spec.externalName', 'Required', ''));
      const sameAsOld = old && spec.clusterIP === oldSpec.clusterIP;
      if (spec.clusterIP && !sameAsOld) errs.push(fieldError('spec.clusterIPs', 'Invalid', 'may not be set for ExternalName services', [spec.clusterIP]));
      for (const f of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy', 'internalTrafficPolicy', 'externalTrafficPolicy', 'allocateLoadBalancerNodePorts', 'healthCheckNodePort']) delete spec[f];
    } else {
      spec.internalTrafficPolicy ??= 'Cluster';
      this.#clusterIPs(spec, oldSpec, tx, errs);
    }
    if (errs.length) return errs;
    this.#nodePorts(spec, oldSpec, tx, errs);
    this.#releaseDropped(spec, oldSpec, tx);
    return errs;
  }

  /** Gives back everything a deleted Service held. */
  release(svc: KubeObject): void {
    const spec = specOf(svc);
    for (const ip of ipsOf(spec)) this.#releaseIp(ip);
    for (const p of portsOf(spec)) if (typeof p.nodePort === 'number') this.#ports.release(p.nodePort);
    if (typeof spec.healthCheckNodePort === 'number') this.#ports.release(spec.healthCheckNodePort);
  }

  #releaseIp(ip: string): void {
    const f = familyOf(ip);
    if (f) this.#ips.get(f)?.release(ip);
  }

  #defaultPorts(spec: Spec, errs: StatusCause[]): void {
    const ports = portsOf(spec);
    const names = new Set<string>();
    const seen = new Set<string>();
    ports.forEach((p, i) => {
      const at = `spec.ports[${i}]`;
      p.protocol ??= 'TCP';
      if (!PROTOCOLS.includes(String(p.protocol))) errs.push(fieldError(`${at}.protocol`, 'NotSupported', 'supported values: "SCTP", "TCP", "UDP"', p.protocol));
      if (typeof p.port !== 'number' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
        errs.push(fieldError(`${at}.port`, 'Invalid', 'must be between 1 and 65535, inclusive', p.port));
      }
      p.targetPort ??= p.port;
      if (ports.length > 1 && !p.name) errs.push(fieldError(`${at}.name`, 'Required', ''));
      if (p.name) {
        if (names.has(String(p.name))) errs.push(fieldError(`${at}.name`, 'Duplicate', '', p.name));
        names.add(String(p.name));
      }
      const key = `${p.port}/${p.protocol}`;
      if (seen.has(key)) errs.push(fieldError(`${at}`, 'Duplicate', '', { port: p.port, protocol: p.protocol }));
      seen.add(key);
    });
    const headless = spec.clusterIP === 'None' || ipsOf(spec)[0] === 'None';
    if (!ports.length && spec.type !== 'ExternalName' && !headless) errs.push(fieldError('spec.ports', 'Required', ''));
  }

  #clusterIPs(spec: Spec, oldSpec: Spec, tx: AllocTx, errs: StatusCause[]): void {
    const oldIPs = oldSpec.type === 'ExternalName' ? [] : ipsOf(oldSpec);
    // An update that leaves the addresses out keeps the allocated ones, as kubectl apply relies on.
    if (!spec.clusterIP && !ipsOf(spec).length && oldIPs.length) {
      spec.clusterIP = oldSpec.clusterIP;
      spec.clusterIPs = [...oldIPs];
      if (!Array.isArray(spec.ipFamilies) && Array.isArray(oldSpec.ipFamilies)) spec.ipFamilies = [...oldSpec.ipFamilies];
    }
    if (spec.ipFamilyPolicy === undefined && oldSpec.ipFamilyPolicy !== undefined && oldIPs.length) spec.ipFamilyPolicy = oldSpec.ipFamilyPolicy;
    if (spec.clusterIP === '') delete spec.clusterIP;
    let ips = ipsOf(spec);
    if (spec.clusterIP && !ips.length) ips = [String(spec.clusterIP)];
    if (spec.clusterIP && ips[0] !== spec.clusterIP) {
      errs.push(fieldError('spec.clusterIPs[0]', 'Invalid', 'must be same as clusterIP', ips));
      return;
    }
    if (oldIPs.length && ips.length && ips[0] !== oldIPs[0]) {
      errs.push(fieldError('spec.clusterIPs[0]', 'Invalid', 'may not change once set', ips));
      return;
    }
    const headless = ips[0] === 'None';
    const ipFamilies = ips.map((ip) => (ip === 'None' ? undefined : familyOf(ip)));
    ipFamilies.forEach((f, i) => {
      if (!f && !(i === 0 && headless)) errs.push(fieldError(`spec.clusterIPs[${i}]`, 'Invalid', 'must be a valid IP address', ips[i]));
    });
    if (ips.length > 2) errs.push(fieldError('spec.clusterIPs', 'Invalid', 'may only hold up to 2 values', ips));
    if (errs.length) return;

    const requested = Array.isArray(spec.ipFamilies) ? spec.ipFamilies.map(String) : [];
    for (const [i, f] of requested.entries()) {
      if (f !== 'IPv4' && f !== 'IPv6') errs.push(fieldError(`spec.ipFamilies[${i}]`, 'NotSupported', 'supported values: "IPv4", "IPv6"', f));
      else if (!this.#ips.has(f)) errs.push(fieldError(`spec.ipFamilies[${i}]`, 'Invalid', 'not configured on this cluster', f));
    }
    if (new Set(requested).size !== requested.length) errs.push(fieldError('spec.ipFamilies', 'Duplicate', '', requested));
    for (const [i, f] of ipFamilies.entries()) {
      if (f && requested[i] && requested[i] !== f) errs.push(fieldError('spec.ipFamilies', 'Invalid', `does not match the clusterIPs[${i}] family`, requested));
      if (f && !this.#ips.has(f)) errs.push(fieldError(`spec.clusterIPs[${i}]`, 'Invalid', `${f} is not configured on this cluster`, ips[i]));
    }
    if (errs.length) return;

    const selectorless = headless && !hasSelector(spec);
    const clusterDual = this.#families.length === 2;
    if (spec.ipFamilyPolicy === undefined) {
      spec.ipFamilyPolicy = selectorless || requested.length === 2 || ips.length === 2 ? 'RequireDualStack' : 'SingleStack';
    }
    const policy = String(spec.ipFamilyPolicy);
    if (!['SingleStack', 'PreferDualStack', 'RequireDualStack'].includes(policy)) {
      errs.push(fieldError('spec.ipFamilyPolicy', 'NotSupported', 'supported values: "PreferDualStack", "RequireDualStack", "SingleStack"', policy));
      return;
    }
    if (policy === 'RequireDualStack' && !clusterDual && !selectorless) {
      errs.push(fieldError('spec.ipFamilyPolicy', 'Invalid', 'this cluster is not configured for dual-stack services', policy));
      return;
    }
    let families: Family[] = (requested.length ? requested : ipFamilies.filter((f) => f)) as Family[];
    if (!families.length) families = [this.#families[0]!];
    if (policy !== 'SingleStack' && clusterDual && families.length === 1) families.push(this.#families.find((f) => f !== families[0])!);
    if (policy === 'SingleStack' && (families.length > 1 || ips.length > 1)) {
      errs.push(fieldError('spec.ipFamilyPolicy', 'Invalid', 'must be RequireDualStack or PreferDualStack when multiple IP families are specified', policy));
      return;
    }
    if (headless && !clusterDual && families.length > 1) families = families.filter((f) => this.#ips.has(f)).slice(0, 1);
    spec.ipFamilies = families;
    if (headless) {
      spec.clusterIP = 'None';
      spec.clusterIPs = ['None'];
      return;
    }
    const out: string[] = [];
    for (const [i, family] of families.entries()) {
      const alloc = this.#ips.get(family)!;
      const want = ips[i];
      if (want) {
        if (!oldIPs.includes(want)) {
          if (!alloc.inRange(want)) {
            errs.push(fieldError(`spec.clusterIPs[${i}]`, 'Invalid', `failed to allocate IP ${want}: the provided IP (${want}) is not in the valid range. The range of valid IPs is ${alloc.cidr.text}`, [want]));
            return;
          }
          if (!alloc.take(want)) {
            errs.push(fieldError(`spec.clusterIPs[${i}]`, 'Invalid', `failed to allocate IP ${want}: provided IP is already allocated`, [want]));
            return;
          }
          tx.reserved(() => alloc.release(want));
        }
        out.push(want);
      } else {
        const ip = alloc.allocate();
        if (!ip) {
          errs.push(fieldError(`spec.clusterIPs[${i}]`, 'Invalid', `failed to allocate IP: range is full`, []));
          return;
        }
        tx.reserved(() => alloc.release(ip));
        out.push(ip);
      }
    }
    spec.clusterIP = out[0];
    spec.clusterIPs = out;
  }

  #takePort(port: number, held: Set<number>, field: string, tx: AllocTx, errs: StatusCause[]): void {
    if (held.has(port)) return;
    if (!this.#ports.inRange(port)) {
      errs.push(fieldError(field, 'Invalid', `provided port is not in the valid range. The range of valid ports is ${this.#ports.min}-${this.#ports.max}`, port));
    } else if (!this.#ports.take(port)) {
      errs.push(fieldError(field, 'Invalid', 'provided port is already allocated', port));
    } else tx.reserved(() => this.#ports.release(port));
  }

  #newPort(field: string, tx: AllocTx, errs: StatusCause[]): number | undefined {
    const p = this.#ports.allocate();
    if (p === undefined) errs.push(fieldError(field, 'Invalid', 'range is full', 0));
    else tx.reserved(() => this.#ports.release(p));
    return p;
  }

  #nodePorts(spec: Spec, oldSpec: Spec, tx: AllocTx, errs: StatusCause[]): void {
    const ports = portsOf(spec);
    const oldPorts = portsOf(oldSpec);
    const held = new Set(oldPorts.map((p) => p.nodePort).filter((n): n is number => typeof n === 'number'));
    const needs = needsNodePorts(spec);
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
    else if (spec.type !== 'ExternalName' && !(Array.isArray(spec.externalIPs) && spec.externalIPs.length)) delete spec.externalTrafficPolicy;
    if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
    else delete spec.allocateLoadBalancerNodePorts;
    const external = spec.type === 'NodePort' || spec.type === 'LoadBalancer';

    if (needs && oldPorts.length && needsNodePorts(oldSpec)) {
      const byName = new Map(oldPorts.map((p) => [String(p.name ?? ''), p.nodePort]));
      const used = new Set(ports.map((p) => p.nodePort));
      for (const p of ports) {
        const reuse = byName.get(String(p.name ?? ''));
        if (p.nodePort === undefined && typeof reuse === 'number' && !used.has(reuse)) {
          p.nodePort = reuse;
          used.add(reuse);
        }
      }
    }
    ports.forEach((p, i) => {
      const field = `spec.ports[${i}].nodePort`;
      if (p.nodePort === 0) delete p.nodePort;
      if (!external) {
        // Switching to ClusterIP drops the ports the old type had; a port asked for anew is an error.
        if (p.nodePort !== undefined && held.has(p.nodePort as number)) delete p.nodePort;
        if (p.nodePort !== undefined) errs.push(fieldError(field, 'Forbidden', `may not be used when \`type\` is '${spec.type}'`));
        return;
      }
      if (typeof p.nodePort === 'number') this.#takePort(p.nodePort, held, field, tx, errs);
      else if (p.nodePort !== undefined) errs.push(fieldError(field, 'Invalid', 'must be a number', p.nodePort));
      else if (needs) {
        const n = this.#newPort(field, tx, errs);
        if (n !== undefined) p.nodePort = n;
      }
    });

    const wantsHealth = spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
    const oldHealth = typeof oldSpec.healthCheckNodePort === 'number' ? oldSpec.healthCheckNodePort : undefined;
    if (!wantsHealth) {
      if (spec.healthCheckNodePort !== undefined && spec.healthCheckNodePort === oldHealth) delete spec.healthCheckNodePort;
      if (spec.healthCheckNodePort !== undefined && spec.healthCheckNodePort !== 0) errs.push(fieldError('spec.healthCheckNodePort', 'Invalid', 'may only be set when `type` is \'LoadBalancer\' and `externalTrafficPolicy` is \'Local\'', spec.healthCheckNodePort));
      delete spec.healthCheckNodePort;
      return;
    }
    if (spec.healthCheckNodePort === undefined || spec.healthCheckNodePort === 0) {
      if (oldHealth !== undefined) spec.healthCheckNodePort = oldHealth;
      else {
        const n = this.#newPort('spec.healthCheckNodePort', tx, errs);
        if (n !== undefined) spec.healthCheckNodePort = n;
      }
    } else if (typeof spec.healthCheckNodePort === 'number') {
      this.#takePort(spec.healthCheckNodePort, new Set(oldHealth === undefined ? [] : [oldHealth]), 'spec.healthCheckNodePort', tx, errs);
    }
  }

  /** Values the old object held that the new one no longer does go back to the pools once the write lands. */
  #releaseDropped(spec: Spec, oldSpec: Spec, tx: AllocTx): void {
    const ips = new Set(ipsOf(spec));
    for (const ip of ipsOf(oldSpec)) if (!ips.has(ip)) tx.releaseOnCommit(() => this.#releaseIp(ip));
    const ports = new Set<unknown>(portsOf(spec).map((p) => p.nodePort));
    ports.add(spec.healthCheckNodePort);
    const oldPorts = portsOf(oldSpec).map((p) => p.nodePort);
    oldPorts.push(oldSpec.healthCheckNodePort);
    for (const p of oldPorts) if (typeof p === 'number' && !ports.has(p)) tx.releaseOnCommit(() => this.#ports.release(p));
  }
}
