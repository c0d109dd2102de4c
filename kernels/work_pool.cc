#include "work_pool.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
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
// ... and while the CPUs are contended (below): a spinning helper then burns
// the CPU share the caller needs. Sched autogroups (Linux's default) give a
// process a fixed share of a loaded machine, however many threads it runs:
// on the 2-core test host with another session's compiler running, the
// helper's 0.1 ms spins made 2-thread runs of DARTS-ImageNet about 1.5x
// slower than 1-thread runs (serenity_run --threads 1 and 2, side by side).
constexpr int kContendedHelperSpins = 100;
// Pause iterations the caller spins on claimed chunks before it sleeps until
// they are done (a sleeping caller hands its CPU share to the helper it waits
// for, which may be queued behind another process).
constexpr int kCallerSpins = 2000;
// While contended, the caller wakes a sleeping helper only once it has worked
// this long on a job and two chunks are left: short jobs then never pay for
// a wake-up (a futex call, two context switches) that buys them nothing, and
// a helper that runs takes CPU from the caller's share. darts_cifar at 2
// threads beside another session's two compilers (serenity_run medians of 5
// interleaved runs): 29.9 ms waking after 20 us, 25.2 after 100 us, 24.9
// never waking, 24.6 on 1 thread.
constexpr std::chrono::microseconds kContendedWakeAfter(100);
// Contention: a thread of the pool was preempted (an involuntary context
// switch, counted by the kernel per thread) twice within kContentionWindow.
// A competing process on a 2-core machine preempts each thread every few ms;
// a lone preemption is more likely a kernel thread's brief turn (the test
// host's kdamond wakes twice a second), which is no reason to stop spinning.
// Checked at most once per interval per thread; contention holds for
// kContentionHold, after which the threads spin again and look anew: under a
// steady competitor the caller is preempted every few ms, which renews it,
// and a burst of other work stops costing parallelism soon after it ends.
constexpr std::chrono::milliseconds kContentionCheckInterval(1);
constexpr std::chrono::milliseconds kContentionWindow(10);
constexpr std::chrono::milliseconds kContentionHold(5);

using Clock = std::chrono::steady_clock;

