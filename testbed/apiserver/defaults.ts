import { parseCIDR } from '../../src/net/ip.ts';
import { fieldError, type StatusCause } from './errors.ts';
import type { ResourceInfo } from './resources.ts';
import { isObject, type KubeObject } from './types.ts';

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** The name rules the real registry applies per kind: DNS-1035 labels for Services, labels for namespaces, path segments for RBAC. */
export function validateName(res: ResourceInfo, name: string): StatusCause[] {
  const bad = (why: string) => [fieldError('metadata.name', 'Invalid', why, name)];
  if (res.group === 'rbac.authorization.k8s.io') {
    if (name === '.' || name === '..' || /[/%]/.test(name)) return bad('may not contain \'/\' or \'%\' and may not be \'.\' or \'..\'');
    return [];
  }
  if (res.kind === 'Service') {
    if (name.length > 63 || !LABEL_1035.test(name)) return bad('a DNS-1035 label must consist of lower case alphanumeric characters or \'-\', start with an alphabetic character, and end with an alphanumeric character');
    return [];
  }
  if (res.kind === 'Namespace') {
    if (name.length > 63 || !LABEL_1123.test(name)) return bad('a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character');
    return [];
  }
  if (name.length > 253 || !SUBDOMAIN.test(name)) return bad('a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character');
  return [];
}

function obj(parent: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = parent[key];
  if (isObject(v)) return v;
  const fresh: Record<string, unknown> = {};
  parent[key] = fresh;
  return fresh;
}

function validateMaps(o: KubeObject, errs: StatusCause[]): void {
  for (const f of ['labels', 'annotations'] as const) {
    const m = o.metadata?.[f];
    if (m === undefined) continue;
    if (!isObject(m)) errs.push(fieldError(`metadata.${f}`, 'Invalid', 'must be a map of strings', m));
    else for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') errs.push(fieldError(`metadata.${f}`, 'Invalid', `value of ${k} must be a string`, v));
  }
}

function defaultPodSpec(spec: Record<string, unknown>, at: string, errs: StatusCause[]): void {
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  if (!Array.isArray(spec.containers) || !spec.containers.length) errs.push(fieldError(`${at}.containers`, 'Required', ''));
  for (const list of ['containers', 'initContainers']) {
    const cs = spec[list];
    if (!Array.isArray(cs)) continue;
    cs.forEach((c: unknown, i: number) => {
      if (!isObject(c)) return;
      if (!c.name) errs.push(fieldError(`${at}.${list}[${i}].name`, 'Required', ''));
      if (list === 'containers' && !c.image) errs.push(fieldError(`${at}.${list}[${i}].image`, 'Required', ''));
      const image = String(c.image ?? '');
      c.imagePullPolicy ??= image.endsWith(':latest') || !/:[^/]+$/.test(image) ? 'Always' : 'IfNotPresent';
      c.terminationMessagePath ??= '/dev/termination-log';
      c.terminationMessagePolicy ??= 'File';
      if (Array.isArray(c.ports)) for (const p of c.ports) if (isObject(p)) p.protocol ??= 'TCP';
    });
  }
}

/** ServiceCIDR spec.cidrs as the real validation wants them: one or two canonical CIDRs, one per family. */
function validateServiceCIDRs(v: unknown): StatusCause[] {
  if (!Array.isArray(v) || v.length === 0) return [fieldError('spec.cidrs', 'Required', '')];
  if (v.length > 2) return [fieldError('spec.cidrs', 'Invalid', 'must have at most 2 items', v)];
  const errs: StatusCause[] = [];
  const families = new Set<number>();
  v.forEach((c: unknown, i: number) => {
    const p = typeof c === 'string' ? parseCIDR(c) : null;
    if (!p || p.text !== c) errs.push(fieldError(`spec.cidrs[${i}]`, 'Invalid', 'must be a valid CIDR value in canonical form (e.g. 10.9.8.0/24 or 2001:db8::/64)', c));
    else if (families.has(p.family)) errs.push(fieldError('spec.cidrs', 'Invalid', 'may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64', v));
    else families.add(p.family);
  });
  return errs;
}

/**
 * Defaulting and the validation that protects readers of this server (agents trust what they
 * watch); Services are handled by ServiceAllocator. Mutates `o`, returns the invalid fields.
 */
