/** rxmesh public API, listed by name. */
export { connect, defaultAgentSocket } from './client/connect.js';
export { Mesh, type ConnectOptions } from './client/mesh.js';
export { Instance, type InstanceOptions, type SendOptions, type StrategyName, type OfflineInfo } from './client/instance.js';
export { Message, type InstanceRef, type Undeliverable } from './client/message.js';
export type { Strategy, RouteContext } from './client/strategies/strategy.js';
export {
  ErrorCode, errorMessage, MeshError, AuthError, ConflictError, InvalidNameError, CrossGameError, NoRouteError,
  NotWatchedError, QueueFullError, TimeoutError, AgentLostError, RegistryUnavailableError, ProtocolError,
  FrameTooLargeError, NotFoundError, ClosedError, KickedError, RemoteError, RingFailureError, InternalError,
} from './protocol/errors.js';
export type { UndeliverableReason } from './protocol/envelope.js';
export type { OfflineReason, ConflictStrategy } from './protocol/registry-messages.js';
export { validateService, validatePattern, validateUserData, matches, instanceId } from './protocol/names.js';
export { Agent, defaultShmDir, type AgentOptions } from './agent/agent.js';
export type { Registry, RegistryWatch, WatchEvent } from './registry/registry.js';
export { Ring, RecordBatch, Doorbell, Reassembler, RingError, NativeLoadError } from './native/index.js';
