// The own kernels' work pool (kernels/work_pool.h): every index runs exactly
// once and every call has returned when WorkPoolRun does, however the chunks
// fall between the caller and the helpers, including when a helper's chunk
// outlasts the caller's spinning (the caller then sleeps until it is done).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

#include "work_pool.h"

namespace serenity::kernels {
namespace {

struct Counts {
  std::vector<std::atomic<int>> calls;
  std::chrono::microseconds slow_index_sleep{0};
  size_t slow_index = 0;
  explicit Counts(size_t count) : calls(count) {}
};

void CountCall(void* context, size_t index) {
  Counts& counts = *static_cast<Counts*>(context);
  if (counts.slow_index_sleep.count() > 0 && index == counts.slow_index) {
    std::this_thread::sleep_for(counts.slow_index_sleep);
  }
  counts.calls[index].fetch_add(1, std::memory_order_relaxed);
}

void ExpectEachOnce(const Counts& counts) {
  for (size_t i = 0; i < counts.calls.size(); ++i) {
    ASSERT_EQ(counts.calls[i].load(), 1) << "index " << i << " of " << counts.calls.size();
  }
}

TEST(WorkPoolTest, NoPoolRunsEveryIndexOnTheCaller) {
  EXPECT_EQ(WorkPoolForThreads(1), nullptr);
  Counts counts(17);
  WorkPoolRun(nullptr, CountCall, &counts, counts.calls.size());
  ExpectEachOnce(counts);
}

TEST(WorkPoolTest, EveryIndexOnceForManyCounts) {
  for (size_t threads : {2, 3}) {
    WorkPool* pool = WorkPoolForThreads(threads);
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(WorkPoolForThreads(threads), pool);
    for (size_t count : {0, 1, 2, 3, 7, 16, 100, 1000}) {
      for (int repeat = 0; repeat < 20; ++repeat) {
        Counts counts(count);
        WorkPoolRun(pool, CountCall, &counts, count);
        ExpectEachOnce(counts);
      }
    }
  }
}

TEST(WorkPoolTest, EveryIndexOnceAboveOneJobsChunks) {
  // A job's claim word holds 16-bit indices: larger counts run as several
  // jobs, with every index still run once.
  WorkPool* pool = WorkPoolForThreads(2);
  for (size_t count : {65535, 65536, 65537, 140000}) {
    Counts counts(count);
    WorkPoolRun(pool, CountCall, &counts, count);
    ExpectEachOnce(counts);
  }
}

struct Split {
  std::thread::id caller;
  std::vector<std::atomic<int>> on_caller;  // per index: 1 caller, 2 another thread
  std::atomic<int> others{0};
  explicit Split(size_t count) : on_caller(count) {}
};

void RecordThread(void* context, size_t index) {
  Split& split = *static_cast<Split*>(context);
  const bool caller = std::this_thread::get_id() == split.caller;
  // ~20 us of work, so that a helper has time to join in.
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
  while (std::chrono::steady_clock::now() < until) {
  }
  if (!caller) split.others.fetch_add(1);
  split.on_caller[index].store(caller ? 1 : 2);
}

TEST(WorkPoolTest, CallerTakesTheFirstChunksHelpersTheLast) {
  // The split that keeps a tensor's rows on one core from one operator to
  // the next: the caller's chunks are a prefix of the indices, the helpers'
  // the rest, every time. Jobs run until helpers have shared 20 of them (at
  // most 2000 jobs, about a second).
  for (size_t threads : {2, 3}) {
    WorkPool* pool = WorkPoolForThreads(threads);
    int shared = 0;
    for (int job = 0; job < 2000 && shared < 20; ++job) {
      Split split(24);
      split.caller = std::this_thread::get_id();
      WorkPoolRun(pool, RecordThread, &split, split.on_caller.size());
      shared += split.others.load() > 0;
      size_t prefix = 0;
      while (prefix < split.on_caller.size() && split.on_caller[prefix].load() == 1) ++prefix;
      for (size_t i = prefix; i < split.on_caller.size(); ++i) {
        ASSERT_EQ(split.on_caller[i].load(), 2)
            << "index " << i << " ran on the caller after a helper's chunk at " << prefix << " ("
            << threads << " threads, job " << job << ")";
      }
    }
    EXPECT_EQ(shared, 20) << threads << " threads: helpers took part in too few jobs";
  }
}

TEST(WorkPoolTest, SlowChunkIsWaitedFor) {
  // One chunk sleeps far longer than the caller spins: whoever claimed it,
  // the call returns only after it is done. Chunk 0 is the caller's when no
  // helper is awake yet; the later ones are often a helper's.
  WorkPool* pool = WorkPoolForThreads(2);
  for (size_t slow_index : {0, 1, 5, 9}) {
    for (int repeat = 0; repeat < 5; ++repeat) {
      Counts counts(10);
      counts.slow_index = slow_index;
      counts.slow_index_sleep = std::chrono::microseconds(3000);
      WorkPoolRun(pool, CountCall, &counts, counts.calls.size());
      ExpectEachOnce(counts);
    }
  }
}

void BusyChunk(void* context, size_t index) {
  // ~20 us of work, so that jobs of 10+ chunks outlast the contended mode's
  // wake delay and the lazy wake-up runs.
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
  while (std::chrono::steady_clock::now() < until) {
  }
  CountCall(context, index);
}

TEST(WorkPoolTest, EveryIndexOnceWhileTheCpusAreBusy) {
  // Spinning threads, twice as many as the CPUs, preempt the pool's threads:
  // the pool takes its contended paths (short helper spins, lazy wake-ups)
  // on machines of any size. Only correctness is checked, never time.
  WorkPool* pool = WorkPoolForThreads(2);
  std::atomic<bool> stop{false};
  std::vector<std::thread> spinners;
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < 2 * cpus; ++i) {
    spinners.emplace_back([&stop] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  }
  int failures = 0;
  for (int repeat = 0; repeat < 40; ++repeat) {
    for (size_t count : {1, 2, 5, 12, 40}) {
      Counts counts(count);
      WorkPoolRun(pool, BusyChunk, &counts, count);
      for (auto& calls : counts.calls) failures += calls.load() != 1;
    }
  }
  stop.store(true);
  for (std::thread& spinner : spinners) spinner.join();
  EXPECT_EQ(failures, 0);
}

TEST(WorkPoolTest, JobsFromSeveralThreadsRunOneAfterTheOther) {
  WorkPool* pool = WorkPoolForThreads(2);
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      for (int repeat = 0; repeat < 200; ++repeat) {
        Counts counts(13);
        WorkPoolRun(pool, CountCall, &counts, counts.calls.size());
        for (auto& calls : counts.calls) failures += calls.load() != 1;
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace serenity::kernels
