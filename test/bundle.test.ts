// The agent's bundle is the agent: the lab and the embedded API server live in a bundle of
// their own, loaded only by `nodeway lab`.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildAgent } from './support/agent.ts';

const sources = (map: string) => (JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] }).sources;

describe('bundles', () => {
  it('the agent carries no lab or apiserver code; the lab bundle beside it does', async () => {
    const agent = await buildAgent();
    const mine = sources(`${agent}.map`);
    expect(mine.some((s) => s.includes('src/kube/informer.ts'))).toBe(true);
    expect(mine.filter((s) => /src\/(lab|apiserver)\//.test(s))).toEqual([]);
    const lab = sources(join(dirname(agent), 'nodeway-lab.mjs.map'));
    expect(lab.some((s) => s.includes('testbed/apiserver/server.ts'))).toBe(true);
    expect(lab.some((s) => s.includes('testbed/lab/daemon.ts'))).toBe(true);
  });
});
