// Conv2D and FullyConnected: XNNPACK binding against the reference.
#include <gtest/gtest.h>

#include <random>

#include "dense_conv.h"
#include "op_tester.h"

namespace serenity::kernels::testing {
namespace {

class ConvTester {
 public:
  ConvTester& input(int64_t n, int64_t h, int64_t w, int64_t c) {
    input_ = {n, h, w, c};
    return *this;
  }
  ConvTester& kernel(int kh, int kw) {
    kernel_h_ = kh;
    kernel_w_ = kw;
    return *this;
  }
  ConvTester& stride(int s) { return stride(s, s); }
  ConvTester& stride(int sh, int sw) {
    attrs_.stride_h = sh;
    attrs_.stride_w = sw;
    return *this;
  }
  ConvTester& dilation(int d) { return dilation(d, d); }
  ConvTester& dilation(int dh, int dw) {
    attrs_.dilation_h = dh;
    attrs_.dilation_w = dw;
    return *this;
  }
  ConvTester& padding(int p) { return padding(p, p, p, p); }
  ConvTester& padding(int top, int bottom, int left, int right) {
    attrs_.pad_top = top;
    attrs_.pad_bottom = bottom;
    attrs_.pad_left = left;
    attrs_.pad_right = right;
    return *this;
  }
  ConvTester& groups(int g) {
    attrs_.groups = g;
    return *this;
  }
  ConvTester& output_channels(int64_t o) {
    output_channels_ = o;
    return *this;
  }
  ConvTester& bias(bool b) {
    bias_ = b;
    return *this;
  }
  ConvTester& activation(Activation a) {
    attrs_.activation = a;
    return *this;
  }
  ConvTester& input_slice(int64_t offset, int64_t extra) {
    input_placement_ = {offset, extra};
    return *this;
  }
  ConvTester& output_slice(int64_t offset, int64_t extra) {
    output_placement_ = {offset, extra};
    return *this;
  }
  // Weights as a range of input channels of wider weights (strided rows):
  // what a partial convolution of a model replayed from a plan cache entry
  // borrows.
  ConvTester& weights_slice(int64_t offset, int64_t extra) {
    weights_placement_ = {offset, extra};
    return *this;
  }
  ConvTester& kernels(KernelChoice choice) {
    kernels_ = choice;
    return *this;
  }
  ConvTester& seed(uint32_t s) {
    seed_ = s;
    return *this;
  }
  // See OpCase::scale_tolerance (for Winograd, whose error scales with the
  // largest output).
  ConvTester& scale_tolerance(double t) {
    scale_tolerance_ = t;
    return *this;
  }

  OpCase Case() const {
    OpCase c;
    c.op.type = OpType::kConv2D;
    c.op.attrs = attrs_;
    c.seed = seed_;
    const int64_t out_h = (input_[1] + attrs_.pad_top + attrs_.pad_bottom -
                           ((kernel_h_ - 1) * attrs_.dilation_h + 1)) /
                              attrs_.stride_h +
                          1;
    const int64_t out_w = (input_[2] + attrs_.pad_left + attrs_.pad_right -
                           ((kernel_w_ - 1) * attrs_.dilation_w + 1)) /
                              attrs_.stride_w +
                          1;
    OperandSpec x = Spec(input_);
    x.placement = input_placement_;
    OperandSpec w = Spec({output_channels_, kernel_h_, kernel_w_, input_[3] / attrs_.groups}, true);
    w.placement = weights_placement_;
    c.kernels = kernels_;
    c.scale_tolerance = scale_tolerance_;
    OperandSpec b = Spec({output_channels_}, true);
    b.absent = !bias_;
    c.inputs = {x, w, b};
    c.output.shape = {input_[0], out_h, out_w, output_channels_};
    c.output.placement = output_placement_;
    return c;
  }
  void Test() const { RunCase(Case()); }

