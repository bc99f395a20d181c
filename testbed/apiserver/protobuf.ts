import { ApiError } from './errors.ts';

// kubectl's generators (`kubectl create namespace|configmap|secret|service|deployment|role ...`) go
// through client-go's typed clients, which send protobuf bodies and have no JSON fallback. This
// decodes the kinds those generators make. Fields are listed as "number name[:type][*][!]":
// type defaults to string; * repeated; ! keep a zero value (a pointer field that was set).
// A field not listed here that carries a non-zero value fails the request with 415, so nothing
// is dropped silently; Go's encoder writes every non-pointer field, so zero ones are common.
const SCHEMA: Record<string, string> = {
  ObjectMeta: '1 name, 2 generateName, 3 namespace, 5 uid, 6 resourceVersion, 7 generation:int, 8 creationTimestamp:time, 11 labels:map, 12 annotations:map, 13 ownerReferences:OwnerReference*, 14 finalizers*',
  OwnerReference: '1 kind, 3 name, 4 uid, 5 apiVersion, 6 controller:bool!, 7 blockOwnerDeletion:bool!',
  Namespace: '1 metadata:ObjectMeta, 2 spec:NamespaceSpec, 3 status:NamespaceStatus',
  NamespaceSpec: '1 finalizers*',
  NamespaceStatus: '1 phase',
  ConfigMap: '1 metadata:ObjectMeta, 2 data:map, 3 binaryData:bmap, 4 immutable:bool!',
  Secret: '1 metadata:ObjectMeta, 2 data:bmap, 3 type, 4 stringData:map, 5 immutable:bool!',
  ServiceAccount: '1 metadata:ObjectMeta, 2 secrets:ObjectReference*, 3 imagePullSecrets:LocalObjectReference*, 4 automountServiceAccountToken:bool!',
  ObjectReference: '1 kind, 2 namespace, 3 name, 4 uid, 5 apiVersion, 6 resourceVersion, 7 fieldPath',
  LocalObjectReference: '1 name',
  Service: '1 metadata:ObjectMeta, 2 spec:ServiceSpec, 3 status:ServiceStatus',
  ServiceSpec: '1 ports:ServicePort*, 2 selector:map, 3 clusterIP, 4 type, 5 externalIPs*, 7 sessionAffinity, 8 loadBalancerIP, 9 loadBalancerSourceRanges*, 10 externalName, 11 externalTrafficPolicy, 12 healthCheckNodePort:int, 13 publishNotReadyAddresses:bool, 14 sessionAffinityConfig:SessionAffinityConfig, 17 ipFamilyPolicy, 18 clusterIPs*, 19 ipFamilies*, 20 allocateLoadBalancerNodePorts:bool!, 21 loadBalancerClass, 22 internalTrafficPolicy, 23 trafficDistribution',
  ServicePort: '1 name, 2 protocol, 3 port:int, 4 targetPort:ios, 5 nodePort:int, 6 appProtocol',
  SessionAffinityConfig: '1 clientIP:ClientIPConfig',
  ClientIPConfig: '1 timeoutSeconds:int!',
  ServiceStatus: '1 loadBalancer:LoadBalancerStatus',
  LoadBalancerStatus: '1 ingress:LoadBalancerIngress*',
  LoadBalancerIngress: '1 ip, 2 hostname',
  IntOrString: '1 type:int, 2 intVal:int, 3 strVal',
  Deployment: '1 metadata:ObjectMeta, 2 spec:DeploymentSpec, 3 status:Opaque',
  DeploymentSpec: '1 replicas:int!, 2 selector:LabelSelector, 3 template:PodTemplateSpec, 4 strategy:DeploymentStrategy, 5 minReadySeconds:int, 6 revisionHistoryLimit:int!, 7 paused:bool, 9 progressDeadlineSeconds:int!',
  DeploymentStrategy: '1 type, 2 rollingUpdate:RollingUpdateDeployment',
  RollingUpdateDeployment: '1 maxUnavailable:ios, 2 maxSurge:ios',
  LabelSelector: '1 matchLabels:map, 2 matchExpressions:LabelSelectorRequirement*',
  LabelSelectorRequirement: '1 key, 2 operator, 3 values*',
  PodTemplateSpec: '1 metadata:ObjectMeta, 2 spec:PodSpec',
  PodSpec: '2 containers:Container*, 3 restartPolicy, 4 terminationGracePeriodSeconds:int!, 6 dnsPolicy, 7 nodeSelector:map, 8 serviceAccountName, 10 nodeName, 11 hostNetwork:bool, 20 initContainers:Container*',
  Container: '1 name, 2 image, 3 command*, 4 args*, 5 workingDir, 6 ports:ContainerPort*, 7 env:EnvVar*, 8 resources:Opaque, 14 imagePullPolicy',
  ContainerPort: '1 name, 2 hostPort:int, 3 containerPort:int, 4 protocol, 5 hostIP',
  EnvVar: '1 name, 2 value',
  Role: '1 metadata:ObjectMeta, 2 rules:PolicyRule*',
  ClusterRole: '1 metadata:ObjectMeta, 2 rules:PolicyRule*, 3 aggregationRule:AggregationRule',
  AggregationRule: '1 clusterRoleSelectors:LabelSelector*',
  PolicyRule: '1 verbs*, 2 apiGroups*, 3 resources*, 4 resourceNames*, 5 nonResourceURLs*',
  RoleBinding: '1 metadata:ObjectMeta, 2 subjects:Subject*, 3 roleRef:RoleRef',
  ClusterRoleBinding: '1 metadata:ObjectMeta, 2 subjects:Subject*, 3 roleRef:RoleRef',
  Subject: '1 kind, 2 apiGroup, 3 name, 4 namespace',
  RoleRef: '1 apiGroup, 2 kind, 3 name',
  Opaque: '', // a message whose fields this server accepts only when all are zero (empty status, resources)
  Unknown: '1 typeMeta:TypeMeta, 2 raw:rawbytes, 3 contentEncoding, 4 contentType',
  TypeMeta: '1 apiVersion, 2 kind',
  Time: '1 seconds:int, 2 nanos:int',
};

