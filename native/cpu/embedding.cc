// Embedding lookup: token rows (any float or quantized dtype) scaled, plus optional position and token-type
// rows. Every index is checked before anything is written, so a bad id leaves `out` untouched.
#include "core/thread_pool.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_rows.h"
#include "cpu/rows_io.h"

namespace gf {
namespace cpu {
namespace {

void check_indices(const char* arg, const Tensor& idx, int64_t rows, const char* table) {
  const int32_t* p = idx.data<int32_t>();
  for (int64_t t = 0; t < idx.dim(0); t++) {
    GF_CHECK_INPUT(p[t] >= 0 && p[t] < rows, "embedding: ", arg, "[", t, "] = ", p[t], " is outside [0, ", rows,
                   ") (the rows of '", table, "')");
  }
}

// dst[c] += table[row][c] for a float table
void add_row(const Tensor& table, int64_t row, int64_t C, float* dst, float* tmp) {
  if (table.dtype == DType::F32) {
    const float* r = table.data<float>() + row * C;
    for (int64_t c = 0; c < C; c++) dst[c] += r[c];
    return;
  }
  load_f32(table, row * C, C, tmp);
  for (int64_t c = 0; c < C; c++) dst[c] += tmp[c];
}

}  // namespace

// ids i32 [T], tok [V,C], pos_ids/type_ids i32 [T] + pos [P,C]/type [Y,C] optional, out f32 [T,C]:
// out[t] = scale * tok[ids[t]] + pos[pos_ids[t]] + type[type_ids[t]]
void embedding(const Tensor& ids, const Tensor& tok, const Tensor* pos_ids, const Tensor* pos,
               const Tensor* type_ids, const Tensor* type, float scale, Tensor& out) {
  const int64_t T = ids.dim(0), C = tok.dim(1);
  check_indices("ids", ids, tok.dim(0), "tok");
  if (pos) check_indices("posIds", *pos_ids, pos->dim(0), "pos");
  if (type) check_indices("typeIds", *type_ids, type->dim(0), "type");
  const int32_t* id = ids.data<int32_t>();
  float* o = out.data<float>();
  parallel_for(T, rows_grain(C), [&](int64_t begin, int64_t end) {
    std::vector<float> tmp(static_cast<size_t>(C));
    for (int64_t t = begin; t < end; t++) {
      float* row = o + t * C;
      load_f32(tok, id[t] * C, C, row);
      if (scale != 1.0f) {
        for (int64_t c = 0; c < C; c++) row[c] *= scale;
      }
      if (pos) add_row(*pos, pos_ids->data<int32_t>()[t], C, row, tmp.data());
      if (type) add_row(*type, type_ids->data<int32_t>()[t], C, row, tmp.data());
    }
  });
}

}  // namespace cpu
}  // namespace gf
