// The AVX2 + FMA body of winograd_conv.h. Compiled with -mavx2 -mfma on
// x86-64 only; see dense_conv.h for why nothing here may be shared with other
// translation units (hence __atomic builtins, not std::atomic).
//
// One task: a group of up to plan.group_tiles output tiles and a chunk of
// output channel blocks, on one thread's scratch slot:
//   V[position][tile][channel]  = B^T d B of each tile's 6x6 input,
//   M[position][tile][out]      = V[position] x U[position] (36 GEMMs),
//   output tile                 = A^T M A + bias (+ a folded Add's addend),
//                                 clamped.
#include <immintrin.h>

#include "avx2_store.h"
#include "winograd_conv.h"

namespace serenity::kernels {
namespace {

using avx2::LoadPartial;
using avx2::StorePartial;

constexpr int kRows = 6;  // GEMM tile rows (Winograd tiles per micro-kernel call)

struct Task {
  const DenseConvArgs* args;
  const WinogradConvPlan* plan;
  float* scratch;
  int* slot_busy;
};

// A free scratch slot: at most plan.slots tasks run at once (one per thread),
// so one is always free or about to be.
int64_t ClaimSlot(int* busy, int64_t slots) {
  for (;;) {
    for (int64_t i = 0; i < slots; ++i) {
      if (__atomic_load_n(&busy[i], __ATOMIC_RELAXED) == 0 &&
          __atomic_exchange_n(&busy[i], 1, __ATOMIC_ACQUIRE) == 0) {
        return i;
      }
    }
  }
}

void ReleaseSlot(int* busy, int64_t slot) { __atomic_store_n(&busy[slot], 0, __ATOMIC_RELEASE); }

__m256i LaneMask(int64_t lanes) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// t = B^T d for F(4x4, 3x3), on six vectors `stride` apart.
inline void InputTransform(const __m256* d, int stride, __m256* t, int t_stride) {
  const __m256 d0 = d[0], d1 = d[stride], d2 = d[2 * stride];
  const __m256 d3 = d[3 * stride], d4 = d[4 * stride], d5 = d[5 * stride];
  const __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f);
  const __m256 two = _mm256_set1_ps(2.0f);
  // t0 = 4 d0 - 5 d2 + d4; t5 = 4 d1 - 5 d3 + d5.
  t[0] = _mm256_fnmadd_ps(five, d2, _mm256_fmadd_ps(four, d0, d4));
  t[5 * t_stride] = _mm256_fnmadd_ps(five, d3, _mm256_fmadd_ps(four, d1, d5));
  // t1, t2 = (d4 - 4 d2) +- (d3 - 4 d1).
  const __m256 p = _mm256_fnmadd_ps(four, d2, d4);
  const __m256 q = _mm256_fnmadd_ps(four, d1, d3);
  t[t_stride] = _mm256_add_ps(p, q);
  t[2 * t_stride] = _mm256_sub_ps(p, q);
  // t3, t4 = (d4 - d2) +- 2 (d3 - d1).
  const __m256 r = _mm256_sub_ps(d4, d2);
  const __m256 s = _mm256_mul_ps(two, _mm256_sub_ps(d3, d1));
  t[3 * t_stride] = _mm256_add_ps(r, s);
  t[4 * t_stride] = _mm256_sub_ps(r, s);
}

// o = A^T m for F(4x4, 3x3), on six vectors `stride` apart.
inline void OutputTransform(const __m256* m, int stride, __m256* o, int o_stride) {
  const __m256 m0 = m[0], m1 = m[stride], m2 = m[2 * stride];
  const __m256 m3 = m[3 * stride], m4 = m[4 * stride], m5 = m[5 * stride];
  const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
  const __m256 eight = _mm256_set1_ps(8.0f);
  const __m256 sum12 = _mm256_add_ps(m1, m2), diff12 = _mm256_sub_ps(m1, m2);
  const __m256 sum34 = _mm256_add_ps(m3, m4), diff34 = _mm256_sub_ps(m3, m4);
  o[0] = _mm256_add_ps(_mm256_add_ps(m0, sum12), sum34);
  o[o_stride] = _mm256_fmadd_ps(two, diff34, diff12);
  o[2 * o_stride] = _mm256_fmadd_ps(four, sum34, sum12);
  o[3 * o_stride] = _mm256_add_ps(_mm256_fmadd_ps(eight, diff34, diff12), m5);
}

// The 6x6 input tile `t` of the group (tile index `tile` overall) into V.
void TransformInputTile(const DenseConvArgs& args, const WinogradConvPlan& plan, int64_t tile,
                        int64_t t, float* v) {
  const DenseConvShape& s = args.shape;
  const int64_t plane = plan.tiles_h * plan.tiles_w;
  const int64_t n = tile / plane;
  const int64_t ty = (tile - n * plane) / plan.tiles_w;
  const int64_t tx = tile - n * plane - ty * plan.tiles_w;
  const int64_t y0 = ty * kWinogradOutTile - s.pad_top;
  const int64_t x0 = tx * kWinogradOutTile - s.pad_left;
  const float* pixels[kWinogradInTile * kWinogradInTile];  // nullptr: padding
  for (int i = 0; i < kWinogradInTile; ++i) {
    const int64_t y = y0 + i;
    for (int j = 0; j < kWinogradInTile; ++j) {
      const int64_t x = x0 + j;
      pixels[i * kWinogradInTile + j] =
          y >= 0 && y < s.in_h && x >= 0 && x < s.in_w
              ? args.input + ((n * s.in_h + y) * s.in_w + x) * s.in_pixel_stride
              : nullptr;
    }
  }
  const int64_t tile_stride = plan.group_tiles * plan.channel_floats;  // between positions
  float* out = v + t * plan.channel_floats;
  for (int64_t c = 0; c < s.in_channels; c += 8) {
    const int64_t lanes = s.in_channels - c;
    const __m256i mask = LaneMask(lanes);
    __m256 d[kWinogradPositions], bt[kWinogradPositions];
    for (int p = 0; p < kWinogradPositions; ++p) {
      const float* from = pixels[p];
      if (from == nullptr) {
        d[p] = _mm256_setzero_ps();
      } else if (lanes >= 8) {
        d[p] = _mm256_loadu_ps(from + c);
      } else {
        d[p] = _mm256_maskload_ps(from + c, mask);
      }
    }
    // Columns (down each column), then rows.
    for (int j = 0; j < kWinogradInTile; ++j) {
      InputTransform(d + j, kWinogradInTile, bt + j, kWinogradInTile);
    }
    for (int i = 0; i < kWinogradInTile; ++i) {
      InputTransform(bt + i * kWinogradInTile, 1, d + i * kWinogradInTile, 1);
    }
    for (int p = 0; p < kWinogradPositions; ++p) {
      _mm256_storeu_ps(out + p * tile_stride + c, d[p]);
    }
  }
}

// M rows [0, kRowsUsed) of one position and one block of 16 output channels:
// rows of V `channel_floats` apart, `channels` long; `w` the block's
// channels x 16 transformed weights; M rows `m_stride` apart. Every
// accumulator, both weight vectors and the broadcast stay in registers (see
// dense_conv_avx2.cc).
template <int kRowsUsed>
void Gemm(int64_t channels, const float* v, int64_t v_stride, const float* w, float* m,
          int64_t m_stride) {
  __m256 c00 = _mm256_setzero_ps(), c10 = c00, c20 = c00, c30 = c00, c40 = c00, c50 = c00;
  __m256 c01 = c00, c11 = c00, c21 = c00, c31 = c00, c41 = c00, c51 = c00;
  const float* a0 = v;
  const float* a1 = kRowsUsed > 1 ? v + v_stride : v;
  const float* a2 = kRowsUsed > 2 ? v + 2 * v_stride : v;
  const float* a3 = kRowsUsed > 3 ? v + 3 * v_stride : v;
  const float* a4 = kRowsUsed > 4 ? v + 4 * v_stride : v;
  const float* a5 = kRowsUsed > 5 ? v + 5 * v_stride : v;
#pragma GCC unroll 4
  for (int64_t k = 0; k < channels; ++k) {
    const __m256 b0 = _mm256_loadu_ps(w);
    const __m256 b1 = _mm256_loadu_ps(w + 8);
    w += kDenseConvBlock;
    __m256 x = _mm256_broadcast_ss(a0 + k);
    c00 = _mm256_fmadd_ps(x, b0, c00);
    c01 = _mm256_fmadd_ps(x, b1, c01);
    if (kRowsUsed > 1) {
      x = _mm256_broadcast_ss(a1 + k);
      c10 = _mm256_fmadd_ps(x, b0, c10);
      c11 = _mm256_fmadd_ps(x, b1, c11);
    }
    if (kRowsUsed > 2) {
      x = _mm256_broadcast_ss(a2 + k);
      c20 = _mm256_fmadd_ps(x, b0, c20);
      c21 = _mm256_fmadd_ps(x, b1, c21);
    }
    if (kRowsUsed > 3) {
      x = _mm256_broadcast_ss(a3 + k);
      c30 = _mm256_fmadd_ps(x, b0, c30);
      c31 = _mm256_fmadd_ps(x, b1, c31);
    }
    if (kRowsUsed > 4) {
      x = _mm256_broadcast_ss(a4 + k);
      c40 = _mm256_fmadd_ps(x, b0, c40);
      c41 = _mm256_fmadd_ps(x, b1, c41);
    }
    if (kRowsUsed > 5) {
      x = _mm256_broadcast_ss(a5 + k);
      c50 = _mm256_fmadd_ps(x, b0, c50);
      c51 = _mm256_fmadd_ps(x, b1, c51);
    }
  }
  _mm256_storeu_ps(m, c00);
  _mm256_storeu_ps(m + 8, c01);
  if (kRowsUsed > 1) {
    _mm256_storeu_ps(m + m_stride, c10);
    _mm256_storeu_ps(m + m_stride + 8, c11);
  }
  if (kRowsUsed > 2) {
    _mm256_storeu_ps(m + 2 * m_stride, c20);
    _mm256_storeu_ps(m + 2 * m_stride + 8, c21);
  }
  if (kRowsUsed > 3) {
    _mm256_storeu_ps(m + 3 * m_stride, c30);
    _mm256_storeu_ps(m + 3 * m_stride + 8, c31);
  }
  if (kRowsUsed > 4) {
    _mm256_storeu_ps(m + 4 * m_stride, c40);
    _mm256_storeu_ps(m + 4 * m_stride + 8, c41);
  }
  if (kRowsUsed > 5) {
    _mm256_storeu_ps(m + 5 * m_stride, c50);
    _mm256_storeu_ps(m + 5 * m_stride + 8, c51);
  }
}

void GemmRows(int64_t rows, int64_t channels, const float* v, int64_t v_stride, const float* w,
              float* m, int64_t m_stride) {
  switch (rows) {
    case 6:
      return Gemm<6>(channels, v, v_stride, w, m, m_stride);
    case 5:
      return Gemm<5>(channels, v, v_stride, w, m, m_stride);
    case 4:
      return Gemm<4>(channels, v, v_stride, w, m, m_stride);
    case 3:
      return Gemm<3>(channels, v, v_stride, w, m, m_stride);
    case 2:
      return Gemm<2>(channels, v, v_stride, w, m, m_stride);
    default:
      return Gemm<1>(channels, v, v_stride, w, m, m_stride);
  }
}

// Output tile `t` of the group (tile `tile` overall), output channels
// [first, first + count) from M (rows `m_stride` floats, starting at
// channel `first`).
void TransformOutputTile(const DenseConvArgs& args, const WinogradConvPlan& plan, int64_t tile,
                         int64_t t, const float* m, int64_t m_stride, int64_t first,
                         int64_t count) {
  const DenseConvShape& s = args.shape;
  const int64_t plane = plan.tiles_h * plan.tiles_w;
  const int64_t n = tile / plane;
  const int64_t ty = (tile - n * plane) / plan.tiles_w;
  const int64_t tx = tile - n * plane - ty * plan.tiles_w;
  const int64_t oy0 = ty * kWinogradOutTile, ox0 = tx * kWinogradOutTile;
  const int64_t rows = s.out_h - oy0 < kWinogradOutTile ? s.out_h - oy0 : kWinogradOutTile;
  const int64_t cols = s.out_w - ox0 < kWinogradOutTile ? s.out_w - ox0 : kWinogradOutTile;
  const int64_t position_stride = plan.group_tiles * m_stride;
  const float* from = m + t * m_stride;
  const __m256 lo = _mm256_set1_ps(s.out_min), hi = _mm256_set1_ps(s.out_max);
  for (int64_t k = 0; k < count; k += 8) {
    const int64_t lanes = count - k < 8 ? count - k : 8;
    __m256 mv[kWinogradPositions], at[kWinogradOutTile * kWinogradInTile];
    for (int p = 0; p < kWinogradPositions; ++p) {
      mv[p] = _mm256_loadu_ps(from + p * position_stride + k);
    }
    for (int j = 0; j < kWinogradInTile; ++j) {
      OutputTransform(mv + j, kWinogradInTile, at + j, kWinogradInTile);
    }
    const __m256 bias = _mm256_loadu_ps(args.packed + first + k);
    for (int64_t i = 0; i < rows; ++i) {
      __m256 o[kWinogradOutTile];
      OutputTransform(at + i * kWinogradInTile, 1, o, 1);
      const int64_t pixel = (n * s.out_h + oy0 + i) * s.out_w + ox0;
      float* line = args.output + pixel * s.out_pixel_stride + first + k;
      // The addend's values are read just before the same pixel's outputs
      // are stored (it may be the output's own memory).
      const float* add = args.addend == nullptr
                             ? nullptr
                             : args.addend + pixel * args.addend_pixel_stride + first + k;
      for (int64_t j = 0; j < cols; ++j) {
        __m256 sum = _mm256_add_ps(o[j], bias);
        if (add != nullptr) {
          const float* a = add + j * args.addend_pixel_stride;
          sum = _mm256_add_ps(sum, lanes == 8 ? _mm256_loadu_ps(a) : LoadPartial(a, lanes));
        }
        const __m256 y = _mm256_min_ps(_mm256_max_ps(sum, lo), hi);
        if (lanes == 8) {
          _mm256_storeu_ps(line + j * s.out_pixel_stride, y);
        } else {
          StorePartial(line + j * s.out_pixel_stride, y, lanes);
        }
      }
    }
  }
}

// Task `index`: tile groups outer, output channel chunks inner.
void RunTask(void* context, size_t index) {
  const Task& task = *static_cast<const Task*>(context);
  const DenseConvArgs& args = *task.args;
  const WinogradConvPlan& plan = *task.plan;
  const DenseConvShape& s = args.shape;
  const int64_t group = static_cast<int64_t>(index) / plan.chunks;
  const int64_t chunk = static_cast<int64_t>(index) % plan.chunks;
  const int64_t first_tile = group * plan.group_tiles;
  const int64_t tiles =
      plan.tiles - first_tile < plan.group_tiles ? plan.tiles - first_tile : plan.group_tiles;
  const int64_t first_block = chunk * plan.chunk_blocks;
  const int64_t blocks =
      plan.blocks - first_block < plan.chunk_blocks ? plan.blocks - first_block : plan.chunk_blocks;
  const int64_t m_stride = plan.chunk_blocks * kDenseConvBlock;

  const int64_t slot = ClaimSlot(task.slot_busy, plan.slots);
  float* v = task.scratch + slot * plan.slot_floats;
  float* m = v + kWinogradPositions * plan.group_tiles * plan.channel_floats;
  for (int64_t t = 0; t < tiles; ++t) TransformInputTile(args, plan, first_tile + t, t, v);

  const float* transformed = args.packed + plan.blocks * kDenseConvBlock;
  const bool avx512 = DenseConvIsaInUse() == DenseConvIsa::kAvx512;
  for (int64_t p = 0; p < kWinogradPositions; ++p) {
    const float* vp = v + p * plan.group_tiles * plan.channel_floats;
    float* mp = m + p * plan.group_tiles * m_stride;
    if (avx512) {
      WinogradGemmAvx512(
          tiles, blocks, s.in_channels, vp, plan.channel_floats,
          transformed + (p * plan.blocks + first_block) * s.in_channels * kDenseConvBlock, mp,
          m_stride);
      continue;
    }
    for (int64_t b = 0; b < blocks; ++b) {
      const float* w =
          transformed + (p * plan.blocks + first_block + b) * s.in_channels * kDenseConvBlock;
      for (int64_t r = 0; r < tiles; r += kRows) {
        const int64_t rows = tiles - r < kRows ? tiles - r : kRows;
        GemmRows(rows, s.in_channels, vp + r * plan.channel_floats, plan.channel_floats, w,
                 mp + r * m_stride + b * kDenseConvBlock, m_stride);
      }
    }
  }

  const int64_t first_channel = first_block * kDenseConvBlock;
  const int64_t remaining = s.out_channels - first_channel;
  const int64_t count = remaining < blocks * kDenseConvBlock ? remaining : blocks * kDenseConvBlock;
  for (int64_t t = 0; t < tiles; ++t) {
    TransformOutputTile(args, plan, first_tile + t, t, m, m_stride, first_channel, count);
  }
  ReleaseSlot(task.slot_busy, slot);
}

}  // namespace

void WinogradConvRun(const DenseConvArgs& args, const WinogradConvPlan& plan, float* scratch,
                     int* slot_busy, WorkPool* pool) {
  const DenseConvShape& s = args.shape;
  // Small convolutions on the calling thread alone (see dense_conv_avx2.cc).
  const int64_t macs = s.batch * s.out_h * s.out_w * s.out_channels * 9 * s.in_channels;
  if (macs < kDenseConvParallelMacs || plan.slots < 2) pool = nullptr;
  Task task{&args, &plan, scratch, slot_busy};
  WorkPoolRun(pool, RunTask, &task, static_cast<size_t>(plan.groups * plan.chunks));
}

}  // namespace serenity::kernels
