/**
 * The loader's public surface: open a model (directory, .gguf file or hub id) as a ModelSource, plan its
 * memory, load its weights onto a device, pull from the hub, inspect.
 */
export { openModel } from './open';
export type { OpenOptions } from './open';
export { openModelDirectory } from './directory';
export { openGguf } from './gguf';
export { readConfig, specFromConfig, architectureOf, SUPPORTED_ARCHITECTURES } from './config';
export type { HfConfig } from './config';
export { readSafetensors, readShardedSafetensors, readSafetensorsTensors, MAX_HEADER_BYTES } from './safetensors';
export type { SafetensorsFile } from './safetensors';
export { expectedTensors, checkTensorsAgainstSpec } from './shapes';
export { loadWeights, requestedLayout, dtypeNbytes } from './weights';
export type { LoadWeightsOptions, WeightProgress } from './weights';
export { pull, isHubId, hubCacheDir, repoCacheDir } from './hub';
export type { PullOptions, PulledModel, DownloadProgress } from './hub';
export { inspectModel, formatInspection, planForSource, resolveDevice, summarizeSource } from './inspect';
export type { Inspection, LoadPlan, PlanOptions, SourceSummary } from './inspect';
export type { ModelSource, TensorSource, WeightRequest } from './types';