interface Field {
  name: string;
  type: string;
  repeated: boolean;
  keepZero: boolean;
}

const MESSAGES = new Map<string, Map<number, Field>>();
for (const [msg, spec] of Object.entries(SCHEMA)) {
  const fields = new Map<number, Field>();
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+) (\w+)(?::(\w+))?(\*)?(!)?$/.exec(part);
    if (!m) throw new Error(`bad protobuf schema entry ${msg}: ${part}`);
    fields.set(Number(m[1]), { name: m[2]!, type: m[3] ?? 'string', repeated: !!m[4], keepZero: !!m[5] });
  }
  MESSAGES.set(msg, fields);
}

function unsupported(why: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `this server decodes protobuf only for the kinds kubectl's generators create; ${why}. Send JSON or YAML instead (kubectl create -f / apply).`);
}

class Reader {
  pos = 0;
  readonly buf: Uint8Array;
  readonly end: number;
  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw unsupported('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
      if (shift > 63n) throw unsupported('varint too long');
    }
  }
  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.end) throw unsupported('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
}

type Value = unknown;

function decodeMessage(type: string, buf: Uint8Array): Record<string, Value> {
  const fields = MESSAGES.get(type);
  if (!fields) throw unsupported(`no schema for ${type}`);
  const out: Record<string, Value> = {};
  const r = new Reader(buf);
  while (r.pos < r.end) {
    const key = Number(r.varint());
    const num = key >>> 3;
    const wire = key & 7;
    const f = fields.get(num);
    let raw: bigint | Uint8Array;
    if (wire === 0) raw = r.varint();
    else if (wire === 2) raw = r.bytes();
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      raw = r.buf.subarray(r.pos, r.pos + n);
      r.pos += n;
    } else throw unsupported(`wire type ${wire} in ${type}`);
    if (!f) {
      const zero = typeof raw === 'bigint' ? raw === 0n : raw.every((b) => b === 0) || isEmptyMessage(raw);
      if (!zero) throw unsupported(`field ${num} of ${type} is not understood`);
      continue;
    }
    const v = decodeValue(f, raw, type);
    if (f.repeated) ((out[f.name] ??= []) as Value[]).push(v);
    else if (f.type === 'map' || f.type === 'bmap') Object.assign((out[f.name] ??= {}) as object, v);
    else if (v !== undefined && (f.keepZero || !isZero(v))) out[f.name] = v;
  }
  return out;
}

