// The AVX2 + FMA body of dense_conv.h. Compiled with -mavx2 -mfma on x86-64
// only; see the header for why nothing here may be shared with other
// translation units.
#include <immintrin.h>

#include "dense_conv.h"

namespace serenity::kernels {
namespace {

constexpr int kTileRows = 6;

struct Task {
  const DenseConvArgs* args;
  int64_t positions;  // kernel_h * kernel_w
  int64_t pixels;     // batch * out_h * out_w
};

// The mask that stores the first `columns` (0..8) floats of a vector.
inline __m256i ColumnMask(int64_t columns) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(columns)), lanes);
}

// Clamps one tile row and stores its first `columns` floats.
template <int kVectors>
inline void StoreRow(const DenseConvShape& s, __m256 v0, __m256 v1, float* out,
                     int64_t columns) {
  const __m256 lo = _mm256_set1_ps(s.out_min);
  const __m256 hi = _mm256_set1_ps(s.out_max);
  v0 = _mm256_min_ps(_mm256_max_ps(v0, lo), hi);
  v1 = _mm256_min_ps(_mm256_max_ps(v1, lo), hi);
  if (columns == 8 * kVectors) {
    _mm256_storeu_ps(out, v0);
    if (kVectors == 2) _mm256_storeu_ps(out + 8, v1);
    return;
  }
  if (columns >= 8) {
    _mm256_storeu_ps(out, v0);
    _mm256_maskstore_ps(out + 8, ColumnMask(columns - 8), v1);
  } else {
    _mm256_maskstore_ps(out, ColumnMask(columns), v0);
  }
}

// One tile: kRows output pixels x (8 * kVectors) output channels of block
// `w` (biases first, then 16 floats per reduction step). `rows[p * 6 + r]` is
// the input pixel that kernel position p of tile row r reads (or zeros).
// Every accumulator, both weight vectors and the broadcast input stay in the
// 16 ymm registers: 6 x 2 + 2 + 1 = 15. Named variables, not arrays: GCC
// keeps an array of __m256 in memory and stores it on every iteration.
template <int kRows, int kVectors>
void Tile(const Task& task, const float* const* rows, const float* w, float* out,
          int64_t columns) {
  static_assert(kRows >= 1 && kRows <= 6 && (kVectors == 1 || kVectors == 2), "tile shape");
  const DenseConvShape& s = task.args->shape;
  const __m256 bias0 = _mm256_loadu_ps(w);
  const __m256 bias1 = kVectors == 2 ? _mm256_loadu_ps(w + 8) : _mm256_setzero_ps();
  __m256 c00 = bias0, c10 = bias0, c20 = bias0, c30 = bias0, c40 = bias0, c50 = bias0;
  __m256 c01 = bias1, c11 = bias1, c21 = bias1, c31 = bias1, c41 = bias1, c51 = bias1;
  w += kDenseConvBlock;
  const int64_t channels = s.in_channels;
  for (int64_t p = 0; p < task.positions; ++p) {
    const float* const* pr = rows + p * kTileRows;
    const float* a0 = pr[0];
    const float* a1 = kRows > 1 ? pr[1] : a0;
    const float* a2 = kRows > 2 ? pr[2] : a0;
    const float* a3 = kRows > 3 ? pr[3] : a0;
    const float* a4 = kRows > 4 ? pr[4] : a0;
    const float* a5 = kRows > 5 ? pr[5] : a0;
    for (int64_t k = 0; k < channels; ++k) {
      const __m256 b0 = _mm256_loadu_ps(w);
      const __m256 b1 = kVectors == 2 ? _mm256_loadu_ps(w + 8) : b0;
      w += kDenseConvBlock;
      __m256 x = _mm256_broadcast_ss(a0 + k);
      c00 = _mm256_fmadd_ps(x, b0, c00);
      if (kVectors == 2) c01 = _mm256_fmadd_ps(x, b1, c01);
      if (kRows > 1) {
        x = _mm256_broadcast_ss(a1 + k);
        c10 = _mm256_fmadd_ps(x, b0, c10);
        if (kVectors == 2) c11 = _mm256_fmadd_ps(x, b1, c11);
      }
      if (kRows > 2) {
        x = _mm256_broadcast_ss(a2 + k);
        c20 = _mm256_fmadd_ps(x, b0, c20);
        if (kVectors == 2) c21 = _mm256_fmadd_ps(x, b1, c21);
      }
      if (kRows > 3) {
        x = _mm256_broadcast_ss(a3 + k);
        c30 = _mm256_fmadd_ps(x, b0, c30);
        if (kVectors == 2) c31 = _mm256_fmadd_ps(x, b1, c31);
      }
      if (kRows > 4) {
        x = _mm256_broadcast_ss(a4 + k);
        c40 = _mm256_fmadd_ps(x, b0, c40);
        if (kVectors == 2) c41 = _mm256_fmadd_ps(x, b1, c41);
      }
      if (kRows > 5) {
        x = _mm256_broadcast_ss(a5 + k);
        c50 = _mm256_fmadd_ps(x, b0, c50);
        if (kVectors == 2) c51 = _mm256_fmadd_ps(x, b1, c51);
      }
    }
  }
  const int64_t stride = s.out_pixel_stride;
  StoreRow<kVectors>(s, c00, c01, out, columns);
  if (kRows > 1) StoreRow<kVectors>(s, c10, c11, out + stride, columns);
  if (kRows > 2) StoreRow<kVectors>(s, c20, c21, out + 2 * stride, columns);
  if (kRows > 3) StoreRow<kVectors>(s, c30, c31, out + 3 * stride, columns);
  if (kRows > 4) StoreRow<kVectors>(s, c40, c41, out + 4 * stride, columns);
  if (kRows > 5) StoreRow<kVectors>(s, c50, c51, out + 5 * stride, columns);
}

