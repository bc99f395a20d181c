// client-node's config.js imports its generated API layer (every model class of the
// Kubernetes API) only for makeApiClient(), which nodeway never calls: it requests raw JSON.
function unavailable() {
  throw new Error('the generated Kubernetes API clients are not bundled with nodeway');
}
export function createConfiguration() { unavailable(); }
export class ServerConfiguration {
  constructor() { unavailable(); }
}
