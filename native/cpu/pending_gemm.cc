// Placeholders for CPU matmul/cast ops not written yet; each real implementation removes its entry here.
#include "cpu/cpu_ops.h"

namespace gf {
namespace cpu {


void cast(const Tensor& x, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op cast is not implemented yet");
}

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  fail(ErrorCode::Unsupported, "cpu op linear is not implemented yet");
}

}  // namespace cpu
}  // namespace gf
