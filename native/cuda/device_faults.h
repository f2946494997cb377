// Bad indices found by kernels (token ids, row indices, slots, block tables, sequence bounds). A kernel
// cannot throw, and reading a flag back after every op would serialize the stream, so a kernel that meets
// a bad value clamps it (never reading out of bounds), records the first one in a small per-device record in
// mapped host memory, and carries on. The record is checked wherever the host waits for the stream
// (synchronize, reads to the host), which turns it into ERR_GPUFORMER_INPUT naming the op, the argument and
// the value.
#pragma once
#include <cstdint>

namespace gf {
namespace cuda {

// What was wrong; the host turns each into a message (device_faults.cc).
enum class FaultKind : int32_t {
  None = 0,
  EmbeddingId,       // embedding: ids[index] = value not in [0, limit)
  EmbeddingPosId,    // embedding: posIds[index]
  EmbeddingTypeId,   // embedding: typeIds[index]
  GatherIndex,       // gather_rows: idx[index]
  SlotMapping,       // kv_cache_write: slotMapping[index] ≥ limit slots
  CuSeqlens,         // cu_seqlens[index] = value breaks 0 = cu[0] ≤ cu[1] ≤ … ≤ cu[B] = limit tokens
  SeqTooLong,        // a sequence (index) of value tokens is longer than the launch hint limit
  ContextLen,        // paged_attention: contextLens[index] = value is less than its limit new tokens
  ContextTooLong,    // paged_attention: contextLens[index] = value is past the hint or table limit
  BlockTable,        // paged_attention: blockTables entry index = value not in [0, limit)
  SampleTemperature, // sample: temperature[index] is not a finite number (treated as greedy)
  SampleTopP,        // sample: topP[index] is NaN (treated as off)
  SampleMinP,        // sample: minP[index] is NaN (treated as off)
  MaskRow,           // process_logits: maskRows[index] = value not in [-1, limit) (row left unmasked)
  BiasOffsets,       // process_logits: biasOffsets[index] = value breaks 0 = off[0] ≤ … ≤ off[S] ≤ limit entries
  BiasToken,         // process_logits: biasTokens[index] = value not in [0, limit) (entry skipped)
  PenaltySlot,       // process_logits: penaltySlots[index] = value not in [-1, limit) (row left unpenalized)
  PenaltyValue,      // process_logits: row index has a repetition ≤ 0 or a non-finite penalty (row left unpenalized)
  CountSlot,         // count_tokens: slots[index] = value not in [-1, limit) (entry skipped)
  CountOffsets,      // count_tokens: offsets[index] = value breaks 0 = off[0] ≤ … ≤ off[R] ≤ limit tokens
  CountToken,        // count_tokens: tokens[index] = value is not t or ~t for a token t of [0, limit) (skipped)
  LogprobsToken,     // logprobs: tokens[index] = value not in [0, limit)
};

struct DeviceFault {
  uint32_t set;  // 0 until a kernel claims the record
  int32_t kind;
  int64_t index, value, limit;
};

// The device pointer of `device`'s record (created on first use).
DeviceFault* fault_slot(int device);

// Throws ERR_GPUFORMER_INPUT when a kernel recorded a fault on `device`, and clears the record. Call only
// after the stream has been drained.
void raise_device_fault(int device);

}  // namespace cuda
}  // namespace gf
