// A hand-written depthwise NHWC convolution (groups = channels, one output
// channel per input channel) for x86-64 with AVX2 and FMA, or AVX-512F,
// beside the dense one (dense_conv.h explains why these exist and the rules
// for the ISA-specific translation units). XNNPACK's depthwise kernels in
// Debian's build run 3x3 and 5x5 windows at 15-30 GFLOP/s and larger ones
// (NASNet's 7x7) at about 2; this one shares each input load among the
// output pixels whose windows cover it and runs them at 30-80 with AVX2,
// 40-150 with AVX-512 (bench/conv_bench; depthwise_conv_driver.h explains
// how).
#ifndef SERENITY_KERNELS_DEPTHWISE_CONV_H_
#define SERENITY_KERNELS_DEPTHWISE_CONV_H_

#include <cstddef>
#include <cstdint>

#include "dense_conv.h"

namespace serenity::kernels {

// True when this kernel is the one to bind for a kernel_h x kernel_w window
// with these strides, on a bind-time pool of `threads` threads
// (bench/conv_bench): every window but 3x3 with a stride above 1, where
// XNNPACK's kernel, which reads each input pixel's channels in order, is
// 5-30% faster on one thread on inputs that do not fit in L2. With more
// threads this one is chosen for those too: when a model has own-kernel
// operators the engine runs XNNPACK's on the calling thread alone
// (EngineOptions::pthreadpool_ops), and this one uses every thread.
bool DepthwiseConvPreferred(int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                            size_t threads);

// Below this many multiply-adds a depthwise convolution runs on the calling
// thread. 2^17: DARTS-ImageNet's 28x28x48 and 14x14x96 separable
// convolutions (338K and 169K, 7-15 us on one thread; 84 of them) split
// over the threads, as everything around them does; 7x7x192 (85K) stays on
// one. The work pool's caller claims every row itself when the helper is
// not awake, so a small job costs no wait.
inline constexpr int64_t kDepthwiseParallelMacs = int64_t{1} << 17;

// Multiply-adds a task of the work pool takes at least (whole output rows):
// a claim and its cache-line traffic cost ~0.1-0.2 us, a 28-pixel row of 48
// channels (DARTS-ImageNet) ~0.5 us. 2^15: 1-2 us per task, that row
// pairs, and 10+ tasks in every job that splits.
inline constexpr int64_t kDepthwiseTaskMacs = int64_t{1} << 15;

// Packed rows (the biases, each kernel position's weights) are padded to a
// multiple of this many floats: whole vectors on either instruction set.
inline constexpr int64_t kDepthwiseChannelPad = 16;

// Floats of one packed row of `channels` channels.
inline int64_t DepthwiseConvPaddedChannels(int64_t channels) {
  return (channels + kDepthwiseChannelPad - 1) / kDepthwiseChannelPad * kDepthwiseChannelPad;
}

// Floats of the packed weights for `shape` (in_channels == out_channels):
// the biases, then for each kernel position the channels' weights, each
// padded to DepthwiseConvPaddedChannels floats.
size_t DepthwiseConvPackedFloats(const DenseConvShape& shape);

// Packs `weights` ([channels, kernel_h, kernel_w, 1]) and `bias`
// ([channels], or nullptr for zeros) into `packed`.
void DepthwiseConvPackWeights(const DenseConvShape& shape, const float* weights, const float* bias,
                              float* packed);

// Runs it (args.zeros: in_channels zero floats) on DenseConvIsaInUse()'s
// vectors (AVX2: 8 floats; AVX-512F: 16; the same FMAs in the same order on
// either, so bit-identical results). Writes only the channels of each output
// pixel; reads only the channels of each input pixel. Allocates nothing.
// Call only when DenseConvAvailable().
void DepthwiseConvRun(const DenseConvArgs& args, WorkPool* pool);

// Its bodies (depthwise_conv_avx2.cc, depthwise_conv_avx512.cc): one
// instruction set each. Call only when that set is available.
void DepthwiseConvRunAvx2(const DenseConvArgs& args, WorkPool* pool);
void DepthwiseConvRunAvx512(const DenseConvArgs& args, WorkPool* pool);

}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_DEPTHWISE_CONV_H_
