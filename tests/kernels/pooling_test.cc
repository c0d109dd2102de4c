// MaxPool2D, AveragePool2D and GlobalAveragePool against the reference, and
// average pooling on Serenity's own depthwise kernel (x86-64 with AVX2 + FMA)
// against XNNPACK's.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "dense_conv.h"
#include "depthwise_conv.h"
#include "op_tester.h"

namespace serenity::kernels::testing {
namespace {

class PoolTester {
 public:
  explicit PoolTester(OpType type) : type_(type) {}
  PoolTester& input(int64_t n, int64_t h, int64_t w, int64_t c) {
    input_ = {n, h, w, c};
    return *this;
  }
  PoolTester& filter(int fh, int fw) {
    attrs_.filter_h = fh;
    attrs_.filter_w = fw;
    return *this;
  }
  PoolTester& stride(int s) { return stride(s, s); }
  PoolTester& stride(int sh, int sw) {
    attrs_.stride_h = sh;
    attrs_.stride_w = sw;
    return *this;
  }
  PoolTester& padding(int p) { return padding(p, p, p, p); }
  PoolTester& padding(int top, int bottom, int left, int right) {
    attrs_.pad_top = top;
    attrs_.pad_bottom = bottom;
    attrs_.pad_left = left;
    attrs_.pad_right = right;
    return *this;
  }
  PoolTester& count_include_pad(bool b) {
    attrs_.count_include_pad = b;
    return *this;
  }
  PoolTester& input_slice(int64_t offset, int64_t extra) {
    input_placement_ = {offset, extra};
    return *this;
  }
  PoolTester& output_slice(int64_t offset, int64_t extra) {
    output_placement_ = {offset, extra};
    return *this;
  }
  OpCase Case() const {
    OpCase c;
    c.op.type = type_;
    c.inputs = {Spec(input_)};
    c.inputs[0].placement = input_placement_;
    if (type_ == OpType::kGlobalAveragePool) {
      c.output = Spec({input_[0], 1, 1, input_[3]});
    } else {
      c.op.attrs = attrs_;
      const int64_t out_h =
          (input_[1] + attrs_.pad_top + attrs_.pad_bottom - attrs_.filter_h) / attrs_.stride_h + 1;
      const int64_t out_w =
          (input_[2] + attrs_.pad_left + attrs_.pad_right - attrs_.filter_w) / attrs_.stride_w + 1;
      c.output = Spec({input_[0], out_h, out_w, input_[3]});
    }
    c.output.placement = output_placement_;
    return c;
  }
  void Test() const { RunCase(Case()); }

