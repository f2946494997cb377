#include "gpuformer/host_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "cpu/convert.h"
#include "gpuformer/cuda_runtime.h"

namespace gf {
namespace {

constexpr int64_t kChunkBytes = 8 << 20;  // staging chunk for conversions and uploads

void check_range(const Tensor& dst, int64_t dst_offset, int64_t count) {
  GF_CHECK_INPUT(dst_offset >= 0 && count >= 0 && dst_offset + count <= dst.numel(), "writing ", count,
                 " elements at element ", dst_offset, " does not fit in ", dst.describe());
  if (is_quantized(dst.dtype)) {
    GF_CHECK_INPUT(dst_offset % kQuantBlock == 0 && count % kQuantBlock == 0,
                   "writes to a quantized tensor must cover whole 32-element blocks");
  }
}

// Writes converted elements, assuming src holds exactly `count` elements.
void write_chunk(Tensor& dst, int64_t dst_offset, const void* src, DType src_dtype, int64_t count) {
  char* dst_ptr = static_cast<char*>(dst.raw()) + dtype_bytes(dst.dtype, dst_offset);
  if (dst.device().is_cpu()) {
    cpu::convert(src, src_dtype, dst_ptr, dst.dtype, count);
    return;
  }
  if (src_dtype == dst.dtype) {
    cuda::copy_h2d(dst.device().index, dst_ptr, src, dtype_bytes(src_dtype, count));
    return;
  }
  std::vector<char> staged(dtype_bytes(dst.dtype, count));
  cpu::convert(src, src_dtype, staged.data(), dst.dtype, count);
  cuda::copy_h2d(dst.device().index, dst_ptr, staged.data(), staged.size());
}

// Elements per chunk: a multiple of the quantization block so chunks never split a block.
int64_t chunk_elements(DType a, DType b) {
  const size_t widest = std::max(dtype_unit_bytes(a), dtype_unit_bytes(b));
  int64_t n = kChunkBytes / static_cast<int64_t>(widest);
  return std::max<int64_t>(kQuantBlock, n / kQuantBlock * kQuantBlock);
}

}  // namespace

void write_host(Tensor& dst, int64_t dst_offset, const void* src, DType src_dtype, int64_t count) {
  check_range(dst, dst_offset, count);
  const int64_t step = chunk_elements(src_dtype, dst.dtype);
  for (int64_t i = 0; i < count; i += step) {
    const int64_t n = std::min(step, count - i);
    write_chunk(dst, dst_offset + i, static_cast<const char*>(src) + dtype_bytes(src_dtype, i), src_dtype, n);
  }
}

void read_host(const Tensor& src, void* dst) {
  if (src.device().is_cpu()) {
    std::memcpy(dst, src.raw(), src.nbytes());
  } else {
    cuda::copy_d2h(src.device().index, dst, src.raw(), src.nbytes());
  }
}

void load_file(Tensor& dst, int64_t dst_offset, const std::string& path, uint64_t file_offset, DType src_dtype,
               int64_t count) {
  check_range(dst, dst_offset, count);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  GF_CHECK(fd >= 0, BadWeights, "cannot open '", path, "': ", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  // Reads exactly `bytes` at `offset` into `buf`.
  auto read_exact = [&](char* buf, size_t bytes, uint64_t offset) {
    size_t done = 0;
    while (done < bytes) {
      const ssize_t r = ::pread(fd, buf + done, bytes - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      GF_CHECK(r >= 0, BadWeights, "reading '", path, "' failed: ", std::strerror(errno));
      GF_CHECK(r > 0, BadWeights, "'", path, "' is truncated: expected ", bytes, " bytes at offset ", offset,
               " but the file ends after ", offset + done);
      done += static_cast<size_t>(r);
    }
  };

  const bool direct = dst.device().is_cpu() && src_dtype == dst.dtype;
  const int64_t step = chunk_elements(src_dtype, dst.dtype);
  std::vector<char> buf(direct ? 0 : dtype_bytes(src_dtype, std::min(step, count)));
  for (int64_t i = 0; i < count; i += step) {
    const int64_t n = std::min(step, count - i);
    const size_t bytes = dtype_bytes(src_dtype, n);
    const uint64_t at = file_offset + dtype_bytes(src_dtype, i);
    if (direct) {  // straight into the tensor: no staging copy
      read_exact(static_cast<char*>(dst.raw()) + dtype_bytes(dst.dtype, dst_offset + i), bytes, at);
    } else {
      read_exact(buf.data(), bytes, at);
      write_chunk(dst, dst_offset + i, buf.data(), src_dtype, n);
    }
  }
}

}  // namespace gf
