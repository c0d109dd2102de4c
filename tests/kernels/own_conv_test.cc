// Serenity's own convolution kernels (kernels/dense_conv.h,
// kernels/depthwise_conv.h) against the reference: tile remainders (output
// channels around multiples of 8 and 16, pixel counts around multiples of 6),
// few and many input channels (window gather or per-position addresses),
// 1x1 fast path, strides, asymmetric paddings, dilations, channel slices,
// batches, 1 and 2 threads, and shapes large enough to take the parallel and
// one-block-per-task paths. Depthwise: 3x3, 5x5 and 7x7 windows with
// dilations 1 and 2 and strides 1 and 2 (the reusing path), other widths,
// strides and dilations (the generic path), rows of every group remainder,
// windows that reach past the padding, channel counts around multiples of 8
// (overlapping last vector, masked below 8), and equality with XNNPACK. On
// CPUs without AVX2 + FMA (and on ARM) the same cases run on XNNPACK and the
// checks that the own kernel was chosen are skipped. On AVX-512F CPUs every
// dense direct case runs on both of the dense kernel's register tiles
// (12x32 AVX-512, 6x16 AVX2), and the two must agree bit for bit. Winograd F(4x4, 3x3)
// (kernels/winograd_conv.h): channels and image sizes around the vector and
// tile widths, paddings, slices, batches, activations, threads, several
// tile groups and output channel chunks, within kWinogradTolerance of the
// output's scale.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "dense_conv.h"
#include "depthwise_conv.h"
#include "op_tester.h"
#include "winograd_conv.h"

namespace serenity::kernels::testing {
namespace {

// Winograd's error relative to the largest output: F(4x4, 3x3) multiplies
// inputs by up to 10 and outputs by up to 18 per dimension in its
// transforms, so float rounding grows with the output's scale, not with each
// value (and with the square root of the channels summed). Observed in these
// tests: up to 1e-5 of the scale with 64 channels, 1.8e-5 with 256. 1e-4
// leaves room for ResNet's 512 and is still about 100 times below what one
// misplaced input pixel (a weight times an input, ~0.3 here, against
// outputs of ~30) would cost.
constexpr double kWinogradTolerance = 1e-4;

struct ConvSpec {
  int64_t batch = 1, height = 8, width = 8, in_channels = 4, out_channels = 4;
  int kernel_h = 3, kernel_w = 3;
  int stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int pad_top = 1, pad_bottom = 1, pad_left = 1, pad_right = 1;
  bool depthwise = false;
  bool bias = true;
  Activation activation = Activation::kNone;
  Placement input_slice, output_slice;
  bool single_threaded = false;
  KernelChoice kernels = KernelChoice::kAuto;
  uint32_t seed = 1;
  bool input_relu = false;

  int64_t OutH() const {
    return (height + pad_top + pad_bottom - ((kernel_h - 1) * dilation_h + 1)) / stride_h + 1;
  }
  int64_t OutW() const {
    return (width + pad_left + pad_right - ((kernel_w - 1) * dilation_w + 1)) / stride_w + 1;
  }

  OpCase Case() const {
    OpCase c;
    c.op.type = OpType::kConv2D;
    Conv2DAttrs attrs;
    attrs.stride_h = stride_h;
    attrs.stride_w = stride_w;
    attrs.dilation_h = dilation_h;
    attrs.dilation_w = dilation_w;
    attrs.pad_top = pad_top;
    attrs.pad_bottom = pad_bottom;
    attrs.pad_left = pad_left;
    attrs.pad_right = pad_right;
    attrs.groups = depthwise ? static_cast<int>(in_channels) : 1;
    attrs.activation = activation;
    c.op.attrs = attrs;
    c.seed = seed;
    c.single_threaded = single_threaded;
    c.kernels = kernels;
    c.input_relu = input_relu;
    if (Winograd()) c.scale_tolerance = kWinogradTolerance;
    OperandSpec x = Spec({batch, height, width, in_channels});
    x.placement = input_slice;
    const int64_t out_channels_now = depthwise ? in_channels : out_channels;
    OperandSpec w = Spec({out_channels_now, kernel_h, kernel_w, depthwise ? 1 : in_channels}, true);
    OperandSpec b = Spec({out_channels_now}, true);
    b.absent = !bias;
    c.inputs = {x, w, b};
    c.output.shape = {batch, OutH(), OutW(), out_channels_now};
    c.output.placement = output_slice;
    return c;
  }

  DenseConvShape Shape() const {
    DenseConvShape s;
    s.batch = batch;
    s.in_h = height;
    s.in_w = width;
    s.in_channels = in_channels;
    s.out_h = OutH();
    s.out_w = OutW();
    s.out_channels = depthwise ? in_channels : out_channels;
    s.kernel_h = kernel_h;
    s.kernel_w = kernel_w;
    s.stride_h = stride_h;
    s.stride_w = stride_w;
    s.dilation_h = dilation_h;
    s.dilation_w = dilation_w;
    return s;
  }

  // True when the case binds the Winograd kernel (on AVX2 + FMA CPUs).
  bool Winograd() const {
    if (depthwise || !DenseConvAvailable()) return false;
    if (kernels == KernelChoice::kWinograd) return WinogradConvApplies(Shape());
    return kernels == KernelChoice::kAuto && WinogradConvPreferred(Shape());
  }
};

// The dense kernel's register tiles this CPU runs: AVX-512 and AVX2 on an
// AVX-512F CPU, AVX2 alone on others.
std::vector<DenseConvIsa> DenseTiles() {
  std::vector<DenseConvIsa> tiles;
  for (DenseConvIsa isa : {DenseConvIsa::kAvx512, DenseConvIsa::kAvx2}) {
    if (DenseConvIsaAvailable(isa)) tiles.push_back(isa);
  }
  return tiles;
}

const char* TileName(DenseConvIsa isa) {
  return isa == DenseConvIsa::kAvx512 ? "avx512 tile" : "avx2 tile";
}

// Makes DenseConvRun use one tile while it lives, then the default again.
class UseDenseTile {
 public:
  explicit UseDenseTile(DenseConvIsa isa) : previous_(DenseConvIsaInUse()) {
    EXPECT_TRUE(SetDenseConvIsaForTesting(isa)) << TileName(isa);
  }
  ~UseDenseTile() { SetDenseConvIsaForTesting(previous_); }
  UseDenseTile(const UseDenseTile&) = delete;
  UseDenseTile& operator=(const UseDenseTile&) = delete;

