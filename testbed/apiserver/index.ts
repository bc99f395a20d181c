export { EmbeddedApiServer, type ApiServerOptions, type WriteOptions } from './server.ts';
export { ApiError, type Status, type StatusCause } from './errors.ts';
export { RESOURCES, resolveResource, type ResourceInfo } from './resources.ts';
export type { AuditEntry, KubeList, KubeObject, ListOptions, ObjectMeta, PatchType, Verb, WatchEvent, WatchEventType, WatchOptions } from './types.ts';
export type { Fault, FaultHook, RequestInfo } from './faults.ts';
