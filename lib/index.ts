/** rxmesh public API, listed by name. */
export { connect } from './client/connect.js';
export { defaultAgentSocket, defaultShmDir } from './protocol/shm-home.js';
export { Mesh, DEFAULT_REPLY_SPIN_US, type ConnectOptions } from './client/mesh.js';
export { Instance, type InstanceOptions, type SendOptions, type SendToOptions, type RequestOptions, type StrategyName, type OfflineInfo, type InstanceStats } from './client/instance.js';
export { Message, type InstanceRef, type Undeliverable, type MessageReplyOptions } from './client/message.js';
export { HEADERS_MAX_BYTES, type Headers } from './protocol/headers.js';
export { withMessageContext } from './client/tracing.js';
export type { Strategy, RouteContext } from './client/strategies/strategy.js';
export { RoundRobinStrategy } from './client/strategies/round-robin.js';
export { RandomStrategy } from './client/strategies/random.js';
export { LeastLoadedStrategy } from './client/strategies/least-loaded.js';
export { ConsistentHashStrategy } from './client/strategies/consistent-hash.js';
export { LocalFirstStrategy } from './client/strategies/local-first.js';
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
export type { UndeliverableReason } from './protocol/envelope.js';
export type { OfflineReason, ConflictStrategy } from './protocol/registry-messages.js';
export { objectFirst, type Logger, type LogFields, type LogLevel, type LogOption, type ObjectFirstLogger } from './protocol/logger.js';
export { validateService, validatePattern, validateUserData, matches, instanceId } from './protocol/names.js';
export { Agent, type AgentOptions } from './agent/agent.js';
export type { Registry, RegistryHealth, RegistryWatch, WatchEvent } from './registry/registry.js';
export type { ReadinessChecks } from './protocol/ops-http.js';
export { Ring, RecordBatch, Doorbell, Reassembler, RingError, NativeLoadError } from './native/index.js';
