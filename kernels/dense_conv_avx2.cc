// The AVX2 + FMA register tile of dense_conv.h; the driver around it is
// dense_conv_driver.h. Compiled with -mavx2 -mfma on x86-64 only; see the
// header for why nothing here may be shared with other translation units.
#include <immintrin.h>

#include "avx2_store.h"
#include "dense_conv.h"
#include "dense_conv_driver.h"

namespace serenity::kernels {
namespace {

constexpr int kTileRows = 6;

using avx2::LoadPartial;
using avx2::StorePartial;

// Adds the first `columns` floats of `add` (a folded Add's addend, when not
// null), clamps one tile row and stores its first `columns` floats.
template <int kVectors>
inline void StoreRow(const DenseConvShape& s, __m256 v0, __m256 v1, float* out, int64_t columns,
                     const float* add) {
  const __m256 lo = _mm256_set1_ps(s.out_min);
  const __m256 hi = _mm256_set1_ps(s.out_max);
  if (add != nullptr) {
    if (columns >= 8) {
      v0 = _mm256_add_ps(v0, _mm256_loadu_ps(add));
      if (kVectors == 2) {
        v1 = _mm256_add_ps(
            v1, columns >= 16 ? _mm256_loadu_ps(add + 8) : LoadPartial(add + 8, columns - 8));
      }
    } else {
      v0 = _mm256_add_ps(v0, LoadPartial(add, columns));
    }
  }
  v0 = _mm256_min_ps(_mm256_max_ps(v0, lo), hi);
  v1 = _mm256_min_ps(_mm256_max_ps(v1, lo), hi);
  if (columns == 8 * kVectors) {
    _mm256_storeu_ps(out, v0);
    if (kVectors == 2) _mm256_storeu_ps(out + 8, v1);
    return;
  }
  if (columns >= 8) {
    _mm256_storeu_ps(out, v0);
    StorePartial(out + 8, v1, columns - 8);
  } else {
    StorePartial(out, v0, columns);
  }
}

// One tile: kRows output pixels x (8 * kVectors) output channels of block
// `w` (biases first, then 16 floats per reduction step). `rows[p * 6 + r]` is
// where the `channels` inputs of reduction segment p (a kernel position, or
// the whole window when the tile was gathered into a panel) of tile row r
// start (or zeros).
// Every accumulator, both weight vectors and the broadcast input stay in the
// 16 ymm registers: 6 x 2 + 2 + 1 = 15. Named variables, not arrays: GCC
// keeps an array of __m256 in memory and stores it on every iteration.
template <int kRows, int kVectors>
void Tile(const DenseConvShape& s, int64_t positions, int64_t channels, const float* const* rows,
          const float* w, float* out, int64_t columns, const float* add, int64_t add_stride) {
  static_assert(kRows >= 1 && kRows <= 6 && (kVectors == 1 || kVectors == 2), "tile shape");
  const __m256 bias0 = _mm256_loadu_ps(w);
  const __m256 bias1 = kVectors == 2 ? _mm256_loadu_ps(w + 8) : _mm256_setzero_ps();
  __m256 c00 = bias0, c10 = bias0, c20 = bias0, c30 = bias0, c40 = bias0, c50 = bias0;
  __m256 c01 = bias1, c11 = bias1, c21 = bias1, c31 = bias1, c41 = bias1, c51 = bias1;
  w += kDenseConvBlock;
  for (int64_t p = 0; p < positions; ++p) {
    const float* const* pr = rows + p * kTileRows;
    const float* a0 = pr[0];
    const float* a1 = kRows > 1 ? pr[1] : a0;
    const float* a2 = kRows > 2 ? pr[2] : a0;
    const float* a3 = kRows > 3 ? pr[3] : a0;
    const float* a4 = kRows > 4 ? pr[4] : a0;
    const float* a5 = kRows > 5 ? pr[5] : a0;
#pragma GCC unroll 4
    for (int64_t k = 0; k < channels; ++k) {
      _mm_prefetch(reinterpret_cast<const char*>(w + kDenseConvPrefetchFloats), _MM_HINT_T0);
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
  // Row r's addend (each row's read before its own store, none after it).
  auto addend = [&](int r) { return add == nullptr ? nullptr : add + r * add_stride; };
  StoreRow<kVectors>(s, c00, c01, out, columns, addend(0));
  if (kRows > 1) StoreRow<kVectors>(s, c10, c11, out + stride, columns, addend(1));
  if (kRows > 2) StoreRow<kVectors>(s, c20, c21, out + 2 * stride, columns, addend(2));
  if (kRows > 3) StoreRow<kVectors>(s, c30, c31, out + 3 * stride, columns, addend(3));
  if (kRows > 4) StoreRow<kVectors>(s, c40, c41, out + 4 * stride, columns, addend(4));
  if (kRows > 5) StoreRow<kVectors>(s, c50, c51, out + 5 * stride, columns, addend(5));
}

template <int kVectors>
void TileRows(const DenseConvShape& s, int64_t rows_used, int64_t positions, int64_t channels,
              const float* const* rows, const float* w, float* out, int64_t columns,
              const float* add, int64_t add_stride) {
  switch (rows_used) {
    case 6:
      return Tile<6, kVectors>(s, positions, channels, rows, w, out, columns, add, add_stride);
    case 5:
      return Tile<5, kVectors>(s, positions, channels, rows, w, out, columns, add, add_stride);
    case 4:
      return Tile<4, kVectors>(s, positions, channels, rows, w, out, columns, add, add_stride);
    case 3:
      return Tile<3, kVectors>(s, positions, channels, rows, w, out, columns, add, add_stride);
    case 2:
      return Tile<2, kVectors>(s, positions, channels, rows, w, out, columns, add, add_stride);
    default:
      return Tile<1, kVectors>(s, positions, channels, rows, w, out, columns, add, add_stride);
  }
}

// The 6x16 tile for the driver: one block, two vectors or one (a last block
// of 8 or fewer channels).
struct Avx2Tile {
  static constexpr int kRows = kTileRows;
  static constexpr int kBlocks = 1;

  static void Run(const DenseConvShape& s, int64_t rows_used, int64_t positions, int64_t channels,
                  const float* const* rows, const float* w, int64_t /*block_floats*/,
                  int64_t /*blocks*/, float* out, int64_t columns, const float* add,
                  int64_t add_stride) {
    if (columns > kDenseConvBlock) columns = kDenseConvBlock;
    if (columns > 8) {
      TileRows<2>(s, rows_used, positions, channels, rows, w, out, columns, add, add_stride);
    } else {
      TileRows<1>(s, rows_used, positions, channels, rows, w, out, columns, add, add_stride);
    }
  }
};

}  // namespace

void DenseConvRunAvx2(const DenseConvArgs& args, WorkPool* pool) {
  RunDenseConv<Avx2Tile>(args, pool);
}

}  // namespace serenity::kernels
