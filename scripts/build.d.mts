/** Bundles the agent (cmd/nodeway.ts and everything it imports) into one ESM file. */
export function bundle(outfile: string): Promise<unknown>;
