/** gpuformer's public API (DESIGN section 7). */
export { GpuformerError } from './errors';
export type { ErrorCode } from './errors';
export { devices, cudaAvailable } from './devices';
export type { DeviceInfo, CpuDevice, CudaDevice, CudaUnavailable } from './devices';
export { Tensor, native } from './native';
export type { DType, MemoryTag, CpuIsa, CpuIsaLevel } from './native';
export { ops, run, runSync } from './ops';
export { Engine } from './engine/engine';
export type { GenerateChunk, Completion, EmbedInput, EmbedTokens } from './engine/engine';
export type { EmbedPrecision, Embedding } from './engine/embedding-output';
export type { RerankResult } from './engine/rerank';
export type {
  LoadOptions, LoadProgress, GenerateOptions, EmbedOptions, RerankOptions, ChatMessage, DeviceOption, DtypeOption,
} from './engine/options';
export type { FinishReason } from './engine/types';
export type { PoolingMode } from './core/step';
export type { MemoryReport } from './memory/ledger';
export type { MemoryPlan } from './memory/planner';
export type { ModelSpec } from './core/spec';
export { TextTokenizer } from './tokenizer/tokenizer';
