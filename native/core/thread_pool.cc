#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace gf {
namespace {

thread_local bool t_inside_region = false;

// Spinning before sleeping: a forward pass is a chain of short parallel regions (one or more per op; a
// small embedding batch or a decode step has regions of tens of microseconds). Waking a sleeping worker
// through a condition variable costs about as much as such a region, so workers and the caller first spin
// on an atomic for a short while (kSpin) and only then sleep. Between requests the workers fall asleep and
// use no CPU.
constexpr std::chrono::microseconds kSpin{100};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until ready() or kSpin has passed (the clock is read every 64 pauses: a pause costs from a few to
// over a hundred cycles depending on the core); returns ready(). Every 64 pauses it also yields the core: with
// as many threads as cores (the default), any other runnable thread (a kernel worker, V8's GC helpers) would
// otherwise preempt one of the pool's working threads for a whole time slice while another spins, holding a
// region of a few hundred microseconds up for milliseconds; yielding hands it the spinning core instead.
// (all-MiniLM-L6-v2, one sentence per call, 2 threads on a 2-vCPU VM: p90 4.2–5.7 ms -> 3.6–3.8 ms, p50 2.3–3.3.)
template <typename Ready>
bool spin_until(const Ready& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 1;; i++) {
    if (ready()) return true;
    cpu_relax();
    if (i % 64 == 0) {
      if (std::chrono::steady_clock::now() >= deadline) return ready();
      std::this_thread::yield();
    }
  }
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { start(threads); }
  ~ThreadPool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    std::lock_guard<std::mutex> region(region_mutex_);
    stop();
    start(threads);
  }

  // chunks_per_thread: at most that many chunks per thread (0: one per item, for items already sized as tasks)
  void run(int64_t n, int64_t grain, const RangeFn& fn, int64_t chunks_per_thread) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    const int64_t max_chunks = (n + grain - 1) / grain;
    if (t_inside_region || workers_.empty() || max_chunks == 1) {
      fn(0, n);
      return;
    }
    std::lock_guard<std::mutex> region(region_mutex_);
    // A few chunks per thread balances uneven work without much counter traffic. Chunk i is
    // [i·n/total, (i+1)·n/total): sizes differ by one at most, so a count of chunks that is a multiple of the
    // threads splits the work evenly (28 tasks cut into chunks of 4 left one thread 4 of the 7).
    const int64_t total = chunks_per_thread == 0 ? max_chunks : std::min<int64_t>(max_chunks, static_cast<int64_t>(size()) * chunks_per_thread);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      job_n_ = n;
      done_.store(0, std::memory_order_relaxed);
      error_ = nullptr;
      // release: whoever claims a chunk of this word sees the job
      claim_.store(static_cast<uint64_t>(total) << 32, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work();
    // Only the chunks count: a worker that wakes late (or not at all) finds none left and is not waited for.
    auto finished = [&] { return done_.load(std::memory_order_acquire) == total; };
    if (!spin_until(finished)) {
      std::unique_lock<std::mutex> lock(mutex_);
      finished_.wait(lock, finished);
    }
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void start(int threads) {
    quit_.store(false);
    // The generation is read here, not in the new thread: a region may start before the thread first runs,
    // and a worker that took that region's generation as "seen" would never join it (the caller would wait
    // forever for its share).
    const uint64_t seen = generation_.load(std::memory_order_acquire);
    for (int i = 0; i < threads - 1; i++) workers_.emplace_back([this, seen] { loop(seen); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_.store(true);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  // Claims chunks of the region in claim_ until none are left; records the first exception. A chunk is
  // claimed by advancing the claim word's index below its count in one compare-and-swap, so a thread holding
  // a stale view (a region that ended while it slept) can only ever claim a chunk of the region now running,
  // whose job it reads after the claim; and that region cannot end before the chunk is counted done.
  void work() {
    t_inside_region = true;
    uint64_t c = claim_.load(std::memory_order_acquire);
    while ((c & 0xffffffffu) < (c >> 32)) {
      if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      const int64_t index = static_cast<int64_t>(c & 0xffffffffu), total = static_cast<int64_t>(c >> 32);
      try {
        (*job_)(index * job_n_ / total, (index + 1) * job_n_ / total);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<int64_t>(c >> 32)) {
        // under the mutex, so a caller between its check and its wait cannot miss the notification
        std::lock_guard<std::mutex> lock(mutex_);
        finished_.notify_one();
      }
      c = claim_.load(std::memory_order_acquire);
    }
    t_inside_region = false;
  }

  void loop(uint64_t seen) {
    for (;;) {
      auto ready = [&] { return quit_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(ready)) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, ready);
      }
      if (quit_.load(std::memory_order_acquire)) return;
      seen = generation_.load(std::memory_order_acquire);
      work();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex region_mutex_;  // one parallel region at a time
  std::mutex mutex_;
  std::condition_variable wake_, finished_;
  const RangeFn* job_ = nullptr;
  int64_t job_n_ = 0;
  std::atomic<uint64_t> claim_{0};    // the region's chunk count << 32 | the next chunk to claim
  std::atomic<int64_t> done_{0};      // the region's chunks finished
  std::atomic<uint64_t> generation_{0};  // a new region to join (what sleeping and spinning workers wait for)
  std::atomic<bool> quit_{false};
  std::exception_ptr error_;
};

int default_threads() {
  if (const char* env = std::getenv("GPUFORMER_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

ThreadPool& pool() {
  static ThreadPool* p = new ThreadPool(default_threads());  // never destroyed: workers outlive statics
  return *p;
}

}  // namespace

void parallel_for(int64_t n, int64_t grain, const RangeFn& fn) { pool().run(n, grain, fn, 4); }
void parallel_tasks(int64_t n, const RangeFn& fn) { pool().run(n, 1, fn, 0); }
int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(std::max(1, n)); }

}  // namespace gf