int64_t Nanoseconds(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Involuntary context switches of the calling thread so far; 0 where the
// platform does not count them per thread (contention is then never seen).
int64_t InvoluntarySwitches() {
#if defined(RUSAGE_THREAD)
  struct rusage usage;
  if (getrusage(RUSAGE_THREAD, &usage) == 0) return usage.ru_nivcsw;
#endif
  return 0;
}

// A job's claim word: its generation in the upper 32 bits, then the chunks
// not yet claimed, [front, back), 16 bits each. The caller claims from the
// front and the helpers from the back, so consecutive jobs split the same way
// (the caller takes the first rows of a tensor, a helper the last): an
// operator then mostly reads what the same thread wrote for the operator
// before, from its own core's cache. Claiming from one shared counter mixed
// the rows at random, and half of each input came from the other core: on
// NASNet-CIFAR's ~10 us operators the second thread then gained nothing.
constexpr size_t kMaxJobChunks = 0xffff;

inline size_t Front(uint64_t word) { return static_cast<size_t>((word >> 16) & 0xffff); }
inline size_t Back(uint64_t word) { return static_cast<size_t>(word & 0xffff); }

// Chunks [first, first + kMaxJobChunks) of a larger job, as a job of their own.
struct Batch {
  void (*task)(void*, size_t);
  void* context;
  size_t first;
};

void RunBatchChunk(void* context, size_t index) {
  const Batch& batch = *static_cast<const Batch*>(context);
  batch.task(batch.context, batch.first + index);
}

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
    word_.store(generation << 32 | count, std::memory_order_seq_cst);
    const Clock::time_point now = Clock::now();
    const bool contended = CheckContention(now);
    if (!contended) WakeHelpers();
    Work(generation, /*from_front=*/true, contended, now + kContendedWakeAfter);
    if (done_.load(std::memory_order_acquire) == count) return;
    for (int spins = 0; spins < kCallerSpins; ++spins) {
      CpuRelax();
      if (done_.load(std::memory_order_acquire) == count) return;
    }
    std::unique_lock<std::mutex> lock(done_mutex_);
    caller_waiting_.store(true, std::memory_order_seq_cst);
    done_cv_.wait(lock, [&] { return done_.load(std::memory_order_seq_cst) == count; });
    caller_waiting_.store(false, std::memory_order_relaxed);
  }

 private:
  struct Slot {
    std::atomic<void (*)(void*, size_t)> task{nullptr};
    std::atomic<void*> context{nullptr};
    std::atomic<size_t> count{0};
  };

  void WakeHelpers() {
    if (sleeping_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(sleep_mutex_); }
      wake_.notify_all();
    }
  }

  // Whether the pool's CPUs were contended lately, after counting the calling
  // thread's own preemptions (at most once per kContentionCheckInterval).
  bool CheckContention(Clock::time_point now) {
    constexpr int64_t kWindowNs = std::chrono::nanoseconds(kContentionWindow).count();
    thread_local int64_t last_check_ns = INT64_MIN / 2;
    thread_local int64_t last_switches = -1;
    thread_local int64_t last_preempted_ns = INT64_MIN / 2;
    const int64_t now_ns = Nanoseconds(now);
    if (now_ns - last_check_ns >= std::chrono::nanoseconds(kContentionCheckInterval).count()) {
      const int64_t switches = InvoluntarySwitches();
      const int64_t preempted = last_switches >= 0 ? switches - last_switches : 0;
      // Two preemptions count only when they fall within the window (not
      // over a long pause between jobs).
      const bool recent = now_ns - last_check_ns <= kWindowNs;
      last_check_ns = now_ns;
      if ((preempted >= 2 && recent) ||
          (preempted >= 1 && now_ns - last_preempted_ns <= kWindowNs)) {
        contended_until_ns_.store(now_ns + std::chrono::nanoseconds(kContentionHold).count(),
                                  std::memory_order_relaxed);
      }
      if (preempted > 0) last_preempted_ns = now_ns;
      last_switches = switches;
    }
    return now_ns < contended_until_ns_.load(std::memory_order_relaxed);
  }

  // Claims and runs chunks of job `generation` until none is left or a newer
  // job replaced it: the first unclaimed chunk when from_front (the caller),
  // else the last (a helper). A chunk is claimed by a compare-exchange on the
  // claim word (generation, front, back; see kMaxJobChunks): it succeeds only
  // while the job is current, which also validates the slot fields read
  // before it (a slot is rewritten only for the job after next, which cannot
  // start before this one's chunks are all claimed and done). lazy_wake (the
  // caller, while contended): wake sleeping helpers once wake_at has passed
  // and two chunks are left.
  void Work(uint64_t generation, bool from_front, bool lazy_wake = false,
            Clock::time_point wake_at = {}) {
    const Slot& slot = slots_[generation & 1];
    void (*task)(void*, size_t) = slot.task.load(std::memory_order_relaxed);
    void* context = slot.context.load(std::memory_order_relaxed);
    const size_t count = slot.count.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    // Chunks this thread finished, added to done_ once on the way out: one
    // write per thread and job to the line the caller polls.
    size_t finished = 0;
    uint64_t word = word_.load(std::memory_order_acquire);
    while ((word >> 32) == generation && Front(word) < Back(word)) {
      const size_t index = from_front ? Front(word) : Back(word) - 1;
      const uint64_t claimed = from_front ? word + (uint64_t{1} << 16) : word - 1;
      if (word_.compare_exchange_weak(word, claimed, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        task(context, index);
        ++finished;
        word = word_.load(std::memory_order_acquire);
        if (lazy_wake && Front(word) + 2 <= Back(word) && Clock::now() >= wake_at) {
          lazy_wake = false;
          WakeHelpers();
        }
      }
    }
    if (finished == 0) return;
    if (done_.fetch_add(finished, std::memory_order_seq_cst) + finished == count &&
        caller_waiting_.load(std::memory_order_seq_cst)) {
      { std::lock_guard<std::mutex> lock(done_mutex_); }
      done_cv_.notify_one();
    }
  }

  void HelperLoop() {
    uint64_t seen = 0;
    while (!stop_.load(std::memory_order_acquire)) {
      uint64_t generation = word_.load(std::memory_order_acquire) >> 32;
      const int spins = CheckContention(Clock::now()) ? kContendedHelperSpins : kHelperSpins;
      for (int spin = 0; generation == seen && spin < spins; ++spin) {
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
      Work(generation, /*from_front=*/false);
    }
  }

  std::mutex run_mutex_;  // one job at a time
  uint64_t generation_ = 0;  // guarded by run_mutex_
  Slot slots_[2];
  // The claim word, the done count and the rest each on their own cache
  // line: claims and completions then do not take each other's line away.
  alignas(64) std::atomic<uint64_t> word_{0};
  alignas(64) std::atomic<size_t> done_{0};
  alignas(64) std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int64_t> contended_until_ns_{0};
  std::atomic<bool> caller_waiting_{false};
  std::mutex done_mutex_;  // with done_cv_: the caller sleeps on claimed chunks
  std::condition_variable done_cv_;
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
  if (count <= kMaxJobChunks) {
    pool->Run(task, context, count);
    return;
  }
  // More chunks than a claim word holds: jobs of kMaxJobChunks in turn.
  Batch batch{task, context, 0};
  for (; batch.first < count; batch.first += kMaxJobChunks) {
    pool->Run(RunBatchChunk, &batch, std::min(count - batch.first, kMaxJobChunks));
  }
}

}  // namespace serenity::kernels
