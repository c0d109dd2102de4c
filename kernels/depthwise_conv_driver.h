// The body of the depthwise convolution (depthwise_conv.h), written once
// over a vector type and instantiated by its ISA-specific translation units
// (depthwise_conv_avx2.cc: 8-float vectors; depthwise_conv_avx512.cc:
// 16-float ones). Everything here is a template or has internal linkage
// (anonymous namespace), as in dense_conv_driver.h: each translation unit
// compiles its own copy with its own instruction set. Include only from
// those files.
//
// `V`, the vector type, provides: Reg (a vector of kLanes floats), Mask (the
// first `lanes` of them), kLanes, kRegisters (vector registers),
// LaneMask(lanes), Load, MaskLoad, Store, StorePartial(out, v, lanes, mask),
// Fma(a, b, c) = a * b + c, Max, Min, Mul, Set1, Zero.
//
// Work is split by output rows. In a row, output pixels go in groups that
// share loads, one vector of kLanes channels at a time (the last vector of a
// channel count that is not a multiple of kLanes ends at the last channel
// and overlaps the one before: plain loads and stores; below kLanes
// channels, masked loads and stores):
// - The reusing path (kernel widths 3, 5, 7 with stride 1 or 2 and dilation
//   1, or stride 1 and dilation 2: every depthwise convolution of the zoo)
//   loads each input vector of a group once and multiplies it into every
//   pixel whose window covers it, with the kernel row's weights in
//   registers: a 3-wide stride-1 row of 8 pixels takes 10 input and 3 weight
//   loads for 24 FMAs, of 16 pixels (32 registers) 18 and 3 for 48. Loads,
//   not FMAs, bound this kernel (AMD Zen 3: one 256-bit load per cycle;
//   Intel: two); the one-load-per-FMA path below and XNNPACK's (two per FMA)
//   run at about half the speed. Columns of a group outside the input
//   (padding) are skipped in groups that reach the border, so borders cost
//   no extra pass.
// - The generic path (any other width, stride or dilation) loads one input
//   vector per pixel and tap and shares each weight vector among up to 8
//   pixels; pixels whose windows reach the padding go one at a time with the
//   kernel columns that land inside, 4 channel vectors at a time so that
//   their FMA chains are independent.
// Kernel rows outside the input are skipped per output row on both paths.
#ifndef SERENITY_KERNELS_DEPTHWISE_CONV_DRIVER_H_
#define SERENITY_KERNELS_DEPTHWISE_CONV_DRIVER_H_

#include <cstddef>
#include <cstdint>

#include "depthwise_conv.h"
#include "work_pool.h"

