// Scratch memory for ops that need it (GEMM staging, quantized activations, attention partial results,
// the cuBLASLt workspace). One growing buffer per device and purpose, allocated through the tagged allocator
// as 'workspace' so engine.memory() counts it. Ops of one device run in stream order, so a buffer is reused
// by the next op without waiting; growing frees the old buffer only after the stream has drained
// (device_free synchronizes first).
#pragma once
#include <cstddef>

namespace gf {
namespace cuda {

enum class Scratch : int {
  GemmOperand = 0,   // a weight converted or dequantized to the activation dtype
  QuantActivations,  // activations quantized to 8 bits for the integer dot-product GEMV
  AttentionPartials, // split-KV partial outputs and their softmax statistics
  CublasLt,          // cuBLASLt's own workspace
  Count,
};

// At least `bytes` of device memory for `purpose` on `device`, 256-byte aligned; valid until the next call
// with the same device and purpose.
void* scratch(int device, Scratch purpose, size_t bytes);

// Frees every scratch buffer of `device` (after its stream drains); the next op allocates again.
void release_scratch(int device);

}  // namespace cuda
}  // namespace gf
