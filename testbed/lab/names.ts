import { randomBytes } from 'node:crypto';

// The owning pid sits in every namespace name so a later run can tell
// leftovers of a dead process from a lab that is still in use.
const LAB_NS = /^nw-(\d+)-[a-z0-9]+-/;
const TAG = /^[a-z0-9]{0,8}$/;
const NAME = /^[a-z0-9][a-z0-9-]{0,30}$/;

export function makePrefix(tag = ''): string {
  if (!TAG.test(tag)) throw new Error(`lab prefix tag must match ${TAG}: ${JSON.stringify(tag)}`);
  return `nw-${process.pid}-${tag}${randomBytes(3).toString('hex')}`;
}

export function ownerPid(netns: string): number | undefined {
  const m = LAB_NS.exec(netns);
  return m ? Number(m[1]) : undefined;
}

export function checkName(kind: string, name: string): void {
  if (!NAME.test(name)) throw new Error(`${kind} name must match ${NAME}: ${JSON.stringify(name)}`);
}

// Interface names are per namespace, so they only need to be unique where they
// live, but the kernel caps them at 15 bytes.
export function ifname(base: string, used: Set<string>): string {
  let name = base.slice(0, 15);
  for (let i = 0; used.has(name); i++) name = `${base.slice(0, 11)}${i}`.slice(0, 15);
  used.add(name);
  return name;
}
