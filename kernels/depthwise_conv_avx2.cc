// The AVX2 + FMA body of depthwise_conv.h. Compiled with -mavx2 -mfma on
// x86-64 only; see dense_conv.h for why nothing here may be shared with other
// translation units.
//
// Work is split by output rows. In a row, output pixels go in groups that
// share loads, one vector of 8 channels at a time (the last vector of a
// channel count that is not a multiple of 8 ends at the last channel and
// overlaps the one before: plain loads and stores, no masks):
// - The reusing path (kernel widths 3, 5, 7 with stride 1 or 2 and dilation
//   1, or stride 1 and dilation 2: every depthwise convolution of the zoo)
//   loads each input vector of a group once and multiplies it into every
//   pixel whose window covers it, with the kernel row's weights in
//   registers: a 3-wide stride-1 row of 8 pixels takes 10 input and 3 weight
//   loads for 24 FMAs. The cores this was tuned on (AMD Zen 3) sustain about
//   one 256-bit load per cycle, so loads, not FMAs, bound this kernel; the
//   one-load-per-FMA path below and XNNPACK's (two per FMA) run at about
//   half the speed. Columns of a group outside the input (padding) are
//   skipped in groups that reach the border, so borders cost no extra pass.
// - The generic path (any other width, stride or dilation) loads one input
//   vector per pixel and tap and shares each weight vector among up to 8
//   pixels; pixels whose windows reach the padding go one at a time with the
//   kernel columns that land inside, 4 channel vectors at a time so that
//   their FMA chains are independent.
// Kernel rows outside the input are skipped per output row on both paths.
#include <immintrin.h>

#include "avx2_store.h"
#include "depthwise_conv.h"

namespace serenity::kernels {
namespace {

inline __m256i LaneMask(int64_t lanes) {
  const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)), index);
}

// One input vector; kRelu (DenseConvArgs::input_relu): through max(0, x)
// (a NaN stays NaN: vmaxps returns its second operand when either is NaN).
// A template parameter, not a floor of -infinity, so that convolutions
// without a folded Relu run no vmaxps.
template <bool kMasked, bool kRelu>
inline __m256 LoadInput(const float* x, __m256i mask) {
  const __m256 v = kMasked ? _mm256_maskload_ps(x, mask) : _mm256_loadu_ps(x);
  return kRelu ? _mm256_max_ps(_mm256_setzero_ps(), v) : v;
}

using avx2::StorePartial;

// Output scales of a group of pixels of one row (pooling's divisors): pixel
// j's is row * col[j]; none when col is null.
struct Scale {
  const float* col;
  float row;
};

