// Tells a module when links, addresses or routes changed in the agent's network namespace, so
// that it needs no periodic `ip` reads to notice: one long-lived `ip -o monitor link address
// route` (both families; iproute2 flushes each line), parsed into events. What an event means
// (ours? something we depend on?) is the subscriber's to judge: the mesh keeps its filter pure
// (modules/mesh/host-events.ts).
//
// rtnetlink says nothing about who made a change, so the agent's own changes come back as
// events too; a subscriber judges them against what it applied. A listener that exits, or whose
// socket overflowed in a burst ("No buffer space available": events were dropped), is reported
// as 'lost' (the subscriber then reads the host once), and started again after a delay that
// doubles while it keeps exiting (1 s to 1 min; src/sys/listener.ts), then 'lost' again (what
// changed meanwhile). Meanwhile `live` is false: subscribers poll.
import type { Logger } from 'pino';
import type { Registry } from '../runtime/metrics.ts';
import { ListenerFeed, SupervisedListener } from './listener.ts';

export type IpEvent =
  | { kind: 'link'; deleted: boolean; name: string; up: boolean; mtu: number }
  | { kind: 'addr'; deleted: boolean; name: string; family: 4 | 6; cidr: string; scope: string }
  | { kind: 'route'; deleted: boolean; type: string; dst: string; table: string; dev: string; proto: string; src: string; via: string }
  /** Events may have been missed (the listener stopped or overflowed): read the host again. */
  | { kind: 'lost' };

const LINK = /^(Deleted )?\d+: ([^:@\s]+)(?:@\S*)?: <([^>]*)>.*? mtu (\d+)/;
const ADDR = /^(Deleted )?\d+: (\S+)\s+inet(6?) (\S+) (?:.*? )?scope (\S+)/;
const ROUTE_TYPES = new Set(['unicast', 'local', 'broadcast', 'multicast', 'anycast', 'unreachable', 'prohibit', 'blackhole', 'throw', 'nat']);

/** One line of `ip -o monitor link address route`; undefined for anything else (neighbours, netconf, noise). */
export function parseIpMonitorLine(line: string): IpEvent | undefined {
  let m = LINK.exec(line);
  if (m) {
    const flags = m[3]!.split(',');
    return { kind: 'link', deleted: !!m[1], name: m[2]!, up: flags.includes('UP'), mtu: Number(m[4]) };
  }
  m = ADDR.exec(line);
  if (m) return { kind: 'addr', deleted: !!m[1], name: m[2]!, family: m[3] ? 6 : 4, cidr: m[4]!, scope: m[5]! };
  const words = line.trim().split(/\s+/);
  if (!words[0]) return undefined;
  const deleted = words[0] === 'Deleted';
  if (deleted) words.shift();
  let type = 'unicast';
  if (ROUTE_TYPES.has(words[0]!)) type = words.shift()!;
  const dst = words.shift();
  // A route line names its destination then key/value pairs; anything else is not one.
  if (!dst || !(dst === 'default' || /^[0-9a-f.:]+(\/\d+)?$/i.test(dst))) return undefined;
  const at = (k: string) => {
    const i = words.indexOf(k);
    return i >= 0 ? (words[i + 1] ?? '') : '';
  };
  return { kind: 'route', deleted, type, dst, table: at('table') || 'main', dev: at('dev'), proto: at('proto') || 'boot', src: at('src'), via: at('via') };
}

export interface IpMonitorOptions {
  log?: Logger;
  registry?: Registry;
  /** Runs the listener through this prefix (tests: `ip netns exec NS`). */
  prefix?: string[];
  minRestartMs?: number;
  maxRestartMs?: number;
}

export class IpMonitor extends ListenerFeed<IpEvent> {
  protected readonly listener: SupervisedListener;
  private readonly events;

  constructor(opts: IpMonitorOptions = {}) {
    super();
    this.events = opts.registry?.counter('nodeway_ip_monitor_events_total', 'Link, address and route events heard, by kind.');
    this.listener = new SupervisedListener({
      command: ['ip', '-o', 'monitor', 'link', 'address', 'route'],
      programs: ['ip'],
      what: 'link/address/route event listener',
      meanwhile: 'the mesh reads the host every few seconds until it runs again',
      metrics: {
        prefix: 'nodeway_ip_monitor',
        up: '1 while the link/address/route event listener (`ip monitor`) runs; else the mesh reads the host every few seconds.',
        exits: 'Times the `ip monitor` listener exited, could not start, or overflowed (events lost), by reason.',
      },
    }, {
      line: (line) => {
        const ev = parseIpMonitorLine(line);
        if (ev) this.emit(ev);
      },
      // iproute2 goes on after an overflow; what the kernel dropped is unknown.
      stderr: (chunk) => {
        if (!/No buffer space/.test(chunk)) return undefined;
        this.emit({ kind: 'lost' });
        return 'overflow';
      },
      // Listening again: what changed while it was down is read once now.
      listening: (again) => again && this.emit({ kind: 'lost' }),
      down: () => this.emit({ kind: 'lost' }),
    }, opts);
  }

  protected override emit(ev: IpEvent): void {
    this.events?.inc({ kind: ev.kind });
    super.emit(ev);
  }
}
