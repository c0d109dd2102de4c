// Run() allocates nothing: every op kind is bound, then run with counters on
// XNNPACK's allocator, global operator new and (outside sanitizer builds,
// which own malloc) malloc/calloc/realloc.
#include <gtest/gtest.h>
#include <xnnpack.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "op_tester.h"
#include "serenity/kernels/xnnpack_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SERENITY_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define SERENITY_SANITIZER_BUILD 1
#endif
#endif

namespace {

std::atomic<bool> counting{false};
std::atomic<int64_t> xnn_allocations{0};
std::atomic<int64_t> new_calls{0};
std::atomic<int64_t> malloc_calls{0};

void Count(std::atomic<int64_t>& counter) {
  if (counting.load(std::memory_order_relaxed)) counter.fetch_add(1, std::memory_order_relaxed);
}

void* XnnAllocate(void*, size_t size) {
  Count(xnn_allocations);
  return std::malloc(size);
}
void* XnnReallocate(void*, void* pointer, size_t size) {
  Count(xnn_allocations);
  return std::realloc(pointer, size);
}
void XnnDeallocate(void*, void* pointer) { std::free(pointer); }
void* XnnAlignedAllocate(void*, size_t alignment, size_t size) {
  Count(xnn_allocations);
  void* pointer = nullptr;
  return posix_memalign(&pointer, alignment, size) == 0 ? pointer : nullptr;
}
void XnnAlignedDeallocate(void*, void* pointer) { std::free(pointer); }

const xnn_allocator kCountingAllocator = {nullptr,       XnnAllocate,        XnnReallocate,
                                          XnnDeallocate, XnnAlignedAllocate, XnnAlignedDeallocate};

}  // namespace

// Through pointers, so that the compiler does not pair the replaced new and
// delete with malloc/free and warn about a mismatch that is not one.
void* (*volatile malloc_function)(size_t) = std::malloc;
void (*volatile free_function)(void*) = std::free;

void* operator new(size_t size) {
  Count(new_calls);
  void* pointer = malloc_function(size == 0 ? 1 : size);
  if (pointer == nullptr) throw std::bad_alloc();
  return pointer;
}
void operator delete(void* pointer) noexcept { free_function(pointer); }
void operator delete(void* pointer, size_t) noexcept { free_function(pointer); }

#ifndef SERENITY_SANITIZER_BUILD
extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* pointer, size_t size);
void* malloc(size_t size) {
  Count(malloc_calls);
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) {
  Count(malloc_calls);
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, size_t size) {
  Count(malloc_calls);
  return __libc_realloc(pointer, size);
}
}
#endif

