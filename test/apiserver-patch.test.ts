// Pure pieces of the embedded apiserver: patch formats, selectors and address arithmetic.
import { describe, expect, it } from 'vitest';
import { IpAllocator, PortAllocator } from '../testbed/apiserver/allocator.ts';
import { bigIntToIp, ipToBigInt } from '../testbed/apiserver/ipnet.ts';
import { jsonPatch, mergePatch } from '../testbed/apiserver/patch.ts';
import { RESOURCES } from '../testbed/apiserver/resources.ts';
import { parseFieldSelector, parseLabelSelector } from '../testbed/apiserver/selectors.ts';
import { strategicMergePatch } from '../testbed/apiserver/strategic.ts';

const pods = RESOURCES.find((r) => r.kind === 'Pod')!;

describe('JSON merge patch (RFC 7386)', () => {
  it('follows the RFC examples', () => {
    expect(mergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(mergePatch({ a: 'b' }, { b: 'c' })).toEqual({ a: 'b', b: 'c' });
    expect(mergePatch({ a: 'b' }, { a: null })).toEqual({});
    expect(mergePatch({ a: ['b'] }, { a: 'c' })).toEqual({ a: 'c' });
    expect(mergePatch({ a: { b: 'c' } }, { a: { b: 'd', c: null } })).toEqual({ a: { b: 'd' } });
    expect(mergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(mergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
  });
});

describe('JSON patch (RFC 6902)', () => {
  it('applies every operation, with escaping and the "-" index', () => {
    const doc = { a: { 'b/c': 1, 'd~e': 2 }, list: [1, 2] };
    const out = jsonPatch(doc, [
      { op: 'add', path: '/list/-', value: 3 },
      { op: 'add', path: '/list/0', value: 0 },
      { op: 'replace', path: '/a/b~1c', value: 10 },
      { op: 'remove', path: '/a/d~0e' },
      { op: 'copy', from: '/list', path: '/copy' },
      { op: 'move', from: '/a', path: '/moved' },
      { op: 'test', path: '/moved', value: { 'b/c': 10 } },
    ]);
    expect(out).toEqual({ list: [0, 1, 2, 3], copy: [0, 1, 2, 3], moved: { 'b/c': 10 } });
    expect(doc.list).toEqual([1, 2]);
  });

  it('fails a test or a missing path with 422, and a malformed patch with 400', () => {
    expect(() => jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(expect.objectContaining({ code: 422 }));
    expect(() => jsonPatch({ a: 1 }, [{ op: 'remove', path: '/b' }])).toThrow(expect.objectContaining({ code: 422 }));
    expect(() => jsonPatch({ a: 1 }, [{ op: 'replace', path: '/b', value: 1 }])).toThrow(expect.objectContaining({ code: 422 }));
    expect(() => jsonPatch({ a: 1 }, [{ op: 'frobnicate', path: '/a' }])).toThrow(expect.objectContaining({ code: 400 }));
    expect(() => jsonPatch({ a: 1 }, { op: 'add' })).toThrow(expect.objectContaining({ code: 400 }));
  });
});

describe('strategic merge patch', () => {
  const pod = {
    metadata: { finalizers: ['a'] },
    spec: {
      containers: [
        { name: 'app', image: 'app:1', ports: [{ containerPort: 80, name: 'http' }], env: [{ name: 'A', value: '1' }] },
        { name: 'side', image: 'side:1' },
      ],
      tolerations: [{ key: 'x' }],
    },
    status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'Initialized', status: 'True' }] },
  };

  it('merges keyed lists item by item and replaces atomic ones', () => {
    const out = strategicMergePatch('Pod', pod, {
      spec: {
        containers: [{ name: 'app', image: 'app:2', env: [{ name: 'B', value: '2' }], ports: [{ containerPort: 443 }] }],
        tolerations: [{ key: 'y' }],
      },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    }) as any;
    expect(out.spec.containers.map((c: any) => `${c.name}:${c.image}`)).toEqual(['app:app:2', 'side:side:1']);
    expect(out.spec.containers[0].env.map((e: any) => e.name)).toEqual(['A', 'B']);
    expect(out.spec.containers[0].ports.map((p: any) => p.containerPort)).toEqual([80, 443]);
    expect(out.spec.tolerations).toEqual([{ key: 'y' }]);
    expect(out.status.conditions).toEqual([{ type: 'Ready', status: 'True' }, { type: 'Initialized', status: 'True' }]);
  });

  it('honours $patch delete and replace, $retainKeys, $setElementOrder and $deleteFromPrimitiveList', () => {
    const deleted = strategicMergePatch('Pod', pod, { spec: { containers: [{ name: 'side', $patch: 'delete' }] } }) as any;
    expect(deleted.spec.containers.map((c: any) => c.name)).toEqual(['app']);

    const replaced = strategicMergePatch('Pod', pod, { spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'o' }] } }) as any;
    expect(replaced.spec.containers).toEqual([{ name: 'only', image: 'o' }]);

    const mapReplaced = strategicMergePatch('Pod', pod, { status: { $patch: 'replace', phase: 'Running' } }) as any;
    expect(mapReplaced.status).toEqual({ phase: 'Running' });

    const retained = strategicMergePatch('Deployment', { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } },
      { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }) as any;
    expect(retained.spec.strategy).toEqual({ type: 'Recreate' });

    const ordered = strategicMergePatch('Pod', pod, { spec: { '$setElementOrder/containers': [{ name: 'side' }, { name: 'app' }] } }) as any;
    expect(ordered.spec.containers.map((c: any) => c.name)).toEqual(['side', 'app']);

    const fins = strategicMergePatch('Pod', pod, { metadata: { finalizers: ['b'] } }) as any;
    expect(fins.metadata.finalizers).toEqual(['a', 'b']);
    const fewer = strategicMergePatch('Pod', fins, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }) as any;
    expect(fewer.metadata.finalizers).toEqual(['b']);
  });

  it('merges Service ports by port and Node addresses by type', () => {
    const svc = strategicMergePatch('Service', { spec: { ports: [{ port: 80, name: 'a' }] } }, { spec: { ports: [{ port: 80, name: 'renamed' }, { port: 81 }] } }) as any;
    expect(svc.spec.ports).toEqual([{ port: 80, name: 'renamed' }, { port: 81 }]);
    const node = strategicMergePatch('Node', { status: { addresses: [{ type: 'InternalIP', address: '1.1.1.1' }, { type: 'Hostname', address: 'n' }] } },
      { status: { addresses: [{ type: 'InternalIP', address: '2.2.2.2' }] } }) as any;
    expect(node.status.addresses).toEqual([{ type: 'InternalIP', address: '2.2.2.2' }, { type: 'Hostname', address: 'n' }]);
  });
});

