// The AVX2 + FMA body of dense_conv.h. Compiled with -mavx2 -mfma on x86-64
// only; see the header for why nothing here may be shared with other
// translation units.
#include <immintrin.h>

#include "avx2_store.h"
#include "dense_conv.h"

namespace serenity::kernels {
namespace {

constexpr int kTileRows = 6;
// The weights are read in one stream (blocks one after the other, 16 floats
// per reduction step); each step prefetches the line this many floats ahead
// (4 KiB: ~64 steps, a few hundred cycles, about a DRAM latency). Without it
// a convolution whose weights are not in cache (most of a network's
// weights, between two runs of a network larger than the caches) waits on
// them: MobileNetV2's and DARTS-ImageNet's 7x7 layers (147-590 KiB of
// weights, 49 pixels) ran 6-9% slower in the network than with it.
constexpr int64_t kPrefetchFloats = 1024;

using avx2::StorePartial;

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
          const float* w, float* out, int64_t columns) {
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
      _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchFloats), _MM_HINT_T0);
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
void TileRows(const DenseConvShape& s, int64_t rows_used, int64_t positions, int64_t channels,
              const float* const* rows, const float* w, float* out, int64_t columns) {
  switch (rows_used) {
    case 6:
      return Tile<6, kVectors>(s, positions, channels, rows, w, out, columns);
    case 5:
      return Tile<5, kVectors>(s, positions, channels, rows, w, out, columns);
    case 4:
      return Tile<4, kVectors>(s, positions, channels, rows, w, out, columns);
    case 3:
      return Tile<3, kVectors>(s, positions, channels, rows, w, out, columns);
    case 2:
      return Tile<2, kVectors>(s, positions, channels, rows, w, out, columns);
    default:
      return Tile<1, kVectors>(s, positions, channels, rows, w, out, columns);
  }
}

// Where output pixel m (flattened over batch, rows, columns) reads from.
struct PixelCursor {
  int64_t n = 0, oy = 0, ox = 0;

  void Seek(const DenseConvShape& s, int64_t m) {
    const int64_t plane = s.out_h * s.out_w;
    n = m / plane;
    m -= n * plane;
    oy = m / s.out_w;
    ox = m - oy * s.out_w;
  }
  void Next(const DenseConvShape& s) {
    if (++ox == s.out_w) {
      ox = 0;
      if (++oy == s.out_h) {
        oy = 0;
        ++n;
      }
    }
  }
};

// Input addresses of one tile row: one per kernel position (zeros where the
// window leaves the image), written to rows[p * 6].
void WindowRows(const DenseConvArgs& args, const PixelCursor& at, const float** rows) {
  const DenseConvShape& s = args.shape;
  const int64_t y0 = at.oy * s.stride_h - s.pad_top;
  const int64_t x0 = at.ox * s.stride_w - s.pad_left;
  int64_t p = 0;
  for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
    const int64_t iy = y0 + ky * s.dilation_h;
    const bool row_inside = iy >= 0 && iy < s.in_h;
    const float* line = args.input + (at.n * s.in_h + iy) * s.in_w * s.in_pixel_stride;
    for (int64_t kx = 0; kx < s.kernel_w; ++kx, ++p) {
      const int64_t ix = x0 + kx * s.dilation_w;
      rows[p * kTileRows] =
          row_inside && ix >= 0 && ix < s.in_w ? line + ix * s.in_pixel_stride : args.zeros;
    }
  }
}

// Gathers one tile row's whole window (kernel_h * kernel_w * in_channels
// floats, zeros outside the image) into `panel`: for few input channels the
// per-position loops would be too short to run at speed.
void GatherWindow(const DenseConvArgs& args, const PixelCursor& at, float* panel) {
  const DenseConvShape& s = args.shape;
  const int64_t y0 = at.oy * s.stride_h - s.pad_top;
  const int64_t x0 = at.ox * s.stride_w - s.pad_left;
  const int64_t c = s.in_channels;
  const int64_t row_floats = s.kernel_w * c;
  // Window columns [kx_begin, kx_end) are inside the image.
  const int64_t dw = s.dilation_w;
  int64_t kx_begin = x0 >= 0 ? 0 : (-x0 + dw - 1) / dw;
  int64_t kx_end = s.in_w - x0 <= 0 ? 0 : (s.in_w - x0 + dw - 1) / dw;
  if (kx_end > s.kernel_w) kx_end = s.kernel_w;
  if (kx_begin > kx_end) kx_begin = kx_end;
  // Dense rows with no dilation: the inside columns are one contiguous run.
  const bool contiguous = dw == 1 && s.in_pixel_stride == c;
  for (int64_t ky = 0; ky < s.kernel_h; ++ky, panel += row_floats) {
    const int64_t iy = y0 + ky * s.dilation_h;
    if (iy < 0 || iy >= s.in_h || kx_begin == kx_end) {
      for (int64_t i = 0; i < row_floats; ++i) panel[i] = 0.0f;
      continue;
    }
    const float* line = args.input + (at.n * s.in_h + iy) * s.in_w * s.in_pixel_stride;
    for (int64_t i = 0; i < kx_begin * c; ++i) panel[i] = 0.0f;
    if (contiguous) {
      const float* from = line + (x0 + kx_begin) * c;
      float* to = panel + kx_begin * c;
      const int64_t run = (kx_end - kx_begin) * c;
      for (int64_t i = 0; i < run; ++i) to[i] = from[i];
    } else {
      for (int64_t kx = kx_begin; kx < kx_end; ++kx) {
        const float* from = line + (x0 + kx * dw) * s.in_pixel_stride;
        for (int64_t i = 0; i < c; ++i) panel[kx * c + i] = from[i];
      }
    }
    for (int64_t i = kx_end * c; i < row_floats; ++i) panel[i] = 0.0f;
  }
}

