// The CPU backend's thread pool: a fixed set of workers sized to the cores (GPUFORMER_NUM_THREADS overrides).
// parallel_for splits [0, n) into chunks that the workers and the calling thread take from a shared counter.
// One parallel region runs at a time (callers from several libuv threads queue up); a parallel_for called
// from inside a region runs inline, so kernels may nest freely.
#pragma once
#include <cstdint>
#include <functional>

namespace gf {

using RangeFn = std::function<void(int64_t begin, int64_t end)>;

// Runs fn over [0, n) in chunks of at least `grain` items (a few per thread: uneven items still balance).
void parallel_for(int64_t n, int64_t grain, const RangeFn& fn);

// Runs fn over [0, n), each index claimed on its own: for items the caller has already cut into tasks of
// equal work (the matmul grid), which chunks of one and two tasks would leave unbalanced (10 tasks in 8 chunks
// on 2 threads can end 6 to 4).
void parallel_tasks(int64_t n, const RangeFn& fn);

int num_threads();            // threads a parallel region uses (workers + caller)
void set_num_threads(int n);  // resizes the pool; n ≥ 1

}  // namespace gf