describe('selectors', () => {
  const obj = (labels: Record<string, string>, extra: Record<string, unknown> = {}) => ({ metadata: { name: 'n', namespace: 'ns', labels }, ...extra });

  it('parses every label selector operator', () => {
    const cases: [string, Record<string, string>, boolean][] = [
      ['a=1', { a: '1' }, true], ['a==1', { a: '2' }, false], ['a!=1', {}, true], ['a!=1', { a: '1' }, false],
      ['a in (1, 2)', { a: '2' }, true], ['a notin (1,2)', { a: '3' }, true], ['a notin (1,2)', {}, true],
      ['a', { a: '' }, true], ['!a', { a: '' }, false], ['a,b=2', { a: 'x', b: '2' }, true], ['a,b=2', { b: '2' }, false],
      ['example.com/role=db', { 'example.com/role': 'db' }, true], ['n>3', { n: '4' }, true], ['n<3', { n: '4' }, false], ['', {}, true],
    ];
    for (const [sel, labels, want] of cases) expect([sel, parseLabelSelector(sel)(obj(labels))]).toEqual([sel, want]);
    expect(() => parseLabelSelector('a in (')).toThrow(expect.objectContaining({ code: 400 }));
    expect(() => parseLabelSelector('bad key=1')).toThrow(expect.objectContaining({ code: 400 }));
  });

  it('selects on the fields the real apiserver indexes, and only those', () => {
    const pod = obj({}, { spec: { nodeName: 'n1' }, status: { phase: 'Running' } });
    expect(parseFieldSelector('spec.nodeName=n1,status.phase!=Failed', pods)(pod)).toBe(true);
    expect(parseFieldSelector('spec.nodeName==n2', pods)(pod)).toBe(false);
    expect(parseFieldSelector('metadata.name=n,metadata.namespace=ns', pods)(pod)).toBe(true);
    expect(parseFieldSelector('spec.nodeName=', pods)(obj({}))).toBe(true);
    expect(() => parseFieldSelector('spec.image=x', pods)).toThrow(/field label not supported/);
  });
});

