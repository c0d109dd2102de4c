// Windowed in-place convolution (kernels/kernel_util.h WindowedConvBoundOp,
// scheduler/alias.h): the output written over the input inside one buffer,
// the input exactly the scheduler's offset (WindowedConvMinOffsetBytes) above
// the output, against the naive reference kernel run on a separate copy of
// the input: dense and depthwise, kernels 1x1 to 7x7, strides 1 and 2,
// paddings, dilations, channel counts around the vector widths, bands of one
// and several rows, 1 and 2 threads (shapes large enough for the parallel
// paths). The offset is tight: one float less is refused by the kernel's own
// check and by the separate validator (scheduler::ValidateWindowedWrite),
// which also agrees with the closed form on random geometries. On CPUs
// without the own kernels there is no windowed capability, and the kernel
// refuses overlapping operands.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dense_conv.h"
#include "kernel_util.h"
#include "op_tester.h"
#include "serenity/kernels/op_kernel.h"
#include "serenity/scheduler/alias.h"

namespace serenity::kernels::testing {
namespace {

struct WindowedSpec {
  int64_t height = 16, width = 16, in_channels = 3, out_channels = 8;
  int kernel = 3, stride = 1, dilation = 1;
  int pad_top = 1, pad_bottom = 1, pad_left = 1, pad_right = 1;
  bool depthwise = false;
  Activation activation = Activation::kNone;

  int64_t OutH() const {
    return (height + pad_top + pad_bottom - ((kernel - 1) * dilation + 1)) / stride + 1;
  }
  int64_t OutW() const {
    return (width + pad_left + pad_right - ((kernel - 1) * dilation + 1)) / stride + 1;
  }
  int64_t OutChannels() const { return depthwise ? in_channels : out_channels; }

  scheduler::WindowedConvGeometry Geometry() const {
    scheduler::WindowedConvGeometry g;
    g.in_rows = height;
    g.in_row_bytes = width * in_channels * static_cast<int64_t>(sizeof(float));
    g.out_rows = OutH();
    g.out_row_bytes = OutW() * OutChannels() * static_cast<int64_t>(sizeof(float));
    g.stride = stride;
    g.pad_top = pad_top;
    g.kernel = kernel;
    g.dilation = dilation;
    return g;
  }