 private:
  std::vector<int64_t> input_ = {1, 5, 5, 4};
  int kernel_h_ = 3, kernel_w_ = 3;
  int64_t output_channels_ = 4;
  bool bias_ = true;
  Conv2DAttrs attrs_;
  Placement input_placement_, output_placement_, weights_placement_;
  KernelChoice kernels_ = KernelChoice::kAuto;
  uint32_t seed_ = 1;
  double scale_tolerance_ = 0.0;
};

TEST(Conv2DTest, Pointwise) {
  for (int64_t c : {1, 3, 8, 17}) {
    for (int64_t o : {1, 4, 16, 19}) {
      ConvTester().input(1, 6, 7, c).kernel(1, 1).padding(0).output_channels(o).Test();
    }
  }
}

TEST(Conv2DTest, KernelsStridesPaddings) {
  uint32_t seed = 1;
  for (int k : {2, 3, 5}) {
    for (int s : {1, 2, 3}) {
      for (int p : {0, 1, 2}) {
        if (p >= k) continue;
        ConvTester()
            .input(1, 11, 9, 5)
            .kernel(k, k)
            .stride(s)
            .padding(p)
            .output_channels(7)
            .seed(seed++)
            .Test();
      }
    }
  }
  ConvTester()
      .input(2, 10, 8, 3)
      .kernel(3, 2)
      .stride(2, 1)
      .padding(1, 0, 0, 1)
      .output_channels(6)
      .Test();
  ConvTester().input(1, 9, 9, 3).kernel(3, 3).padding(0, 2, 2, 0).output_channels(8).Test();
}

// Weights with strided rows are gathered when the kernel packs them: the
// hand-written kernel (kAuto, where the CPU has it) and XNNPACK compute what
// the reference computes from the same strided view.
TEST(Conv2DTest, StridedWeights) {
  uint32_t seed = 1;
  for (KernelChoice choice : {KernelChoice::kAuto, KernelChoice::kXnnpack}) {
    for (int64_t offset : {0, 3}) {
      ConvTester()
          .input(1, 7, 6, 5)
          .kernel(3, 3)
          .padding(1)
          .output_channels(9)
          .weights_slice(offset, 7)
          .kernels(choice)
          .seed(seed++)
          .Test();
      ConvTester()
          .input(1, 6, 6, 24)
          .kernel(1, 1)
          .padding(0)
          .output_channels(17)
          .weights_slice(offset, 40)
          .kernels(choice)
          .seed(seed++)
          .Test();
      ConvTester()
          .input(1, 8, 8, 6)
          .kernel(3, 3)
          .padding(1)
          .groups(2)
          .output_channels(4)
          .weights_slice(offset, 5)
          .kernels(choice)
          .seed(seed++)
          .Test();
    }
  }
  // The Winograd kernel (where the CPU has it; else XNNPACK binds it) on a
  // shape it applies to: it transforms the gathered weights. Tolerance: 1e-4
  // of the largest output, as in own_conv_test.cc.
  for (int64_t offset : {0, 11}) {
    ConvTester()
        .input(1, 16, 16, 32)
        .kernel(3, 3)
        .padding(1)
        .output_channels(32)
        .weights_slice(offset, 24)
        .kernels(KernelChoice::kWinograd)
        .scale_tolerance(1e-4)
        .seed(seed++)
        .Test();
  }
}

TEST(Conv2DTest, Dilated) {
  for (int d : {2, 3}) {
    ConvTester().input(1, 13, 12, 6).kernel(3, 3).dilation(d).padding(d).output_channels(5).Test();
    ConvTester()
        .input(1, 13, 12, 6)
        .kernel(3, 3)
        .dilation(d, 1)
        .stride(2)
        .padding(1)
        .output_channels(9)
        .Test();
  }
}

TEST(Conv2DTest, Grouped) {
  for (int g : {2, 3}) {
    ConvTester()
        .input(1, 8, 8, 6 * g / 2 * 2)
        .kernel(3, 3)
        .padding(1)
        .groups(g)
        .output_channels(4 * g)
        .Test();
  }
  ConvTester().input(1, 7, 7, 8).kernel(1, 1).padding(0).groups(4).output_channels(8).Test();
}

TEST(Conv2DTest, Depthwise) {
  for (int64_t c : {1, 4, 7, 32}) {
    for (int multiplier : {1, 2}) {
      ConvTester()
          .input(1, 9, 9, c)
          .kernel(3, 3)
          .padding(1)
          .groups(c)
          .output_channels(c * multiplier)
          .Test();
      ConvTester()
          .input(1, 9, 9, c)
          .kernel(5, 5)
          .stride(2)
          .padding(2)
          .groups(c)
          .output_channels(c * multiplier)
          .Test();
    }
  }
  ConvTester()
      .input(1, 9, 9, 8)
      .kernel(3, 3)
      .stride(2)
      .dilation(2)
      .padding(2)
      .groups(8)
      .output_channels(8)
      .Test();
}

TEST(Conv2DTest, FusedActivationAndNoBias) {
  for (Activation a : {Activation::kRelu, Activation::kRelu6}) {
    ConvTester().input(1, 6, 6, 4).kernel(3, 3).padding(1).output_channels(8).activation(a).Test();
    ConvTester()
        .input(1, 6, 6, 4)
        .kernel(3, 3)
        .padding(1)
        .groups(4)
        .output_channels(4)
        .activation(a)
        .bias(false)
        .Test();
  }
  // Large values so that relu6 really clips.
  OpCase c = ConvTester()
                 .input(1, 5, 5, 16)
                 .kernel(3, 3)
                 .padding(1)
                 .output_channels(4)
                 .activation(Activation::kRelu6)
                 .Case();
  c.inputs[0].min = -4.0f;
  c.inputs[0].max = 4.0f;
  RunCase(c);
  ConvTester().input(1, 5, 5, 3).kernel(3, 3).output_channels(2).bias(false).Test();
}

TEST(Conv2DTest, ChannelSlices) {
  // Zero-copy concat: write channels [offset, offset + O) of a wider buffer;
  // zero-copy split: read a slice.
  ConvTester()
      .input(1, 8, 8, 4)
      .kernel(1, 1)
      .padding(0)
      .output_channels(6)
      .output_slice(5, 9)
      .Test();
  ConvTester()
      .input(1, 8, 8, 4)
      .kernel(3, 3)
      .padding(1)
      .output_channels(6)
      .output_slice(0, 3)
      .Test();
  ConvTester()
      .input(1, 9, 9, 8)
      .kernel(3, 3)
      .stride(2)
      .dilation(2)
      .padding(2)
      .groups(8)
      .output_channels(8)
      .output_slice(5, 7)
      .Test();
  ConvTester()
      .input(1, 8, 8, 5)
      .kernel(3, 3)
      .padding(1)
      .output_channels(7)
      .input_slice(3, 4)
      .Test();
  ConvTester()
      .input(1, 8, 8, 6)
      .kernel(3, 3)
      .padding(1)
      .groups(6)
      .output_channels(6)
      .input_slice(2, 5)
      .output_slice(1, 1)
      .Test();
  ConvTester()
      .input(2, 7, 5, 6)
      .kernel(1, 1)
      .padding(0)
      .groups(2)
      .output_channels(4)
      .input_slice(6, 6)
      .output_slice(4, 8)
      .activation(Activation::kRelu)
      .Test();
}

TEST(Conv2DTest, BatchAndOddSizes) {
  ConvTester().input(3, 4, 5, 3).kernel(2, 2).stride(1).padding(0).output_channels(5).Test();
  ConvTester().input(1, 1, 1, 9).kernel(1, 1).padding(0).output_channels(3).Test();
  ConvTester().input(1, 2, 17, 2).kernel(1, 3).padding(0, 0, 1, 1).output_channels(2).Test();
}

// Seeded random configurations: every combination of the knobs at once.
TEST(Conv2DTest, RandomConfigurations) {
  std::mt19937 rng(2026);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int tested = 0;
  for (uint32_t seed = 1; tested < 80; ++seed) {
    const int groups_kind = pick(0, 2);
    const int per_group_in = groups_kind == 2 ? 1 : pick(1, 6);
    const int groups = groups_kind == 0 ? 1 : pick(2, 6);
    const int per_group_out = pick(1, 4);
    const int kh = pick(1, 4), kw = pick(1, 4);
    const int dh = pick(1, 3), dw = pick(1, 3);
    const int sh = pick(1, 3), sw = pick(1, 3);
    const int h = pick(1, 12), w = pick(1, 12);
    const int top = pick(0, kh - 1), bottom = pick(0, kh - 1);
    const int left = pick(0, kw - 1), right = pick(0, kw - 1);
    if (h + top + bottom < (kh - 1) * dh + 1 || w + left + right < (kw - 1) * dw + 1) continue;
    ConvTester t;
    t.input(pick(1, 2), h, w, per_group_in * groups)
        .kernel(kh, kw)
        .stride(sh, sw)
        .dilation(dh, dw)
        .padding(top, bottom, left, right)
        .groups(groups)
        .output_channels(per_group_out * groups)
        .bias(pick(0, 3) != 0)
        .activation(static_cast<Activation>(pick(0, 2)))
        .seed(seed);
    if (pick(0, 1)) t.input_slice(pick(0, 3), 3);
    if (pick(0, 1)) t.output_slice(pick(0, 5), 5);
    t.Test();
    ++tested;
  }
}

TEST(Conv2DTest, NullPool) {
  OpCase c = ConvTester().input(1, 9, 9, 4).kernel(3, 3).padding(1).output_channels(8).Case();
  c.single_threaded = true;
  RunCase(c);
}

class FullyConnectedTester {
 public:
  FullyConnectedTester& batch(int64_t n) {
    batch_ = n;
    return *this;
  }
  FullyConnectedTester& input_channels(int64_t k) {
    input_channels_ = k;
    return *this;
  }
  FullyConnectedTester& output_channels(int64_t o) {
    output_channels_ = o;
    return *this;
  }
  FullyConnectedTester& bias(bool b) {
    bias_ = b;
    return *this;
  }
  FullyConnectedTester& activation(Activation a) {
    attrs_.activation = a;
    return *this;
  }
  FullyConnectedTester& input_slice(int64_t offset, int64_t extra) {
    input_placement_ = {offset, extra};
    return *this;
  }
  FullyConnectedTester& output_slice(int64_t offset, int64_t extra) {
    output_placement_ = {offset, extra};
    return *this;
  }
  void Test() const {
    OpCase c;
    c.op.type = OpType::kFullyConnected;
    c.op.attrs = attrs_;
    OperandSpec x = Spec({batch_, input_channels_});
    x.placement = input_placement_;
    OperandSpec w = Spec({output_channels_, input_channels_}, true);
    OperandSpec b = Spec({output_channels_}, true);
    b.absent = !bias_;
    c.inputs = {x, w, b};
    c.output.shape = {batch_, output_channels_};
    c.output.placement = output_placement_;
    c.single_threaded = single_threaded_;
    RunCase(c);
    // On 2 threads where the own kernels exist: the dense convolution
    // kernel (which shares work), else XNNPACK.
    Result<BoundCase> bound = BindCase(c);
    ASSERT_TRUE(bound.ok()) << bound.status().ToString();
    EXPECT_EQ(bound->op->shares_work(), DenseConvAvailable() && !single_threaded_)
        << Describe(c);
  }
  FullyConnectedTester& single_threaded(bool b) {
    single_threaded_ = b;
    return *this;
  }

