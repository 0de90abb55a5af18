/**
 * tfslice: TensorFlow SavedModels in Node.js, each with its own slice of the GPU.
 *
 * ```ts
 * import { loadModel, Tensor } from 'tfslice';
 * const model = await loadModel('models/a', 0.3);
 * const out = await model.run({ x: new Tensor('float32', new Float32Array(8), [2, 4]) });
 * ```
 */
export type { RunSignal } from './abort';
export { loadModel, Model, type BatchingInfo, type Device, type Feeds, type GpuInfo, type ModelStats, type RunOptions } from './model';
export { type BatchEvent, type BatchingOptions, type BatchingStats, NotStartedError, type ResolvedBatching } from './batching';
export { Tensor, type TensorLike } from './tensor';
export { type LoadOptions } from './options';
export { type OpPolicy, type EntryKind, type EntryOps, PermissionDeniedError, reachedOps, SERVE_DENIED_OPS } from './ops';
export { gpuLedger, processGpuOptions, type GpuBudget, type GpuRequest, type Isolation } from './gpu';
export { partitions, type Partition, type GpuPartitionLayout } from './partitions';
export { type SignatureInfo, type TensorSpec, type CompositeSpec, type OtherDType, encodeConfig, decodeConfig, type SessionConfig } from './proto';
export { DTYPES, type DType, type NumericDType, type DataOf, type FeedDataOf, type TypedArray } from './dtypes';
export { configureRuntime, loadOpLibrary, loadTensorFlow, runtime, type LibrarySource, type Runtime, type RuntimeOptions } from './library';
export { TfsliceError, TensorFlowError, InvalidArgumentError, NotFoundError, ServableNotFoundError, LibraryNotFoundError, ModelDisposedError, GpuBudgetExceededError, GpuConfigConflictError, ModelCrashedError, QueueFullError, type QueueName, type GpuHolder, type ErrorCode, type TensorFlowCode, type TfsliceCode, } from './errors';
export { ModelManager, selectVersions, type ModelManagerConfig, type ManagedModelConfig, type VersionPolicy, type SwapPolicy, type VersionState, type WarmupConfig, type WarmupFeeds, type WarmupValue, type ModelStatus, type VersionStatus, type StatusError, type StateEvent, type FailureEvent, type ManagedBatchEvent, type ManagerRunOptions, type Prediction, type ModelManagerEvents, } from './manager';
