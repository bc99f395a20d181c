// The netpol module's flags and their parsed form.
import type { Config, OptionSpec } from '../../src/runtime/config.ts';

export interface NetpolConfig {
  table: string;
  /** Delete conntrack entries of flows a change denies (else established flows keep going). */
  strict: boolean;
}

const TABLE_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export const NETPOL_OPTIONS: OptionSpec[] = [
  {
    flag: 'netpol-table', key: 'netpolTable', kind: 'string', default: 'nodeway-np',
    help: 'name of the NetworkPolicy nftables tables (one "ip" and one "ip6")',
    check: (v: string) => (TABLE_RE.test(v) ? undefined : 'expected a letter then up to 63 letters, digits, - or _'),
  },
  {
    flag: 'netpol-strict', key: 'netpolStrict', kind: 'bool', default: false,
    help: 'when a policy change denies a flow that is established, delete its conntrack entry so the change applies to it too',
  },
];

export function netpolConfig(config: Config): NetpolConfig {
  return {
    table: (config.netpolTable as string | undefined) ?? 'nodeway-np',
    strict: (config.netpolStrict as boolean | undefined) ?? false,
  };
}