// Scales `v` by pixel j's scale, clamps it and stores its first `lanes`
// floats (all 8 unless kMasked).
template <bool kMasked>
inline void StoreOutput(const DenseConvShape& s, __m256 v, Scale scale, int j, int64_t lanes,
                        float* out) {
  if (scale.col != nullptr) v = _mm256_mul_ps(v, _mm256_set1_ps(scale.row * scale.col[j]));
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(s.out_min)), _mm256_set1_ps(s.out_max));
  if (kMasked) {
    StorePartial(out, v, lanes);
  } else {
    _mm256_storeu_ps(out, v);
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

// Channels [c, c + 8) (the first `lanes` of them when kMasked) of kPixels
// adjacent output pixels of one row. `x0`: the input column under the first
// pixel's kernel column 0. kChecked: some columns may lie outside the input
// (skipped). Accumulators and weights are arrays indexed by constants only
// (every loop here has compile-time bounds and is unrolled), which GCC keeps
// in registers: kPixels + kKw + 2 <= 16 (one for a folded Relu's zero).
template <int kPixels, int kKw, int kStride, int kDilation, bool kChecked, bool kMasked, bool kRelu>
inline void ReuseBlock(const RowGeometry& g, const float* const* lines, int64_t ky_lo,
                       int64_t ky_hi, int64_t x0, int64_t c, float* out, Scale scale) {
  static_assert(kPixels + kKw + 2 <= 16, "registers");
  constexpr int kColumns = (kPixels - 1) * kStride + (kKw - 1) * kDilation + 1;
  const DenseConvShape& s = g.args->shape;
  const int64_t lanes = g.channels - c < 8 ? g.channels - c : 8;
  const __m256i mask = LaneMask(lanes);
  const int64_t ps = s.in_pixel_stride;
  __m256 acc[kPixels];
  const __m256 bias = _mm256_loadu_ps(g.args->packed + c);
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
    __m256 wv[kKw];
#pragma GCC unroll 16
    for (int kx = 0; kx < kKw; ++kx) wv[kx] = _mm256_loadu_ps(w + kx * g.padded);
#pragma GCC unroll 64
    for (int t = 0; t < kColumns; ++t) {
      if (kChecked && (t < t_lo || t >= t_hi)) continue;
      const __m256 v = LoadInput<kMasked, kRelu>(first + t * ps, mask);
#pragma GCC unroll 16
      for (int kx = 0; kx < kKw; ++kx) {
        const int u = t - kx * kDilation;
        if (u >= 0 && u % kStride == 0 && u / kStride < kPixels) {
          acc[u / kStride] = _mm256_fmadd_ps(v, wv[kx], acc[u / kStride]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < kPixels; ++j)
    StoreOutput<kMasked>(s, acc[j], scale, j, lanes, out + j * g.out_stride + c);
}

// All channels of kPixels adjacent output pixels.
template <int kPixels, int kKw, int kStride, int kDilation, bool kChecked, bool kRelu>
void ReusePixels(const RowGeometry& g, const float* const* lines, int64_t ky_lo, int64_t ky_hi,
                 int64_t x0, float* out, Scale scale) {
  if (g.channels < 8) {
    ReuseBlock<kPixels, kKw, kStride, kDilation, kChecked, true, kRelu>(g, lines, ky_lo, ky_hi, x0,
                                                                        0, out, scale);
    return;
  }
  int64_t c = 0;
  for (; c + 8 <= g.channels; c += 8) {
    ReuseBlock<kPixels, kKw, kStride, kDilation, kChecked, false, kRelu>(g, lines, ky_lo, ky_hi, x0,
                                                                         c, out, scale);
  }
  if (c < g.channels) {
    ReuseBlock<kPixels, kKw, kStride, kDilation, kChecked, false, kRelu>(
        g, lines, ky_lo, ky_hi, x0, g.channels - 8, out, scale);
  }
}

// Pixels [ox, ox + kPixels) of a row; checked when they reach the border.
template <int kPixels, int kKw, int kStride, int kDilation, bool kRelu>
inline void ReuseGroup(const RowGeometry& g, const float* const* lines, int64_t ky_lo,
                       int64_t ky_hi, int64_t oy, int64_t ox, float* out) {
  const int64_t x0 = ox * kStride - g.args->shape.pad_left;
  out += ox * g.out_stride;
  const Scale scale = ScaleAt(*g.args, oy, ox);
  if (ox >= g.interior_begin && ox + kPixels <= g.interior_end) {
    ReusePixels<kPixels, kKw, kStride, kDilation, false, kRelu>(g, lines, ky_lo, ky_hi, x0, out,
                                                                scale);
  } else {
    ReusePixels<kPixels, kKw, kStride, kDilation, true, kRelu>(g, lines, ky_lo, ky_hi, x0, out,
                                                               scale);
  }
}

// One output row: groups of 8 pixels (6 for 7-wide kernels, for registers),
// then the rest in one group.
template <int kKw, int kStride, int kDilation, bool kRelu>
void ReuseRow(const RowGeometry& g, int64_t n, int64_t oy) {
  constexpr int kGroup = kKw <= 5 ? 8 : 6;
  const DenseConvShape& s = g.args->shape;
  const float* lines[kDenseConvMaxPositions];
  int64_t ky_lo, ky_hi;
  RowLines(s, g.args->input, n, oy, lines, &ky_lo, &ky_hi);
  float* out = g.args->output + (n * s.out_h + oy) * s.out_w * g.out_stride;
  int64_t ox = 0;
  for (; ox + kGroup <= s.out_w; ox += kGroup) {
    ReuseGroup<kGroup, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
  }
  // The rest in one group (a 7-pixel row: one group; 14: two).
  switch (s.out_w - ox) {
    case 7:
      ReuseGroup<kGroup == 8 ? 7 : 1, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy,
                                                                      ox, out);
      break;
    case 6:
      ReuseGroup<kGroup == 8 ? 6 : 1, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy,
                                                                      ox, out);
      break;
    case 5:
      ReuseGroup<5, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      break;
    case 4:
      ReuseGroup<4, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      break;
    case 3:
      ReuseGroup<3, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      break;
    case 2:
      ReuseGroup<2, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      break;
    case 1:
      ReuseGroup<1, kKw, kStride, kDilation, kRelu>(g, lines, ky_lo, ky_hi, oy, ox, out);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------
// The generic path.

// Accumulator kI of kPixels pixels x kBlocks channel vectors (pixel
// kI / kBlocks, vector kI % kBlocks) takes one kernel tap.
template <int kI, int kPixels, int kBlocks, bool kMasked, bool kRelu>
inline void Tap(__m256& acc, const float* x, int64_t step, __m256i mask, __m256 w0, __m256 w1,
                __m256 w2, __m256 w3) {
  if (kI < kPixels * kBlocks) {
    constexpr int kVector = kI % kBlocks;
    const __m256 w = kVector == 0 ? w0 : kVector == 1 ? w1 : kVector == 2 ? w2 : w3;
    acc = _mm256_fmadd_ps(LoadInput<kMasked, kRelu>(x + (kI / kBlocks) * step + 8 * kVector, mask),
                          w, acc);
  }
}

template <int kI, int kPixels, int kBlocks, bool kMasked>
inline void Store(const RowGeometry& g, __m256 acc, Scale scale, int64_t lanes, float* out) {
  if (kI < kPixels * kBlocks) {
    StoreOutput<kMasked>(g.args->shape, acc, scale, kI / kBlocks, lanes,
                         out + (kI / kBlocks) * g.out_stride + 8 * (kI % kBlocks));
  }
}

// Channels [c, c + 8 * kBlocks) (the first `lanes` of [c, c + 8) when
// kMasked, then kBlocks = 1) of kPixels adjacent output pixels of one row,
// reduced over kernel rows [ky_lo, ky_hi) and columns [kx_lo, kx_hi). `x0`:
// the input column under the first pixel's kernel column 0. Up to 8
// accumulators as named variables: this loop's bounds are run-time values,
// and GCC keeps a run-time-indexed array of __m256 in memory.
template <int kPixels, int kBlocks, bool kMasked, bool kRelu>
inline void Block(const RowGeometry& g, const float* const* lines, int64_t ky_lo, int64_t ky_hi,
                  int64_t kx_lo, int64_t kx_hi, int64_t x0, int64_t c, float* out, Scale scale) {
  static_assert(kPixels * kBlocks <= 8 && kBlocks <= 4 && (!kMasked || kBlocks == 1),
                "block shape");
  const DenseConvShape& s = g.args->shape;
  const int64_t lanes = g.channels - c < 8 ? g.channels - c : 8;
  const __m256i mask = LaneMask(lanes);
  const float* bias = g.args->packed + c;
  const __m256 b0 = _mm256_loadu_ps(bias);
  const __m256 b1 = kBlocks > 1 ? _mm256_loadu_ps(bias + 8) : b0;
  const __m256 b2 = kBlocks > 2 ? _mm256_loadu_ps(bias + 16) : b0;
  const __m256 b3 = kBlocks > 3 ? _mm256_loadu_ps(bias + 24) : b0;
  const __m256 bs[4] = {b0, b1, b2, b3};
  __m256 a0 = bs[0 % kBlocks], a1 = bs[1 % kBlocks], a2 = bs[2 % kBlocks], a3 = bs[3 % kBlocks];
  __m256 a4 = bs[4 % kBlocks], a5 = bs[5 % kBlocks], a6 = bs[6 % kBlocks], a7 = bs[7 % kBlocks];
  const int64_t step = g.in_step;
  const int64_t first = (x0 + kx_lo * s.dilation_w) * s.in_pixel_stride + c;
  for (int64_t ky = ky_lo; ky < ky_hi; ++ky) {
    const float* x = lines[ky] + first;
    const float* w = g.args->packed + g.padded * (1 + ky * s.kernel_w + kx_lo) + c;
    for (int64_t kx = kx_lo; kx < kx_hi; ++kx, x += g.tap_step, w += g.padded) {
      const __m256 w0 = _mm256_loadu_ps(w);
      const __m256 w1 = kBlocks > 1 ? _mm256_loadu_ps(w + 8) : w0;
      const __m256 w2 = kBlocks > 2 ? _mm256_loadu_ps(w + 16) : w0;
      const __m256 w3 = kBlocks > 3 ? _mm256_loadu_ps(w + 24) : w0;
      Tap<0, kPixels, kBlocks, kMasked, kRelu>(a0, x, step, mask, w0, w1, w2, w3);
      Tap<1, kPixels, kBlocks, kMasked, kRelu>(a1, x, step, mask, w0, w1, w2, w3);
      Tap<2, kPixels, kBlocks, kMasked, kRelu>(a2, x, step, mask, w0, w1, w2, w3);
      Tap<3, kPixels, kBlocks, kMasked, kRelu>(a3, x, step, mask, w0, w1, w2, w3);
      Tap<4, kPixels, kBlocks, kMasked, kRelu>(a4, x, step, mask, w0, w1, w2, w3);
      Tap<5, kPixels, kBlocks, kMasked, kRelu>(a5, x, step, mask, w0, w1, w2, w3);
      Tap<6, kPixels, kBlocks, kMasked, kRelu>(a6, x, step, mask, w0, w1, w2, w3);
      Tap<7, kPixels, kBlocks, kMasked, kRelu>(a7, x, step, mask, w0, w1, w2, w3);
    }
  }
  out += c;
  Store<0, kPixels, kBlocks, kMasked>(g, a0, scale, lanes, out);
  Store<1, kPixels, kBlocks, kMasked>(g, a1, scale, lanes, out);
  Store<2, kPixels, kBlocks, kMasked>(g, a2, scale, lanes, out);
  Store<3, kPixels, kBlocks, kMasked>(g, a3, scale, lanes, out);
  Store<4, kPixels, kBlocks, kMasked>(g, a4, scale, lanes, out);
  Store<5, kPixels, kBlocks, kMasked>(g, a5, scale, lanes, out);
  Store<6, kPixels, kBlocks, kMasked>(g, a6, scale, lanes, out);
  Store<7, kPixels, kBlocks, kMasked>(g, a7, scale, lanes, out);
}

// All channels of kPixels adjacent output pixels: 8 / kPixels (at most 4)
// channel vectors at a time, then single vectors.
template <int kPixels, bool kRelu>
void Pixels(const RowGeometry& g, const float* const* lines, int64_t ky_lo, int64_t ky_hi,
            int64_t kx_lo, int64_t kx_hi, int64_t x0, float* out, Scale scale) {
  constexpr int kBlocks = 8 / kPixels < 4 ? 8 / kPixels : 4;
  if (g.channels < 8) {
    Block<kPixels, 1, true, kRelu>(g, lines, ky_lo, ky_hi, kx_lo, kx_hi, x0, 0, out, scale);
    return;
  }
  int64_t c = 0;
  if (kBlocks > 1) {
    for (; c + 8 * kBlocks <= g.channels; c += 8 * kBlocks) {
      Block<kPixels, kBlocks, false, kRelu>(g, lines, ky_lo, ky_hi, kx_lo, kx_hi, x0, c, out,
                                            scale);
    }
  }
  for (; c + 8 <= g.channels; c += 8) {
    Block<kPixels, 1, false, kRelu>(g, lines, ky_lo, ky_hi, kx_lo, kx_hi, x0, c, out, scale);
  }
  if (c < g.channels) {
    Block<kPixels, 1, false, kRelu>(g, lines, ky_lo, ky_hi, kx_lo, kx_hi, x0, g.channels - 8, out,
                                    scale);
  }
}

// One output row: the pixels whose windows reach the padding one at a time
// with the kernel columns inside; the others 8, 4, 2, then 1 at a time.
template <bool kRelu>
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
    Pixels<1, kRelu>(g, lines, ky_lo, ky_hi, kx_lo, kx_hi, x0, out + ox * g.out_stride,
                     ScaleAt(*g.args, oy, ox));
  };
  for (int64_t ox = 0; ox < g.interior_begin; ++ox) border(ox);
  int64_t ox = g.interior_begin;
  const int64_t kw = s.kernel_w;
  for (; ox + 8 <= g.interior_end; ox += 8) {
    Pixels<8, kRelu>(g, lines, ky_lo, ky_hi, 0, kw, ox * s.stride_w - s.pad_left,
                     out + ox * g.out_stride, ScaleAt(*g.args, oy, ox));
  }
  if (ox + 4 <= g.interior_end) {
    Pixels<4, kRelu>(g, lines, ky_lo, ky_hi, 0, kw, ox * s.stride_w - s.pad_left,
                     out + ox * g.out_stride, ScaleAt(*g.args, oy, ox));
    ox += 4;
  }
  if (ox + 2 <= g.interior_end) {
    Pixels<2, kRelu>(g, lines, ky_lo, ky_hi, 0, kw, ox * s.stride_w - s.pad_left,
                     out + ox * g.out_stride, ScaleAt(*g.args, oy, ox));
    ox += 2;
  }
  if (ox < g.interior_end) {
    Pixels<1, kRelu>(g, lines, ky_lo, ky_hi, 0, kw, ox * s.stride_w - s.pad_left,
                     out + ox * g.out_stride, ScaleAt(*g.args, oy, ox));
  }
  for (ox = g.interior_end; ox < s.out_w; ++ox) border(ox);
}

// ---------------------------------------------------------------------------

template <int kKw, bool kRelu>
RowFn ReuseRowFor(int64_t stride, int64_t dilation) {
  if (stride == 1 && dilation == 1) return ReuseRow<kKw, 1, 1, kRelu>;
  if (stride == 1 && dilation == 2) return ReuseRow<kKw, 1, 2, kRelu>;
  if (stride == 2 && dilation == 1) return ReuseRow<kKw, 2, 1, kRelu>;
  return nullptr;
}

template <bool kRelu>
RowFn RowFor(const DenseConvShape& s) {
  RowFn reuse = nullptr;
  if (s.kernel_w == 3) reuse = ReuseRowFor<3, kRelu>(s.stride_w, s.dilation_w);
  if (s.kernel_w == 5) reuse = ReuseRowFor<5, kRelu>(s.stride_w, s.dilation_w);
  if (s.kernel_w == 7) reuse = ReuseRowFor<7, kRelu>(s.stride_w, s.dilation_w);
  return reuse != nullptr ? reuse : GenericRow<kRelu>;
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

}  // namespace

void DepthwiseConvRun(const DenseConvArgs& args, WorkPool* pool) {
  const DenseConvShape& s = args.shape;
  const int64_t pixels = s.batch * s.out_h * s.out_w;
  const int64_t macs = pixels * s.in_channels * s.kernel_h * s.kernel_w;
  if (macs < kDepthwiseParallelMacs) pool = nullptr;
  RowTask task;
  RowGeometry& g = task.geometry;
  g.args = &args;
  g.channels = s.in_channels;
  g.padded = (s.in_channels + 7) / 8 * 8;
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
  g.row = args.input_relu ? RowFor<true>(s) : RowFor<false>(s);
  task.rows = s.batch * s.out_h;
  const int64_t row_macs = s.out_w * s.in_channels * s.kernel_h * s.kernel_w;
  task.rows_per_task = pool == nullptr ? task.rows : (kDepthwiseTaskMacs + row_macs - 1) / row_macs;
  if (task.rows_per_task < 1) task.rows_per_task = 1;
  const int64_t tasks = (task.rows + task.rows_per_task - 1) / task.rows_per_task;
  WorkPoolRun(pool, RunRowTask, &task, static_cast<size_t>(tasks));
}

}  // namespace serenity::kernels
