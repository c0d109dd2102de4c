#include "work_pool.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace serenity::kernels {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield");
#endif
}

// Pause iterations a helper spins between jobs before it sleeps (about
// 0.1-0.3 ms): operators of one Invoke follow each other within that.
constexpr int kHelperSpins = 4000;
// Pause iterations the caller spins on claimed chunks before yielding.
constexpr int kCallerSpins = 2000;

}  // namespace

class WorkPool {
 public:
  explicit WorkPool(size_t helpers) {
    for (size_t i = 0; i < helpers; ++i) helpers_.emplace_back([this] { HelperLoop(); });
  }
  ~WorkPool() {
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (std::thread& helper : helpers_) helper.join();
  }

  void Run(void (*task)(void*, size_t), void* context, size_t count) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    const uint64_t generation = ++generation_;
    Slot& slot = slots_[generation & 1];
    slot.task.store(task, std::memory_order_relaxed);
    slot.context.store(context, std::memory_order_relaxed);
    slot.count.store(count, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    // Publishes the slot: a helper that reads this generation sees it.
    word_.store(generation << 32, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(sleep_mutex_); }
      wake_.notify_all();
    }
    Work(generation);
    for (int spins = 0; done_.load(std::memory_order_acquire) != count; ++spins) {
      if (spins < kCallerSpins) {
        CpuRelax();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  struct Slot {
    std::atomic<void (*)(void*, size_t)> task{nullptr};
    std::atomic<void*> context{nullptr};
    std::atomic<size_t> count{0};
  };

  // Claims and runs chunks of job `generation` until none is left or a newer
  // job replaced it. A chunk index is claimed by a compare-exchange on
  // (generation << 32 | next index): it succeeds only while the job is
  // current, which also validates the slot fields read before it (a slot is
  // rewritten only for the job after next, which cannot start before this
  // one's chunks are all claimed and done).
  void Work(uint64_t generation) {
    const Slot& slot = slots_[generation & 1];
    void (*task)(void*, size_t) = slot.task.load(std::memory_order_relaxed);
    void* context = slot.context.load(std::memory_order_relaxed);
    const size_t count = slot.count.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    uint64_t word = word_.load(std::memory_order_acquire);
    while ((word >> 32) == generation) {
      const size_t index = static_cast<size_t>(word & 0xffffffffu);
      if (index >= count) return;
      if (word_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        task(context, index);
        done_.fetch_add(1, std::memory_order_release);
        word = word_.load(std::memory_order_acquire);
      }
    }
  }

  void HelperLoop() {
    uint64_t seen = 0;
    while (!stop_.load(std::memory_order_acquire)) {
      uint64_t generation = word_.load(std::memory_order_acquire) >> 32;
      for (int spins = 0; generation == seen && spins < kHelperSpins; ++spins) {
        CpuRelax();
        generation = word_.load(std::memory_order_acquire) >> 32;
      }
      if (generation == seen) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleeping_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] {
          return stop_.load(std::memory_order_seq_cst) ||
                 (word_.load(std::memory_order_seq_cst) >> 32) != seen;
        });
        sleeping_.fetch_sub(1, std::memory_order_seq_cst);
        continue;
      }
      seen = generation;
      Work(generation);
    }
  }

  std::mutex run_mutex_;  // one job at a time
  uint64_t generation_ = 0;  // guarded by run_mutex_
  Slot slots_[2];
  std::atomic<uint64_t> word_{0};
  std::atomic<size_t> done_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> helpers_;
};

WorkPool* WorkPoolForThreads(size_t threads) {
  if (threads <= 1) return nullptr;
  static std::mutex mutex;
  // Leaked on purpose: helpers must outlive every engine, including those
  // destroyed during static destruction.
  static auto* pools = new std::map<size_t, std::unique_ptr<WorkPool>>();
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<WorkPool>& pool = (*pools)[threads];
  if (pool == nullptr) pool = std::make_unique<WorkPool>(threads - 1);
  return pool.get();
}

void WorkPoolRun(WorkPool* pool, void (*task)(void*, size_t), void* context, size_t count) {
  if (pool == nullptr || count <= 1) {
    for (size_t i = 0; i < count; ++i) task(context, i);
    return;
  }
  pool->Run(task, context, count);
}

}  // namespace serenity::kernels
