// A hand-written dense (groups = 1) NHWC convolution for x86-64 with AVX2 and
// FMA: an implicit GEMM (output pixels x output channels, reduced over kernel
// positions x input channels) on a 6x16 register tile, or with AVX-512F on a
// 12x32 one (dense_conv_avx512.cc), chosen at run time.
//
// Why it exists: Debian builds XNNPACK with GCC, which spills an accumulator
// of XNNPACK's f32 6x16 FMA3 IGEMM micro-kernel to the stack inside its inner
// loop; that kernel then runs at about a third of the core's FMA rate, and
// dense convolutions are most of every zoo model's time. XNNPACK's
// micro-kernels are not exported, so the tile is written here, with
// intrinsics that keep all 12 accumulators in registers.
//
// Layout of this interface: plain structs and functions on raw pointers, on
// purpose. dense_conv_avx2.cc is compiled with -mavx2 -mfma (and
// dense_conv_avx512.cc with -mavx512f too); they must not instantiate any
// inline function or template shared with other translation units
// (std::vector, Status, ...), or the linker could keep their copy for the
// whole program and break CPUs without those instructions. Their common
// driver (dense_conv_driver.h) has internal linkage for that reason.
#ifndef SERENITY_KERNELS_DENSE_CONV_H_
#define SERENITY_KERNELS_DENSE_CONV_H_

#include <cstddef>
#include <cstdint>

#include "work_pool.h"

namespace serenity::kernels {

// Output channels per packed weight block (two 8-float vectors).
inline constexpr int64_t kDenseConvBlock = 16;
// Kernel windows up to this many positions (7x7 and smaller).
inline constexpr int64_t kDenseConvMaxPositions = 64;
// Convolutions with fewer input channels than this gather each window into a
// panel of at most kDenseConvMaxPanel floats (on the stack, per tile row);
// with dense input pixels and no horizontal dilation, only windows that
// reach past the left or right border are gathered: the others read each
// window row (kernel_w pixels, contiguous) in place.
inline constexpr int64_t kDenseConvGatherBelowChannels = 16;
inline constexpr int64_t kDenseConvMaxPanel = 1024;
// Below this many multiply-adds a convolution runs on the calling thread.
inline constexpr int64_t kDenseConvParallelMacs = int64_t{1} << 20;

struct DenseConvShape {
  int64_t batch = 0;
  int64_t in_h = 0, in_w = 0, in_channels = 0;
  int64_t out_h = 0, out_w = 0, out_channels = 0;
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  int64_t in_pixel_stride = 0;   // floats between input pixels (>= in_channels)
  int64_t out_pixel_stride = 0;  // floats between output pixels (>= out_channels)
  float out_min = 0.0f, out_max = 0.0f;
};

// True when the kernel gathers each window of `shape` into a panel.
inline bool DenseConvGathers(const DenseConvShape& shape) {
  return shape.in_channels < kDenseConvGatherBelowChannels &&
         shape.kernel_h * shape.kernel_w * shape.in_channels <= kDenseConvMaxPanel;
}

// Floats of the packed weights: per block of 16 output channels, 16 biases
// then, for each kernel position and input channel, the 16 weights (zeros
// past the last output channel).
size_t DenseConvPackedFloats(const DenseConvShape& shape);

// Packs OHWI `weights` ([out_channels, kernel_h, kernel_w, in_channels]) and
// `bias` ([out_channels], or nullptr for zeros) into `packed`
// (DenseConvPackedFloats floats).
void DenseConvPackWeights(const DenseConvShape& shape, const float* weights, const float* bias,
                          float* packed);

// Floats of zeros DenseConvArgs::zeros must hold: the kernel reads them in
// place of padding pixels, and in place of whole window rows (kernel_w
// pixels) outside the image for convolutions it gathers.
inline int64_t DenseConvZeroFloats(const DenseConvShape& shape) {
  return shape.kernel_w * shape.in_channels;
}

// Everything one run reads and writes. `zeros` holds DenseConvZeroFloats
// zero floats. All pointers are borrowed.
struct DenseConvArgs {
  DenseConvShape shape;
  const float* packed = nullptr;
  const float* zeros = nullptr;
  const float* input = nullptr;  // element [0, 0, 0, 0] of the input view
  float* output = nullptr;       // element [0, 0, 0, 0] of the output view
  // Depthwise only (average pooling's divisors): when not null, output pixel
  // (oy, ox) of every image is multiplied by scale_y[oy] * scale_x[ox]
  // (out_h and out_w floats) before the activation. Ignored by the dense
  // kernel.
  const float* scale_y = nullptr;
  const float* scale_x = nullptr;
  // Depthwise only: read every input value x as max(0, x), a Relu folded
  // into the convolution (padding stays 0). Ignored by the dense kernel.
  bool input_relu = false;
  // Dense only (the direct kernel and Winograd's): when not null, an Add
  // folded into the convolution. Each output value is then the addend's
  // value at the same pixel and channel plus the convolution's, clamped to
  // [out_min, out_max] after the sum.
  // The addend's pixels are addend_pixel_stride floats apart; it may be the
  // output itself (the same view: the sum is computed in place), and must
  // not otherwise overlap it. Ignored by the depthwise kernel.
  const float* addend = nullptr;
  int64_t addend_pixel_stride = 0;
};

// True when this build has the kernel (x86-64) and the CPU runs AVX2 + FMA.
bool DenseConvAvailable();

// Runs the convolution, parallel over the pool (nullptr: calling thread),
// on DenseConvIsaInUse()'s tile. Writes only the out_channels first floats
// of each output pixel. Allocates nothing. Call only when
// DenseConvAvailable().
void DenseConvRun(const DenseConvArgs& args, WorkPool* pool);

// The instruction sets the dense kernel has a register tile for. Both read
// the same packed weights and give bit-identical results: each output is
// the bias plus the same FMAs in the same order.
enum class DenseConvIsa { kAvx2, kAvx512 };

// True when the CPU runs `isa` (and AVX2 + FMA) and this build has its tile.
bool DenseConvIsaAvailable(DenseConvIsa isa);

// The tile DenseConvRun uses: the widest available one unless
// SetDenseConvIsaForTesting chose another.
DenseConvIsa DenseConvIsaInUse();

// For tests and benchmarks: makes later DenseConvRun calls (of every bound
// operator, process-wide) use `isa`. Returns false, changing nothing, when
// `isa` is not available. Not synchronised with running convolutions: call
// it between runs.
bool SetDenseConvIsaForTesting(DenseConvIsa isa);

// The tiles' bodies (dense_conv_avx2.cc, dense_conv_avx512.cc): DenseConvRun
// on one instruction set. Call only when that set is available.
void DenseConvRunAvx2(const DenseConvArgs& args, WorkPool* pool);
void DenseConvRunAvx512(const DenseConvArgs& args, WorkPool* pool);

}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_DENSE_CONV_H_
