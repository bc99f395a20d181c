// Egress masquerade: pods reaching anything outside the cluster's networks leave with the
// node's address; pod-to-pod (local or through the tunnel) keeps its source. Whatever enters
// the tunnel from outside the cluster's networks (a host process bound to the node address,
// forwarded traffic nobody masqueraded) is masqueraded to the tunnel's own address, which the
// peers' allowed IPs accept, as flannel's `! -s cluster -d cluster` rule does. One table of
// our own, replaced in one transaction, so no other ruleset is ever touched.
import type { CIDR } from '../../src/net/ip.ts';

export const NFT_TABLE = 'nodeway-mesh';

export interface NftInput {
  iface: string;
  podCIDRs: CIDR[];
  clusterNets: CIDR[];
}

function set(name: string, family: 4 | 6, cidrs: CIDR[]): string[] {
  const type = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  const elems = cidrs.filter((c) => c.family === family).map((c) => c.text);
  return [
    `\tset ${name} {`,
    `\t\ttype ${type}`,
    '\t\tflags interval',
    ...(elems.length ? [`\t\telements = { ${elems.join(', ')} }`] : []),
    '\t}',
  ];
}

export function renderNft(n: NftInput): string {
  const lines = [`table inet ${NFT_TABLE} {`];
  const fams = ([4, 6] as const).filter((f) => n.podCIDRs.some((c) => c.family === f));
  for (const f of fams) lines.push(...set(`pods${f}`, f, n.podCIDRs), ...set(`cluster${f}`, f, n.clusterNets));
  lines.push(
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
  );
  for (const f of fams) {
    const ip = f === 4 ? 'ip' : 'ip6';
    lines.push(`\t\toifname "${n.iface}" ${ip} saddr != @cluster${f} counter masquerade fully-random`);
  }
  lines.push(`\t\toifname "${n.iface}" return`);
  for (const f of fams) {
    const ip = f === 4 ? 'ip' : 'ip6';
    const mcast = f === 4 ? '224.0.0.0/4' : 'ff00::/8';
    lines.push(`\t\t${ip} saddr @pods${f} ${ip} daddr != @cluster${f} ${ip} daddr != ${mcast} counter masquerade fully-random`);
  }
  lines.push('\t}', '}');
  return `${lines.join('\n')}\n`;
}

/** One transaction: create-if-missing, delete, recreate; a failure leaves the old table. */
export function replaceScript(table: string): string {
  return `table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n${table}`;
}
