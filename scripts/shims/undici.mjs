// nodeway talks to the API server over node:http (src/kube/client.ts). client-node imports
// undici only to build fetch dispatchers, which nodeway never asks for; this stand-in keeps
// undici's module (and its WebAssembly parser) out of the bundle.
function unavailable() {
  throw new Error('undici is not bundled with nodeway: use node:http');
}
export class Agent {
  constructor() { unavailable(); }
}
export class ProxyAgent {
  constructor() { unavailable(); }
}
export function fetch() { unavailable(); }