 private:
  DenseConvIsa previous_;
};

// Runs the case against the reference, then checks which kernel was bound:
// the own kernels report their packed bytes, which differ from XNNPACK's
// (the weights and biases handed to it).
void CheckOnce(const ConvSpec& spec) {
  const OpCase c = spec.Case();
  RunCase(c);
  if (!DenseConvAvailable()) return;
  Result<BoundCase> bound = BindCase(c);
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  const bool own = !spec.depthwise || spec.input_relu ||
                   DepthwiseConvPreferred(spec.kernel_h, spec.kernel_w, spec.stride_h,
                                          spec.stride_w, spec.single_threaded ? 1 : 2);
  size_t floats = !own ? spec.in_channels * (spec.kernel_h * spec.kernel_w + 1)
                       : (spec.depthwise ? DepthwiseConvPackedFloats(spec.Shape())
                                         : DenseConvPackedFloats(spec.Shape()));
  if (spec.Winograd()) floats = WinogradConvPackedFloats(spec.Shape());
  EXPECT_EQ(bound->op->packed_weight_bytes(), floats * sizeof(float)) << Describe(c);
}

// CheckOnce on each of the dense kernel's tiles: dense cases (direct, and
// Winograd, whose GEMM runs on the AVX-512 tile too) and depthwise ones (the
// depthwise kernel follows the same switch: 8- or 16-float vectors).
void Check(const ConvSpec& spec) {
  if (!DenseConvAvailable()) return CheckOnce(spec);
  for (DenseConvIsa isa : DenseTiles()) {
    SCOPED_TRACE(TileName(isa));
    UseDenseTile use(isa);
    CheckOnce(spec);
  }
}

// The case's outputs on the first two of DenseTiles(): bit-identical.
void ExpectIdenticalOnEachTile(const ConvSpec& spec) {
  std::vector<float> outputs[2];
  for (int k = 0; k < 2; ++k) {
    UseDenseTile use(DenseTiles()[k]);
    outputs[k] = RunOutput(spec.Case());
  }
  ASSERT_EQ(outputs[0].size(), outputs[1].size());
  size_t differing = 0;
  for (size_t i = 0; i < outputs[0].size(); ++i) {
    differing += outputs[0][i] != outputs[1][i] ? 1 : 0;
  }
  EXPECT_EQ(differing, 0u) << Describe(spec.Case());
}

// The case on the kernel the engine picks and on XNNPACK: the same results.
void CheckSameAsXnnpack(const ConvSpec& spec) { ExpectSameAsXnnpack(spec.Case()); }

TEST(OwnDenseConvTest, WidestTileByDefault) {
  if (!DenseConvAvailable()) GTEST_SKIP() << "no own dense kernel on this CPU or build";
  const std::vector<DenseConvIsa> tiles = DenseTiles();
  EXPECT_EQ(DenseConvIsaInUse(), tiles.front());
  EXPECT_EQ(tiles.back(), DenseConvIsa::kAvx2);
#if defined(__x86_64__)
  EXPECT_EQ(DenseConvIsaAvailable(DenseConvIsa::kAvx512), __builtin_cpu_supports("avx512f") != 0);
#endif
}

TEST(OwnDenseConvTest, TilesGiveIdenticalResults) {
  // Each output is the bias plus the same FMAs in the same order on either
  // tile: bit-identical outputs. Pixel counts around multiples of 6 and 12,
  // output channels around multiples of 16 and 32 (pairs of blocks and a
  // last odd one), every path (pointwise, per position, gather, window rows),
  // and Winograd's GEMM (output tiles around multiples of 12).
  if (DenseTiles().size() < 2) GTEST_SKIP() << "one dense tile on this CPU";
  uint32_t seed = 900;
  for (int64_t width : {5, 13, 25}) {
    for (int64_t out_channels : {15, 33, 48, 70}) {
      for (int64_t in_channels : {3, 20}) {
        for (int kernel : {1, 3, 0}) {
          // Kernel 0: 3x3 on Winograd, over 3 x width / 16 tiles of 4x4.
          ConvSpec s;
          s.height = kernel == 0 ? 4 * 3 : 3;
          s.width = kernel == 0 ? 4 * width : width;
          s.in_channels = in_channels;
          s.out_channels = out_channels;
          s.kernel_h = s.kernel_w = kernel == 0 ? 3 : kernel;
          s.pad_top = s.pad_bottom = s.pad_left = s.pad_right = s.kernel_h / 2;
          s.kernels = kernel == 0 ? KernelChoice::kWinograd : KernelChoice::kDirect;
          s.activation = Activation::kRelu;
          s.seed = seed++;
          ExpectIdenticalOnEachTile(s);
        }
      }
    }
  }
}

TEST(OwnDenseConvTest, OutputChannelRemainders) {
  // 1..40 output channels: full 16-blocks, a last block of 9-15 (two
  // vectors, masked second) or 1-8 (one vector); on the AVX-512 tile pairs
  // of blocks, the second partial (17-32) or followed by an odd one
  // (33-40). 7x7 = 49 pixels: 8 tiles of 6 and one of 1 (AVX2), 3 tiles of
  // 12 and the last 13 as 7 + 6 (AVX-512).
  uint32_t seed = 1;
  for (int64_t o = 1; o <= 40; ++o) {
    ConvSpec s;
    s.height = s.width = 7;
    s.in_channels = 19;
    s.out_channels = o;
    s.seed = seed++;
    Check(s);
  }
}

TEST(OwnDenseConvTest, InputChannelsAndWindows) {
  // Fewer than 16 input channels gather each window into a panel; more use
  // per-position addresses; 1x1 stride 1 unpadded takes the pointwise path.
  uint32_t seed = 100;
  for (int64_t c : {1, 2, 3, 15, 16, 17, 40}) {
    for (int k : {1, 2, 3, 5, 7}) {
      ConvSpec s;
      s.height = 9;
      s.width = 10;
      s.in_channels = c;
      s.out_channels = 21;
      s.kernel_h = s.kernel_w = k;
      s.pad_top = s.pad_bottom = s.pad_left = s.pad_right = k / 2;
      s.seed = seed++;
      Check(s);
    }
  }
}

TEST(OwnDenseConvTest, StridesPaddingsDilations) {
  uint32_t seed = 200;
  for (int64_t c : {3, 24}) {
    for (int stride : {1, 2, 3}) {
      for (int dilation : {1, 2}) {
        ConvSpec s;
        s.height = 13;
        s.width = 11;
        s.in_channels = c;
        s.out_channels = 18;
        s.stride_h = stride;
        s.stride_w = stride == 3 ? 1 : stride;
        s.dilation_h = dilation;
        s.dilation_w = dilation == 2 ? 1 : 2;
        s.pad_top = 2;
        s.pad_bottom = 0;
        s.pad_left = 0;
        s.pad_right = 1;
        s.seed = seed++;
        Check(s);
      }
    }
  }
  // 7x7 stride 2 pad 3 on 3 channels: ResNet's first convolution, smaller.
  ConvSpec s;
  s.height = s.width = 20;
  s.in_channels = 3;
  s.out_channels = 16;
  s.kernel_h = s.kernel_w = 7;
  s.stride_h = s.stride_w = 2;
  s.pad_top = s.pad_bottom = s.pad_left = s.pad_right = 3;
  Check(s);
  // 1x1 with stride 2 and 1x1 with padding: not the pointwise path.
  ConvSpec t;
  t.kernel_h = t.kernel_w = 1;
  t.in_channels = 20;
  t.out_channels = 12;
  t.stride_h = t.stride_w = 2;
  t.pad_top = t.pad_bottom = t.pad_left = t.pad_right = 0;
  Check(t);
  t.stride_h = t.stride_w = 1;
  t.pad_top = t.pad_left = 1;
  t.pad_bottom = t.pad_right = 0;
  Check(t);
}

TEST(OwnDenseConvTest, FewInputChannelsWindowRows) {
  // Fewer than 16 input channels with dense input pixels and no horizontal
  // dilation: windows inside the image horizontally read their rows in
  // place, the others are gathered; rows above or below the image read
  // zeros. Kernel widths 1-7, strides 1-3, paddings 0-3 (some rows and
  // columns of windows wholly outside), vertical dilation, batches, widths
  // where every window reaches a border; then an input slice and a
  // horizontal dilation (every window gathered). 1 and 2 threads.
  uint32_t seed = 1500;
  for (int kernel : {1, 3, 5, 7}) {
    for (int stride : {1, 2, 3}) {
      for (int pad : {0, 1, 3}) {
        for (int64_t width : {3, 9, 17}) {
          if (pad >= kernel || width + 2 * pad - (pad > 0 ? 1 : 0) < kernel) continue;
          ConvSpec s;
          s.batch = width == 9 ? 2 : 1;
          s.height = 11;
          s.width = width;
          s.in_channels = 1 + seed % 15;
          s.out_channels = 8 + seed % 19;
          s.kernel_h = s.kernel_w = kernel;
          s.stride_h = s.stride_w = stride;
          s.pad_top = s.pad_left = pad;
          s.pad_bottom = s.pad_right = pad > 0 ? pad - 1 : 0;
          s.dilation_h = kernel == 3 && stride == 1 ? 2 : 1;
          s.pad_top = s.pad_top * s.dilation_h;
          s.seed = seed++;
          s.single_threaded = seed % 2 == 0;
          Check(s);
        }
      }
    }
  }
  ConvSpec s;
  s.height = s.width = 13;
  s.in_channels = 3;
  s.out_channels = 24;
  s.stride_h = s.stride_w = 2;
  s.input_slice = Placement{2, 5};
  s.seed = seed++;
  Check(s);
  s.input_slice = Placement{};
  s.dilation_w = 2;
  s.pad_left = s.pad_right = 2;
  s.seed = seed++;
  Check(s);
  // Large enough for tasks on both threads (above kDenseConvParallelMacs).
  s.dilation_w = 1;
  s.pad_left = s.pad_right = 1;
  s.height = s.width = 64;
  s.out_channels = 40;
  s.seed = seed++;
  Check(s);
}

TEST(OwnDenseConvTest, ChannelSlicesBatchesActivations) {
  uint32_t seed = 300;
  for (int64_t c : {5, 20}) {
    for (int k : {1, 3}) {
      ConvSpec s;
      s.batch = 2;
      s.height = 5;
      s.width = 7;
      s.in_channels = c;
      s.out_channels = 11;
      s.kernel_h = s.kernel_w = k;
      s.pad_top = s.pad_bottom = s.pad_left = s.pad_right = k / 2;
      s.input_slice = {3, 6};
      s.output_slice = {4, 9};
      s.activation = k == 1 ? Activation::kRelu : Activation::kRelu6;
      s.bias = k == 3;
      s.seed = seed++;
      Check(s);
    }
  }
}

TEST(OwnDenseConvTest, LargeShapesOneAndTwoThreads) {
  // Above kDenseConvParallelMacs: the pool splits the work. 3x3x64 -> 128
  // packs 295 KiB of weights: one block per task. 1x1 48 -> 36 at 32x32:
  // every block per task, 171 tiles.
  uint32_t seed = 400;
  for (bool single : {false, true}) {
    ConvSpec a;
    a.height = a.width = 12;
    a.in_channels = 64;
    a.out_channels = 128;
    a.single_threaded = single;
    a.output_slice = {8, 8};
    a.seed = seed++;
    Check(a);
    ConvSpec b;
    b.height = b.width = 32;
    b.in_channels = 48;
    b.out_channels = 36;
    b.kernel_h = b.kernel_w = 1;
    b.pad_top = b.pad_bottom = b.pad_left = b.pad_right = 0;
    b.single_threaded = single;
    b.input_slice = {16, 16};
    b.seed = seed++;
    Check(b);
    ConvSpec c;
    c.height = c.width = 40;
    c.in_channels = 3;
    c.out_channels = 40;
    c.kernel_h = c.kernel_w = 7;
    c.stride_h = c.stride_w = 2;
    c.pad_top = c.pad_bottom = c.pad_left = c.pad_right = 3;
    c.single_threaded = single;
    c.seed = seed++;
    Check(c);
  }
}

TEST(OwnDenseConvTest, PixelRemaindersJoinTheLastTask) {
  // Parallel shapes (above kDenseConvParallelMacs) whose pixel count leaves
  // 1-3 pixels after the last full task: that task takes them, and its last
  // 7-9 pixels run as two tiles of 3-5 rows. 49 = 7x7 (MobileNetV2's and
  // DARTS-ImageNet's last stage), 50, 51 and 55-57 pixels; 208 input
  // channels keep the weights in one task (every block), 768 split them one
  // block per task; 104 output channels (a half block last); 1 and 2
  // threads; an output channel slice.
  uint32_t seed = 450;
  for (bool single : {false, true}) {
    for (int64_t in_channels : {208, 768}) {
      for (auto hw :
           {std::pair<int64_t, int64_t>{7, 7}, {5, 10}, {3, 17}, {5, 11}, {7, 8}, {3, 19}}) {
        ConvSpec s;
        s.height = hw.first;
        s.width = hw.second;
        s.in_channels = in_channels;
        s.out_channels = 104;
        s.kernel_h = s.kernel_w = 1;
        s.pad_top = s.pad_bottom = s.pad_left = s.pad_right = 0;
        s.single_threaded = single;
        if (in_channels == 768) s.output_slice = {8, 16};
        s.activation = Activation::kRelu;
        s.seed = seed++;
        ASSERT_GE(s.height * s.width * in_channels * s.out_channels, kDenseConvParallelMacs);
        Check(s);
      }
    }
  }
}

// The random tests' bias, activation, channel slices and threading.
template <typename Pick>
void PickEpilogue(Pick& pick, ConvSpec* s) {
  s->bias = pick(0, 3) != 0;
  s->activation = static_cast<Activation>(pick(0, 2));
  if (pick(0, 1)) s->input_slice = {pick(0, 3), 3};
  if (pick(0, 1)) s->output_slice = {pick(0, 5), 5};
  s->single_threaded = pick(0, 1) != 0;
}

TEST(OwnDenseConvTest, RandomConfigurations) {
  std::mt19937 rng(7);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int tested = 0;
  for (uint32_t seed = 500; tested < 60; ++seed) {
    ConvSpec s;
    s.batch = pick(1, 2);
    s.height = pick(1, 14);
    s.width = pick(1, 14);
    s.in_channels = pick(1, 40);
    s.out_channels = pick(1, 40);
    s.kernel_h = pick(1, 5);
    s.kernel_w = pick(1, 5);
    s.stride_h = pick(1, 3);
    s.stride_w = pick(1, 3);
    s.dilation_h = pick(1, 3);
    s.dilation_w = pick(1, 3);
    s.pad_top = pick(0, s.kernel_h - 1);
    s.pad_bottom = pick(0, s.kernel_h - 1);
    s.pad_left = pick(0, s.kernel_w - 1);
    s.pad_right = pick(0, s.kernel_w - 1);
    if (s.height + s.pad_top + s.pad_bottom < (s.kernel_h - 1) * s.dilation_h + 1 ||
        s.width + s.pad_left + s.pad_right < (s.kernel_w - 1) * s.dilation_w + 1) {
      continue;
    }
    PickEpilogue(pick, &s);
    s.seed = seed;
    Check(s);
    ++tested;
  }
}

// DenseConvArgs::addend (an Add the engine folds into the convolution):
// DenseConvRun on each tile, against a naive convolution plus the addend,
// clamped after the sum. The addend in its own strided buffer, or the output
// itself (the sum in place); floats between the output's pixels stay as
// they were.
struct AddendCase {
  int64_t height, width, in_channels, out_channels;
  int kernel, stride, pad;
};

// The dense kernel (`winograd` false: direct, true: Winograd F(4x4, 3x3))
// adding an addend against a naive convolution plus addend, clamped.
void CheckAddend(const AddendCase& k, bool in_place, float out_min, float out_max, bool two_threads,
                 uint32_t seed, bool winograd = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  DenseConvShape s;
  s.batch = 1;
  s.in_h = k.height;
  s.in_w = k.width;
  s.in_channels = k.in_channels;
  s.out_h = (k.height + 2 * k.pad - k.kernel) / k.stride + 1;
  s.out_w = (k.width + 2 * k.pad - k.kernel) / k.stride + 1;
  s.out_channels = k.out_channels;
  s.kernel_h = s.kernel_w = k.kernel;
  s.stride_h = s.stride_w = k.stride;
  s.pad_top = s.pad_left = k.pad;
  s.in_pixel_stride = k.in_channels;
  s.out_pixel_stride = k.out_channels + 3;
  s.out_min = out_min;
  s.out_max = out_max;
  const int64_t pixels = s.out_h * s.out_w;
  std::vector<float> input(k.height * k.width * k.in_channels);
  std::vector<float> weights(k.out_channels * k.kernel * k.kernel * k.in_channels);
  std::vector<float> bias(k.out_channels);
  for (float& x : input) x = value(rng);
  for (float& x : weights) x = value(rng);
  for (float& x : bias) x = value(rng);
  const int64_t addend_stride = in_place ? s.out_pixel_stride : k.out_channels + 5;
  std::vector<float> addend(pixels * addend_stride, -7.0f);
  for (int64_t p = 0; p < pixels; ++p) {
    for (int64_t o = 0; o < k.out_channels; ++o) addend[p * addend_stride + o] = 2.0f * value(rng);
  }
  std::vector<float> expected(pixels * k.out_channels);
  for (int64_t oy = 0; oy < s.out_h; ++oy) {
    for (int64_t ox = 0; ox < s.out_w; ++ox) {
      const int64_t p = oy * s.out_w + ox;
      for (int64_t o = 0; o < k.out_channels; ++o) {
        double sum = bias[o] + addend[p * addend_stride + o];
        for (int ky = 0; ky < k.kernel; ++ky) {
          for (int kx = 0; kx < k.kernel; ++kx) {
            const int64_t iy = oy * k.stride - k.pad + ky, ix = ox * k.stride - k.pad + kx;
            if (iy < 0 || iy >= k.height || ix < 0 || ix >= k.width) continue;
            for (int64_t i = 0; i < k.in_channels; ++i) {
              sum += static_cast<double>(
                         weights[((o * k.kernel + ky) * k.kernel + kx) * k.in_channels + i]) *
                     input[(iy * k.width + ix) * k.in_channels + i];
            }
          }
        }
        expected[p * k.out_channels + o] =
            static_cast<float>(std::min<double>(std::max<double>(sum, out_min), out_max));
      }
    }
  }
  ASSERT_TRUE(!winograd || WinogradConvApplies(s));
  std::vector<float> packed(winograd ? WinogradConvPackedFloats(s) : DenseConvPackedFloats(s));
  if (winograd) {
    WinogradConvPackWeights(s, weights.data(), bias.data(), packed.data());
  } else {
    DenseConvPackWeights(s, weights.data(), bias.data(), packed.data());
  }
  std::vector<float> zeros(DenseConvZeroFloats(s) + k.in_channels, 0.0f);
  const WinogradConvPlan plan =
      winograd ? WinogradConvPlanFor(s, two_threads ? 2 : 1) : WinogradConvPlan{};
  std::vector<float> scratch(plan.slots * plan.slot_floats);
  std::vector<int> slot_busy(plan.slots, 0);
  for (DenseConvIsa isa : DenseTiles()) {
    UseDenseTile use(isa);
    std::vector<float> output =
        in_place ? addend : std::vector<float>(pixels * s.out_pixel_stride, 5.0f);
    DenseConvArgs args;
    args.shape = s;
    args.packed = packed.data();
    args.zeros = zeros.data();
    args.input = input.data();
    args.output = output.data();
    args.addend = in_place ? output.data() : addend.data();
    args.addend_pixel_stride = addend_stride;
    WorkPool* pool = two_threads ? WorkPoolForThreads(2) : nullptr;
    if (winograd) {
      WinogradConvRun(args, plan, scratch.data(), slot_busy.data(), pool);
    } else {
      DenseConvRun(args, pool);
    }
    int bad = 0;
    for (int64_t p = 0; p < pixels && bad < 3; ++p) {
      for (int64_t o = 0; o < s.out_pixel_stride && bad < 3; ++o) {
        const float got = output[p * s.out_pixel_stride + o];
        const float want =
            o < k.out_channels ? expected[p * k.out_channels + o] : (in_place ? -7.0f : 5.0f);
        if (!(std::fabs(got - want) <= 1e-4f * (1.0f + std::fabs(want)))) {
          ADD_FAILURE() << (winograd ? "Winograd, " : "") << TileName(isa)
                        << (in_place ? ", in place" : ", own buffer")
                        << (two_threads ? ", 2 threads" : "") << ": " << k.height << "x" << k.width
                        << "x" << k.in_channels << " -> " << k.out_channels << ", kernel "
                        << k.kernel << " stride " << k.stride << ": pixel " << p << " channel " << o
                        << " is " << got << ", expected " << want;
          ++bad;
        }
      }
    }
  }
}

TEST(OwnDenseConvTest, AddendAddedBeforeTheClamp) {
  if (!DenseConvAvailable()) GTEST_SKIP() << "no own dense kernel on this CPU or build";
  // 1x1 (the pointwise path), 3x3 (per-position addresses), few input
  // channels (gathered windows), output channels with partial vectors and
  // blocks on both tiles, and a size split over threads.
  const AddendCase cases[] = {{5, 7, 8, 5, 1, 1, 0},    {6, 6, 12, 16, 1, 1, 0},
                              {7, 5, 20, 20, 3, 1, 1},  {9, 9, 3, 40, 3, 2, 1},
                              {4, 13, 33, 37, 1, 1, 0}, {32, 32, 32, 44, 1, 1, 0}};
  uint32_t seed = 1700;
  for (const AddendCase& k : cases) {
    for (bool in_place : {false, true}) {
      CheckAddend(k, in_place, -INFINITY, INFINITY, false, seed++);
      CheckAddend(k, in_place, 0.0f, 6.0f, true, seed++);
    }
  }
}

TEST(OwnWinogradConvTest, AddendAddedBeforeTheClamp) {
  if (!DenseConvAvailable()) GTEST_SKIP() << "no own dense kernel on this CPU or build";
  // Output tiles whole and cut at the image's edge, output channels with
  // partial vectors (5, 13, 37) and several blocks, and a size split over
  // threads.
  const AddendCase cases[] = {{4, 4, 8, 5, 3, 1, 1},
                              {7, 9, 12, 13, 3, 1, 1},
                              {6, 5, 20, 37, 3, 1, 1},
                              {14, 14, 32, 48, 3, 1, 1}};
  uint32_t seed = 1800;
  for (const AddendCase& k : cases) {
    for (bool in_place : {false, true}) {
      CheckAddend(k, in_place, -INFINITY, INFINITY, false, seed++, /*winograd=*/true);
      CheckAddend(k, in_place, 0.0f, 6.0f, true, seed++, /*winograd=*/true);
    }
  }
}

TEST(OwnDenseConvTest, ForcedXnnpackGivesTheSameResults) {
  ConvSpec s;
  s.in_channels = 20;
  s.out_channels = 20;
  OpCase c = s.Case();
  c.kernels = KernelChoice::kXnnpack;
  RunCase(c);
  Result<BoundCase> bound = BindCase(c);
  ASSERT_TRUE(bound.ok());
  // XNNPACK's figure: the weights and biases handed to it, unpadded.
  EXPECT_EQ(bound->op->packed_weight_bytes(), (20 * 3 * 3 * 20 + 20) * sizeof(float));
}

ConvSpec Winograd(int64_t height, int64_t width, int64_t in_channels, int64_t out_channels,
                  uint32_t seed) {
  ConvSpec s;
  s.height = height;
  s.width = width;
  s.in_channels = in_channels;
  s.out_channels = out_channels;
  s.kernels = KernelChoice::kWinograd;
  s.seed = seed;
  return s;
}

TEST(OwnWinogradConvTest, ChannelsAndImageSizes) {
  // Input channels below, at and around multiples of 8 (masked loads);
  // output channels around multiples of 8 and 16 (partial stores, padded
  // blocks); images of 1..13 pixels: whole 4x4 tiles and every remainder.
  uint32_t seed = 1500;
  for (int64_t c : {1, 3, 8, 9, 17, 40}) {
    for (int64_t o : {1, 5, 8, 16, 17, 33}) {
      Check(Winograd(7, 6, c, o, seed++));
    }
  }
  for (int64_t h : {1, 2, 3, 4, 5, 8, 9, 13}) {
    for (int64_t w : {1, 4, 7, 12}) {
      Check(Winograd(h, w, 12, 20, seed++));
    }
  }
}

TEST(OwnWinogradConvTest, Paddings) {
  // Asymmetric paddings 0..3: tiles that start before, at and after the
  // image's edge, and (padding 3) outputs whose window sees only padding.
  uint32_t seed = 1600;
  for (int top = 0; top <= 3; ++top) {
    for (int left = 0; left <= 3; ++left) {
      ConvSpec s = Winograd(9, 11, 10, 18, seed++);
      s.pad_top = top;
      s.pad_left = left;
      s.pad_bottom = (top + 1) % 3;
      s.pad_right = left % 2;
      Check(s);
    }
  }
}

TEST(OwnWinogradConvTest, SlicesBatchesActivationsThreads) {
  uint32_t seed = 1700;
  for (bool single : {false, true}) {
    for (Activation activation : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
      ConvSpec s = Winograd(10, 9, 21, 19, seed++);
      s.batch = 2;
      s.input_slice = {3, 6};
      s.output_slice = {4, 9};
      s.activation = activation;
      s.bias = activation != Activation::kRelu;
      s.single_threaded = single;
      Check(s);
    }
  }
}

TEST(OwnWinogradConvTest, LargeShapesOneAndTwoThreads) {
  // Above kDenseConvParallelMacs: tasks on both threads. 20x20 with 64
  // channels: 25 tiles in several groups; 160 output channels: two chunks of
  // blocks; 14x14x256 (ResNet-18's third stage): 16 tiles, two chunks.
  uint32_t seed = 1800;
  for (bool single : {false, true}) {
    ConvSpec a = Winograd(20, 20, 64, 64, seed++);
    a.single_threaded = single;
    a.output_slice = {8, 8};
    Check(a);
    ConvSpec b = Winograd(11, 13, 130, 160, seed++);
    b.batch = 2;
    b.single_threaded = single;
    b.input_slice = {16, 16};
    b.activation = Activation::kRelu;
    Check(b);
  }
  ConvSpec c = Winograd(14, 14, 256, 256, seed++);
  Check(c);
}

TEST(OwnWinogradConvTest, RandomConfigurations) {
  std::mt19937 rng(13);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (uint32_t seed = 1900; seed < 1950; ++seed) {
    ConvSpec s = Winograd(pick(1, 17), pick(1, 17), pick(1, 48), pick(1, 48), seed);
    s.batch = pick(1, 2);
    s.pad_top = pick(0, 2);
    s.pad_bottom = pick(0, 2);
    s.pad_left = pick(0, 2);
    s.pad_right = pick(0, 2);
    if (s.height + s.pad_top + s.pad_bottom < 3 || s.width + s.pad_left + s.pad_right < 3) {
      continue;
    }
    PickEpilogue(pick, &s);
    Check(s);
  }
}

TEST(OwnWinogradConvTest, ChosenWherePreferred) {
  // ResNet-18's stride-1 3x3 shapes, smaller: kAuto binds Winograd from 16
  // tiles on (Check compares the packed bytes); kDirect binds the direct
  // kernel.
  ConvSpec s;
  s.height = s.width = 16;
  s.in_channels = s.out_channels = 64;
  s.seed = 2000;
  EXPECT_TRUE(!DenseConvAvailable() || s.Winograd());
  Check(s);
  s.kernels = KernelChoice::kDirect;
  EXPECT_FALSE(s.Winograd());
  Check(s);
  s.kernels = KernelChoice::kAuto;
  s.height = 12;  // 12 tiles
  EXPECT_FALSE(s.Winograd());
  Check(s);
  // Stride 2 and dilation 2 never take it.
  ConvSpec t = Winograd(12, 12, 64, 64, 2001);
  t.stride_h = t.stride_w = 2;
  EXPECT_FALSE(t.Winograd());
  Check(t);
  t.stride_h = t.stride_w = 1;
  t.dilation_h = 2;
  t.pad_top = t.pad_bottom = 2;
  EXPECT_FALSE(t.Winograd());
  Check(t);
}

TEST(OwnWinogradConvTest, SameResultsAsXnnpack) {
  uint32_t seed = 2100;
  for (bool single : {false, true}) {
    ConvSpec s = Winograd(16, 15, 48, 40, seed++);
    s.activation = Activation::kRelu;
    s.single_threaded = single;
    OpCase c = s.Case();
    ExpectSameAsXnnpack(c);
  }
}

ConvSpec Depthwise(int64_t height, int64_t width, int64_t channels, int kernel, int stride,
                   int dilation, uint32_t seed) {
  ConvSpec s;
  s.depthwise = true;
  s.height = height;
  s.width = width;
  s.in_channels = channels;
  s.kernel_h = s.kernel_w = kernel;
  s.stride_h = s.stride_w = stride;
  s.dilation_h = s.dilation_w = dilation;
  s.pad_top = s.pad_bottom = s.pad_left = s.pad_right = (kernel - 1) * dilation / 2;
  s.seed = seed;
  return s;
}

TEST(OwnDepthwiseConvTest, ThreeAndFiveWideWindows) {
  // The reusing path's kernel widths, strides and dilations, on odd sizes;
  // channels below 8 (masked), 8, 9 and 36 (the last vector overlaps the one
  // before), 16. On one thread too: 3x3 with stride 2 then binds XNNPACK.
  uint32_t seed = 800;
  for (int kernel : {3, 5, 7}) {
    for (int stride : {1, 2}) {
      for (int dilation : {1, 2}) {
        for (int64_t c : {3, 8, 9, 16, 36}) {
          ConvSpec s = Depthwise(11, 13, c, kernel, stride, dilation, seed++);
          Check(s);
          s.single_threaded = true;
          Check(s);
        }
      }
    }
  }
}

TEST(OwnDepthwiseConvTest, RowWidthsAndGroupRemainders) {
  // Output rows of 1..40 pixels: groups of 8 (6 for 7-wide windows) on AVX2,
  // of 16 then one of 8 on AVX-512, and every remainder, each touching the
  // left border, the right one, both or neither.
  uint32_t seed = 900;
  for (int kernel : {3, 5, 7}) {
    for (int64_t width = 1; width <= 40; ++width) {
      Check(Depthwise(3, width, 12, kernel, 1, 1, seed++));
    }
  }
  for (int64_t width : {1, 2, 5, 8, 14, 15}) {
    Check(Depthwise(4, width, 10, 5, 2, 1, seed++));
    Check(Depthwise(4, width, 10, 3, 1, 2, seed++));
  }
}

TEST(OwnDepthwiseConvTest, ChannelCounts) {
  // 1..40 channels and 144, 192 (MobileNetV2, DARTS): masked vectors below 8
  // (AVX2) or 16 (AVX-512), whole ones, and a last one overlapping the one
  // before; on the reusing path (3x3, 5x5 with stride 2, input through a
  // Relu where the own kernel exists) and the generic one (4x4 and 3x3 with stride 3: one, 2, 4 and
  // 8 pixels at a time with up to 4 vectors each).
  uint32_t seed = 1700;
  std::vector<int64_t> counts;
  for (int64_t c = 1; c <= 40; ++c) counts.push_back(c);
  counts.push_back(144);
  counts.push_back(192);
  for (int64_t c : counts) {
    if (c == 1) continue;  // one channel: groups == 1, a dense convolution
    Check(Depthwise(5, 19, c, 3, 1, 1, seed++));
    ConvSpec relu = Depthwise(6, 21, c, 5, 2, 1, seed++);
    relu.input_relu = true;
    relu.activation = Activation::kRelu6;
    // Only the own kernel reads through a Relu (x86-64 with AVX2 + FMA);
    // elsewhere binding refuses it, as InputThroughReluOnlyOnTheOwnDepthwiseKernel checks.
    if (DenseConvAvailable()) Check(relu);
    Check(Depthwise(5, 15, c, 4, 1, 1, seed++));
    Check(Depthwise(7, 27, c, 3, 3, 1, seed++));
  }
}

TEST(OwnDepthwiseConvTest, BothVectorWidthsGiveIdenticalResults) {
  // Each output is the bias plus the same FMAs in the same order with 8- or
  // 16-float vectors: bit-identical outputs, channel tails, both paths and
  // input through a Relu included.
  if (DenseTiles().size() < 2) GTEST_SKIP() << "one instruction set on this CPU";
  uint32_t seed = 1800;
  for (int kernel : {3, 5, 7, 4}) {
    for (int stride : {1, 2}) {
      for (int64_t c : {5, 12, 24, 37, 144}) {
        ConvSpec s = Depthwise(9, 35, c, kernel, stride, 1, seed++);
        s.activation = Activation::kRelu6;
        s.input_relu = c % 2 == 1;
        ExpectIdenticalOnEachTile(s);
      }
    }
  }
}

TEST(OwnDepthwiseConvTest, PaddingsBeyondTheWindow) {
  // Asymmetric paddings, and paddings so wide that some output pixels see no
  // input at all (their value is the bias).
  uint32_t seed = 1000;
  for (int kernel : {3, 5}) {
    for (int stride : {1, 2}) {
      ConvSpec s = Depthwise(6, 7, 20, kernel, stride, 1, seed++);
      s.pad_top = 0;
      s.pad_bottom = kernel - 1;
      s.pad_left = kernel + 1;
      s.pad_right = 1;
      Check(s);
      s.pad_top = kernel + 2;
      s.pad_bottom = 0;
      s.pad_left = 0;
      s.pad_right = kernel + 2;
      s.seed = seed++;
      Check(s);
    }
  }
}

TEST(OwnDepthwiseConvTest, GenericPathShapes) {
  // Non-square windows (the reusing path follows the kernel's width: 3x5,
  // 5x3 and 1x7 take it), and widths, strides and dilations without one:
  // stride 3, dilation 3, dilation 2 with stride 2, widths 1, 2 and 4.
  uint32_t seed = 1100;
  struct Window {
    int kh, kw, sh, sw, dh, dw;
  };
  for (const Window& w :
       {Window{3, 5, 1, 1, 1, 1}, Window{5, 3, 2, 1, 1, 2}, Window{3, 3, 3, 3, 1, 1},
        Window{3, 3, 1, 1, 3, 3}, Window{5, 5, 2, 2, 2, 2}, Window{1, 3, 1, 1, 1, 1},
        Window{3, 1, 1, 1, 1, 1}, Window{1, 7, 1, 2, 1, 1}, Window{4, 4, 1, 1, 1, 1},
        Window{2, 2, 2, 2, 1, 1}}) {
    for (int64_t c : {5, 17}) {
      ConvSpec s;
      s.depthwise = true;
      s.height = 10;
      s.width = 12;
      s.in_channels = c;
      s.kernel_h = w.kh;
      s.kernel_w = w.kw;
      s.stride_h = w.sh;
      s.stride_w = w.sw;
      s.dilation_h = w.dh;
      s.dilation_w = w.dw;
      s.pad_top = s.pad_bottom = (w.kh - 1) * w.dh / 2;
      s.pad_left = (w.kw - 1) * w.dw / 2;
      s.pad_right = 0;
      s.seed = seed++;
      Check(s);
    }
  }
}

TEST(OwnDepthwiseConvTest, SlicesActivationsBatchesThreads) {
  uint32_t seed = 1200;
  for (bool single : {false, true}) {
    for (int kernel : {3, 5}) {
      for (int dilation : {1, 2}) {
        ConvSpec s = Depthwise(9, 10, 28, kernel, 1, dilation, seed++);
        s.batch = 2;
        s.input_slice = {5, 7};
        s.output_slice = {3, 3};
        s.activation = dilation == 1 ? Activation::kRelu6 : Activation::kRelu;
        s.bias = kernel == 3;
        s.single_threaded = single;
        Check(s);
      }
    }
    // Above kDepthwiseParallelMacs: tasks of whole rows (kDepthwiseTaskMacs)
    // over both threads.
    ConvSpec big = Depthwise(32, 32, 36, 5, 1, 1, seed++);
    big.output_slice = {36, 108};  // DARTS: a step's slice of the cell's concat
    big.single_threaded = single;
    Check(big);
    ConvSpec wide = Depthwise(30, 30, 72, 3, 1, 2, seed++);
    wide.single_threaded = single;
    Check(wide);
    // Four 29-pixel rows of 40 channels per task: the last task of each run
    // is short, and with two images some tasks span both.
    ConvSpec ragged = Depthwise(29, 29, 40, 3, 1, 1, seed++);
    ragged.batch = 2;
    ragged.single_threaded = single;
    Check(ragged);
  }
}

TEST(OwnDepthwiseConvTest, InputThroughRelu) {
  // BindOp's input_relu (a Relu the engine folds into its reader): the
  // reusing path's widths, strides and dilations, the generic path (stride
  // 3, 4x4), channels masked, overlapping and whole, paddings, channel
  // slices in and out, 1 and 2 threads (3x3 with stride 2 on one thread too,
  // which otherwise binds XNNPACK), and a size above kDepthwiseParallelMacs.
  if (!DenseConvAvailable()) GTEST_SKIP() << "no own depthwise kernel on this CPU or build";
  uint32_t seed = 1500;
  for (bool single : {false, true}) {
    for (int kernel : {3, 5, 7}) {
      for (int stride : {1, 2}) {
        for (int dilation : {1, 2}) {
          for (int64_t c : {3, 9, 16}) {
            ConvSpec s = Depthwise(9, 11, c, kernel, stride, dilation, seed++);
            s.input_relu = true;
            s.single_threaded = single;
            Check(s);
          }
        }
      }
    }
    ConvSpec generic = Depthwise(10, 12, 17, 3, 3, 1, seed++);
    generic.input_relu = true;
    generic.single_threaded = single;
    Check(generic);
    generic.kernel_h = generic.kernel_w = 4;
    generic.stride_h = generic.stride_w = 1;
    generic.seed = seed++;
    Check(generic);
    ConvSpec sliced = Depthwise(9, 10, 28, 3, 2, 1, seed++);
    sliced.input_relu = true;
    sliced.single_threaded = single;
    sliced.input_slice = {5, 7};
    sliced.output_slice = {3, 3};
    sliced.activation = Activation::kRelu6;
    sliced.batch = 2;
    Check(sliced);
    ConvSpec big = Depthwise(30, 30, 72, 3, 1, 1, seed++);
    big.input_relu = true;
    big.single_threaded = single;
    big.input_slice = {48, 96};  // a slice of a concat, as in DARTS
    Check(big);
  }
}

TEST(OwnDepthwiseConvTest, InputThroughReluOnlyOnTheOwnDepthwiseKernel) {
  // XNNPACK and the dense kernels cannot read through a Relu: refused, not
  // silently run without it.
  ConvSpec xnnpack = Depthwise(8, 8, 16, 3, 1, 1, 1600);
  xnnpack.input_relu = true;
  xnnpack.kernels = KernelChoice::kXnnpack;
  Status status = BindStatus(xnnpack.Case());
  EXPECT_EQ(status.code(), StatusCode::kUnsupported) << status.ToString();
  ConvSpec dense;
  dense.input_relu = true;
  status = BindStatus(dense.Case());
  EXPECT_EQ(status.code(), StatusCode::kUnsupported) << status.ToString();
}

TEST(OwnDepthwiseConvTest, RandomConfigurations) {
  std::mt19937 rng(11);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int tested = 0;
  for (uint32_t seed = 1300; tested < 80; ++seed) {
    ConvSpec s;
    s.depthwise = true;
    s.batch = pick(1, 2);
    s.height = pick(1, 17);
    s.width = pick(1, 17);
    s.in_channels = pick(2, 40);
    s.kernel_h = pick(1, 7);
    s.kernel_w = pick(0, 2) == 0 ? pick(1, 7) : s.kernel_h;
    s.stride_h = pick(1, 2);
    s.stride_w = pick(0, 3) == 0 ? pick(1, 3) : s.stride_h;
    s.dilation_h = pick(1, 2);
    s.dilation_w = pick(0, 3) == 0 ? pick(1, 3) : s.dilation_h;
    s.pad_top = pick(0, s.kernel_h);
    s.pad_bottom = pick(0, s.kernel_h);
    s.pad_left = pick(0, s.kernel_w);
    s.pad_right = pick(0, s.kernel_w);
    if (s.height + s.pad_top + s.pad_bottom < (s.kernel_h - 1) * s.dilation_h + 1 ||
        s.width + s.pad_left + s.pad_right < (s.kernel_w - 1) * s.dilation_w + 1) {
      continue;
    }
    PickEpilogue(pick, &s);
    s.seed = seed;
    Check(s);
    ++tested;
  }
}

TEST(OwnDepthwiseConvTest, SameResultsAsXnnpack) {
  uint32_t seed = 1400;
  for (int kernel : {3, 5, 7}) {
    for (int stride : {1, 2}) {
      for (int dilation : {1, 2}) {
        for (bool single : {false, true}) {
          ConvSpec s = Depthwise(16, 15, 44, kernel, stride, dilation, seed++);
          s.activation = Activation::kRelu;
          s.single_threaded = single;
          CheckSameAsXnnpack(s);
        }
      }
    }
  }
  ConvSpec sliced = Depthwise(8, 8, 144, 3, 1, 1, seed++);
  sliced.input_slice = {144, 432};
  sliced.output_slice = {0, 432};
  CheckSameAsXnnpack(sliced);
}

TEST(OwnDepthwiseConvTest, SevenBySevenWindows) {
  // Channels: below 8 (masked), 8, one 32-block plus a remainder, 40 (one
  // channel would be a dense convolution: groups == 1).
  uint32_t seed = 600;
  for (int64_t c : {2, 7, 8, 33, 40}) {
    for (int stride : {1, 2}) {
      ConvSpec s;
      s.depthwise = true;
      s.height = 11;
      s.width = 9;
      s.in_channels = c;
      s.kernel_h = s.kernel_w = 7;
      s.stride_h = s.stride_w = stride;
      s.pad_top = s.pad_bottom = s.pad_left = s.pad_right = 3;
      s.seed = seed++;
      Check(s);
    }
  }
}

TEST(OwnDepthwiseConvTest, DilationsSlicesActivationsThreads) {
  uint32_t seed = 700;
  for (bool single : {false, true}) {
    ConvSpec s;
    s.depthwise = true;
    s.batch = 2;
    s.height = 13;
    s.width = 12;
    s.in_channels = 36;
    s.kernel_h = 7;
    s.kernel_w = 5;
    s.dilation_h = 2;
    s.pad_top = 6;
    s.pad_bottom = 3;
    s.pad_left = 2;
    s.pad_right = 0;
    s.input_slice = {4, 8};
    s.output_slice = {2, 5};
    s.activation = Activation::kRelu;
    s.bias = !single;
    s.single_threaded = single;
    s.seed = seed++;
    Check(s);
    // Above kDepthwiseParallelMacs.
    ConvSpec big;
    big.depthwise = true;
    big.height = big.width = 32;
    big.in_channels = 44;
    big.kernel_h = big.kernel_w = 7;
    big.pad_top = big.pad_bottom = big.pad_left = big.pad_right = 3;
    big.single_threaded = single;
    big.seed = seed++;
    Check(big);
  }
}

}  // namespace
}  // namespace serenity::kernels::testing
