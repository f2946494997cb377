// A queue of host → device weight copies that runs beside a device's op stream: how offloaded layers (weights
// kept in pinned host memory because the GPU budget cannot hold them, issue 17) reach the GPU ahead of their
// use. A queue has a few slots (two: double buffering); the ops fetch_slot / wait_slot / release_slot
// (op_decls.inc) order the copies into a slot's device tensors against the op stream's use of them. On CUDA the
// copies run on a copy stream of their own, ordered by one event pair per slot; on the CPU a fetch is a plain
// copy and the waits are empty (CPU ops run in order).
#pragma once
#include <memory>

#include "gpuformer/tensor.h"

namespace gf {

struct CopyQueue {
  Device device;                // where the slots' tensors live and whose op stream waits for the copies
  int slots = 0;                // slot indices are 0 .. slots-1
  std::shared_ptr<void> state;  // the backend's (CUDA: the copy stream and its events), made on first use
};

}  // namespace gf
