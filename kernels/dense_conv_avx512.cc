// The AVX-512F register tile of dense_conv.h; the driver around it is
// dense_conv_driver.h. Compiled with -mavx512f -mavx2 -mfma on x86-64 only;
// see the header for why nothing here may be shared with other translation
// units.
#include <immintrin.h>

#include "dense_conv.h"
#include "dense_conv_driver.h"
#include "winograd_conv.h"

namespace serenity::kernels {
namespace {

// 12 output pixels x 2 blocks (32 channels): 24 accumulators + 2 weight
// vectors + 1 broadcast of the 32 zmm registers. Each reduction step loads
// 2 weight vectors and 12 broadcasts for 24 FMAs.
constexpr int kTileRows = 12;

// Adds `add`'s first `columns` floats (a folded Add's addend, when not
// null), clamps (with kClamp) one block of one tile row and stores its first
// `columns` (1..16) floats.
// The masked forms with every lane set compile to the plain vmaxps/vminps:
// GCC 12's _mm512_max_ps/_mm512_min_ps pass an "undefined" vector that its
// -Wuninitialized reports (GCC bug 105593), an error in CI.
template <bool kClamp>
inline void StoreBlock(__m512 v, __m512 lo, __m512 hi, float* out, int64_t columns,
                       const float* add) {
  constexpr __mmask16 kAll = 0xFFFF;
  if (add != nullptr) {  // a folded Add's addend, read before the store
    v = _mm512_add_ps(
        v, columns == kDenseConvBlock
               ? _mm512_loadu_ps(add)
               : _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << columns) - 1), add));
  }
  if (kClamp) {
    v = _mm512_mask_max_ps(v, kAll, v, lo);
    v = _mm512_mask_min_ps(v, kAll, v, hi);
  }
  if (columns == kDenseConvBlock) {
    _mm512_storeu_ps(out, v);
  } else {
    _mm512_mask_storeu_ps(out, static_cast<__mmask16>((1u << columns) - 1), v);
  }
}

