/**
 * Every rxmesh error: a MeshError subclass with a stable `code`, a `retryable`
 * flag and a message. Codes are a const object plus a union type; they travel
 * on the wire as strings and come back through MeshError.parse.
 */

/** The stable codes of MeshError (`err.code`); `errorMessage(code)` gives each one's fixed text. */
export const ErrorCode = {
  AUTH: 'AUTH',
  CONFLICT: 'CONFLICT',
  INVALID_NAME: 'INVALID_NAME',
  CROSS_GAME: 'CROSS_GAME',
  NO_ROUTE: 'NO_ROUTE',
  NOT_WATCHED: 'NOT_WATCHED',
  QUEUE_FULL: 'QUEUE_FULL',
  TIMEOUT: 'TIMEOUT',
  AGENT_LOST: 'AGENT_LOST',
  REGISTRY_UNAVAILABLE: 'REGISTRY_UNAVAILABLE',
  REGISTRY_AUTH: 'REGISTRY_AUTH',
  PROTOCOL: 'PROTOCOL',
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  NOT_FOUND: 'NOT_FOUND',
  CLOSED: 'CLOSED',
  KICKED: 'KICKED',
  REMOTE: 'REMOTE',
  RING_FAILURE: 'RING_FAILURE',
  BAD_ARGUMENT: 'BAD_ARGUMENT',
  IN_DOUBT: 'IN_DOUBT',
  LIMIT: 'LIMIT',
  VERSION: 'VERSION',
  NOT_INSTALLED: 'NOT_INSTALLED',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const MESSAGES: Record<ErrorCode, string> = {
  AUTH: 'authentication failed: wrong game id or key',
  CONFLICT: 'the instance is already registered by another holder',
  INVALID_NAME: 'invalid service name, pattern or user data',
  CROSS_GAME: 'an instance may only talk to services of its own game',
  NO_ROUTE: 'no instance of the service is online',
  NOT_WATCHED: 'the service is not watched by this instance',
  QUEUE_FULL: 'the queue is full; retry after it drains',
  TIMEOUT: 'the operation timed out',
  AGENT_LOST: 'the connection to the local agent was lost',
  REGISTRY_UNAVAILABLE: 'the registry cannot be reached',
  REGISTRY_AUTH: 'the registry refused the agent: wrong user or password, a missing role, or a certificate it does not trust',
  PROTOCOL: 'malformed or unexpected protocol frame',
  FRAME_TOO_LARGE: 'frame exceeds the maximum size',
  NOT_FOUND: 'no such instance',
  CLOSED: 'the instance or connection is closed',
  KICKED: 'the instance was replaced by another registration',
  REMOTE: 'the remote handler failed',
  RING_FAILURE: 'shared-memory ring error',
  BAD_ARGUMENT: 'invalid argument (e.g. consistent-hash routing without a key)',
  IN_DOUBT: 'an agent died holding the message unacknowledged: it may or may not have been delivered',
  LIMIT: 'an agent limit was reached (instances, watches or bytes buffered per app or game, or memory mappings)',
  VERSION: 'the two sides speak no protocol version in common: upgrade the older one',
  NOT_INSTALLED: 'an optional package this feature needs is not installed (e.g. etcd3 for an etcd registry)',
  INTERNAL: 'internal error',
};

const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'QUEUE_FULL', 'TIMEOUT', 'AGENT_LOST', 'REGISTRY_UNAVAILABLE', 'NO_ROUTE',
]);

/** The fixed text for a code (tbuspp's GetErrMsg). */
export function errorMessage(code: ErrorCode | string): string {
  return MESSAGES[code as ErrorCode] ?? `unknown error code ${code}`;
}

/**
 * What every rxmesh error is: a stable `code` (ErrorCode), `retryable` (the
 * same call may succeed later: QUEUE_FULL, TIMEOUT, AGENT_LOST,
 * REGISTRY_UNAVAILABLE, NO_ROUTE) and a message. Test with `instanceof` on the
 * subclass or compare `code`.
 */
export class MeshError extends Error {
  override name = 'MeshError';
  readonly retryable: boolean;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    options?: ErrorOptions,
  ) {
    super(message ?? errorMessage(code), options);
    this.retryable = RETRYABLE.has(code);
  }

  /** Wire form: `CODE: message`. */
  toWire(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }

  /** Rebuild the right subclass from its wire form (or a `CODE: message` string). */
  static parse(wire: { code: string; message?: string } | string): MeshError {
    const w = typeof wire === 'string' ? splitWire(wire) : wire;
    const Ctor = CLASSES[(w.code === 'RING' ? ErrorCode.RING_FAILURE : w.code) as ErrorCode]; // 'RING': agents before 0.2
    const message = w.message ?? errorMessage(w.code);
    if (!Ctor) return new MeshError(ErrorCode.INTERNAL, `${w.code}: ${message}`);
    return new Ctor(message);
  }
}

function splitWire(s: string): { code: string; message: string } {
  const i = s.indexOf(': ');
  return i < 0 ? { code: s, message: errorMessage(s) } : { code: s.slice(0, i), message: s.slice(i + 2) };
}

const make = (code: ErrorCode, name: string) =>
  class extends MeshError {
    override name = name;
    constructor(message?: string, options?: ErrorOptions) {
      super(code, message, options);
    }
  };