namespace serenity::kernels {
namespace {

// One input vector; kRelu (DenseConvArgs::input_relu): through max(0, x)
// (a NaN stays NaN: vmaxps returns its second operand when either is NaN).
// A template parameter, not a floor of -infinity, so that convolutions
// without a folded Relu run no vmaxps.
template <class V, bool kMasked, bool kRelu>
inline typename V::Reg LoadInput(const float* x, typename V::Mask mask) {
  const typename V::Reg v = kMasked ? V::MaskLoad(x, mask) : V::Load(x);
  return kRelu ? V::Max(V::Zero(), v) : v;
}

// Output scales of a group of pixels of one row (pooling's divisors): pixel
// j's is row * col[j]; none when col is null.
struct Scale {
  const float* col;
  float row;
};

// Scales `v` by pixel j's scale, clamps it and stores its first `lanes`
// floats (all kLanes unless kMasked).
template <class V, bool kMasked>
inline void StoreOutput(const DenseConvShape& s, typename V::Reg v, Scale scale, int j,
                        int64_t lanes, typename V::Mask mask, float* out) {
  if (scale.col != nullptr) v = V::Mul(v, V::Set1(scale.row * scale.col[j]));
  v = V::Min(V::Max(v, V::Set1(s.out_min)), V::Set1(s.out_max));
  if (kMasked) {
    V::StorePartial(out, v, lanes, mask);
  } else {
    V::Store(out, v);
  }
}

struct RowGeometry;
using RowFn = void (*)(const RowGeometry&, int64_t n, int64_t oy);

// What every row of one run shares.
struct RowGeometry {
  const DenseConvArgs* args;
  int64_t channels, padded;
  int64_t in_step;     // floats between the inputs of adjacent output pixels
  int64_t tap_step;    // floats between the inputs of adjacent kernel columns
  int64_t out_stride;  // floats between output pixels
  // Output pixels [interior_begin, interior_end) of every row have their
  // whole window inside the input horizontally.
  int64_t interior_begin, interior_end;
  RowFn row;
};

// Pixels [ox, ...) of output row oy: their scales.
inline Scale ScaleAt(const DenseConvArgs& args, int64_t oy, int64_t ox) {
  if (args.scale_x == nullptr) return Scale{nullptr, 1.0f};
  return Scale{args.scale_x + ox, args.scale_y[oy]};
}

// Kernel taps [lo, hi) that land inside [0, size) from `origin` in steps of
// `dilation`.
inline void TapRange(int64_t origin, int64_t dilation, int64_t taps, int64_t size, int64_t* lo,
                     int64_t* hi) {
  *lo = origin < 0 ? (-origin + dilation - 1) / dilation : 0;
  const int64_t last = origin <= size - 1 ? (size - 1 - origin) / dilation + 1 : 0;
  *hi = last < taps ? last : taps;
}

// Kernel rows [ky_lo, ky_hi) of output row (n, oy) that land inside the
// input, and where each of those input rows starts.
inline void RowLines(const DenseConvShape& s, const float* input, int64_t n, int64_t oy,
                     const float** lines, int64_t* ky_lo, int64_t* ky_hi) {
  const int64_t y0 = oy * s.stride_h - s.pad_top;
  TapRange(y0, s.dilation_h, s.kernel_h, s.in_h, ky_lo, ky_hi);
  for (int64_t ky = *ky_lo; ky < *ky_hi; ++ky) {
    lines[ky] = input + (n * s.in_h + y0 + ky * s.dilation_h) * s.in_w * s.in_pixel_stride;
  }
}

// ---------------------------------------------------------------------------
// The reusing path.

// Channels [c, c + kLanes) (the first `lanes` of them when kMasked) of
// kPixels adjacent output pixels of one row. `x0`: the input column under
// the first pixel's kernel column 0. kChecked: some columns may lie outside
// the input (skipped). Accumulators and weights are arrays indexed by
// constants only (every loop here has compile-time bounds and is unrolled),
// which GCC keeps in registers: kPixels + kKw + 2 <= kRegisters (one for a
// folded Relu's zero).
template <class V, int kPixels, int kKw, int kStride, int kDilation, bool kChecked, bool kMasked,
          bool kRelu>
inline void ReuseBlock(const RowGeometry& g, const float* const* lines, int64_t ky_lo,
                       int64_t ky_hi, int64_t x0, int64_t c, float* out, Scale scale) {
  using Reg = typename V::Reg;
  static_assert(kPixels + kKw + 2 <= V::kRegisters, "registers");
  constexpr int kColumns = (kPixels - 1) * kStride + (kKw - 1) * kDilation + 1;
  const DenseConvShape& s = g.args->shape;
  const int64_t lanes = g.channels - c < V::kLanes ? g.channels - c : V::kLanes;
  const typename V::Mask mask = V::LaneMask(lanes);
  const int64_t ps = s.in_pixel_stride;
  Reg acc[kPixels];
  const Reg bias = V::Load(g.args->packed + c);
#pragma GCC unroll 16
  for (int j = 0; j < kPixels; ++j) acc[j] = bias;
  // Columns [t_lo, t_hi) of the group lie inside the input.
  const int64_t t_lo = kChecked && x0 < 0 ? -x0 : 0;
  const int64_t t_hi = kChecked && s.in_w - x0 < kColumns ? s.in_w - x0 : kColumns;
  for (int64_t ky = ky_lo; ky < ky_hi; ++ky) {
    // Column t at first + t * ps (before the row's start for t < t_lo, never
    // read).
    const float* first = lines[ky] + x0 * ps + c;
    const float* w = g.args->packed + g.padded * (1 + ky * kKw) + c;
    Reg wv[kKw];
#pragma GCC unroll 16
    for (int kx = 0; kx < kKw; ++kx) wv[kx] = V::Load(w + kx * g.padded);
#pragma GCC unroll 64
    for (int t = 0; t < kColumns; ++t) {
      if (kChecked && (t < t_lo || t >= t_hi)) continue;
      const Reg v = LoadInput<V, kMasked, kRelu>(first + t * ps, mask);
#pragma GCC unroll 16
      for (int kx = 0; kx < kKw; ++kx) {
        const int u = t - kx * kDilation;
        if (u >= 0 && u % kStride == 0 && u / kStride < kPixels) {
          acc[u / kStride] = V::Fma(v, wv[kx], acc[u / kStride]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < kPixels; ++j) {
    StoreOutput<V, kMasked>(s, acc[j], scale, j, lanes, mask, out + j * g.out_stride + c);
  }
}

// All channels of kPixels adjacent output pixels.
template <class V, int kPixels, int kKw, int kStride, int kDilation, bool kChecked, bool kRelu>
void ReusePixels(const RowGeometry& g, const float* const* lines, int64_t ky_lo, int64_t ky_hi,
                 int64_t x0, float* out, Scale scale) {
  if (g.channels < V::kLanes) {
    ReuseBlock<V, kPixels, kKw, kStride, kDilation, kChecked, true, kRelu>(g, lines, ky_lo, ky_hi,
                                                                           x0, 0, out, scale);
    return;
  }
  int64_t c = 0;
  for (; c + V::kLanes <= g.channels; c += V::kLanes) {
    ReuseBlock<V, kPixels, kKw, kStride, kDilation, kChecked, false, kRelu>(g, lines, ky_lo, ky_hi,
                                                                            x0, c, out, scale);
  }
  if (c < g.channels) {
    ReuseBlock<V, kPixels, kKw, kStride, kDilation, kChecked, false, kRelu>(
        g, lines, ky_lo, ky_hi, x0, g.channels - V::kLanes, out, scale);
  }
}

// Pixels [ox, ox + kPixels) of a row; checked when they reach the border.
template <class V, int kPixels, int kKw, int kStride, int kDilation, bool kRelu>
inline void ReuseGroup(const RowGeometry& g, const float* const* lines, int64_t ky_lo,
                       int64_t ky_hi, int64_t oy, int64_t ox, float* out) {
  const int64_t x0 = ox * kStride - g.args->shape.pad_left;
  out += ox * g.out_stride;
  const Scale scale = ScaleAt(*g.args, oy, ox);
  if (ox >= g.interior_begin && ox + kPixels <= g.interior_end) {
    ReusePixels<V, kPixels, kKw, kStride, kDilation, false, kRelu>(g, lines, ky_lo, ky_hi, x0, out,
                                                                   scale);
  } else {
    ReusePixels<V, kPixels, kKw, kStride, kDilation, true, kRelu>(g, lines, ky_lo, ky_hi, x0, out,
                                                                  scale);
  }
}

// Pixels per group of the reusing path: 8 with 16 registers (6 for 7-wide
// kernels), 16 with 32.
template <class V, int kKw>
constexpr int ReuseGroupPixels() {
  return V::kRegisters >= 32 ? 16 : kKw <= 5 ? 8 : 6;
}

// One output row: groups of ReuseGroupPixels pixels, then a group of 8 if
// that many are left and the groups are wider, then the rest in one group.
template <class V, int kKw, int kStride, int kDilation, bool kRelu>
void ReuseRow(const RowGeometry& g, int64_t n, int64_t oy) {
  constexpr int kGroup = ReuseGroupPixels<V, kKw>();
  // The largest group of the rest: 7 when kGroup >= 8, else kGroup - 1.
  constexpr int kRest = kGroup >= 8 ? 7 : kGroup - 1;
  const DenseConvShape& s = g.args->shape;
  const float* lines[kDenseConvMaxPositions];
  int64_t ky_lo, ky_hi;
  RowLines(s, g.args->input, n, oy, lines, &ky_lo, &ky_hi);
  float* out = g.args->output + (n * s.out_h + oy) * s.out_w * g.out_stride;
  int64_t ox = 0;
  for (; ox + kGroup <= s.out_w; ox += kGroup) {
    ReuseGroup<V, kGroup, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
  }
  if constexpr (kGroup > 8) {
    if (ox + 8 <= s.out_w) {
      ReuseGroup<V, 8, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      ox += 8;
    }
  }
  // The rest in one group (a 7-pixel row: one group; 14: two on AVX2).
  switch (s.out_w - ox) {
    case 7:
      ReuseGroup<V, kRest >= 7 ? 7 : 1, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy,
                                                                        ox, out);
      break;
    case 6:
      ReuseGroup<V, kRest >= 6 ? 6 : 1, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy,
                                                                        ox, out);
      break;
    case 5:
      ReuseGroup<V, 5, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      break;
    case 4:
      ReuseGroup<V, 4, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      break;
    case 3:
      ReuseGroup<V, 3, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      break;
    case 2:
      ReuseGroup<V, 2, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      break;
    case 1:
      ReuseGroup<V, 1, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------
// The generic path.

// Accumulator kI of kPixels pixels x kBlocks channel vectors (pixel
// kI / kBlocks, vector kI % kBlocks) takes one kernel tap.
template <class V, int kI, int kPixels, int kBlocks, bool kMasked, bool kRelu>
inline void Tap(typename V::Reg& acc, const float* x, int64_t step, typename V::Mask mask,
                typename V::Reg w0, typename V::Reg w1, typename V::Reg w2, typename V::Reg w3) {
  if (kI < kPixels * kBlocks) {
    constexpr int kVector = kI % kBlocks;
    const typename V::Reg w = kVector == 0 ? w0 : kVector == 1 ? w1 : kVector == 2 ? w2 : w3;
    acc =
        V::Fma(LoadInput<V, kMasked, kRelu>(x + (kI / kBlocks) * step + V::kLanes * kVector, mask),
               w, acc);
  }
}

template <class V, int kI, int kPixels, int kBlocks, bool kMasked>
inline void Store(const RowGeometry& g, typename V::Reg acc, Scale scale, int64_t lanes,
                  typename V::Mask mask, float* out) {
  if (kI < kPixels * kBlocks) {
    StoreOutput<V, kMasked>(g.args->shape, acc, scale, kI / kBlocks, lanes, mask,
                            out + (kI / kBlocks) * g.out_stride + V::kLanes * (kI % kBlocks));
  }
}

// Channels [c, c + kLanes * kBlocks) (the first `lanes` of [c, c + kLanes)
// when kMasked, then kBlocks = 1) of kPixels adjacent output pixels of one
// row, reduced over kernel rows [ky_lo, ky_hi) and columns [kx_lo, kx_hi).
// `x0`: the input column under the first pixel's kernel column 0. Up to 8
// accumulators as named variables: this loop's bounds are run-time values,
// and GCC keeps a run-time-indexed array of vectors in memory.
template <class V, int kPixels, int kBlocks, bool kMasked, bool kRelu>
inline void Block(const RowGeometry& g, const float* const* lines, int64_t ky_lo, int64_t ky_hi,
                  int64_t kx_lo, int64_t kx_hi, int64_t x0, int64_t c, float* out, Scale scale) {
  using Reg = typename V::Reg;
  constexpr int kL = V::kLanes;
  static_assert(kPixels * kBlocks <= 8 && kBlocks <= 4 && (!kMasked || kBlocks == 1),
                "block shape");
  const DenseConvShape& s = g.args->shape;
  const int64_t lanes = g.channels - c < kL ? g.channels - c : kL;
  const typename V::Mask mask = V::LaneMask(lanes);
  const float* bias = g.args->packed + c;
  const Reg b0 = V::Load(bias);
  const Reg b1 = kBlocks > 1 ? V::Load(bias + kL) : b0;
  const Reg b2 = kBlocks > 2 ? V::Load(bias + 2 * kL) : b0;
  const Reg b3 = kBlocks > 3 ? V::Load(bias + 3 * kL) : b0;
  const Reg bs[4] = {b0, b1, b2, b3};
  Reg a0 = bs[0 % kBlocks], a1 = bs[1 % kBlocks], a2 = bs[2 % kBlocks], a3 = bs[3 % kBlocks];
  Reg a4 = bs[4 % kBlocks], a5 = bs[5 % kBlocks], a6 = bs[6 % kBlocks], a7 = bs[7 % kBlocks];
  const int64_t step = g.in_step;
  const int64_t first = (x0 + kx_lo * s.dilation_w) * s.in_pixel_stride + c;
  for (int64_t ky = ky_lo; ky < ky_hi; ++ky) {
    const float* x = lines[ky] + first;
    const float* w = g.args->packed + g.padded * (1 + ky * s.kernel_w + kx_lo) + c;
    for (int64_t kx = kx_lo; kx < kx_hi; ++kx, x += g.tap_step, w += g.padded) {
      const Reg w0 = V::Load(w);
      const Reg w1 = kBlocks > 1 ? V::Load(w + kL) : w0;
      const Reg w2 = kBlocks > 2 ? V::Load(w + 2 * kL) : w0;
      const Reg w3 = kBlocks > 3 ? V::Load(w + 3 * kL) : w0;
      Tap<V, 0, kPixels, kBlocks, kMasked, kRelu>(a0, x, step, mask, w0, w1, w2, w3);
      Tap<V, 1, kPixels, kBlocks, kMasked, kRelu>(a1, x, step, mask, w0, w1, w2, w3);
      Tap<V, 2, kPixels, kBlocks, kMasked, kRelu>(a2, x, step, mask, w0, w1, w2, w3);
      Tap<V, 3, kPixels, kBlocks, kMasked, kRelu>(a3, x, step, mask, w0, w1, w2, w3);
      Tap<V, 4, kPixels, kBlocks, kMasked, kRelu>(a4, x, step, mask, w0, w1, w2, w3);
      Tap<V, 5, kPixels, kBlocks, kMasked, kRelu>(a5, x, step, mask, w0, w1, w2, w3);
      Tap<V, 6, kPixels, kBlocks, kMasked, kRelu>(a6, x, step, mask, w0, w1, w2, w3);
      Tap<V, 7, kPixels, kBlocks, kMasked, kRelu>(a7, x, step, mask, w0, w1, w2, w3);
    }
  }
  out += c;
  Store<V, 0, kPixels, kBlocks, kMasked>(g, a0, scale, lanes, mask, out);
  Store<V, 1, kPixels, kBlocks, kMasked>(g, a1, scale, lanes, mask, out);
  Store<V, 2, kPixels, kBlocks, kMasked>(g, a2, scale, lanes, mask, out);
  Store<V, 3, kPixels, kBlocks, kMasked>(g, a3, scale, lanes, mask, out);
  Store<V, 4, kPixels, kBlocks, kMasked>(g, a4, scale, lanes, mask, out);
  Store<V, 5, kPixels, kBlocks, kMasked>(g, a5, scale, lanes, mask, out);
  Store<V, 6, kPixels, kBlocks, kMasked>(g, a6, scale, lanes, mask, out);
  Store<V, 7, kPixels, kBlocks, kMasked>(g, a7, scale, lanes, mask, out);
}

// All channels of kPixels adjacent output pixels: 8 / kPixels (at most 4)
// channel vectors at a time, then single vectors.
template <class V, int kPixels, bool kRelu>
void Pixels(const RowGeometry& g, const float* const* lines, int64_t ky_lo, int64_t ky_hi,
            int64_t kx_lo, int64_t kx_hi, int64_t x0, float* out, Scale scale) {
  constexpr int kBlocks = 8 / kPixels < 4 ? 8 / kPixels : 4;
  constexpr int kL = V::kLanes;
  if (g.channels < kL) {
    Block<V, kPixels, 1, true, kRelu>(g, lines, ky_lo, ky_hi, kx_lo, kx_hi, x0, 0, out, scale);
    return;
  }
  int64_t c = 0;
  if (kBlocks > 1) {
    for (; c + kL * kBlocks <= g.channels; c += kL * kBlocks) {
      Block<V, kPixels, kBlocks, false, kRelu>(g, lines, ky_lo, ky_hi, kx_lo, kx_hi, x0, c, out,
                                               scale);
    }
  }
  for (; c + kL <= g.channels; c += kL) {
    Block<V, kPixels, 1, false, kRelu>(g, lines, ky_lo, ky_hi, kx_lo, kx_hi, x0, c, out, scale);
  }
  if (c < g.channels) {
    Block<V, kPixels, 1, false, kRelu>(g, lines, ky_lo, ky_hi, kx_lo, kx_hi, x0, g.channels - kL,
                                       out, scale);
  }
}

// One output row: the pixels whose windows reach the padding one at a time
// with the kernel columns inside; the others 8, 4, 2, then 1 at a time.
template <class V, bool kRelu>
void GenericRow(const RowGeometry& g, int64_t n, int64_t oy) {
  const DenseConvShape& s = g.args->shape;
  const float* lines[kDenseConvMaxPositions];
  int64_t ky_lo, ky_hi;
  RowLines(s, g.args->input, n, oy, lines, &ky_lo, &ky_hi);
  float* out = g.args->output + (n * s.out_h + oy) * s.out_w * g.out_stride;
  auto border = [&](int64_t ox) {
    const int64_t x0 = ox * s.stride_w - s.pad_left;
    int64_t kx_lo, kx_hi;
    TapRange(x0, s.dilation_w, s.kernel_w, s.in_w, &kx_lo, &kx_hi);
    Pixels<V, 1, kRelu>(g, lines, ky_lo, ky_hi, kx_lo, kx_hi, x0, out + ox * g.out_stride,
                        ScaleAt(*g.args, oy, ox));
  };
  for (int64_t ox = 0; ox < g.interior_begin; ++ox) border(ox);
  int64_t ox = g.interior_begin;
  const int64_t kw = s.kernel_w;
  for (; ox + 8 <= g.interior_end; ox += 8) {
    Pixels<V, 8, kRelu>(g, lines, ky_lo, ky_hi, 0, kw, ox * s.stride_w - s.pad_left,
                        out + ox * g.out_stride, ScaleAt(*g.args, oy, ox));
  }
  if (ox + 4 <= g.interior_end) {
    Pixels<V, 4, kRelu>(g, lines, ky_lo, ky_hi, 0, kw, ox * s.stride_w - s.pad_left,
                        out + ox * g.out_stride, ScaleAt(*g.args, oy, ox));
    ox += 4;
  }
  if (ox + 2 <= g.interior_end) {
    Pixels<V, 2, kRelu>(g, lines, ky_lo, ky_hi, 0, kw, ox * s.stride_w - s.pad_left,
                        out + ox * g.out_stride, ScaleAt(*g.args, oy, ox));
    ox += 2;
  }
  if (ox < g.interior_end) {
    Pixels<V, 1, kRelu>(g, lines, ky_lo, ky_hi, 0, kw, ox * s.stride_w - s.pad_left,
                        out + ox * g.out_stride, ScaleAt(*g.args, oy, ox));
  }
  for (ox = g.interior_end; ox < s.out_w; ++ox) border(ox);
}

// ---------------------------------------------------------------------------

template <class V, int kKw, bool kRelu>
RowFn ReuseRowFor(int64_t stride, int64_t dilation) {
  if (stride == 1 && dilation == 1) return ReuseRow<V, kKw, 1, 1, kRelu>;
  if (stride == 1 && dilation == 2) return ReuseRow<V, kKw, 1, 2, kRelu>;
  if (stride == 2 && dilation == 1) return ReuseRow<V, kKw, 2, 1, kRelu>;
  return nullptr;
}

template <class V, bool kRelu>
RowFn RowFor(const DenseConvShape& s) {
  RowFn reuse = nullptr;
  if (s.kernel_w == 3) reuse = ReuseRowFor<V, 3, kRelu>(s.stride_w, s.dilation_w);
  if (s.kernel_w == 5) reuse = ReuseRowFor<V, 5, kRelu>(s.stride_w, s.dilation_w);
  if (s.kernel_w == 7) reuse = ReuseRowFor<V, 7, kRelu>(s.stride_w, s.dilation_w);
  return reuse != nullptr ? reuse : GenericRow<V, kRelu>;
}

struct RowTask {
  RowGeometry geometry;
  int64_t rows;
  int64_t rows_per_task;
};

void RunRowTask(void* context, size_t index) {
  const RowTask& task = *static_cast<const RowTask*>(context);
  const int64_t out_h = task.geometry.args->shape.out_h;
  const int64_t begin = static_cast<int64_t>(index) * task.rows_per_task;
  const int64_t end =
      begin + task.rows_per_task < task.rows ? begin + task.rows_per_task : task.rows;
  for (int64_t row = begin; row < end; ++row) {
    task.geometry.row(task.geometry, row / out_h, row % out_h);
  }
}

// DepthwiseConvRun on vectors V.
template <class V>
void DepthwiseConvRunOn(const DenseConvArgs& args, WorkPool* pool) {
  static_assert(kDepthwiseChannelPad % V::kLanes == 0, "packed rows hold whole vectors");
  const DenseConvShape& s = args.shape;
  const int64_t pixels = s.batch * s.out_h * s.out_w;
  const int64_t macs = pixels * s.in_channels * s.kernel_h * s.kernel_w;
  if (macs < kDepthwiseParallelMacs) pool = nullptr;
  RowTask task;
  RowGeometry& g = task.geometry;
  g.args = &args;
  g.channels = s.in_channels;
  g.padded = DepthwiseConvPaddedChannels(s.in_channels);
  g.in_step = s.stride_w * s.in_pixel_stride;
  g.tap_step = s.dilation_w * s.in_pixel_stride;
  g.out_stride = s.out_pixel_stride;
  // Interior: ox * stride_w - pad_left >= 0 and the window's last column,
  // ox * stride_w - pad_left + (kernel_w - 1) * dilation_w, <= in_w - 1.
  const int64_t room = s.in_w - 1 - (s.kernel_w - 1) * s.dilation_w + s.pad_left;
  g.interior_begin = (s.pad_left + s.stride_w - 1) / s.stride_w;
  g.interior_end = room >= 0 ? room / s.stride_w + 1 : 0;
  if (g.interior_begin > s.out_w) g.interior_begin = s.out_w;
  if (g.interior_end > s.out_w) g.interior_end = s.out_w;
  if (g.interior_end < g.interior_begin) g.interior_end = g.interior_begin;
  g.row = args.input_relu ? RowFor<V, true>(s) : RowFor<V, false>(s);
  task.rows = s.batch * s.out_h;
  const int64_t row_macs = s.out_w * s.in_channels * s.kernel_h * s.kernel_w;
  task.rows_per_task = pool == nullptr ? task.rows : (kDepthwiseTaskMacs + row_macs - 1) / row_macs;
  if (task.rows_per_task < 1) task.rows_per_task = 1;
  const int64_t tasks = (task.rows + task.rows_per_task - 1) / task.rows_per_task;
  WorkPoolRun(pool, RunRowTask, &task, static_cast<size_t>(tasks));
}

}  // namespace
}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_DEPTHWISE_CONV_DRIVER_H_