template <int kVectors>
void TileRows(const Task& task, int64_t rows_used, const float* const* rows, const float* w,
              float* out, int64_t columns) {
  switch (rows_used) {
    case 6:
      return Tile<6, kVectors>(task, rows, w, out, columns);
    case 5:
      return Tile<5, kVectors>(task, rows, w, out, columns);
    case 4:
      return Tile<4, kVectors>(task, rows, w, out, columns);
    case 3:
      return Tile<3, kVectors>(task, rows, w, out, columns);
    case 2:
      return Tile<2, kVectors>(task, rows, w, out, columns);
    default:
      return Tile<1, kVectors>(task, rows, w, out, columns);
  }
}

// pthreadpool task: output channel block `block`, pixels [pixel, pixel + count).
void RunTile(void* context, size_t block, size_t pixel, size_t, size_t count) {
  const Task& task = *static_cast<const Task*>(context);
  const DenseConvArgs& args = *task.args;
  const DenseConvShape& s = args.shape;
  // The input pixel each (kernel position, tile row) reads: an implicit
  // im2col of one tile, rebuilt per tile instead of stored for the whole
  // output (it costs 6 * positions address computations against
  // 6 * 16 * positions * in_channels multiply-adds).
  const float* rows[kDenseConvMaxPositions * kTileRows];
  const int64_t out_plane = s.out_h * s.out_w;
  for (int64_t r = 0; r < kTileRows; ++r) {
    int64_t m = static_cast<int64_t>(pixel) + (r < static_cast<int64_t>(count) ? r : 0);
    const int64_t n = m / out_plane;
    m -= n * out_plane;
    const int64_t oy = m / s.out_w;
    const int64_t ox = m - oy * s.out_w;
    const int64_t y0 = oy * s.stride_h - s.pad_top;
    const int64_t x0 = ox * s.stride_w - s.pad_left;
    int64_t p = 0;
    for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
      const int64_t iy = y0 + ky * s.dilation_h;
      const bool row_inside = iy >= 0 && iy < s.in_h;
      for (int64_t kx = 0; kx < s.kernel_w; ++kx, ++p) {
        const int64_t ix = x0 + kx * s.dilation_w;
        rows[p * kTileRows + r] =
            row_inside && ix >= 0 && ix < s.in_w
                ? args.input + ((n * s.in_h + iy) * s.in_w + ix) * s.in_pixel_stride
                : args.zeros;
      }
    }
  }
  const int64_t block_floats = kDenseConvBlock * (1 + task.positions * s.in_channels);
  const float* w = args.packed + static_cast<int64_t>(block) * block_floats;
  float* out = args.output + static_cast<int64_t>(pixel) * s.out_pixel_stride +
               static_cast<int64_t>(block) * kDenseConvBlock;
  const int64_t remaining = s.out_channels - static_cast<int64_t>(block) * kDenseConvBlock;
  const int64_t columns = remaining < kDenseConvBlock ? remaining : kDenseConvBlock;
  if (columns > 8) {
    TileRows<2>(task, static_cast<int64_t>(count), rows, w, out, columns);
  } else {
    TileRows<1>(task, static_cast<int64_t>(count), rows, w, out, columns);
  }
}

}  // namespace

void DenseConvRun(const DenseConvArgs& args, pthreadpool_t pool) {
  const DenseConvShape& s = args.shape;
  Task task{&args, s.kernel_h * s.kernel_w, s.batch * s.out_h * s.out_w};
  const size_t blocks = static_cast<size_t>((s.out_channels + kDenseConvBlock - 1) /
                                            kDenseConvBlock);
  // Blocks outer, pixels inner: one block's packed weights stay in cache
  // while the tiles sweep the output; two threads split the blocks.
  pthreadpool_parallelize_2d_tile_2d(pool, RunTile, &task, blocks, static_cast<size_t>(task.pixels),
                                     1, kTileRows, 0);
}

}  // namespace serenity::kernels
