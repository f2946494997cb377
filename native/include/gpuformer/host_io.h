// Moving bytes between the host and tensors on any device, converting dtypes on the way. Weight loading
// streams files through here in chunks (never a whole file in memory); CUDA uploads go through a pinned
// staging buffer.
#pragma once
#include <cstdint>
#include <string>

#include "gpuformer/tensor.h"

namespace gf {

// Converts `count` elements of `src_dtype` at `src` into `dst` starting at element `dst_offset`.
void write_host(Tensor& dst, int64_t dst_offset, const void* src, DType src_dtype, int64_t count);

// Copies all of `src` (any device) into host memory at `dst` (src.nbytes() bytes, same dtype).
void read_host(const Tensor& src, void* dst);

// Reads `count` elements of `src_dtype` from `path` at byte `file_offset` into `dst` at element
// `dst_offset`, converting to dst's dtype. A file shorter than needed: ERR_GPUFORMER_BAD_WEIGHTS.
void load_file(Tensor& dst, int64_t dst_offset, const std::string& path, uint64_t file_offset, DType src_dtype,
               int64_t count);

}  // namespace gf