 private:
  int64_t batch_ = 1, input_channels_ = 8, output_channels_ = 4;
  bool bias_ = true;
  bool single_threaded_ = false;
  FullyConnectedAttrs attrs_;
  Placement input_placement_, output_placement_;
};

TEST(FullyConnectedTest, Shapes) {
  for (int64_t n : {1, 3}) {
    for (int64_t k : {1, 7, 64, 130}) {
      for (int64_t o : {1, 10, 33}) {
        FullyConnectedTester().batch(n).input_channels(k).output_channels(o).Test();
      }
    }
  }
}

TEST(FullyConnectedTest, OneAndTwoThreadsLarge) {
  // MobileNetV2's classifier, smaller: above kDenseConvParallelMacs, weights
  // past the in-cache limit (a task per block of 16 outputs), a last block
  // of 8 outputs; batch 2 with slices; one thread (XNNPACK).
  for (bool single : {false, true}) {
    FullyConnectedTester().single_threaded(single).input_channels(640).output_channels(1000).Test();
    FullyConnectedTester()
        .single_threaded(single)
        .batch(2)
        .input_channels(300)
        .output_channels(77)
        .activation(Activation::kRelu6)
        .input_slice(5, 3)
        .output_slice(1, 2)
        .Test();
  }
}

TEST(FullyConnectedTest, ActivationBiasSlices) {
  FullyConnectedTester().input_channels(20).output_channels(9).activation(Activation::kRelu).Test();
  FullyConnectedTester()
      .input_channels(20)
      .output_channels(9)
      .activation(Activation::kRelu6)
      .bias(false)
      .Test();
  FullyConnectedTester()
      .batch(4)
      .input_channels(12)
      .output_channels(5)
      .input_slice(3, 6)
      .output_slice(2, 4)
      .Test();
}

}  // namespace
}  // namespace serenity::kernels::testing
