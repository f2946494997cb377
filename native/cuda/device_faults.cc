#include "cuda/device_faults.h"

#include <cuda_runtime_api.h>

#include <mutex>
#include <vector>

#include "cuda/stream.h"
#include "gpuformer/error.h"

namespace gf {
namespace cuda {
namespace {

struct FaultRecord {
  DeviceFault* host = nullptr;    // mapped pinned memory: the host reads what kernels wrote
  DeviceFault* device = nullptr;  // the same bytes as kernels address them
};

std::mutex g_mutex;
std::vector<FaultRecord> g_records;

FaultRecord& record(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (static_cast<int>(g_records.size()) <= device) g_records.resize(device + 1);
  FaultRecord& r = g_records[device];
  if (!r.host) {
    use_device(device);
    void* p = nullptr;
    GF_CUDA_CHECK(cudaHostAlloc(&p, sizeof(DeviceFault), cudaHostAllocMapped | cudaHostAllocPortable));
    void* d = nullptr;
    GF_CUDA_CHECK(cudaHostGetDevicePointer(&d, p, 0));
    r.host = static_cast<DeviceFault*>(p);
    r.device = static_cast<DeviceFault*>(d);
    *r.host = DeviceFault{};
  }
  return r;
}

// "<arg>[index] = value is outside [lo, limit)"
std::string outside(const DeviceFault& f, const char* arg, int lo) {
  return cat(arg, "[", f.index, "] = ", f.value, " is outside [", lo, ", ", f.limit, ")");
}

// An offsets list over `items` (R + 1 entries, the last one named `last`) that is not 0 = off[0] ≤ … ≤ limit.
std::string broken_offsets(const DeviceFault& f, const char* arg, const char* last, const char* items) {
  return cat(arg, "[", f.index, "] = ", f.value, " breaks 0 = off[0] ≤ … ≤ off[", last, "] ≤ ", f.limit, " (the entries of ", items, ")");
}

std::string describe(const DeviceFault& f) {
  switch (static_cast<FaultKind>(f.kind)) {
    case FaultKind::EmbeddingId:
      return cat("embedding: ids[", f.index, "] = ", f.value, " is outside the vocabulary [0, ", f.limit, ")");
    case FaultKind::EmbeddingPosId:
      return cat("embedding: posIds[", f.index, "] = ", f.value, " is outside the position table [0, ", f.limit, ")");
    case FaultKind::EmbeddingTypeId:
      return cat("embedding: typeIds[", f.index, "] = ", f.value, " is outside the type table [0, ", f.limit, ")");
    case FaultKind::GatherIndex:
      return cat("gather_rows: idx[", f.index, "] = ", f.value, " is outside [0, ", f.limit, ")");
    case FaultKind::SlotMapping:
      return cat("kv_cache_write: slotMapping[", f.index, "] = ", f.value, " is past the cache's ", f.limit, " slots");
    case FaultKind::CuSeqlens:
      return cat("cu_seqlens[", f.index, "] = ", f.value, " breaks 0 = cu[0] ≤ cu[1] ≤ … ≤ cu[B] = ", f.limit,
                 " (the token count)");
    case FaultKind::SeqTooLong:
      return cat("sequence ", f.index, " has ", f.value, " tokens, more than the launch hint (maxSeqlen) of ", f.limit);
    case FaultKind::ContextLen:
      return cat("paged_attention: contextLens[", f.index, "] = ", f.value, " is less than its ", f.limit, " new tokens");
    case FaultKind::ContextTooLong:
      return cat("paged_attention: contextLens[", f.index, "] = ", f.value, " is more than ", f.limit,
                 " (maxContextLen, or the keys the block table can hold)");
    case FaultKind::BlockTable:
      return cat("paged_attention: block table entry ", f.index, " = ", f.value, " is not a block of the cache (",
                 f.limit, " blocks)");
    case FaultKind::SampleTemperature:
      return cat("sample: temperature[", f.index, "] is not a finite number");
    case FaultKind::SampleTopP:
      return cat("sample: topP[", f.index, "] is NaN");
    case FaultKind::SampleMinP:
      return cat("sample: minP[", f.index, "] is NaN");
    case FaultKind::MaskRow:
      return outside(f, "process_logits: maskRows", -1);
    case FaultKind::BiasOffsets:
      return broken_offsets(f, "process_logits: biasOffsets", "S", "biasTokens");
    case FaultKind::BiasToken:
      return outside(f, "process_logits: biasTokens", 0);
    case FaultKind::PenaltySlot:
      return outside(f, "process_logits: penaltySlots", -1);
    case FaultKind::PenaltyValue:
      return cat("process_logits: row ", f.index, " has a repetition ≤ 0 or a penalty that is not a finite number");
    case FaultKind::CountSlot:
      return outside(f, "count_tokens: slots", -1);
    case FaultKind::CountOffsets:
      return broken_offsets(f, "count_tokens: offsets", "R", "tokens");
    case FaultKind::CountToken:
      return cat("count_tokens: tokens[", f.index, "] = ", f.value, " is not a token t or ~t of [0, ", f.limit, ")");
    case FaultKind::LogprobsToken:
      return outside(f, "logprobs: tokens", 0);
    case FaultKind::None:
      break;
  }
  return cat("a kernel reported an unknown fault (kind ", f.kind, ")");
}

}  // namespace

DeviceFault* fault_slot(int device) { return record(device).device; }

void raise_device_fault(int device) {
  FaultRecord& r = record(device);
  volatile DeviceFault* f = r.host;
  if (f->set == 0) return;
  const DeviceFault copy{f->set, f->kind, f->index, f->value, f->limit};
  f->kind = 0;
  f->set = 0;
  fail(ErrorCode::Input, describe(copy));
}

}  // namespace cuda
}  // namespace gf