// One tile: kRows output pixels x kBlocks blocks of 16 output channels,
// whose packed weights start at w0 and w1 (biases first, then 16 floats per
// reduction step), storing columns0 and columns1 floats of each. `rows` as
// in the driver (dense_conv_driver.h). Without kEpilogue (Winograd's GEMM):
// no biases in the weights, sums start at zero and are stored unclamped.
// Named variables, not arrays: GCC keeps an array of vectors in memory and
// stores it on every iteration.
template <int kRows, int kBlocks, bool kEpilogue>
void Tile(const DenseConvShape& s, int64_t positions, int64_t channels, const float* const* rows,
          const float* w0, const float* w1, float* out, int64_t columns0, int64_t columns1,
          const float* add, int64_t add_stride) {
  static_assert(kRows >= 1 && kRows <= kTileRows && (kBlocks == 1 || kBlocks == 2), "tile shape");
  const __m512 bias0 = kEpilogue ? _mm512_loadu_ps(w0) : _mm512_setzero_ps();
  const __m512 bias1 = kEpilogue && kBlocks == 2 ? _mm512_loadu_ps(w1) : _mm512_setzero_ps();
  // Accumulator cR0 / cR1: tile row R, block 0 / 1.
  __m512 c00 = bias0, c10 = bias0, c20 = bias0, c30 = bias0, c40 = bias0, c50 = bias0, c60 = bias0,
         c70 = bias0, c80 = bias0, c90 = bias0, c100 = bias0, c110 = bias0;
  __m512 c01 = bias1, c11 = bias1, c21 = bias1, c31 = bias1, c41 = bias1, c51 = bias1, c61 = bias1,
         c71 = bias1, c81 = bias1, c91 = bias1, c101 = bias1, c111 = bias1;
  if (kEpilogue) {
    w0 += kDenseConvBlock;
    w1 += kDenseConvBlock;
  }
  for (int64_t p = 0; p < positions; ++p) {
    const float* const* pr = rows + p * kTileRows;
    const float* a0 = pr[0];
    const float* a1 = pr[kRows > 1 ? 1 : 0];
    const float* a2 = pr[kRows > 2 ? 2 : 0];
    const float* a3 = pr[kRows > 3 ? 3 : 0];
    const float* a4 = pr[kRows > 4 ? 4 : 0];
    const float* a5 = pr[kRows > 5 ? 5 : 0];
    const float* a6 = pr[kRows > 6 ? 6 : 0];
    const float* a7 = pr[kRows > 7 ? 7 : 0];
    const float* a8 = pr[kRows > 8 ? 8 : 0];
    const float* a9 = pr[kRows > 9 ? 9 : 0];
    const float* a10 = pr[kRows > 10 ? 10 : 0];
    const float* a11 = pr[kRows > 11 ? 11 : 0];
#pragma GCC unroll 2
    for (int64_t k = 0; k < channels; ++k) {
      _mm_prefetch(reinterpret_cast<const char*>(w0 + kDenseConvPrefetchFloats), _MM_HINT_T0);
      if (kBlocks == 2) {
        _mm_prefetch(reinterpret_cast<const char*>(w1 + kDenseConvPrefetchFloats), _MM_HINT_T0);
      }
      const __m512 b0 = _mm512_loadu_ps(w0);
      const __m512 b1 = kBlocks == 2 ? _mm512_loadu_ps(w1) : b0;
      w0 += kDenseConvBlock;
      w1 += kDenseConvBlock;
      // Tile row R: broadcast its input, multiply it into both blocks.
#define SERENITY_DENSE_ROW(R)                                    \
  if (kRows > R) {                                               \
    const __m512 x = _mm512_set1_ps(a##R[k]);                    \
    c##R##0 = _mm512_fmadd_ps(x, b0, c##R##0);                   \
    if (kBlocks == 2) c##R##1 = _mm512_fmadd_ps(x, b1, c##R##1); \
  }
      SERENITY_DENSE_ROW(0)
      SERENITY_DENSE_ROW(1)
      SERENITY_DENSE_ROW(2)
      SERENITY_DENSE_ROW(3)
      SERENITY_DENSE_ROW(4)
      SERENITY_DENSE_ROW(5)
      SERENITY_DENSE_ROW(6)
      SERENITY_DENSE_ROW(7)
      SERENITY_DENSE_ROW(8)
      SERENITY_DENSE_ROW(9)
      SERENITY_DENSE_ROW(10)
      SERENITY_DENSE_ROW(11)
#undef SERENITY_DENSE_ROW
    }
  }
  const int64_t stride = s.out_pixel_stride;
  const __m512 lo = _mm512_set1_ps(s.out_min);
  const __m512 hi = _mm512_set1_ps(s.out_max);
  // Row R's addend (each row's read before its own store, none after it).
  auto addend = [&](int r, int block) {
    return add == nullptr ? nullptr : add + r * add_stride + block * kDenseConvBlock;
  };
#define SERENITY_DENSE_STORE(R)                                                            \
  if (kRows > R) {                                                                         \
    StoreBlock<kEpilogue>(c##R##0, lo, hi, out + R * stride, columns0, addend(R, 0));      \
    if (kBlocks == 2) {                                                                    \
      StoreBlock<kEpilogue>(c##R##1, lo, hi, out + R * stride + kDenseConvBlock, columns1, \
                            addend(R, 1));                                                 \
    }                                                                                      \
  }
  SERENITY_DENSE_STORE(0)
  SERENITY_DENSE_STORE(1)
  SERENITY_DENSE_STORE(2)
  SERENITY_DENSE_STORE(3)
  SERENITY_DENSE_STORE(4)
  SERENITY_DENSE_STORE(5)
  SERENITY_DENSE_STORE(6)
  SERENITY_DENSE_STORE(7)
  SERENITY_DENSE_STORE(8)
  SERENITY_DENSE_STORE(9)
  SERENITY_DENSE_STORE(10)
  SERENITY_DENSE_STORE(11)
#undef SERENITY_DENSE_STORE
}

// Tile<rows_used, kBlocks, kEpilogue> for rows_used in 1..kRows.
template <int kRows, int kBlocks, bool kEpilogue = true>
void TileRows(const DenseConvShape& s, int64_t rows_used, int64_t positions, int64_t channels,
              const float* const* rows, const float* w0, const float* w1, float* out,
              int64_t columns0, int64_t columns1, const float* add = nullptr,
              int64_t add_stride = 0) {
  if constexpr (kRows > 1) {
    if (rows_used < kRows) {
      return TileRows<kRows - 1, kBlocks, kEpilogue>(s, rows_used, positions, channels, rows, w0,
                                                     w1, out, columns0, columns1, add, add_stride);
    }
  }
  Tile<kRows, kBlocks, kEpilogue>(s, positions, channels, rows, w0, w1, out, columns0, columns1,
                                  add, add_stride);
}

// The 12x32 tile for the driver: two blocks, or one (a last odd block).
struct Avx512Tile {
  static constexpr int kRows = kTileRows;
  static constexpr int kBlocks = 2;

  static void Run(const DenseConvShape& s, int64_t rows_used, int64_t positions, int64_t channels,
                  const float* const* rows, const float* w, int64_t block_floats, int64_t blocks,
                  float* out, int64_t columns, const float* add, int64_t add_stride) {
    if (blocks == 2) {
      // The first of two blocks is whole.
      const int64_t second = columns - kDenseConvBlock;
      TileRows<kTileRows, 2>(s, rows_used, positions, channels, rows, w, w + block_floats, out,
                             kDenseConvBlock, second < kDenseConvBlock ? second : kDenseConvBlock,
                             add, add_stride);
    } else {
      TileRows<kTileRows, 1>(s, rows_used, positions, channels, rows, w, w, out,
                             columns < kDenseConvBlock ? columns : kDenseConvBlock, 0, add,
                             add_stride);
    }
  }
};

}  // namespace

void DenseConvRunAvx512(const DenseConvArgs& args, WorkPool* pool) {
  RunDenseConv<Avx512Tile>(args, pool);
}

void WinogradGemmAvx512(int64_t rows, int64_t blocks, int64_t channels, const float* v,
                        int64_t v_stride, const float* w, float* m, int64_t m_stride) {
  DenseConvShape s;
  s.out_pixel_stride = m_stride;
  const int64_t block_floats = channels * kDenseConvBlock;
  const float* row_starts[kTileRows];
  for (int64_t r = 0; r < rows; r += kTileRows) {
    const int64_t used = rows - r < kTileRows ? rows - r : kTileRows;
    for (int64_t i = 0; i < kTileRows; ++i) row_starts[i] = v + (r + (i < used ? i : 0)) * v_stride;
    for (int64_t b = 0; b < blocks; b += 2) {
      const float* wb = w + b * block_floats;
      float* out = m + r * m_stride + b * kDenseConvBlock;
      if (b + 1 < blocks) {
        TileRows<kTileRows, 2, false>(s, used, 1, channels, row_starts, wb, wb + block_floats, out,
                                      kDenseConvBlock, kDenseConvBlock);
      } else {
        TileRows<kTileRows, 1, false>(s, used, 1, channels, row_starts, wb, wb, out,
                                      kDenseConvBlock, 0);
      }
    }
  }
}

}  // namespace serenity::kernels
