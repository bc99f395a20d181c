// The netpol module's flags and their parsed form.
import type { Config, OptionSpec } from '../../src/runtime/config.ts';

export interface NetpolConfig {
  table: string;
}

const TABLE_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export const NETPOL_OPTIONS: OptionSpec[] = [
  {
    flag: 'netpol-table', key: 'netpolTable', kind: 'string', default: 'nodeway-np',
    help: 'name of the NetworkPolicy nftables tables (one "ip" and one "ip6")',
    check: (v: string) => (TABLE_RE.test(v) ? undefined : 'expected a letter then up to 63 letters, digits, - or _'),
  },
];

export function netpolConfig(config: Config): NetpolConfig {
  return {
    table: (config.netpolTable as string | undefined) ?? 'nodeway-np',
  };
}