namespace serenity::kernels::testing {
namespace {

std::vector<OpCase> OneCasePerOp() {
  std::vector<OpCase> cases;
  auto unary = [](OpType type, OpAttrs attrs, std::vector<int64_t> in, std::vector<int64_t> out) {
    OpCase c;
    c.op.type = type;
    c.op.attrs = std::move(attrs);
    c.inputs = {Spec(std::move(in))};
    c.output = Spec(std::move(out));
    return c;
  };
  Conv2DAttrs conv;
  conv.pad_top = conv.pad_bottom = conv.pad_left = conv.pad_right = 1;
  OpCase dense = unary(OpType::kConv2D, conv, {1, 8, 8, 4}, {1, 8, 8, 6});
  dense.inputs.push_back(Spec({6, 3, 3, 4}, true));
  dense.inputs.push_back(Spec({6}, true));
  dense.output.placement = {2, 3};
  cases.push_back(dense);
  // The same on XNNPACK (dense convolutions default to Serenity's own kernel
  // on AVX2 + FMA CPUs), and one large enough for the own kernel's thread
  // pool.
  OpCase dense_xnnpack = dense;
  dense_xnnpack.kernels = KernelChoice::kXnnpack;
  cases.push_back(dense_xnnpack);
  OpCase dense_large = unary(OpType::kConv2D, conv, {1, 16, 16, 64}, {1, 16, 16, 64});
  dense_large.inputs.push_back(Spec({64, 3, 3, 64}, true));
  dense_large.inputs.push_back(Spec({64}, true));
  cases.push_back(dense_large);
  // The large one on the Winograd kernel (kAuto's choice for it) and on the
  // direct one, and a Winograd one with two output channel chunks and
  // several tile groups.
  OpCase dense_direct = dense_large;
  dense_direct.kernels = KernelChoice::kDirect;
  cases.push_back(dense_direct);
  OpCase winograd = unary(OpType::kConv2D, conv, {1, 30, 30, 24}, {1, 30, 30, 144});
  winograd.inputs.push_back(Spec({144, 3, 3, 24}, true));
  winograd.inputs.push_back(Spec({144}, true));
  winograd.kernels = KernelChoice::kWinograd;
  cases.push_back(winograd);
  conv.groups = 4;
  conv.stride_h = conv.stride_w = 2;
  OpCase depthwise = unary(OpType::kConv2D, conv, {1, 8, 8, 4}, {1, 4, 4, 4});
  depthwise.inputs.push_back(Spec({4, 3, 3, 1}, true));
  depthwise.inputs.push_back(Spec({4}, true));
  cases.push_back(depthwise);
  // 7x7 depthwise: Serenity's own kernel on AVX2 + FMA CPUs.
  Conv2DAttrs wide = conv;
  wide.groups = 40;
  wide.stride_h = wide.stride_w = 1;
  wide.pad_top = wide.pad_bottom = wide.pad_left = wide.pad_right = 3;
  OpCase depthwise_wide = unary(OpType::kConv2D, wide, {1, 24, 24, 40}, {1, 24, 24, 40});
  depthwise_wide.inputs.push_back(Spec({40, 7, 7, 1}, true));
  depthwise_wide.inputs.push_back(Spec({40}, true));
  cases.push_back(depthwise_wide);
  // 3x3 and 5x5 stride 1 depthwise: the own kernel too, the 5x5 one above
  // kDepthwiseParallelMacs.
  Conv2DAttrs narrow = wide;
  narrow.groups = 36;
  narrow.pad_top = narrow.pad_bottom = narrow.pad_left = narrow.pad_right = 1;
  OpCase depthwise_3x3 = unary(OpType::kConv2D, narrow, {1, 9, 9, 36}, {1, 9, 9, 36});
  depthwise_3x3.inputs.push_back(Spec({36, 3, 3, 1}, true));
  depthwise_3x3.inputs.push_back(Spec({36}, true));
  cases.push_back(depthwise_3x3);
  narrow.pad_top = narrow.pad_bottom = narrow.pad_left = narrow.pad_right = 2;
  OpCase depthwise_5x5 = unary(OpType::kConv2D, narrow, {1, 32, 32, 36}, {1, 32, 32, 36});
  depthwise_5x5.inputs.push_back(Spec({36, 5, 5, 1}, true));
  depthwise_5x5.inputs.push_back(Spec({36}, true));
  cases.push_back(depthwise_5x5);
  OpCase fc = unary(OpType::kFullyConnected, FullyConnectedAttrs{}, {2, 16}, {2, 5});
  fc.inputs.push_back(Spec({5, 16}, true));
  fc.inputs.push_back(Spec({5}, true));
  cases.push_back(fc);
  Pool2DAttrs pool;
  pool.filter_h = pool.filter_w = 3;
  pool.pad_top = pool.pad_bottom = pool.pad_left = pool.pad_right = 1;
  cases.push_back(unary(OpType::kMaxPool2D, pool, {1, 8, 8, 4}, {1, 8, 8, 4}));
  cases.push_back(unary(OpType::kAveragePool2D, pool, {1, 8, 8, 4}, {1, 8, 8, 4}));
  pool.count_include_pad = true;
  cases.push_back(unary(OpType::kAveragePool2D, pool, {1, 8, 8, 4}, {1, 8, 8, 4}));
  cases.push_back(unary(OpType::kGlobalAveragePool, NoAttrs{}, {1, 8, 8, 4}, {1, 1, 1, 4}));
  OpCase add = unary(OpType::kAdd, ElementwiseAttrs{}, {1, 8, 8, 4}, {1, 8, 8, 4});
  add.inputs.push_back(Spec({4}, true));
  cases.push_back(add);
  OpCase nary = add;
  nary.inputs = {Spec({1, 8, 8, 4}), Spec({1, 8, 8, 4}), Spec({1, 8, 8, 4})};
  nary.in_place = true;
  cases.push_back(nary);
  OpCase mul = add;
  mul.op.type = OpType::kMul;
  mul.inputs[1] = Spec({1, 1, 1, 4});
  cases.push_back(mul);
  OpCase concat = unary(OpType::kConcat, ConcatAttrs{3}, {1, 8, 8, 4}, {1, 8, 8, 7});
  concat.inputs.push_back(Spec({1, 8, 8, 3}));
  cases.push_back(concat);
  cases.push_back(unary(OpType::kRelu, NoAttrs{}, {1, 8, 8, 4}, {1, 8, 8, 4}));
  cases.push_back(unary(OpType::kClamp, ClampAttrs{}, {1, 8, 8, 4}, {1, 8, 8, 4}));
  cases.push_back(unary(OpType::kSigmoid, NoAttrs{}, {1, 8, 8, 4}, {1, 8, 8, 4}));
  cases.push_back(unary(OpType::kHardSwish, NoAttrs{}, {1, 8, 8, 4}, {1, 8, 8, 4}));
  cases.push_back(unary(OpType::kSoftmax, SoftmaxAttrs{1}, {2, 10}, {2, 10}));
  ReshapeAttrs reshape;
  reshape.new_shape = {1, 256};
  cases.push_back(unary(OpType::kReshape, reshape, {1, 8, 8, 4}, {1, 256}));
  PadAttrs pad;
  pad.paddings = {0, 0, 1, 1, 1, 1, 0, 0};
  cases.push_back(unary(OpType::kPad, pad, {1, 8, 8, 4}, {1, 10, 10, 4}));
  SliceAttrs slice;
  slice.begin = {0, 1, 1, 1};
  slice.size = {1, 6, 6, 2};
  cases.push_back(unary(OpType::kSlice, slice, {1, 8, 8, 4}, {1, 6, 6, 2}));
  cases.push_back(
      unary(OpType::kResizeBilinear, ResizeBilinearAttrs{}, {1, 4, 4, 4}, {1, 8, 8, 4}));
  return cases;
}

TEST(NoAllocationTest, RunAllocatesNothing) {
  std::vector<BoundCase> bound;
  std::vector<bool> seen(kNumOpTypes, false);
  for (const OpCase& c : OneCasePerOp()) {
    Result<BoundCase> result = BindCase(c);
    ASSERT_TRUE(result.ok()) << Describe(c) << ": " << result.status().ToString();
    seen[static_cast<int>(c.op.type)] = true;
    bound.push_back(std::move(result).value());
  }
  for (int t = 0; t < kNumOpTypes; ++t) {
    EXPECT_TRUE(seen[t]) << "no case for " << OpTypeName(static_cast<OpType>(t));
  }
  pthreadpool_t pool = TestPool();
  counting = true;
  for (int round = 0; round < 3; ++round) {
    for (BoundCase& b : bound) {
      if (!b.op->Run(pool).ok()) std::abort();
    }
  }
  counting = false;
  EXPECT_EQ(xnn_allocations.load(), 0);
  EXPECT_EQ(new_calls.load(), 0);
  EXPECT_EQ(malloc_calls.load(), 0);
}

// The counters do count: a bind allocates through every channel.
TEST(NoAllocationTest, CountersSeeBindAllocations) {
  OpCase c = OneCasePerOp()[0];
  c.kernels = KernelChoice::kXnnpack;
  counting = true;
  Result<BoundCase> bound = BindCase(c);
  counting = false;
  ASSERT_TRUE(bound.ok());
  EXPECT_GT(xnn_allocations.exchange(0), 0);
  EXPECT_GT(new_calls.exchange(0), 0);
#ifndef SERENITY_SANITIZER_BUILD
  EXPECT_GT(malloc_calls.exchange(0), 0);
#endif
}

}  // namespace
}  // namespace serenity::kernels::testing

int main(int argc, char** argv) {
  // Before anything else initialises XNNPACK with the default allocator.
  if (!serenity::kernels::InitializeXnnpack(&kCountingAllocator).ok()) return 1;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
