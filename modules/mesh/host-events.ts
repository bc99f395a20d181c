// Which link, address and route events (src/sys/ip-monitor.ts) mean the host no longer holds
// what the mesh applied, or changed under something it depends on. Pure: the module hands over
// the events heard since it last looked and what its appliers hold now.
//
// Events are judged after the fact, once no sync runs, so only the last event per object counts
// (a link's last event carries its whole state; an address or route was last added or deleted):
// the agent's own changes then agree with what it applied and wake nothing, which also keeps
// a repair from waking itself again.
import type { IpEvent } from '../../src/sys/ip-monitor.ts';
import { parseCIDR } from '../../src/net/ip.ts';
import { ROUTE_PROTO, type RouteSpec } from './routes.ts';

/**
 * device: the WireGuard link is gone (rebuild it); link: the tunnel or the bridge was downed,
 * its MTU changed, or the bridge or a gateway address is gone; addresses: a tunnel address;
 * routes: a mesh route; underlay: the default route or this node's address (path MTUs); lost:
 * events were missed (read everything).
 */
export type HostWake = 'device' | 'link' | 'addresses' | 'routes' | 'underlay' | 'lost';

export interface HostHeld {
  iface: string;
  bridge: string;
  /** The device is known: until it is, a rebuild is owed anyway. */
  device: boolean;
  /** The tunnel MTU and the bridge's gateways (ip/prefix) as applied; undefined = not applied yet. */
  link: { mtu: number; gateways: readonly string[] } | undefined;
  /** The tunnel's addresses as applied (ip/prefix); undefined = not known (read next time anyway). */
  addresses: ReadonlySet<string> | undefined;
  /** Whether the mesh's route to `dst` is live as `spec` (undefined: no such route wanted); undefined = routes not known. */
  routeHeld: ((dst: string, spec: RouteSpec | undefined) => boolean) | undefined;
  /** This node's addresses (the peers dial them; their path MTU is the tunnel's). */
  nodeIPs: readonly string[];
}

/** What identifies the object an event is about: later events of the same key replace earlier ones. */
export function eventKey(ev: IpEvent): string {
  switch (ev.kind) {
    case 'link': return `link ${ev.name}`;
    case 'addr': return `addr ${ev.name} ${ev.cidr}`;
    case 'route': return `route ${ev.table} ${ev.type} ${ev.dst} ${ev.dev}`;
    case 'lost': return 'lost';
  }
}

/** `ip` prints a host route without its length. */
export function routeDst(dst: string): string | undefined {
  return parseCIDR(dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`)?.text;
}

export function hostWakes(events: Iterable<IpEvent>, held: HostHeld): Set<HostWake> {
  const out = new Set<HostWake>();
  for (const ev of events) {
    const w = wake(ev, held);
    if (w) out.add(w);
  }
  return out;
}

function wake(ev: IpEvent, h: HostHeld): HostWake | undefined {
  switch (ev.kind) {
    case 'lost':
      return 'lost';
    case 'link':
      if (ev.name === h.iface) {
        if (!h.device) return undefined;
        if (ev.deleted) return 'device';
        return h.link && (!ev.up || ev.mtu !== h.link.mtu) ? 'link' : undefined;
      }
      // The bridge's MTU follows its ports' (pods keep the MTU they were made with): not judged.
      if (ev.name === h.bridge && h.link?.gateways.length) return ev.deleted || !ev.up ? 'link' : undefined;
      return undefined;
    case 'addr': {
      if (ev.scope !== 'global') return undefined;
      if (ev.name === h.iface) {
        if (!h.device || !h.addresses) return undefined;
        return h.addresses.has(ev.cidr) === ev.deleted ? 'addresses' : undefined;
      }
      if (ev.name === h.bridge && h.link?.gateways.includes(ev.cidr)) return ev.deleted ? 'link' : undefined;
      const ip = ev.cidr.split('/')[0]!;
      return h.nodeIPs.includes(ip) ? 'underlay' : undefined;
    }
    case 'route': {
      if (ev.table !== 'main' || ev.type !== 'unicast') return undefined;
      if (ev.dst === 'default') return 'underlay';
      if (!h.routeHeld) return undefined;
      const dst = routeDst(ev.dst);
      if (!dst) return undefined;
      const ours = ev.proto === String(ROUTE_PROTO);
      if (ev.deleted) return ours && h.routeHeld(dst, undefined) === false ? 'routes' : undefined;
      // Ours as applied, or a route of someone else's to a destination the mesh does not route.
      if (ours) return h.routeHeld(dst, { dev: ev.dev, src: ev.src }) ? undefined : 'routes';
      return h.routeHeld(dst, undefined) ? undefined : 'routes';
    }
  }
}
