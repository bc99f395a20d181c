// The representative Services the golden tests render, and the change applied to them.
import type { ServiceView } from '../../src/view/types.ts';
import { NODE, service, slice, view, viewMap } from './fixtures.ts';

export function initialServices(): Map<string, ServiceView> {
  return viewMap(
    view(service('web', { clusterIPs: ['198.19.0.10'], ports: [{ name: 'http', port: 80, targetPort: 'http' }] }), [
      slice('web', 'web-1', [{ name: 'http', port: 8080 }], [{ ip: '198.19.1.2', node: NODE }]),
      // Another slice, another target port for the same named port.
      slice('web', 'web-2', [{ name: 'http', port: 8081 }], [{ ip: '198.19.2.2' }]),
    ]),
    view(
      service('dns', {
        clusterIPs: ['198.19.0.53'],
        ports: [
          { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
          { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
        ],
      }),
      [slice('dns', 'dns-1', [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', port: 53 }], [{ ip: '198.19.2.3' }, { ip: '198.19.2.10' }])],
    ),
    view(service('empty', { clusterIPs: ['198.19.0.20'] })),
    view(
      service('lb', {
        type: 'LoadBalancer',
        clusterIPs: ['198.19.0.30'],
        externalIPs: ['198.18.10.2'],
        loadBalancerIPs: ['198.18.10.1'],
        loadBalancerSourceRanges: ['198.18.0.0/24', '203.0.113.0/24'],
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 31000,
        ports: [{ port: 80, nodePort: 30080 }],
      }),
      [slice('lb', 'lb-1', [{ port: 8080 }], [{ ip: '198.19.1.3', node: NODE }, { ip: '198.19.2.4' }])],
    ),
    view(service('sticky', { clusterIPs: ['198.19.0.40'], affinityTimeout: 600, ports: [{ protocol: 'SCTP', port: 9000 }] }), [
      slice('sticky', 'sticky-1', [{ protocol: 'SCTP', port: 9000 }], [{ ip: '198.19.2.5' }, { ip: '198.19.2.6' }]),
    ]),
    view(service('itp', { clusterIPs: ['198.19.0.50'], internalTrafficPolicy: 'Local' }), [slice('itp', 'itp-1', [{ port: 8080 }], [{ ip: '198.19.2.7' }])]),
    view(service('headless', { headless: true, clusterIPs: [] }), [slice('headless', 'headless-1', [{ port: 8080 }], [{ ip: '198.19.2.8' }])]),
  );
}

/** web scales to one endpoint, empty gets one, sticky goes away, dns loses its endpoint. */
export function updatedServices(): Map<string, ServiceView> {
  const m = initialServices();
  const web = view(service('web', { clusterIPs: ['198.19.0.10'], ports: [{ name: 'http', port: 80, targetPort: 'http' }] }), [
    slice('web', 'web-1', [{ name: 'http', port: 8080 }], [{ ip: '198.19.1.2', node: NODE }]),
  ]);
  const empty = view(service('empty', { clusterIPs: ['198.19.0.20'] }), [slice('empty', 'empty-1', [{ port: 8080 }], [{ ip: '198.19.2.9' }])]);
  const dns = view(
    service('dns', {
      clusterIPs: ['198.19.0.53'],
      ports: [
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
        { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
      ],
    }),
  );
  m.set(web.key, web);
  m.set(empty.key, empty);
  m.set(dns.key, dns);
  m.delete('default/sticky');
  return m;
}

export const UPDATED_KEYS = new Set(['default/web', 'default/empty', 'default/dns', 'default/sticky']);

export function dualStackServices(): Map<string, ServiceView> {
  return viewMap(
    view(
      service('web6', {
        type: 'NodePort',
        clusterIPs: ['198.19.0.60', 'fd00:198:19::60'],
        affinityTimeout: 30,
        ports: [{ name: 'http', port: 80, nodePort: 30081 }],
      }),
      [
        slice('web6', 'web6-v4', [{ name: 'http', port: 8080 }], [{ ip: '198.19.1.4', node: NODE }]),
        slice('web6', 'web6-v6', [{ name: 'http', port: 8080 }], [{ ip: 'fd00:198:19:1::4', node: NODE }, { ip: 'fd00:198:19:2::4' }]),
      ],
    ),
  );
}
