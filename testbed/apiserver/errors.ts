import type { ResourceInfo } from './resources.ts';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[] };
  code: number;
}

/** An error that travels to the client as a `Status` object, as the real apiserver answers. */
export class ApiError extends Error {
  readonly status: Status;
  constructor(code: number, reason: string, message: string, details?: Status['details']) {
    super(message);
    this.name = 'ApiError';
    this.status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
    if (details) this.status.details = details;
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string {
    return this.status.reason;
  }
}

function qualified(res: ResourceInfo): string {
  return res.group ? `${res.plural}.${res.group}` : res.plural;
}

function details(res: ResourceInfo, name: string): Status['details'] {
  return res.group ? { name, group: res.group, kind: res.plural } : { name, kind: res.plural };
}

export function notFound(res: ResourceInfo, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(res)} "${name}" not found`, details(res, name));
}

export function alreadyExists(res: ResourceInfo, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualified(res)} "${name}" already exists`, details(res, name));
}

export function conflict(res: ResourceInfo, name: string, why: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(res)} "${name}": ${why}`, details(res, name));
}

export const STALE = 'the object has been modified; please apply your changes to the latest version and try again';

export function invalid(res: ResourceInfo, name: string, causes: StatusCause[]): ApiError {
  const text = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ');
  const kind = res.kind;
  const d: Status['details'] = { name, kind, causes };
  if (res.group) d.group = res.group;
  const msg = causes.length > 1 ? `${kind} "${name}" is invalid: [${text}]` : `${kind} "${name}" is invalid: ${text}`;
  return new ApiError(422, 'Invalid', msg, d);
}

/** One invalid field, in the wording the real apiserver uses for each cause type. */
export function fieldError(field: string, type: 'Invalid' | 'Required' | 'Duplicate' | 'Forbidden' | 'NotSupported', message: string, value?: unknown): StatusCause {
  const shown = value === undefined ? '' : `${JSON.stringify(value)}: `;
  switch (type) {
    case 'Required':
      return { reason: 'FieldValueRequired', message: `Required value: ${message}`, field };
    case 'Duplicate':
      return { reason: 'FieldValueDuplicate', message: `Duplicate value: ${shown}${message}`, field };
    case 'Forbidden':
      return { reason: 'FieldValueForbidden', message: `Forbidden: ${message}`, field };
    case 'NotSupported':
      return { reason: 'FieldValueNotSupported', message: `Unsupported value: ${shown}${message}`, field };
    default:
      return { reason: 'FieldValueInvalid', message: `Invalid value: ${shown}${message}`, field };
  }
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function gone(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

/** What the real watch cache answers for a resourceVersion it has not reached (e.g. after an API server reset). */
export function tooLargeResourceVersion(rv: number, current: number): ApiError {
  return new ApiError(504, 'Timeout', `Too large resource version: ${rv}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
  });
}

export function methodNotAllowed(message = 'the server does not allow this method on the requested resource'): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function notFoundPath(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}
