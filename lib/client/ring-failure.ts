/**
 * Ring failures at the app's edge. The native layer throws RingError; an app
 * never sees one: what reaches it is a MeshError with the code RING_FAILURE
 * (RingFailureError), the RingError as its cause.
 */
import { RingError } from '../native/index.js';
import { RingFailureError } from '../protocol/errors.js';

/** `err` as the app should see it: a RingError becomes a RingFailureError; anything else is itself. */
export function ringFailure(err: unknown): unknown {
  return err instanceof RingError ? new RingFailureError(`shared-memory ring: ${err.message}`, { cause: err }) : err;
}