describe('addresses and ports', () => {
  it('round-trips IPv6 in RFC 5952 form', () => {
    for (const ip of ['fd00:198:19::1', '::', '::1', '2001:db8::', '2001:db8:0:1:1:1:1:1', 'fe80::1:0:0:1']) expect(bigIntToIp(ipToBigInt(ip), 'IPv6')).toBe(ip);
    expect(bigIntToIp(ipToBigInt('2001:0db8:0000:0000:0001:0000:0000:0001'), 'IPv6')).toBe('2001:db8::1:0:0:1');
    expect(bigIntToIp(ipToBigInt('::ffff:1.2.3.4'), 'IPv6')).toBe('::ffff:102:304');
  });

  it('hands out every address once, skipping network and broadcast, then reports full', () => {
    const a = new IpAllocator('10.0.0.0/29');
    const got = new Set<string>();
    for (let ip = a.allocate(); ip; ip = a.allocate()) got.add(ip);
    expect([...got].sort()).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    a.release('10.0.0.3');
    expect(a.allocate()).toBe('10.0.0.3');
    expect(a.take('10.0.0.0')).toBe(false);
  });

  it('allocates ports above the static band, and requested ones exactly once', () => {
    const p = new PortAllocator([30000, 30100]);
    expect(p.allocate()).toBe(30016);
    expect(p.take(30001)).toBe(true);
    expect(p.take(30001)).toBe(false);
    expect(p.take(29999)).toBe(false);
  });
});

describe('protobuf bodies', () => {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    do {
      out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>>= 7;
    } while (n);
    return out;
  };
  const bytes = (field: number, b: number[]) => [...varint((field << 3) | 2), ...varint(b.length), ...b];
  const str = (field: number, s: string) => bytes(field, [...Buffer.from(s)]);
  const num = (field: number, n: number) => [...varint(field << 3), ...varint(n)];
  const envelope = (kind: string, raw: number[]) => Uint8Array.from([0x6b, 0x38, 0x73, 0, ...bytes(1, [...str(1, 'v1'), ...str(2, kind)]), ...bytes(2, raw)]);

  it('decodes what client-go sends for a ConfigMap, dropping zero-valued fields', async () => {
    const { decodeKubeProtobuf } = await import('../testbed/apiserver/protobuf.ts');
    const meta = [...str(1, 'cfg'), ...str(2, ''), ...bytes(8, []), ...bytes(11, [...str(1, 'app'), ...str(2, 'x')])];
    const raw = [...bytes(1, meta), ...bytes(2, [...str(1, 'k'), ...str(2, 'v')]), ...bytes(2, [...str(1, 'e'), ...str(2, '')])];
    expect(decodeKubeProtobuf(envelope('ConfigMap', raw))).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', labels: { app: 'x' } }, data: { k: 'v', e: '' } });
  });

  it('refuses a field it does not know when it carries a value, and kinds it has no schema for', async () => {
    const { decodeKubeProtobuf } = await import('../testbed/apiserver/protobuf.ts');
    const ignoredZero = [...bytes(1, str(1, 'cfg')), ...num(9, 0)];
    expect(decodeKubeProtobuf(envelope('ConfigMap', ignoredZero))).toMatchObject({ metadata: { name: 'cfg' } });
    expect(() => decodeKubeProtobuf(envelope('ConfigMap', [...bytes(1, str(1, 'cfg')), ...num(9, 5)]))).toThrow(expect.objectContaining({ code: 415 }));
    expect(() => decodeKubeProtobuf(envelope('Pod', []))).toThrow(expect.objectContaining({ code: 415 }));
    expect(() => decodeKubeProtobuf(Uint8Array.from([1, 2, 3, 4]))).toThrow(expect.objectContaining({ code: 415 }));
  });
});
