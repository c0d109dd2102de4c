// A Winograd F(4x4, 3x3) dense NHWC convolution for x86-64 with AVX2 and FMA,
// for 3x3 windows with stride 1 and no dilation, beside the direct one
// (dense_conv.h explains the rules for the AVX2 translation unit).
//
// Why it exists: the direct kernel already runs ResNet-18's 3x3 convolutions
// near the core's FMA rate, so the only way to run them faster is fewer
// multiply-adds. F(4x4, 3x3) computes each 4x4 output tile from a 6x6 input
// tile with 36 multiply-adds per (input channel, output channel) pair
// instead of 144: input tiles and weights are transformed into the
// Winograd domain (the weights once, when binding), each of the 36 positions
// is one small GEMM (tiles x input channels times input channels x output
// channels, on the same 6x16 register tile as dense_conv_avx2.cc), and an
// output transform turns 6x6 products back into 4x4 output pixels.
//
// Costs: the packed weights take 36/9 = 4 times the original floats, and
// each thread needs scratch (WinogradConvPlan::slot_floats) for a group of
// tiles. Error: the transforms add rounding of order 1e-5 of the output's
// scale for channel counts in the hundreds (the tests allow 1e-4 of it).
#ifndef SERENITY_KERNELS_WINOGRAD_CONV_H_
#define SERENITY_KERNELS_WINOGRAD_CONV_H_

#include <cstddef>
#include <cstdint>

#include "dense_conv.h"

namespace serenity::kernels {

// Output tile side, input tile side, and positions of one tile.
inline constexpr int64_t kWinogradOutTile = 4;
inline constexpr int64_t kWinogradInTile = 6;
inline constexpr int64_t kWinogradPositions = 36;

// True when the kernel can run `shape`: 3x3, stride 1, no dilation, and
// paddings of at most 2 (an input tile then starts at most 2 pixels before
// the image). Says nothing about speed: see WinogradConvPreferred.
bool WinogradConvApplies(const DenseConvShape& shape);

// True when the kernel is the faster one for `shape` (bench/conv_bench) and
// applies to it.
bool WinogradConvPreferred(const DenseConvShape& shape);

// How one run splits its work; fixed when binding.
struct WinogradConvPlan {
  int64_t tiles_h = 0, tiles_w = 0;  // output tiles per image, down and across
  int64_t tiles = 0;                 // batch * tiles_h * tiles_w
  int64_t group_tiles = 0;           // tiles per task
  int64_t channel_floats = 0;        // in_channels rounded up to 8
  int64_t blocks = 0;                // output channel blocks of 16
  int64_t chunk_blocks = 0;          // output channel blocks per task
  int64_t groups = 0, chunks = 0;    // tasks: groups x chunks
  int64_t slots = 0;                 // scratch slots: one per thread
  int64_t slot_floats = 0;           // scratch floats per slot
};

// The plan for `shape` on `threads` threads (>= 1).
WinogradConvPlan WinogradConvPlanFor(const DenseConvShape& shape, int64_t threads);

// Floats of the packed weights: out_channels biases rounded up to 16, then
// for each of the 36 positions and each block of 16 output channels, the
// in_channels x 16 transformed weights (zeros past the last output channel).
size_t WinogradConvPackedFloats(const DenseConvShape& shape);

// Transforms and packs OHWI `weights` ([out_channels, 3, 3, in_channels]) and
// `bias` ([out_channels], or nullptr for zeros) into `packed`
// (WinogradConvPackedFloats floats). Computed in double.
void WinogradConvPackWeights(const DenseConvShape& shape, const float* weights, const float* bias,
                             float* packed);

// Runs the convolution with `scratch` (plan.slots * plan.slot_floats floats)
// and `slot_busy` (plan.slots ints, all zero between runs), parallel over the
// pool (nullptr: calling thread). Writes only the out_channels first floats
// of each output pixel; reads only the in_channels first of each input
// pixel. Allocates nothing. Call only when DenseConvAvailable() and
// WinogradConvApplies(args.shape).
void WinogradConvRun(const DenseConvArgs& args, const WinogradConvPlan& plan, float* scratch,
                     int* slot_busy, WorkPool* pool);

// One position's GEMM on the dense kernel's AVX-512 tile
// (dense_conv_avx512.cc), for WinogradConvRun when DenseConvIsaInUse() is
// kAvx512: M[r][b * 16 + j] = sum over c < channels of V[r][c] * W_b[c][j]
// for r < rows and b < blocks, V's rows `v_stride` floats apart from `v`,
// block b's channels x 16 weights at w + b * channels * 16, M's rows
// `m_stride` floats apart from `m`. The same sums in the same order as the
// AVX2 GEMM: identical results.
void WinogradGemmAvx512(int64_t rows, int64_t blocks, int64_t channels, const float* v,
                        int64_t v_stride, const float* w, float* m, int64_t m_stride);

}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_WINOGRAD_CONV_H_