export function defaultAndValidate(res: ResourceInfo, o: KubeObject): StatusCause[] {
  const errs: StatusCause[] = [];
  validateMaps(o, errs);
  const meta = o.metadata!;
  switch (res.kind) {
    case 'Namespace': {
      meta.labels = { ...meta.labels, 'kubernetes.io/metadata.name': meta.name! };
      const spec = obj(o, 'spec');
      spec.finalizers ??= ['kubernetes'];
      obj(o, 'status').phase ??= 'Active';
      break;
    }
    case 'Pod': {
      defaultPodSpec(obj(o, 'spec'), 'spec', errs);
      const status = obj(o, 'status');
      status.phase ??= 'Pending';
      break;
    }
    case 'Deployment': {
      const spec = obj(o, 'spec');
      spec.replicas ??= 1;
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      const strategy = obj(spec, 'strategy');
      strategy.type ??= 'RollingUpdate';
      if (strategy.type === 'RollingUpdate') {
        const ru = obj(strategy, 'rollingUpdate');
        ru.maxSurge ??= '25%';
        ru.maxUnavailable ??= '25%';
      }
      if (!isObject(spec.selector)) errs.push(fieldError('spec.selector', 'Required', ''));
      defaultPodSpec(obj(obj(spec, 'template'), 'spec'), 'spec.template.spec', errs);
      break;
    }
    case 'DaemonSet': {
      const spec = obj(o, 'spec');
      spec.revisionHistoryLimit ??= 10;
      const strategy = obj(spec, 'updateStrategy');
      strategy.type ??= 'RollingUpdate';
      if (strategy.type === 'RollingUpdate') {
        const ru = obj(strategy, 'rollingUpdate');
        ru.maxUnavailable ??= 1;
        ru.maxSurge ??= 0;
      }
      if (!isObject(spec.selector)) errs.push(fieldError('spec.selector', 'Required', ''));
      defaultPodSpec(obj(obj(spec, 'template'), 'spec'), 'spec.template.spec', errs);
      break;
    }
    case 'Secret': {
      o.type ??= 'Opaque';
      // stringData is write-only: the real registry folds it into data.
      if (isObject(o.stringData)) {
        const data = obj(o, 'data');
        for (const [k, v] of Object.entries(o.stringData)) data[k] = Buffer.from(String(v)).toString('base64');
        delete o.stringData;
      }
      break;
    }
    case 'EndpointSlice': {
      if (!['IPv4', 'IPv6', 'FQDN'].includes(String(o.addressType))) {
        errs.push(o.addressType === undefined ? fieldError('addressType', 'Required', '') : fieldError('addressType', 'NotSupported', 'supported values: "FQDN", "IPv4", "IPv6"', o.addressType));
      }
      o.endpoints ??= [];
      if (!Array.isArray(o.endpoints)) errs.push(fieldError('endpoints', 'Invalid', 'must be a list', o.endpoints));
      else o.endpoints.forEach((e: unknown, i: number) => {
        if (!isObject(e) || !Array.isArray(e.addresses) || !e.addresses.length) errs.push(fieldError(`endpoints[${i}].addresses`, 'Required', ''));
      });
      if (Array.isArray(o.ports)) for (const p of o.ports) if (isObject(p)) p.protocol ??= 'TCP';
      break;
    }
    case 'Endpoints': {
      for (const s of Array.isArray(o.subsets) ? o.subsets : []) {
        if (isObject(s) && Array.isArray(s.ports)) for (const p of s.ports) if (isObject(p)) p.protocol ??= 'TCP';
      }
      break;
    }
    case 'ServiceCIDR':
      errs.push(...validateServiceCIDRs(obj(o, 'spec').cidrs));
      break;
    case 'ClusterNetworkPolicy': {
      // The CRD's schema (network-policy-api v1alpha2): what an implementation may rely on.
      const spec = obj(o, 'spec');
      if (spec.tier !== 'Admin' && spec.tier !== 'Baseline') errs.push(fieldError('spec.tier', 'NotSupported', 'supported values: "Admin", "Baseline"', spec.tier));
      if (typeof spec.priority !== 'number' || !Number.isInteger(spec.priority) || spec.priority < 0 || spec.priority > 1000) {
        errs.push(fieldError('spec.priority', 'Invalid', 'must be an integer from 0 to 1000', spec.priority));
      }
      const subject = isObject(spec.subject) ? spec.subject : {};
      if (Object.keys(subject).filter((k) => subject[k] != null).length !== 1) errs.push(fieldError('spec.subject', 'Invalid', 'exactly one of namespaces or pods must be set', spec.subject));
      for (const dir of ['ingress', 'egress'] as const) {
        const rules = spec[dir];
        if (rules === undefined) continue;
        if (!Array.isArray(rules) || rules.length > 25) {
          errs.push(fieldError(`spec.${dir}`, 'Invalid', 'must be a list of at most 25 rules', rules));
          continue;
        }
        rules.forEach((r: unknown, i: number) => {
          const rule = isObject(r) ? r : {};
          if (!['Accept', 'Deny', 'Pass'].includes(rule.action as string)) errs.push(fieldError(`spec.${dir}[${i}].action`, 'NotSupported', 'supported values: "Accept", "Deny", "Pass"', rule.action));
          const peers = rule[dir === 'ingress' ? 'from' : 'to'];
          if (!Array.isArray(peers) || peers.length === 0) errs.push(fieldError(`spec.${dir}[${i}].${dir === 'ingress' ? 'from' : 'to'}`, 'Required', 'at least one peer'));
        });
      }
      break;
    }
    case 'NetworkPolicy': {
      const spec = obj(o, 'spec');
      spec.podSelector ??= {};
      spec.policyTypes ??= Array.isArray(spec.egress) ? ['Ingress', 'Egress'] : ['Ingress'];
      break;
    }
  }
  return errs;
}
