// The netpol module's flags and their parsed form.
import type { Config, OptionSpec } from '../../src/runtime/config.ts';

export interface NetpolConfig {
  table: string;
  /** Delete the conntrack entries of established flows a change denies (strict.ts). */
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
    help: 'when a change denies flows it allowed, delete their conntrack entries so established connections are cut too (default: only new flows are judged)',
  },
];

export function netpolConfig(config: Config): NetpolConfig {
  return {
    table: (config.netpolTable as string | undefined) ?? 'nodeway-np',
    strict: (config.netpolStrict as boolean | undefined) ?? false,
  };
}
