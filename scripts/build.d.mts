/** Bundles the agent (cmd/nodeway.ts) into `outfile` and the lab (cmd/nodeway-lab.ts) beside it as nodeway-lab.mjs. */
export function bundle(outfile: string): Promise<unknown>;