/** The game id or key was refused at connect (AUTH); also an unknown game. */
export class AuthError extends make(ErrorCode.AUTH, 'AuthError') {}
/** The service/user data is registered by someone else and the conflict strategy is `reject` (CONFLICT). */
export class ConflictError extends make(ErrorCode.CONFLICT, 'ConflictError') {}
/** A service name, pattern or user data that is not valid (INVALID_NAME). */
export class InvalidNameError extends make(ErrorCode.INVALID_NAME, 'InvalidNameError') {}
/** A send, request or watch aimed at another game's service (CROSS_GAME). */
export class CrossGameError extends make(ErrorCode.CROSS_GAME, 'CrossGameError') {}
/** No instance of the service is online, or a request came back undelivered (NO_ROUTE; retryable). */
export class NoRouteError extends make(ErrorCode.NO_ROUTE, 'NoRouteError') {}
/** A stateless send to a service this instance does not watch (NOT_WATCHED): watch it or `await inst.service$(svc)`. */
export class NotWatchedError extends make(ErrorCode.NOT_WATCHED, 'NotWatchedError') {}
/** The outgoing ring is full (QUEUE_FULL; retryable): wait with `whenWritable()` and send again. */
export class QueueFullError extends make(ErrorCode.QUEUE_FULL, 'QueueFullError') {}
/** A request (or control call) got no answer in time (TIMEOUT; retryable). */
export class TimeoutError extends make(ErrorCode.TIMEOUT, 'TimeoutError') {}
/** The connection to the local agent is lost, or none is listening (AGENT_LOST; retryable). */
export class AgentLostError extends make(ErrorCode.AGENT_LOST, 'AgentLostError') {}
/** The registry (name server or etcd) cannot be reached (REGISTRY_UNAVAILABLE; retryable). */
export class RegistryUnavailableError extends make(ErrorCode.REGISTRY_UNAVAILABLE, 'RegistryUnavailableError') {}
/** The registry refused the agent: credentials, role or certificate (REGISTRY_AUTH). */
export class RegistryAuthError extends make(ErrorCode.REGISTRY_AUTH, 'RegistryAuthError') {}
/** A malformed or unexpected frame from the other side (PROTOCOL). */
export class ProtocolError extends make(ErrorCode.PROTOCOL, 'ProtocolError') {}
/** A frame larger than the receiver accepts (FRAME_TOO_LARGE). */
export class FrameTooLargeError extends make(ErrorCode.FRAME_TOO_LARGE, 'FrameTooLargeError') {}
/** No such instance (NOT_FOUND). */
export class NotFoundError extends make(ErrorCode.NOT_FOUND, 'NotFoundError') {}
/** The instance or connection is closed, or the call was aborted (CLOSED). */
export class ClosedError extends make(ErrorCode.CLOSED, 'ClosedError') {}
/** The instance was replaced by another registration of the same name (KICKED). */
export class KickedError extends make(ErrorCode.KICKED, 'KickedError') {}
/** The replier's handler failed: a request answered with an error (REMOTE). */
export class RemoteError extends make(ErrorCode.REMOTE, 'RemoteError') {}
/** A shared-memory ring failed (RING_FAILURE): the instance using it is closed; `cause` is the native error. */
export class RingFailureError extends make(ErrorCode.RING_FAILURE, 'RingFailureError') {}
/** An argument that cannot be used, e.g. consistent-hash without a key (BAD_ARGUMENT). */
export class BadArgumentError extends make(ErrorCode.BAD_ARGUMENT, 'BadArgumentError') {}
/** An agent died holding the message unacknowledged: it may or may not have been delivered (IN_DOUBT). */
export class InDoubtError extends make(ErrorCode.IN_DOUBT, 'InDoubtError') {}
/** An agent limit was reached: instances, watches, bytes queued, memory mappings or shm space (LIMIT). */
export class LimitError extends make(ErrorCode.LIMIT, 'LimitError') {}
/** The two sides speak no protocol version in common (VERSION): upgrade the older one. */
export class VersionError extends make(ErrorCode.VERSION, 'VersionError') {}
/** An optional package the feature needs is not installed, e.g. etcd3 (NOT_INSTALLED). */
export class NotInstalledError extends make(ErrorCode.NOT_INSTALLED, 'NotInstalledError') {}
/** A bug or an unexpected state inside rxmesh (INTERNAL). */
export class InternalError extends make(ErrorCode.INTERNAL, 'InternalError') {}

const CLASSES: Record<ErrorCode, new (message?: string) => MeshError> = {
  AUTH: AuthError,
  CONFLICT: ConflictError,
  INVALID_NAME: InvalidNameError,
  CROSS_GAME: CrossGameError,
  NO_ROUTE: NoRouteError,
  NOT_WATCHED: NotWatchedError,
  QUEUE_FULL: QueueFullError,
  TIMEOUT: TimeoutError,
  AGENT_LOST: AgentLostError,
  REGISTRY_UNAVAILABLE: RegistryUnavailableError,
  REGISTRY_AUTH: RegistryAuthError,
  PROTOCOL: ProtocolError,
  FRAME_TOO_LARGE: FrameTooLargeError,
  NOT_FOUND: NotFoundError,
  CLOSED: ClosedError,
  KICKED: KickedError,
  REMOTE: RemoteError,
  RING_FAILURE: RingFailureError,
  BAD_ARGUMENT: BadArgumentError,
  IN_DOUBT: InDoubtError,
  LIMIT: LimitError,
  VERSION: VersionError,
  NOT_INSTALLED: NotInstalledError,
  INTERNAL: InternalError,
};
