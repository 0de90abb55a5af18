/**
 * ModelManager (lib/manager/): configuration (config.ts), versions on disk and their readiness
 * (versions.ts), what is known and reported about them (state.ts), lifecycle (manager.ts) and
 * routing (routing.ts).
 */
export { ModelManager } from './manager';
export { type ManagedModelConfig, type ModelManagerConfig, type SwapPolicy, type VersionPolicy, type WarmupConfig, type WarmupFeeds, type WarmupValue, } from './config';
export { type FailureEvent, type ManagedBatchEvent, type ManagerRunOptions, type ModelManagerEvents, type ModelStatus, type Prediction, type StateEvent, type StatusError, type VersionState, type VersionStatus, } from './state';
export { selectVersions } from './versions';
