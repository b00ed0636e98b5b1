/** The native layer's public surface, for the layers above. */
export { RecordBatch, forEachRecord, countRecords, align8, type RecordVisitor, type PositionedVisitor, type RawVisitor } from './batch.js';
export { Doorbell } from './doorbell.js';
export { peerCred, type PeerCred } from './peer-cred.js';
export { GmacKey } from './gmac.js';
export { RingError } from './errors.js';
export { Reassembler, ReassemblyError, fragOf, isRecordType, kindOf, recordType } from './fragments.js';
export {
  Ring, DEFAULT_CAPACITY, DEFAULT_MAX_RECORD,
  type RingOptions, type RingRole, type RingStats, type PeekedRecord,
} from './ring.js';
export { Frag, Layout, NativeLoadError, ShmqResult, locateLibrary, nativeLayout } from './shmq.js';
