/**
 * rxmesh: the app API, listed by name. Types and factories, operators,
 * strategies by name, errors. Embedding the agent, the name server or a
 * registry in a host program: `rxmesh/server` (lib/server.ts).
 */
export { connect } from './client/connect.js';
export { defaultAgentSocket, defaultShmDir } from './protocol/shm-home.js';
export type { Mesh, Instance } from './client/mesh-api.js';
export { DEFAULT_REPLY_SPIN_US, type ConnectOptions } from './client/mesh.js';
export type { InstanceOptions, SendOptions, SendToOptions, RequestOptions, StrategyName, OfflineInfo, InstanceStats } from './client/instance-options.js';
export type { Message, InstanceRef, Undeliverable, MessageReplyOptions } from './client/message.js';
export type { InstanceInfo } from './protocol/control-bodies.js';
export { type DrainOptions, DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_DRAIN_QUIET_MS } from './client/drain.js';
export { HEADERS_MAX_BYTES, type Headers } from './protocol/headers.js';
export { withMessageContext } from './client/tracing.js';
export { toService, type ToServiceOptions } from './client/operators/to-service.js';
export { toInstance } from './client/operators/to-instance.js';
export { shardBy } from './client/operators/shard-by.js';
export { shardRequest, type ShardRequestOptions } from './client/operators/shard-request.js';
export { reply, type ReplyOutcome, type ReplyOptions } from './client/operators/reply.js';
export { request, type RequestOperatorOptions } from './client/operators/request.js';
export type { BackpressureOptions, HeadersOption } from './client/operators/send-each.js';
export {
  ErrorCode, errorMessage, MeshError, AuthError, ConflictError, InvalidNameError, CrossGameError, NoRouteError,
  NotWatchedError, QueueFullError, TimeoutError, AgentLostError, RegistryUnavailableError, RegistryAuthError, ProtocolError,
  FrameTooLargeError, NotFoundError, ClosedError, KickedError, RemoteError, RingFailureError, BadArgumentError, InternalError,
  LimitError, InDoubtError, VersionError, NotInstalledError,
} from './protocol/errors.js';
export { NativeLoadError } from './native/index.js';
export type { UndeliverableReason } from './protocol/envelope.js';
export type { OfflineReason, ConflictStrategy } from './protocol/registry-messages.js';
export { objectFirst, type Logger, type LogFields, type LogLevel, type LogOption, type ObjectFirstLogger } from './protocol/logger.js';
export { validateService, validatePattern, validateUserData, matches, instanceId } from './protocol/names.js';