 private:
  OpType type_;
  std::vector<int64_t> input_ = {1, 8, 8, 4};
  Pool2DAttrs attrs_;
  Placement input_placement_, output_placement_;
};

PoolTester MaxPool() { return PoolTester(OpType::kMaxPool2D); }
PoolTester AvgPool() { return PoolTester(OpType::kAveragePool2D); }
PoolTester GlobalAvgPool() { return PoolTester(OpType::kGlobalAveragePool); }

TEST(MaxPool2DTest, FiltersStridesPaddings) {
  for (int f : {2, 3, 5}) {
    for (int s : {1, 2, 3}) {
      for (int p : {0, 1}) {
        for (int64_t c : {1, 5, 16}) {
          MaxPool().input(1, 11, 10, c).filter(f, f).stride(s).padding(p).Test();
        }
      }
    }
  }
  MaxPool().input(2, 9, 7, 3).filter(3, 2).stride(2, 1).padding(1, 0, 0, 1).Test();
}

TEST(MaxPool2DTest, OneByOneWindowSubsamples) {
  MaxPool().input(1, 9, 9, 6).filter(1, 1).stride(2).Test();
  MaxPool().input(1, 9, 9, 6).filter(1, 1).stride(1).output_slice(2, 3).Test();
}

TEST(MaxPool2DTest, ChannelSlices) {
  MaxPool().input(1, 8, 8, 5).filter(3, 3).stride(1).padding(1).input_slice(2, 4).Test();
  MaxPool().input(1, 8, 8, 5).filter(3, 3).stride(2).padding(1).output_slice(7, 7).Test();
  MaxPool().input(2, 8, 8, 3).filter(2, 2).stride(2).input_slice(0, 1).output_slice(3, 5).Test();
}

TEST(AveragePool2DTest, FiltersStridesPaddings) {
  for (bool include_pad : {false, true}) {
    for (int f : {2, 3}) {
      for (int s : {1, 2}) {
        for (int p : {0, 1}) {
          for (int64_t c : {1, 7, 16}) {
            AvgPool()
                .input(1, 10, 11, c)
                .filter(f, f)
                .stride(s)
                .padding(p)
                .count_include_pad(include_pad)
                .Test();
          }
        }
      }
    }
    AvgPool()
        .input(2, 9, 7, 3)
        .filter(3, 2)
        .stride(2, 1)
        .padding(1, 0, 0, 1)
        .count_include_pad(include_pad)
        .Test();
  }
}

TEST(AveragePool2DTest, OneByOneWindow) {
  AvgPool().input(1, 9, 9, 6).filter(1, 1).stride(2).Test();
}

TEST(AveragePool2DTest, ChannelSlices) {
  for (bool include_pad : {false, true}) {
    AvgPool()
        .input(1, 8, 8, 5)
        .filter(3, 3)
        .padding(1)
        .count_include_pad(include_pad)
        .input_slice(2, 4)
        .output_slice(1, 6)
        .Test();
    AvgPool()
        .input(1, 8, 8, 4)
        .filter(2, 2)
        .stride(2)
        .count_include_pad(include_pad)
        .output_slice(4, 4)
        .Test();
  }
}

// The case on the kernel the engine picks (the own depthwise kernel where
// available: checked through its packed bytes) and on XNNPACK: the same
// results, both against the reference too.
void CheckOwnPool(OpCase c) {
  RunCase(c);
  if (DenseConvAvailable()) {
    Result<BoundCase> bound = BindCase(c);
    ASSERT_TRUE(bound.ok()) << bound.status().ToString();
    const auto& attrs = std::get<Pool2DAttrs>(c.op.attrs);
    DenseConvShape shape;
    shape.in_channels = shape.out_channels = c.inputs[0].shape[3];
    shape.kernel_h = attrs.filter_h;
    shape.kernel_w = attrs.filter_w;
    EXPECT_EQ(bound->op->packed_weight_bytes(), DepthwiseConvPackedFloats(shape) * sizeof(float))
        << Describe(c);
  }
  ExpectSameAsXnnpack(c);
  c.kernels = KernelChoice::kXnnpack;
  RunCase(c);
}

TEST(AveragePool2DTest, OwnKernelMatchesXnnpack) {
  // NASNet's and AmoebaNet's 3x3 pools (stride 1 and 2, padding left out of
  // the divisor or counted), asymmetric paddings, 1x1 subsampling, windows
  // up to 5x5, 1 and 2 threads, and one above kDepthwiseParallelMacs.
  for (bool single : {false, true}) {
    for (bool include_pad : {false, true}) {
      for (int s : {1, 2}) {
        OpCase c = AvgPool()
                       .input(2, 15, 16, 44)
                       .filter(3, 3)
                       .stride(s)
                       .padding(1)
                       .count_include_pad(include_pad)
                       .Case();
        c.single_threaded = single;
        CheckOwnPool(c);
      }
      OpCase asymmetric = AvgPool()
                              .input(1, 9, 11, 20)
                              .filter(5, 4)
                              .stride(2, 1)
                              .padding(4, 0, 1, 3)
                              .count_include_pad(include_pad)
                              .input_slice(3, 5)
                              .output_slice(2, 2)
                              .Case();
      asymmetric.single_threaded = single;
      CheckOwnPool(asymmetric);
    }
    OpCase subsample = AvgPool().input(1, 9, 9, 6).filter(1, 1).stride(2).Case();
    subsample.single_threaded = single;
    CheckOwnPool(subsample);
    OpCase big = AvgPool().input(1, 32, 32, 72).filter(3, 3).padding(1).Case();
    big.single_threaded = single;
    CheckOwnPool(big);
  }
}

TEST(MaxPool2DTest, OneByOneWindowOnTheOwnKernel) {
  OpCase c = MaxPool().input(2, 9, 8, 12).filter(1, 1).stride(2, 1).output_slice(1, 4).Case();
  CheckOwnPool(c);
}

TEST(Pool2DTest, RandomConfigurations) {
  std::mt19937 rng(7);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int tested = 0;
  while (tested < 80) {
    const int fh = pick(1, 4), fw = pick(1, 4);
    const int h = pick(1, 11), w = pick(1, 11);
    const int top = pick(0, fh - 1), bottom = pick(0, fh - 1);
    const int left = pick(0, fw - 1), right = pick(0, fw - 1);
    if (h + top + bottom < fh || w + left + right < fw) continue;
    PoolTester t = pick(0, 1) ? MaxPool() : AvgPool();
    t.input(pick(1, 2), h, w, pick(1, 9))
        .filter(fh, fw)
        .stride(pick(1, 3), pick(1, 3))
        .padding(top, bottom, left, right)
        .count_include_pad(pick(0, 1));
    if (pick(0, 1)) t.input_slice(pick(0, 2), 2);
    if (pick(0, 1)) t.output_slice(pick(0, 4), 4);
    t.Test();
    ++tested;
  }
}

TEST(GlobalAveragePoolTest, Shapes) {
  for (int64_t n : {1, 2}) {
    for (int64_t hw : {1, 3, 7, 14}) {
      for (int64_t c : {1, 8, 33}) GlobalAvgPool().input(n, hw, hw + 1, c).Test();
    }
  }
}

TEST(GlobalAveragePoolTest, ChannelSlices) {
  GlobalAvgPool().input(1, 7, 7, 8).input_slice(3, 5).Test();
  GlobalAvgPool().input(2, 5, 4, 6).input_slice(1, 2).output_slice(6, 10).Test();
}

}  // namespace
}  // namespace serenity::kernels::testing
