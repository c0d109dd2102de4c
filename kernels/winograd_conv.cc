// The portable half of winograd_conv.h: applicability, planning and the
// weight transform.
#include "winograd_conv.h"

#include <algorithm>

namespace serenity::kernels {
namespace {

// G of F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", interpolation points 0, 1, -1, 2, -2 and infinity): a 3x3
// kernel g becomes G g G^T.
// clang-format off
constexpr double kG[kWinogradInTile][3] = {
    {1.0 / 4, 0.0, 0.0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0.0, 0.0, 1.0},
};
// clang-format on

// Scratch per slot at most this many bytes, unless a single group of six
// tiles needs more: a task's transformed inputs and products then stay in L2
// (512 KiB per core on the Zen 3 this was tuned on), and even ResNet-18's
// 28x28 stage splits into enough tasks (9) to keep two threads busy. 768
// KiB ran RandWire-32's 39>78 and ResNet-18's 56x56 and 28x28 stages
// 10-40% slower at 2 threads (bench/conv_bench).
constexpr int64_t kSlotBudgetBytes = int64_t{256} << 10;
// Output channels per task: more would make the GEMM's output rows (and the
// scratch) longer without saving any input transform worth having.
constexpr int64_t kMaxChunkBlocks = 8;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

bool WinogradConvApplies(const DenseConvShape& shape) {
  return shape.kernel_h == 3 && shape.kernel_w == 3 && shape.stride_h == 1 && shape.stride_w == 1 &&
         shape.dilation_h == 1 && shape.dilation_w == 1 && shape.in_channels >= 1 &&
         shape.out_channels >= 1 && shape.out_h >= 1 && shape.out_w >= 1;
}

bool WinogradConvPreferred(const DenseConvShape& shape) {
  // Fewer than 16 tiles (ResNet-18's 7x7x512 stage has 4): the transformed
  // weights, four times the direct kernel's, are each used too few times to
  // pay for reading them (bench/conv_bench: no faster at 1 thread, slower at
  // 2).
  const int64_t tiles = shape.batch * CeilDiv(shape.out_h, kWinogradOutTile) *
                        CeilDiv(shape.out_w, kWinogradOutTile);
  return WinogradConvApplies(shape) && shape.in_channels >= 32 && shape.out_channels >= 32 &&
         tiles >= 16;
}

WinogradConvPlan WinogradConvPlanFor(const DenseConvShape& shape, int64_t threads) {
  WinogradConvPlan plan;
  plan.tiles_h = CeilDiv(shape.out_h, kWinogradOutTile);
  plan.tiles_w = CeilDiv(shape.out_w, kWinogradOutTile);
  plan.tiles = shape.batch * plan.tiles_h * plan.tiles_w;
  plan.channel_floats = CeilDiv(shape.in_channels, 8) * 8;
  plan.blocks = CeilDiv(shape.out_channels, kDenseConvBlock);
  plan.chunk_blocks = plan.blocks < kMaxChunkBlocks ? plan.blocks : kMaxChunkBlocks;
  const int64_t tile_bytes = kWinogradPositions *
                             (plan.channel_floats + plan.chunk_blocks * kDenseConvBlock) *
                             static_cast<int64_t>(sizeof(float));
  int64_t group = kSlotBudgetBytes / tile_bytes / 6 * 6;
  if (group < 6) group = 6;
  if (group > plan.tiles) group = plan.tiles;
  plan.group_tiles = group;
  plan.groups = CeilDiv(plan.tiles, group);
  plan.chunks = CeilDiv(plan.blocks, plan.chunk_blocks);
  plan.slots = threads < 1 ? 1 : threads;
  plan.slot_floats =
      kWinogradPositions * group * (plan.channel_floats + plan.chunk_blocks * kDenseConvBlock);
  return plan;
}

size_t WinogradConvPackedFloats(const DenseConvShape& shape) {
  const int64_t blocks = CeilDiv(shape.out_channels, kDenseConvBlock);
  return static_cast<size_t>(blocks * kDenseConvBlock *
                             (1 + kWinogradPositions * shape.in_channels));
}

void WinogradConvPackWeights(const DenseConvShape& shape, const float* weights, const float* bias,
                             float* packed) {
  const int64_t channels = shape.in_channels;
  const int64_t blocks = CeilDiv(shape.out_channels, kDenseConvBlock);
  const int64_t padded = blocks * kDenseConvBlock;
  for (int64_t o = 0; o < padded; ++o) {
    packed[o] = (o < shape.out_channels && bias != nullptr) ? bias[o] : 0.0f;
  }
  // Output channels a block at a time, the block's 16 lanes side by side
  // (the lane the innermost loop: the transform vectorises), each
  // transformed position's 16 floats written as one run. (Channel by
  // channel, each 64-byte run was written a float at a time, 16 visits
  // apart, after the megabytes between had evicted it: the largest part of
  // ResNet-18's load time.)
  float* transformed = packed + padded;
  constexpr int64_t kLanes = kDenseConvBlock;
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t lanes = std::min(kLanes, shape.out_channels - block * kLanes);
    for (int64_t c = 0; c < channels; ++c) {
      // OHWI: g[ky][kx] of output channel o = weights[((o * 3 + ky) * 3 + kx) * channels + c];
      // padding lanes hold zeros.
      double g[3][3][kLanes] = {};
      for (int64_t lane = 0; lane < lanes; ++lane) {
        const float* w = weights + (block * kLanes + lane) * 9 * channels + c;
        for (int ky = 0; ky < 3; ++ky) {
          for (int kx = 0; kx < 3; ++kx) g[ky][kx][lane] = w[(ky * 3 + kx) * channels];
        }
      }
      double gg[kWinogradInTile][3][kLanes];  // G g
      for (int i = 0; i < kWinogradInTile; ++i) {
        for (int kx = 0; kx < 3; ++kx) {
          for (int64_t lane = 0; lane < kLanes; ++lane) {
            gg[i][kx][lane] =
                kG[i][0] * g[0][kx][lane] + kG[i][1] * g[1][kx][lane] + kG[i][2] * g[2][kx][lane];
          }
        }
      }
      for (int i = 0; i < kWinogradInTile; ++i) {
        for (int j = 0; j < kWinogradInTile; ++j) {
          float* run =
              &transformed[(((i * kWinogradInTile + j) * blocks + block) * channels + c) * kLanes];
          for (int64_t lane = 0; lane < kLanes; ++lane) {
            run[lane] = static_cast<float>(gg[i][0][lane] * kG[j][0] + gg[i][1][lane] * kG[j][1] +
                                           gg[i][2][lane] * kG[j][2]);
          }
        }
      }
    }
  }
}

#if !defined(__x86_64__)
// Never called: DenseConvAvailable() is false off x86-64.
void WinogradConvRun(const DenseConvArgs&, const WinogradConvPlan&, float*, int*, WorkPool*) {}
#endif

}  // namespace serenity::kernels
