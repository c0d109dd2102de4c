// The scalar driver of the dense convolution (dense_conv.h), shared by its
// ISA-specific register tiles (dense_conv_avx2.cc, dense_conv_avx512.cc):
// tile row addresses, window gathering, task splitting. Everything here is a
// template or has internal linkage (anonymous namespace), so each
// translation unit that includes it compiles its own copy with its own
// instruction set and the linker never picks one copy for another's callers.
// Include only from those files.
#ifndef SERENITY_KERNELS_DENSE_CONV_DRIVER_H_
#define SERENITY_KERNELS_DENSE_CONV_DRIVER_H_

#include <cstddef>
#include <cstdint>

#include "dense_conv.h"
#include "work_pool.h"

namespace serenity::kernels {
namespace {

// The weights are read in one stream per block (16 floats per reduction
// step); each step prefetches the line this many floats ahead (4 KiB: ~64
// steps, a few hundred cycles, about a DRAM latency). Without it a
// convolution whose weights are not in cache (most of a network's weights,
// between two runs of a network larger than the caches) waits on them:
// MobileNetV2's and DARTS-ImageNet's 7x7 layers (147-590 KiB of weights, 49
// pixels) ran 6-9% slower in the network than with it.
constexpr int64_t kDenseConvPrefetchFloats = 1024;

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
// window leaves the image), written to rows[p * kRows].
template <int kRows>
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
      rows[p * kRows] =
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

struct DenseConvTask {
  const DenseConvArgs* args;
  int64_t blocks, tile_blocks;  // output channel blocks, per task
  int64_t pixels, tile_pixels;  // output pixels, per task
  int64_t pixel_tasks;          // tasks along the pixels
  int64_t positions;            // kernel_h * kernel_w
  int64_t block_floats;         // packed floats per block of 16 output channels
  bool pointwise;               // 1x1, stride 1, no padding: input pixel m is row m
  bool gather;                  // gather each window into a panel (few input channels)
  // With gather: windows inside the image horizontally read their kernel_h
  // rows of kernel_w contiguous pixels in place; only the others are
  // gathered. The reduction is then kernel_h segments of kernel_w *
  // in_channels floats, in the packed weights' (ky, kx, ic) order.
  bool window_rows;
};

// Tile row r's window as kernel_h row segments (rows[ky * kRows + r]): in
// place when the window is inside the image horizontally (zeros for rows
// above or below it), else gathered into `panel` (kernel_h * kernel_w *
// in_channels floats).
template <int kRows>
void WindowRowSegments(const DenseConvArgs& args, const PixelCursor& at, float* panel,
                       const float** rows) {
  const DenseConvShape& s = args.shape;
  const int64_t x0 = at.ox * s.stride_w - s.pad_left;
  const int64_t segment = s.kernel_w * s.in_channels;
  if (x0 < 0 || x0 + s.kernel_w > s.in_w) {
    GatherWindow(args, at, panel);
    for (int64_t ky = 0; ky < s.kernel_h; ++ky) rows[ky * kRows] = panel + ky * segment;
    return;
  }
  const int64_t y0 = at.oy * s.stride_h - s.pad_top;
  for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
    const int64_t iy = y0 + ky * s.dilation_h;
    rows[ky * kRows] = iy >= 0 && iy < s.in_h
                           ? args.input + ((at.n * s.in_h + iy) * s.in_w + x0) * s.in_pixel_stride
                           : args.zeros;
  }
}

// Task over output channel blocks [block, block + blocks) and output pixels
// [pixel, pixel + count). Tiles of Tile::kRows pixels outer, blocks inner, so
// a tile's addresses (or panel) serve every block.
//
// Tile is the ISA's register tile:
//   static constexpr int kRows;    // output pixels per tile
//   static constexpr int kBlocks;  // blocks of 16 channels per tile (tasks
//                                  // split the blocks in multiples of it)
//   // Output pixels [m, m + rows_used) (rows_used <= kRows) for `blocks`
//   // (1..kBlocks) blocks whose packed weights start at w, one after the
//   // other (block_floats apart): rows[p * kRows + r] is where the
//   // `channels` inputs of reduction segment p (a kernel position, or the
//   // whole window when gathered into a panel) of tile row r start; rows
//   // past rows_used repeat the last real one. `out` is output pixel m's
//   // first channel of the first block; the first `columns` (1 or more,
//   // possibly past the tile's blocks) output channels from there are real.
//   // `add`, when not null, is output pixel m's first channel of the first
//   // block in DenseConvArgs::addend, its pixels add_stride floats apart:
//   // each output value is that addend's value plus the sum, clamped after.
//   static void Run(const DenseConvShape& s, int64_t rows_used, int64_t positions,
//                   int64_t channels, const float* const* rows, const float* w,
//                   int64_t block_floats, int64_t blocks, float* out, int64_t columns,
//                   const float* add, int64_t add_stride);
template <typename Tile>
void RunDenseConvTile(const DenseConvTask& task, int64_t block, int64_t pixel, int64_t blocks,
                      int64_t count) {
  constexpr int kRows = Tile::kRows;
  const DenseConvArgs& args = *task.args;
  const DenseConvShape& s = args.shape;
  const float* rows[kDenseConvMaxPositions * kRows];
  alignas(64) float panel[kRows * kDenseConvMaxPanel];
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
  at.Seek(s, pixel);
  const int64_t end = pixel + count;
  for (int64_t m = pixel, used = 0; m < end; m += used) {
    used = end - m < kRows ? end - m : kRows;
    // 1-3 pixels past a full tile: two tiles of about half instead. A tile
    // of r rows takes max(r, 4) cycles per reduction step (its accumulators
    // each wait on the FMA latency of 4 cycles), so with 6-row tiles 6 + 1
    // rows cost 10 cycles, 4 + 3 rows 8.
    if (end - m > kRows && end - m <= kRows + 3) used = (end - m + 1) / 2;
    for (int64_t r = 0; r < kRows; ++r) {
      // Rows past the end repeat the last real one: read, never stored.
      const bool real = r < used;
      if (task.pointwise) {
        rows[r] = args.input + (m + (real ? r : used - 1)) * s.in_pixel_stride;
      } else if (task.window_rows) {
        if (real) {
          WindowRowSegments<kRows>(args, at, panel + r * window, rows + r);
        } else {
          for (int64_t p = 0; p < positions; ++p) {
            rows[p * kRows + r] = rows[p * kRows + used - 1];
          }
        }
      } else if (task.gather) {
        if (real) GatherWindow(args, at, panel + r * channels);
        rows[r] = panel + (real ? r : used - 1) * channels;
      } else if (real) {
        WindowRows<kRows>(args, at, rows + r);
      } else {
        for (int64_t p = 0; p < positions; ++p) rows[p * kRows + r] = rows[p * kRows + used - 1];
      }
      if (real && !task.pointwise) at.Next(s);
    }
    for (int64_t b = block; b < block + blocks; b += Tile::kBlocks) {
      const int64_t tile_blocks =
          block + blocks - b < Tile::kBlocks ? block + blocks - b : Tile::kBlocks;
      const int64_t columns = s.out_channels - b * kDenseConvBlock;
      Tile::Run(s, used, positions, channels, rows, args.packed + b * task.block_floats,
                task.block_floats, tile_blocks,
                args.output + m * s.out_pixel_stride + b * kDenseConvBlock, columns,
                args.addend == nullptr
                    ? nullptr
                    : args.addend + m * args.addend_pixel_stride + b * kDenseConvBlock,
                args.addend_pixel_stride);
    }
  }
}

// pthreadpool-style task `index`: block tasks outer, pixel tasks inner
// (consecutive tasks share a block's weights).
template <typename Tile>
void RunDenseConvTask(void* context, size_t index) {
  const DenseConvTask& task = *static_cast<const DenseConvTask*>(context);
  const int64_t i = static_cast<int64_t>(index);
  const int64_t block = i / task.pixel_tasks * task.tile_blocks;
  const int64_t pixel = i % task.pixel_tasks * task.tile_pixels;
  const int64_t blocks =
      task.blocks - block < task.tile_blocks ? task.blocks - block : task.tile_blocks;
  const int64_t count =
      i % task.pixel_tasks == task.pixel_tasks - 1 ? task.pixels - pixel : task.tile_pixels;
  RunDenseConvTile<Tile>(task, block, pixel, blocks, count);
}

// DenseConvRun on the register tile Tile (see RunDenseConvTile).
template <typename Tile>
void RunDenseConv(const DenseConvArgs& args, WorkPool* pool) {
  constexpr int kRows = Tile::kRows;
  const DenseConvShape& s = args.shape;
  DenseConvTask task;
  task.args = &args;
  task.positions = s.kernel_h * s.kernel_w;
  task.block_floats = kDenseConvBlock * (1 + task.positions * s.in_channels);
  task.pointwise = s.kernel_h == 1 && s.kernel_w == 1 && s.stride_h == 1 && s.stride_w == 1 &&
                   s.pad_top == 0 && s.pad_left == 0 && s.in_h == s.out_h && s.in_w == s.out_w;
  task.gather = !task.pointwise && DenseConvGathers(s);
  task.window_rows = task.gather && s.dilation_w == 1 && s.in_pixel_stride == s.in_channels;
  const int64_t blocks = (s.out_channels + kDenseConvBlock - 1) / kDenseConvBlock;
  const int64_t pixels = s.batch * s.out_h * s.out_w;
  const int64_t tiles = (pixels + kRows - 1) / kRows;
  // Weights that stay in L2 (up to 192 KiB): every block in one task, so each
  // tile's addresses are computed once. Larger: one tile's blocks per task,
  // blocks outer, so those weights stay in cache while its tiles sweep the
  // output.
  const bool all_blocks = blocks * task.block_floats * 4 <= (192 << 10);
  const int64_t tile_blocks = all_blocks ? blocks : Tile::kBlocks;
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
  task.tile_pixels = tiles_per_task * kRows;
  task.pixel_tasks = (pixels + task.tile_pixels - 1) / task.tile_pixels;
  // A last task of 1-3 pixels joins the one before (RunDenseConvTile then
  // splits the pixels at its end into two tiles): alone it would run a
  // latency-bound tile of 1-3 rows.
  if (task.pixel_tasks > 1 && pixels - (task.pixel_tasks - 1) * task.tile_pixels <= 3) {
    --task.pixel_tasks;
  }
  const int64_t block_tasks = (blocks + tile_blocks - 1) / tile_blocks;
  WorkPoolRun(pool, RunDenseConvTask<Tile>, &task,
              static_cast<size_t>(block_tasks * task.pixel_tasks));
}

}  // namespace
}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_DENSE_CONV_DRIVER_H_
