// The plan as JSON (`nodeway view`): Maps and Sets as sorted objects and lists.
import type { Desired, FamilyDesired } from './model.ts';
import { ruleText } from './render.ts';

const sorted = <T>(it: Iterable<T>) => [...it].sort();

function family(fd: FamilyDesired) {
  return {
    ingress: Object.fromEntries(sorted(fd.ingress.entries())),
    egress: Object.fromEntries(sorted(fd.egress.entries())),
    groups: Object.fromEntries([...fd.groups.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((g) => [g.name, {
      direction: g.direction,
      policies: g.policies,
      rules: g.rules.map((r) => ({ nft: ruleText(r, g, fd.family), why: r.why })),
      ...(g.tail ? { afterAdminTier: g.tail.map((r) => ({ nft: ruleText(r, g, fd.family), why: r.why })) } : {}),
      sets: Object.fromEntries([...g.sets.keys()].sort().map((s) => [s, sorted(fd.elements.get(s) ?? [])])),
    }])),
  };
}

export function desiredToJSON(d: Desired) {
  return {
    pods: Object.fromEntries(sorted(d.pods.keys()).map((k) => [k, d.pods.get(k)])),
    ipv4: family(d.v4),
    ipv6: family(d.v6),
  };
}
