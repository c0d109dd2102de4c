// The AVX2 + FMA body of depthwise_conv.h. Compiled with -mavx2 -mfma on
// x86-64 only; see dense_conv.h for why nothing here may be shared with other
// translation units.
#include <immintrin.h>

#include "depthwise_conv.h"

namespace serenity::kernels {
namespace {

inline __m256i LaneMask(int64_t lanes) {
  const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)), index);
}

// Output pixels [pixel, pixel + count): for each, the kernel positions'
// input addresses, then the channels 32 at a time (four independent FMA
// chains hide the FMA latency), then 8 at a time, then a masked tail.
struct DepthwiseTask {
  const DenseConvArgs* args;
  int64_t pixels, per_task;
};

void RunPixels(const DenseConvArgs& args, size_t pixel, size_t count) {
  const DenseConvShape& s = args.shape;
  const int64_t channels = s.in_channels;
  const int64_t padded = (channels + 7) / 8 * 8;
  const int64_t positions = s.kernel_h * s.kernel_w;
  const float* bias = args.packed;
  const float* weights = args.packed + padded;
  const __m256 lo = _mm256_set1_ps(s.out_min);
  const __m256 hi = _mm256_set1_ps(s.out_max);
  const float* in[kDenseConvMaxPositions];
  // Offsets of the kernel positions from the window's first pixel, for
  // windows wholly inside the image (most of them): no bounds checks there.
  int64_t offset[kDenseConvMaxPositions];
  for (int64_t ky = 0, q = 0; ky < s.kernel_h; ++ky) {
    for (int64_t kx = 0; kx < s.kernel_w; ++kx, ++q) {
      offset[q] = (ky * s.dilation_h * s.in_w + kx * s.dilation_w) * s.in_pixel_stride;
    }
  }
  const int64_t span_h = (s.kernel_h - 1) * s.dilation_h;
  const int64_t span_w = (s.kernel_w - 1) * s.dilation_w;
  const int64_t plane = s.out_h * s.out_w;
  int64_t n = static_cast<int64_t>(pixel) / plane;
  int64_t oy = (static_cast<int64_t>(pixel) - n * plane) / s.out_w;
  int64_t ox = static_cast<int64_t>(pixel) - n * plane - oy * s.out_w;
  for (int64_t m = static_cast<int64_t>(pixel); m < static_cast<int64_t>(pixel + count);
       ++m, ++ox) {
    if (ox == s.out_w) {
      ox = 0;
      if (++oy == s.out_h) {
        oy = 0;
        ++n;
      }
    }
    const int64_t y0 = oy * s.stride_h - s.pad_top;
    const int64_t x0 = ox * s.stride_w - s.pad_left;
    int64_t p = 0;
    if (y0 >= 0 && y0 + span_h < s.in_h && x0 >= 0 && x0 + span_w < s.in_w) {
      const float* base = args.input + ((n * s.in_h + y0) * s.in_w + x0) * s.in_pixel_stride;
      for (; p < positions; ++p) in[p] = base + offset[p];
    } else {
      for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
        const int64_t iy = y0 + ky * s.dilation_h;
        const bool row_inside = iy >= 0 && iy < s.in_h;
        const float* line = args.input + (n * s.in_h + iy) * s.in_w * s.in_pixel_stride;
        for (int64_t kx = 0; kx < s.kernel_w; ++kx, ++p) {
          const int64_t ix = x0 + kx * s.dilation_w;
          in[p] =
              row_inside && ix >= 0 && ix < s.in_w ? line + ix * s.in_pixel_stride : args.zeros;
        }
      }
    }
    float* out = args.output + m * s.out_pixel_stride;
    int64_t c = 0;
    for (; c + 32 <= channels; c += 32) {
      __m256 a0 = _mm256_loadu_ps(bias + c), a1 = _mm256_loadu_ps(bias + c + 8);
      __m256 a2 = _mm256_loadu_ps(bias + c + 16), a3 = _mm256_loadu_ps(bias + c + 24);
      const float* w = weights + c;
      for (p = 0; p < positions; ++p, w += padded) {
        const float* x = in[p] + c;
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(w), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8), _mm256_loadu_ps(w + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(w + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), _mm256_loadu_ps(w + 24), a3);
      }
      _mm256_storeu_ps(out + c, _mm256_min_ps(_mm256_max_ps(a0, lo), hi));
      _mm256_storeu_ps(out + c + 8, _mm256_min_ps(_mm256_max_ps(a1, lo), hi));
      _mm256_storeu_ps(out + c + 16, _mm256_min_ps(_mm256_max_ps(a2, lo), hi));
      _mm256_storeu_ps(out + c + 24, _mm256_min_ps(_mm256_max_ps(a3, lo), hi));
    }
    for (; c < channels; c += 8) {
      const int64_t lanes = channels - c < 8 ? channels - c : 8;
      const __m256i mask = LaneMask(lanes);
      // Two chains over alternate positions, summed at the end.
      __m256 a0 = _mm256_loadu_ps(bias + c), a1 = _mm256_setzero_ps();
      const float* w = weights + c;
      p = 0;
      for (; p + 2 <= positions; p += 2, w += 2 * padded) {
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(in[p] + c, mask), _mm256_loadu_ps(w), a0);
        a1 = _mm256_fmadd_ps(_mm256_maskload_ps(in[p + 1] + c, mask), _mm256_loadu_ps(w + padded),
                             a1);
      }
      if (p < positions) {
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(in[p] + c, mask), _mm256_loadu_ps(w), a0);
      }
      const __m256 result = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(a0, a1), lo), hi);
      if (lanes == 8) {
        _mm256_storeu_ps(out + c, result);
      } else {
        _mm256_maskstore_ps(out + c, mask, result);
      }
    }
  }
}

void RunTask(void* context, size_t index) {
  const DepthwiseTask& task = *static_cast<const DepthwiseTask*>(context);
  const int64_t begin = static_cast<int64_t>(index) * task.per_task;
  const int64_t end = begin + task.per_task < task.pixels ? begin + task.per_task : task.pixels;
  RunPixels(*task.args, static_cast<size_t>(begin), static_cast<size_t>(end - begin));
}

}  // namespace

void DepthwiseConvRun(const DenseConvArgs& args, WorkPool* pool) {
  const DenseConvShape& s = args.shape;
  const int64_t pixels = s.batch * s.out_h * s.out_w;
  const int64_t macs = pixels * s.in_channels * s.kernel_h * s.kernel_w;
  if (macs < kDepthwiseParallelMacs) pool = nullptr;
  int64_t per_task = pixels / 16;
  per_task = per_task < 1 ? 1 : (per_task > 64 ? 64 : per_task);
  DepthwiseTask task{&args, pixels, per_task};
  WorkPoolRun(pool, RunTask, &task, static_cast<size_t>((pixels + per_task - 1) / per_task));
}

}  // namespace serenity::kernels