/** A message made only of zero-valued fields (Go writes those out for non-pointer members). */
function isEmptyMessage(buf: Uint8Array): boolean {
  try {
    const r = new Reader(buf);
    while (r.pos < r.end) {
      const wire = Number(r.varint()) & 7;
      if (wire === 0) {
        if (r.varint() !== 0n) return false;
      } else if (wire === 2) {
        const b = r.bytes();
        if (b.length && !isEmptyMessage(b)) return false;
      } else return false;
    }
    return true;
  } catch {
    return false;
  }
}

function isZero(v: Value): boolean {
  return v === '' || v === 0 || v === false;
}

function asInt(raw: bigint | Uint8Array, where: string): number {
  if (typeof raw !== 'bigint') throw unsupported(`expected a number in ${where}`);
  return Number(BigInt.asIntN(64, raw));
}

function asBytes(raw: bigint | Uint8Array, where: string): Uint8Array {
  if (typeof raw === 'bigint') throw unsupported(`expected bytes in ${where}`);
  return raw;
}

const text = new TextDecoder();

function decodeValue(f: Field, raw: bigint | Uint8Array, where: string): Value {
  const at = `${where}.${f.name}`;
  switch (f.type) {
    case 'string': return text.decode(asBytes(raw, at));
    case 'rawbytes': return asBytes(raw, at);
    case 'int': return asInt(raw, at);
    case 'bool': return asInt(raw, at) !== 0;
    case 'map':
    case 'bmap': {
      const entry = new Reader(asBytes(raw, at));
      let key = '';
      let value: string = '';
      while (entry.pos < entry.end) {
        const k = Number(entry.varint());
        const b = entry.bytes();
        if (k >>> 3 === 1) key = text.decode(b);
        else if (k >>> 3 === 2) value = f.type === 'bmap' ? Buffer.from(b).toString('base64') : text.decode(b);
      }
      return { [key]: value };
    }
    case 'ios': {
      const m = decodeMessage('IntOrString', asBytes(raw, at));
      return m.type === 1 ? String(m.strVal ?? '') : (m.intVal ?? 0);
    }
    case 'time': {
      const m = decodeMessage('Time', asBytes(raw, at));
      if (m.seconds === undefined && m.nanos === undefined) return undefined;
      return new Date(Number(m.seconds ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
    default: return decodeMessage(f.type, asBytes(raw, at));
  }
}

const MAGIC = [0x6b, 0x38, 0x73, 0x00]; // "k8s\0"

/** Decodes a `application/vnd.kubernetes.protobuf` body into the JSON form of the object. */
export function decodeKubeProtobuf(body: Uint8Array): Record<string, unknown> {
  if (body.length < 4 || MAGIC.some((b, i) => body[i] !== b)) throw unsupported('the body lacks the k8s protobuf envelope');
  const unknown = decodeMessage('Unknown', body.subarray(4));
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const kind = typeMeta.kind ?? '';
  if (!kind || kind === 'Unknown' || kind === 'Opaque' || !MESSAGES.has(kind) || /^[a-z]/.test(kind)) throw unsupported(`kind "${kind}" is not supported`);
  if (unknown.contentEncoding) throw unsupported(`content encoding "${String(unknown.contentEncoding)}" is not supported`);
  const obj = decodeMessage(kind, (unknown.raw as Uint8Array | undefined) ?? new Uint8Array());
  return { apiVersion: typeMeta.apiVersion, kind, ...obj };
}
