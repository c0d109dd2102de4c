// Invoke() allocates nothing: neither through XNNPACK (a counting
// xnn_allocator handed to xnn_initialize before anything else in this binary)
// nor through malloc/operator new anywhere in the process (the malloc family
// is interposed in this executable and counts while armed).
//
// Under AddressSanitizer the malloc interposition would fight the sanitizer's
// own, so only the XNNPACK counter runs there.
#include <gtest/gtest.h>
#include <xnnpack.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <vector>

#include "serenity/engine.h"
#include "serenity/kernels/xnnpack_util.h"
#include "test_models.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SERENITY_NO_MALLOC_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define SERENITY_NO_MALLOC_HOOK 1
#endif
#endif

namespace {

std::atomic<bool> armed{false};
std::atomic<long> malloc_calls{0};
std::atomic<long> xnn_calls{0};

[[maybe_unused]] void CountIfArmed() {
  if (armed.load(std::memory_order_relaxed)) malloc_calls.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

#ifndef SERENITY_NO_MALLOC_HOOK
extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* pointer, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* pointer);

void* malloc(size_t size) {
  CountIfArmed();
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) {
  CountIfArmed();
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, size_t size) {
  CountIfArmed();
  return __libc_realloc(pointer, size);
}
void* memalign(size_t alignment, size_t size) {
  CountIfArmed();
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) {
  CountIfArmed();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, size_t alignment, size_t size) {
  CountIfArmed();
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* pointer = __libc_memalign(alignment, size);
  if (pointer == nullptr) return ENOMEM;
  *out = pointer;
  return 0;
}
void free(void* pointer) { __libc_free(pointer); }
}  // extern "C"
#endif

namespace {

void* CountingAllocate(void*, size_t size) {
  xnn_calls.fetch_add(1);
  return std::malloc(size);
}
void* CountingReallocate(void*, void* pointer, size_t size) {
  xnn_calls.fetch_add(1);
  return std::realloc(pointer, size);
}
void CountingDeallocate(void*, void* pointer) { std::free(pointer); }
void* CountingAlignedAllocate(void*, size_t alignment, size_t size) {
  xnn_calls.fetch_add(1);
  void* pointer = nullptr;
  return posix_memalign(&pointer, alignment, size) == 0 ? pointer : nullptr;
}
void CountingAlignedDeallocate(void*, void* pointer) { std::free(pointer); }

const xnn_allocator kCountingAllocator = {nullptr, CountingAllocate, CountingReallocate,
                                          CountingDeallocate, CountingAlignedAllocate,
                                          CountingAlignedDeallocate};

// Installs the counting allocator before any test (and so any engine) runs.
class CountingXnnpackEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    serenity::Status status = serenity::kernels::InitializeXnnpack(&kCountingAllocator);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
};
[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new CountingXnnpackEnvironment);

struct Counts {
  long malloc_calls = 0;
  long xnn_calls = 0;
};

template <typename F>
Counts CountDuring(F&& f) {
  const long xnn_before = xnn_calls.load();
  malloc_calls.store(0);
  armed.store(true);
  f();
  armed.store(false);
  return {malloc_calls.load(), xnn_calls.load() - xnn_before};
}

#ifndef SERENITY_NO_MALLOC_HOOK
TEST(InvokeAllocationTest, TheMallocHookCounts) {
  Counts counts = CountDuring([] {
    std::unique_ptr<std::vector<int>> v(new std::vector<int>(100));
    EXPECT_EQ(v->size(), 100u);
  });
  EXPECT_GE(counts.malloc_calls, 2);
}
#endif

class InvokeAllocationParamTest
    : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(InvokeAllocationParamTest, InvokeAllocatesNothing) {
  const auto [threads, profile] = GetParam();
  serenity::Result<serenity::Model> model =
      serenity::runtime_testing::BuildModel(serenity::runtime_testing::BranchyNet());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  serenity::EngineOptions options;
  options.threads = threads;
  options.profile = profile;

  const long xnn_before_create = xnn_calls.load();
  serenity::Result<serenity::Engine> engine = serenity::Engine::Create(*model, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  // The counting allocator is the one XNNPACK uses: packing weights went through it.
  EXPECT_GT(xnn_calls.load(), xnn_before_create);

  std::vector<float> input(engine->input(0)->num_elements, 0.25f);
  ASSERT_TRUE(engine->SetInput(0, input.data(), input.size()).ok());
  ASSERT_TRUE(engine->Invoke().ok());  // a first run, outside the count

  serenity::Status status;
  Counts counts = CountDuring([&] {
    for (int run = 0; run < 5; ++run) {
      status = engine->Invoke();
      if (!status.ok()) break;
    }
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(counts.xnn_calls, 0) << "XNNPACK allocated during Invoke()";
#ifndef SERENITY_NO_MALLOC_HOOK
  EXPECT_EQ(counts.malloc_calls, 0) << "malloc/new called during Invoke()";
#endif
}

INSTANTIATE_TEST_SUITE_P(ThreadsAndProfiling, InvokeAllocationParamTest,
                         ::testing::Combine(::testing::Values(1, 2), ::testing::Bool()));

}  // namespace