struct Task {
  const DenseConvArgs* args;
  int64_t blocks, tile_blocks;         // output channel blocks, per task
  int64_t pixels, tile_pixels;         // output pixels, per task
  int64_t pixel_tasks;                 // tasks along the pixels
  int64_t positions;     // kernel_h * kernel_w
  int64_t block_floats;  // packed floats per block of 16 output channels
  bool pointwise;        // 1x1, stride 1, no padding: input pixel m is row m
  bool gather;           // gather each window into a panel (few input channels)
  // With gather: windows inside the image horizontally read their kernel_h
  // rows of kernel_w contiguous pixels in place; only the others are
  // gathered. The reduction is then kernel_h segments of kernel_w *
  // in_channels floats, in the packed weights' (ky, kx, ic) order.
  bool window_rows;
};

// Tile row r's window as kernel_h row segments (rows[ky * 6 + r]): in place
// when the window is inside the image horizontally (zeros for rows above or
// below it), else gathered into `panel` (kernel_h * kernel_w * in_channels
// floats).
void WindowRowSegments(const DenseConvArgs& args, const PixelCursor& at, float* panel,
                       const float** rows) {
  const DenseConvShape& s = args.shape;
  const int64_t x0 = at.ox * s.stride_w - s.pad_left;
  const int64_t segment = s.kernel_w * s.in_channels;
  if (x0 < 0 || x0 + s.kernel_w > s.in_w) {
    GatherWindow(args, at, panel);
    for (int64_t ky = 0; ky < s.kernel_h; ++ky) rows[ky * kTileRows] = panel + ky * segment;
    return;
  }
  const int64_t y0 = at.oy * s.stride_h - s.pad_top;
  for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
    const int64_t iy = y0 + ky * s.dilation_h;
    rows[ky * kTileRows] =
        iy >= 0 && iy < s.in_h
            ? args.input + ((at.n * s.in_h + iy) * s.in_w + x0) * s.in_pixel_stride
            : args.zeros;
  }
}

// pthreadpool task: output channel blocks [block, block + blocks), output
// pixels [pixel, pixel + count). Tiles of 6 pixels outer, blocks inner, so a
// tile's addresses (or panel) serve every block.
void RunTile(const Task& task, size_t block, size_t pixel, size_t blocks, size_t count) {
  const DenseConvArgs& args = *task.args;
  const DenseConvShape& s = args.shape;
  const float* rows[kDenseConvMaxPositions * kTileRows];
  alignas(32) float panel[kTileRows * kDenseConvMaxPanel];
  int64_t positions = task.positions;
  int64_t channels = s.in_channels;
  if (task.window_rows) {
    positions = s.kernel_h;
    channels = s.kernel_w * s.in_channels;
  } else if (task.gather) {
    positions = 1;
    channels = task.positions * s.in_channels;
  }
  const int64_t window = task.positions * s.in_channels;
  PixelCursor at;
  at.Seek(s, static_cast<int64_t>(pixel));
  const int64_t end = static_cast<int64_t>(pixel + count);
  for (int64_t m = static_cast<int64_t>(pixel), used = 0; m < end; m += used) {
    used = end - m < kTileRows ? end - m : kTileRows;
    // 7-9 pixels left: two tiles of 3-5 rows instead of 6 and 1-3. A tile
    // of r rows takes max(r, 4) cycles per reduction step (its 2r
    // accumulators each wait on the FMA latency of 4 cycles), so 6 + 1 rows
    // cost 10 cycles, 4 + 3 rows 8.
    if (end - m > kTileRows && end - m <= kTileRows + 3) used = (end - m + 1) / 2;
    for (int64_t r = 0; r < kTileRows; ++r) {
      // Rows past the end repeat the last real one: read, never stored.
      const bool real = r < used;
      if (task.pointwise) {
        rows[r] = args.input + (m + (real ? r : used - 1)) * s.in_pixel_stride;
      } else if (task.window_rows) {
        if (real) {
          WindowRowSegments(args, at, panel + r * window, rows + r);
        } else {
          for (int64_t p = 0; p < positions; ++p) {
            rows[p * kTileRows + r] = rows[p * kTileRows + used - 1];
          }
        }
      } else if (task.gather) {
        if (real) GatherWindow(args, at, panel + r * channels);
        rows[r] = panel + (real ? r : used - 1) * channels;
      } else if (real) {
        WindowRows(args, at, rows + r);
      } else {
        for (int64_t p = 0; p < positions; ++p) {
          rows[p * kTileRows + r] = rows[p * kTileRows + used - 1];
        }
      }
      if (real && !task.pointwise) at.Next(s);
    }
    for (size_t b = block; b < block + blocks; ++b) {
      const float* w = args.packed + static_cast<int64_t>(b) * task.block_floats;
      float* out = args.output + m * s.out_pixel_stride + static_cast<int64_t>(b) * kDenseConvBlock;
      const int64_t remaining = s.out_channels - static_cast<int64_t>(b) * kDenseConvBlock;
      const int64_t columns = remaining < kDenseConvBlock ? remaining : kDenseConvBlock;
      if (columns > 8) {
        TileRows<2>(s, used, positions, channels, rows, w, out, columns);
      } else {
        TileRows<1>(s, used, positions, channels, rows, w, out, columns);
      }
    }
  }
}