  std::string Describe() const {
    return std::to_string(height) + "x" + std::to_string(width) + "x" +
           std::to_string(in_channels) + " -> " + std::to_string(OutChannels()) + (depthwise ? " dw" : "") +
           " k" + std::to_string(kernel) + " s" + std::to_string(stride) + " d" +
           std::to_string(dilation) + " pad " + std::to_string(pad_top) + "," +
           std::to_string(pad_bottom) + "," + std::to_string(pad_left) + "," +
           std::to_string(pad_right);
  }
};

Operator ConvOp(const WindowedSpec& s) {
  Operator op;
  op.type = OpType::kConv2D;
  Conv2DAttrs attrs;
  attrs.stride_h = attrs.stride_w = s.stride;
  attrs.dilation_h = attrs.dilation_w = s.dilation;
  attrs.pad_top = s.pad_top;
  attrs.pad_bottom = s.pad_bottom;
  attrs.pad_left = s.pad_left;
  attrs.pad_right = s.pad_right;
  attrs.groups = s.depthwise ? static_cast<int>(s.in_channels) : 1;
  attrs.activation = s.activation;
  op.attrs = attrs;
  op.inputs = {0, 1, 2};
  op.outputs = {3};
  return op;
}

struct Fixture {
  std::vector<float> weights, bias, input;
  std::vector<Tensor> tensors;  // 0: input (activation), 1: weights, 2: bias
};

Fixture MakeFixture(const WindowedSpec& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Fixture f;
  const int64_t group_in = s.depthwise ? 1 : s.in_channels;
  f.weights.resize(static_cast<size_t>(s.OutChannels() * s.kernel * s.kernel * group_in));
  f.bias.resize(static_cast<size_t>(s.OutChannels()));
  f.input.resize(static_cast<size_t>(s.height * s.width * s.in_channels));
  for (float& v : f.weights) v = uniform(rng);
  for (float& v : f.bias) v = uniform(rng);
  for (float& v : f.input) v = uniform(rng);
  f.tensors.resize(3);
  f.tensors[0].shape = {1, s.height, s.width, s.in_channels};
  f.tensors[1].shape = {s.OutChannels(), s.kernel, s.kernel, group_in};
  f.tensors[1].data = reinterpret_cast<const uint8_t*>(f.weights.data());
  f.tensors[1].data_bytes = f.weights.size() * sizeof(float);
  f.tensors[2].shape = {s.OutChannels()};
  f.tensors[2].data = reinterpret_cast<const uint8_t*>(f.bias.data());
  f.tensors[2].data_bytes = f.bias.size() * sizeof(float);
  return f;
}

OperandView View(float* data, std::vector<int64_t> shape) {
  OperandView view;
  view.data = data;
  view.pixel_stride = shape.back();
  view.shape = std::move(shape);
  return view;
}

std::vector<int64_t> OutShape(const WindowedSpec& s) {
  return {1, s.OutH(), s.OutW(), s.OutChannels()};
}

// Binds the convolution with its input `offset_floats` above its output in
// one buffer (the input's values written there first).
Result<std::unique_ptr<BoundOp>> BindWindowed(const WindowedSpec& s, Fixture* f,
                                              int64_t offset_floats, std::vector<float>* buffer,
                                              pthreadpool_t pool) {
  const int64_t out_floats = s.OutH() * s.OutW() * s.OutChannels();
  const int64_t in_floats = static_cast<int64_t>(f->input.size());
  // 16 floats past the end: the kernels' read margin.
  buffer->assign(static_cast<size_t>(std::max(out_floats, offset_floats + in_floats) + 16),
                 std::nanf(""));
  std::copy(f->input.begin(), f->input.end(), buffer->begin() + offset_floats);
  const Operator op = ConvOp(s);
  std::vector<const Tensor*> tensors = {&f->tensors[0], &f->tensors[1], &f->tensors[2]};
  std::vector<OperandView> inputs = {
      View(buffer->data() + offset_floats, f->tensors[0].shape),
      View(f->weights.data(), f->tensors[1].shape), View(f->bias.data(), f->tensors[2].shape)};
  std::vector<OperandView> outputs = {View(buffer->data(), OutShape(s))};
  return BindOp(op, tensors, inputs, outputs, pool, "windowed " + s.Describe());
}

std::vector<float> Reference(const WindowedSpec& s, Fixture* f) {
  std::vector<float> input = f->input;
  std::vector<float> output(static_cast<size_t>(s.OutH() * s.OutW() * s.OutChannels()));
  const Operator op = ConvOp(s);
  std::vector<OperandView> inputs = {View(input.data(), f->tensors[0].shape),
                                     View(f->weights.data(), f->tensors[1].shape),
                                     View(f->bias.data(), f->tensors[2].shape)};
  std::vector<OperandView> outputs = {View(output.data(), OutShape(s))};
  const Status status = RunReferenceOp(op, inputs, outputs, "reference");
  EXPECT_TRUE(status.ok()) << status.ToString();
  return output;
}

int64_t OffsetFloats(const WindowedSpec& s) {
  const uint64_t bytes = scheduler::WindowedConvMinOffsetBytes(s.Geometry());
  EXPECT_EQ(bytes % sizeof(float), 0u);
  return static_cast<int64_t>(bytes / sizeof(float));
}

void ExpectWindowedMatchesReference(const WindowedSpec& s, bool two_threads, uint32_t seed = 1) {
  SCOPED_TRACE(s.Describe() + (two_threads ? ", 2 threads" : ", 1 thread"));
  Fixture f = MakeFixture(s, seed);
  const std::vector<float> expected = Reference(s, &f);
  const int64_t offset = OffsetFloats(s);
  // The validator accepts the scheduler's offset.
  const Status valid = scheduler::ValidateWindowedWrite(
      s.Geometry(), static_cast<uint64_t>(offset) * sizeof(float), 0);
  EXPECT_TRUE(valid.ok()) << valid.ToString();
  std::vector<float> buffer;
  auto bound = BindWindowed(s, &f, offset, &buffer, two_threads ? TestPool() : nullptr);
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  // Twice: a second run reads an input the first one overwrote, so put it back.
  for (int run = 0; run < 2; ++run) {
    std::copy(f.input.begin(), f.input.end(), buffer.begin() + offset);
    ASSERT_TRUE((*bound)->Run(two_threads ? TestPool() : nullptr).ok());
    int wrong = 0;
    for (size_t i = 0; i < expected.size() && wrong < 5; ++i) {
      const double tolerance = kAbsTolerance + kRelTolerance * std::fabs(expected[i]);
      if (!(std::fabs(buffer[i] - expected[i]) <= tolerance)) {
        ADD_FAILURE() << "output float " << i << ": got " << buffer[i] << ", reference "
                      << expected[i] << " (run " << run << ", input offset " << offset
                      << " floats)";
        ++wrong;
      }
    }
  }
}

std::vector<WindowedSpec> Specs() {
  std::vector<WindowedSpec> specs;
  // A stem: 3x3 stride 2 pad 1, 3 -> 24 channels (the gather path).
  WindowedSpec stem;
  stem.height = 64, stem.width = 64, stem.in_channels = 3, stem.out_channels = 24;
  stem.stride = 2;
  specs.push_back(stem);
  // Odd sizes and asymmetric paddings, stride 2 with pad 0 and with a
  // bottom-right pad only (TensorFlow's SAME), 5x5, 7x7.
  for (int kernel : {1, 3, 5, 7}) {
    for (int stride : {1, 2}) {
      for (int pad : {0, 1, 3}) {
        if (pad > (kernel - 1)) continue;
        WindowedSpec s;
        s.height = 23, s.width = 19, s.in_channels = 5, s.out_channels = 17;
        s.kernel = kernel, s.stride = stride;
        s.pad_top = pad, s.pad_left = pad;
        s.pad_bottom = kernel - 1 - pad, s.pad_right = std::max(0, kernel - 2 - pad);
        specs.push_back(s);
      }
    }
  }
  // Many input channels (per-position addresses), 1x1 channel changes both
  // ways (output rows wider and narrower than input rows), dilation.
  for (int64_t cin : {16, 40}) {
    for (int64_t cout : {8, 33, 96}) {
      WindowedSpec s;
      s.height = 20, s.width = 12, s.in_channels = cin, s.out_channels = cout;
      s.kernel = cout == 33 ? 1 : 3;
      s.pad_top = s.pad_bottom = s.pad_left = s.pad_right = s.kernel / 2;
      specs.push_back(s);
    }
  }
  WindowedSpec dilated;
  dilated.height = 21, dilated.width = 17, dilated.in_channels = 8, dilated.out_channels = 8;
  dilated.dilation = 2, dilated.pad_top = dilated.pad_bottom = 2;
  dilated.pad_left = dilated.pad_right = 2;
  specs.push_back(dilated);
  // Depthwise: 3x3, 5x5, 7x7, strides 1 and 2, dilation 2, channel counts
  // around multiples of 8.
  for (int kernel : {3, 5, 7}) {
    for (int stride : {1, 2}) {
      for (int64_t channels : {7, 8, 24, 37}) {
        WindowedSpec s;
        s.depthwise = true;
        s.height = 17, s.width = 15, s.in_channels = channels;
        s.kernel = kernel, s.stride = stride;
        s.pad_top = s.pad_bottom = s.pad_left = s.pad_right = kernel / 2;
        specs.push_back(s);
      }
    }
  }
  WindowedSpec dw_dilated;
  dw_dilated.depthwise = true, dw_dilated.in_channels = 16, dw_dilated.dilation = 2;
  dw_dilated.height = 19, dw_dilated.width = 13;
  dw_dilated.pad_top = dw_dilated.pad_bottom = dw_dilated.pad_left = dw_dilated.pad_right = 2;
  specs.push_back(dw_dilated);
  // Large enough for bands of one row (rows above 32 KiB) and for the
  // kernels' parallel paths inside a band.
  WindowedSpec wide;
  wide.height = 12, wide.width = 140, wide.in_channels = 64, wide.out_channels = 64;
  specs.push_back(wide);
  WindowedSpec parallel_dense;
  parallel_dense.height = 30, parallel_dense.width = 56, parallel_dense.in_channels = 64,
  parallel_dense.out_channels = 64;
  specs.push_back(parallel_dense);
  WindowedSpec parallel_dw;
  parallel_dw.depthwise = true, parallel_dw.kernel = 7, parallel_dw.height = 40;
  parallel_dw.width = 64, parallel_dw.in_channels = 64;
  parallel_dw.pad_top = parallel_dw.pad_bottom = parallel_dw.pad_left = parallel_dw.pad_right = 3;
  specs.push_back(parallel_dw);
  // Strided, large enough that the direct bands (WindowedConvBands) after
  // the first rows take the kernels' parallel paths: MobileNetV2's 3x3
  // stride-2 depthwise layers, and a dense stride-2 layer.
  WindowedSpec dw_stride2;
  dw_stride2.depthwise = true, dw_stride2.stride = 2, dw_stride2.height = 56;
  dw_stride2.width = 56, dw_stride2.in_channels = 40;
  specs.push_back(dw_stride2);
  WindowedSpec dense_stride2;
  dense_stride2.stride = 2, dense_stride2.height = 40, dense_stride2.width = 40;
  dense_stride2.in_channels = 16, dense_stride2.out_channels = 32;
  specs.push_back(dense_stride2);
  return specs;
}

TEST(WindowedConvTest, MatchesTheReferenceAtTheSchedulersOffset) {
  if (!DenseConvAvailable()) GTEST_SKIP() << "no own convolution kernels on this CPU";
  EXPECT_EQ(CapabilitiesOf(OpType::kConv2D).windowed_max_positions, kDenseConvMaxPositions);
  for (const WindowedSpec& s : Specs()) {
    for (bool two_threads : {false, true}) ExpectWindowedMatchesReference(s, two_threads);
  }
}

TEST(WindowedConvTest, ActivationsAndSeeds) {
  if (!DenseConvAvailable()) GTEST_SKIP() << "no own convolution kernels on this CPU";
  WindowedSpec s;
  s.height = 33, s.width = 31, s.in_channels = 12, s.out_channels = 20, s.stride = 2;
  for (Activation activation : {Activation::kRelu, Activation::kRelu6}) {
    s.activation = activation;
    for (uint32_t seed : {2u, 3u}) ExpectWindowedMatchesReference(s, seed == 3u, seed);
  }
}

// WindowedConvBands against brute force on random geometries at the
// scheduler's offset and above it: the bands cover the output rows in order;
// a scratch band has at most the scratch rows; no direct band writes a float
// of an input row that one of its own or a later output row reads (every
// window row of every output row from the band's first on, listed one by
// one). And the point of direct bands: at MobileNetV2's 112x112x96 stride-2
// depthwise geometry, one band holds most rows.
TEST(WindowedConvTest, BandsNeverWriteWhatLaterRowsRead) {
  std::mt19937 rng(11);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int direct_bands = 0;
  for (int i = 0; i < 3000; ++i) {
    WindowedSpec spec;
    spec.kernel = pick(1, 7);
    spec.stride = pick(1, 3);
    spec.dilation = pick(1, 2);
    spec.pad_top = pick(0, (spec.kernel - 1) * spec.dilation);
    spec.pad_bottom = pick(0, (spec.kernel - 1) * spec.dilation);
    spec.pad_left = spec.pad_right = 0;
    spec.height = pick(1, 40);
    spec.width = pick(1, 9) * spec.kernel * spec.dilation;
    spec.in_channels = pick(1, 20);
    spec.out_channels = pick(1, 20);
    if (spec.OutH() < 1 || spec.OutW() < 1) continue;
    if ((spec.OutH() - 1) * spec.stride - spec.pad_top >= spec.height) continue;
    DenseConvShape shape;
    shape.batch = 1;
    shape.in_h = spec.height, shape.in_w = spec.width, shape.in_channels = spec.in_channels;
    shape.out_h = spec.OutH(), shape.out_w = spec.OutW(), shape.out_channels = spec.out_channels;
    shape.kernel_h = shape.kernel_w = spec.kernel;
    shape.stride_h = shape.stride_w = spec.stride;
    shape.dilation_h = shape.dilation_w = spec.dilation;
    shape.pad_top = spec.pad_top;
    shape.in_pixel_stride = spec.in_channels;
    shape.out_pixel_stride = spec.out_channels;
    const int64_t distance = OffsetFloats(spec) + pick(0, 1) * pick(0, 500);
    const int64_t scratch_rows = pick(1, 4);
    const int64_t in_row = shape.in_w * shape.in_channels;
    const int64_t out_row = shape.out_w * shape.out_channels;
    SCOPED_TRACE("case " + std::to_string(i) + ": " + spec.Describe() + ", distance " +
                 std::to_string(distance));
    std::vector<float> fake(static_cast<size_t>(distance + shape.in_h * in_row + 1));
    ASSERT_TRUE(WindowedConvSafe(shape, fake.data() + distance, fake.data()));
    const std::vector<WindowedBand> bands = WindowedConvBands(shape, distance, scratch_rows);
    int64_t next = 0;
    for (const WindowedBand& band : bands) {
      ASSERT_EQ(band.begin, next);
      ASSERT_GT(band.end, band.begin);
      next = band.end;
      if (!band.direct) {
        EXPECT_LE(band.end - band.begin, scratch_rows);
        continue;
      }
      ++direct_bands;
      // The lowest input float any row from band.begin on reads.
      int64_t lowest_read = INT64_MAX;
      for (int64_t e = band.begin; e < shape.out_h; ++e) {
        for (int64_t ky = 0; ky < shape.kernel_h; ++ky) {
          const int64_t iy = e * shape.stride_h - shape.pad_top + ky * shape.dilation_h;
          if (iy >= 0 && iy < shape.in_h) lowest_read = std::min(lowest_read, distance + iy * in_row);
        }
      }
      EXPECT_LE(band.end * out_row, lowest_read)
          << "direct band [" << band.begin << ", " << band.end << ") overwrites input still read";
    }
    EXPECT_EQ(next, shape.out_h);
  }
  EXPECT_GT(direct_bands, 500);

  WindowedSpec mobilenet;
  mobilenet.depthwise = true, mobilenet.stride = 2, mobilenet.height = 112;
  mobilenet.width = 112, mobilenet.in_channels = 96;
  DenseConvShape shape;
  shape.batch = 1, shape.in_h = shape.in_w = 112, shape.in_channels = 96;
  shape.out_h = shape.out_w = mobilenet.OutH(), shape.out_channels = 96;
  shape.kernel_h = shape.kernel_w = 3, shape.stride_h = shape.stride_w = 2, shape.pad_top = 1;
  shape.in_pixel_stride = shape.out_pixel_stride = 96;
  const std::vector<WindowedBand> bands = WindowedConvBands(shape, OffsetFloats(mobilenet), 1);
  int64_t longest = 0;
  for (const WindowedBand& band : bands) {
    if (band.direct) longest = std::max(longest, band.end - band.begin);
  }
  EXPECT_GE(longest, shape.out_h / 2) << bands.size() << " bands";
}

// One float less than the scheduler's offset: the kernel refuses to bind, and
// the validator rejects the placement, for every spec whose offset is not 0.
TEST(WindowedConvTest, OneFloatLessIsRefused) {
  int tight = 0;
  for (const WindowedSpec& s : Specs()) {
    SCOPED_TRACE(s.Describe());
    const int64_t offset = OffsetFloats(s);
    if (offset == 0) continue;
    ++tight;
    const Status too_close = scheduler::ValidateWindowedWrite(
        s.Geometry(), static_cast<uint64_t>(offset - 1) * sizeof(float), 0);
    EXPECT_FALSE(too_close.ok());
    EXPECT_NE(too_close.message().find("still reads"), std::string::npos)
        << too_close.ToString();
    Fixture f = MakeFixture(s, 1);
    std::vector<float> buffer;
    auto bound = BindWindowed(s, &f, offset - 1, &buffer, nullptr);
    EXPECT_FALSE(bound.ok());
  }
  EXPECT_GT(tight, 10);
}

// The closed form (alias.cc) against the brute-force validator on random
// geometries: the validator accepts the closed form's offset and, where the
// closed form is exact (dilation 1, or no window starting in the top
// padding), rejects one byte less.
TEST(WindowedConvTest, ClosedFormAgreesWithTheValidator) {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int checked_tight = 0;
  for (int i = 0; i < 2000; ++i) {
    scheduler::WindowedConvGeometry g;
    g.kernel = pick(1, 7);
    g.stride = pick(1, 3);
    g.dilation = pick(1, 2);
    g.pad_top = pick(0, (g.kernel - 1) * g.dilation);
    g.in_rows = pick(1, 40);
    g.in_row_bytes = 4 * pick(1, 64);
    const int64_t extent = (g.kernel - 1) * g.dilation + 1;
    const int64_t padded = g.in_rows + g.pad_top + pick(0, static_cast<int>(extent - 1));
    if (padded < extent) continue;
    g.out_rows = (padded - extent) / g.stride + 1;
    if ((g.out_rows - 1) * g.stride - g.pad_top >= g.in_rows) continue;  // not eligible
    g.out_row_bytes = 4 * pick(1, 64);
    const uint64_t offset = scheduler::WindowedConvMinOffsetBytes(g);
    SCOPED_TRACE("case " + std::to_string(i) + ": offset " + std::to_string(offset));
    EXPECT_TRUE(scheduler::ValidateWindowedWrite(g, offset, 0).ok());
    const bool exact = g.dilation == 1 || g.pad_top == 0;
    if (offset > 0 && exact) {
      EXPECT_FALSE(scheduler::ValidateWindowedWrite(g, offset - 1, 0).ok());
      ++checked_tight;
    }
  }
  EXPECT_GT(checked_tight, 500);
}

TEST(WindowedConvTest, OverlapWithoutTheOwnKernelsIsRefused) {
  if (DenseConvAvailable()) {
    // A grouped (not depthwise) convolution has no own kernel.
    WindowedSpec s;
    s.in_channels = 8, s.out_channels = 8;
    Fixture f = MakeFixture(s, 1);
    Operator op = ConvOp(s);
    std::get<Conv2DAttrs>(op.attrs).groups = 2;
    f.tensors[1].shape = {8, 3, 3, 4};
    std::vector<float> buffer(4096, 0.0f);
    std::vector<const Tensor*> tensors = {&f.tensors[0], &f.tensors[1], &f.tensors[2]};
    std::vector<OperandView> inputs = {View(buffer.data() + 256, f.tensors[0].shape),
                                       View(f.weights.data(), f.tensors[1].shape),
                                       View(f.bias.data(), f.tensors[2].shape)};
    std::vector<OperandView> outputs = {View(buffer.data(), OutShape(s))};
    EXPECT_FALSE(BindOp(op, tensors, inputs, outputs, nullptr, "grouped").ok());
  } else {
    EXPECT_EQ(CapabilitiesOf(OpType::kConv2D).windowed_max_positions, 0);
  }
}

}  // namespace
}  // namespace serenity::kernels::testing