// Task `index`: block tasks outer, pixel tasks inner (consecutive tasks share
// a block's weights).
void RunTask(void* context, size_t index) {
  const Task& task = *static_cast<const Task*>(context);
  const int64_t i = static_cast<int64_t>(index);
  const int64_t block = i / task.pixel_tasks * task.tile_blocks;
  const int64_t pixel = i % task.pixel_tasks * task.tile_pixels;
  const int64_t blocks = task.blocks - block < task.tile_blocks ? task.blocks - block
                                                                : task.tile_blocks;
  const int64_t count = i % task.pixel_tasks == task.pixel_tasks - 1 ? task.pixels - pixel
                                                                   : task.tile_pixels;
  RunTile(task, static_cast<size_t>(block), static_cast<size_t>(pixel),
          static_cast<size_t>(blocks), static_cast<size_t>(count));
}

}  // namespace

void DenseConvRun(const DenseConvArgs& args, WorkPool* pool) {
  const DenseConvShape& s = args.shape;
  Task task;
  task.args = &args;
  task.positions = s.kernel_h * s.kernel_w;
  task.block_floats = kDenseConvBlock * (1 + task.positions * s.in_channels);
  task.pointwise = s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 &&
                   s.pad_top == 0 && s.pad_left == 0 && s.in_h == s.out_h && s.in_w == s.out_w;
  task.gather = !task.pointwise && DenseConvGathers(s);
  task.window_rows = task.gather && s.dilation_w == 1 && s.in_pixel_stride == s.in_channels;
  const int64_t blocks = (s.out_channels + kDenseConvBlock - 1) / kDenseConvBlock;
  const int64_t pixels = s.batch * s.out_h * s.out_w;
  const int64_t tiles = (pixels + kTileRows - 1) / kTileRows;
  // Weights that stay in L2 (up to 192 KiB): every block in one task, so each
  // tile's addresses are computed once. Larger: one block per task, blocks
  // outer, so that block's weights stay in cache while its tiles sweep the
  // output.
  const bool all_blocks = blocks * task.block_floats * 4 <= (192 << 10);
  const int64_t tile_blocks = all_blocks ? blocks : 1;
  const int64_t tasks_wanted = all_blocks ? 16 : 4;
  int64_t tiles_per_task = tiles / tasks_wanted;
  tiles_per_task = tiles_per_task < 1 ? 1 : (tiles_per_task > 32 ? 32 : tiles_per_task);
  // Small convolutions on the calling thread alone: waking a worker costs
  // more than it saves, and far more on a loaded machine.
  const int64_t macs = pixels * s.out_channels * task.positions * s.in_channels;
  if (macs < kDenseConvParallelMacs) pool = nullptr;
  task.blocks = blocks;
  task.tile_blocks = tile_blocks;
  task.pixels = pixels;
  task.tile_pixels = tiles_per_task * kTileRows;
  task.pixel_tasks = (pixels + task.tile_pixels - 1) / task.tile_pixels;
  // A last task of 1-3 pixels joins the one before (RunTile then splits the
  // 7-9 pixels at its end into two tiles of 3-5 rows): alone it would run a
  // latency-bound tile of 1-3 rows.
  if (task.pixel_tasks > 1 && pixels - (task.pixel_tasks - 1) * task.tile_pixels <= 3) {
    --task.pixel_tasks;
  }
  const int64_t block_tasks = (blocks + tile_blocks - 1) / tile_blocks;
  WorkPoolRun(pool, RunTask, &task, static_cast<size_t>(block_tasks * task.pixel_tasks));
}

}  // namespace serenity::kernels
