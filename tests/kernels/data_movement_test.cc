// Pad, Reshape, Slice, Concat (including zero-copy concat, and the work-pool
// copies on two threads) and ResizeBilinear against the reference.
#include <gtest/gtest.h>

#include <random>

#include "dense_conv.h"
#include "op_tester.h"

namespace serenity::kernels::testing {
namespace {

OpCase PadCase(std::vector<int64_t> shape, std::vector<int64_t> paddings, float value) {
  OpCase c;
  c.op.type = OpType::kPad;
  c.op.attrs = PadAttrs{paddings, value};
  c.inputs = {Spec(shape)};
  for (size_t d = 0; d < shape.size(); ++d) shape[d] += paddings[2 * d] + paddings[2 * d + 1];
  c.output = Spec(shape);
  return c;
}

TEST(PadTest, Shapes) {
  RunCase(PadCase({1, 5, 5, 3}, {0, 0, 1, 1, 1, 1, 0, 0}, 0.0f));
  RunCase(PadCase({1, 5, 6, 3}, {0, 0, 0, 2, 3, 0, 0, 0}, -1.5f));
  RunCase(PadCase({1, 4, 4, 3}, {0, 0, 0, 0, 0, 0, 2, 5}, 0.0f));
  RunCase(PadCase({2, 3, 4, 5}, {1, 0, 1, 2, 0, 1, 1, 1}, 7.0f));
  RunCase(PadCase({7}, {3, 4}, 1.0f));
  RunCase(PadCase({2, 3}, {0, 0, 0, 0}, 1.0f));
  RunCase(PadCase({1, 2, 2, 2, 2, 3}, {0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 2, 0}, 0.5f));
  OpCase constant = PadCase({3, 4}, {1, 1, 0, 2}, 2.0f);
  constant.inputs[0].constant = true;
  RunCase(constant);
}

OpCase ReshapeCase(std::vector<int64_t> in, std::vector<int64_t> out) {
  OpCase c;
  c.op.type = OpType::kReshape;
  c.op.attrs = ReshapeAttrs{out};
  c.inputs = {Spec(in)};
  c.output = Spec(out);
  return c;
}

TEST(ReshapeTest, Shapes) {
  RunCase(ReshapeCase({1, 7, 7, 64}, {1, 3136}));
  RunCase(ReshapeCase({1, 1, 1, 10}, {1, 10}));
  RunCase(ReshapeCase({2, 3, 4}, {4, 6}));
  RunCase(ReshapeCase({1, 100, 100, 3}, {30000}));
}

TEST(ReshapeTest, InPlaceIsANoOp) {
  OpCase c = ReshapeCase({1, 4, 4, 6}, {1, 96});
  c.in_place = true;
  RunCase(c);
}

OpCase SliceCase(std::vector<int64_t> in, std::vector<int64_t> begin, std::vector<int64_t> size) {
  OpCase c;
  c.op.type = OpType::kSlice;
  c.op.attrs = SliceAttrs{begin, size};
  c.inputs = {Spec(in)};
  c.output = Spec(size);
  return c;
}

TEST(SliceTest, Boxes) {
  RunCase(SliceCase({1, 8, 8, 16}, {0, 0, 0, 4}, {1, 8, 8, 8}));   // channel range
  RunCase(SliceCase({1, 8, 8, 16}, {0, 2, 1, 0}, {1, 5, 6, 16}));  // spatial crop
  RunCase(SliceCase({2, 8, 9, 5}, {1, 3, 0, 1}, {1, 4, 9, 3}));
  RunCase(SliceCase({10}, {3}, {6}));
  RunCase(SliceCase({4, 6}, {1, 0}, {2, 6}));
  RunCase(SliceCase({1, 2, 3, 4, 5, 6}, {0, 1, 1, 0, 2, 3}, {1, 1, 2, 4, 3, 2}));
  RunCase(SliceCase({1, 64, 64, 32}, {0, 0, 0, 16}, {1, 64, 64, 16}));
  RunCase(SliceCase({1, 4, 4, 4}, {0, 0, 0, 0}, {1, 4, 4, 4}));
}

TEST(SliceTest, ChannelSlices) {
  OpCase c = SliceCase({1, 6, 6, 8}, {0, 1, 0, 2}, {1, 4, 6, 5});
  c.inputs[0].placement = {3, 4};
  c.output.placement = {2, 9};
  RunCase(c);
}

OpCase ConcatCase(std::vector<std::vector<int64_t>> shapes, int axis) {
  OpCase c;
  c.op.type = OpType::kConcat;
  c.op.attrs = ConcatAttrs{axis};
  std::vector<int64_t> out = shapes[0];
  out[axis] = 0;
  for (const auto& shape : shapes) {
    c.inputs.push_back(Spec(shape));
    out[axis] += shape[axis];
  }
  c.output = Spec(out);
  return c;
}

TEST(ConcatTest, ChannelAxis) {
  RunCase(ConcatCase({{1, 8, 8, 4}, {1, 8, 8, 12}}, 3));
  RunCase(ConcatCase({{1, 5, 5, 3}, {1, 5, 5, 1}, {1, 5, 5, 7}, {1, 5, 5, 2}}, 3));
  RunCase(ConcatCase({{2, 33, 31, 24}, {2, 33, 31, 8}}, 3));
  RunCase(ConcatCase({{5}, {3}}, 0));
  RunCase(ConcatCase({{1, 4, 4, 6}}, 3));
}

TEST(ConcatTest, OtherAxes) {
  RunCase(ConcatCase({{1, 3, 8, 4}, {1, 5, 8, 4}}, 1));
  RunCase(ConcatCase({{2, 3, 2, 4}, {2, 3, 5, 4}, {2, 3, 1, 4}}, 2));
  RunCase(ConcatCase({{1, 3, 4}, {2, 3, 4}}, 0));
  RunCase(ConcatCase({{2, 3, 4}, {2, 1, 4}}, 1));
}

TEST(ConcatTest, ChannelSlices) {
  OpCase c = ConcatCase({{1, 6, 6, 3}, {1, 6, 6, 5}}, 3);
  c.inputs[0].placement = {1, 2};
  c.inputs[1].placement = {0, 6};
  c.output.placement = {4, 4};
  RunCase(c);
  OpCase rows = ConcatCase({{1, 2, 6, 3}, {1, 4, 6, 3}}, 1);
  rows.inputs[1].placement = {2, 3};
  rows.output.placement = {1, 1};
  RunCase(rows);
}

// DARTS' cell outputs (4 x 48 channels into 192, several chunks per input)
// and other axes, on one and two threads: on two, where the own kernels
// exist, the copies run on the work pool (the op shares work).
TEST(ConcatTest, OneAndTwoThreads) {
  for (bool single : {false, true}) {
    for (OpCase c : {ConcatCase({{1, 28, 28, 48}, {1, 28, 28, 48}, {1, 28, 28, 48},
                                 {1, 28, 28, 48}}, 3),
                     ConcatCase({{2, 30, 7, 5}, {2, 20, 7, 5}}, 1),
                     ConcatCase({{1, 9, 9, 3}, {1, 9, 9, 600}}, 3)}) {
      c.single_threaded = single;
      c.inputs[0].placement = {1, 2};
      RunCase(c);
      Result<BoundCase> bound = BindCase(c);
      ASSERT_TRUE(bound.ok()) << bound.status().ToString();
      EXPECT_EQ(bound->op->shares_work(), DenseConvAvailable() && !single) << Describe(c);
    }
  }
}

// Producers wrote straight into the output's channel slices: the concat binds
// to a no-op, and a partly aliased one copies only the other inputs.
TEST(ConcatTest, ZeroCopy) {
  const int64_t rows = 5 * 5, c0 = 3, c1 = 4, c2 = 6, total = c0 + c1 + c2;
  std::vector<float> out(rows * total + 16);
  std::vector<float> separate(rows * c2 + 16);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : out) v = dist(rng);
  for (float& v : separate) v = dist(rng);
  const std::vector<float> before = out;

  Operator op;
  op.type = OpType::kConcat;
  op.attrs = ConcatAttrs{3};
  op.inputs = {0, 1, 2};
  op.outputs = {3};
  auto view = [](float* data, int64_t channels, int64_t stride) {
    return OperandView{data, {1, 5, 5, channels}, stride};
  };
  std::vector<OperandView> inputs = {view(out.data(), c0, total), view(out.data() + c0, c1, total),
                                     view(out.data() + c0 + c1, c2, total)};
  std::vector<OperandView> outputs = {view(out.data(), total, total)};
  Result<std::unique_ptr<BoundOp>> bound = BindOp(op, {}, inputs, outputs, TestPool(), "concat");
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  EXPECT_TRUE((*bound)->is_noop());
  ASSERT_TRUE((*bound)->Run(TestPool()).ok());
  EXPECT_EQ(out, before);

  inputs[2] = view(separate.data(), c2, c2);
  bound = BindOp(op, {}, inputs, outputs, TestPool(), "concat");
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  EXPECT_FALSE((*bound)->is_noop());
  ASSERT_TRUE((*bound)->Run(TestPool()).ok());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < total; ++i) {
      const float want = i < c0 + c1 ? before[r * total + i] : separate[r * c2 + i - c0 - c1];
      ASSERT_EQ(out[r * total + i], want) << "row " << r << " channel " << i;
    }
  }
}

TEST(ConcatTest, ZeroCopyAlongRows) {
  // Concat along H with batch 1: each input is a run of whole rows.
  const int64_t w = 6, c = 3, h0 = 2, h1 = 4;
  std::vector<float> out((h0 + h1) * w * c + 16, 1.0f);
  Operator op;
  op.type = OpType::kConcat;
  op.attrs = ConcatAttrs{1};
  op.inputs = {0, 1};
  op.outputs = {2};
  std::vector<OperandView> inputs = {OperandView{out.data(), {1, h0, w, c}, c},
                                     OperandView{out.data() + h0 * w * c, {1, h1, w, c}, c}};
  std::vector<OperandView> outputs = {OperandView{out.data(), {1, h0 + h1, w, c}, c}};
  Result<std::unique_ptr<BoundOp>> bound = BindOp(op, {}, inputs, outputs, TestPool(), "concat");
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  EXPECT_TRUE((*bound)->is_noop());
  // Misplaced by one row: a real copy.
  inputs[1].data += w * c;
  bound = BindOp(op, {}, inputs, outputs, TestPool(), "concat");
  ASSERT_TRUE(bound.ok());
  EXPECT_FALSE((*bound)->is_noop());
}

TEST(SingleThreadedTest, NullPool) {
  OpCase slice = SliceCase({1, 8, 8, 16}, {0, 1, 2, 3}, {1, 5, 4, 9});
  slice.single_threaded = true;
  RunCase(slice);
  OpCase concat = ConcatCase({{1, 5, 5, 3}, {1, 5, 5, 7}}, 3);
  concat.single_threaded = true;
  RunCase(concat);
  OpCase reshape = ReshapeCase({1, 40, 40, 8}, {1, 12800});
  reshape.single_threaded = true;
  RunCase(reshape);
  OpCase pad = PadCase({1, 5, 5, 3}, {0, 0, 1, 1, 1, 1, 0, 0}, 0.0f);
  pad.single_threaded = true;
  RunCase(pad);
}

OpCase ResizeCase(std::vector<int64_t> in, int64_t out_h, int64_t out_w, bool align_corners,
                  bool half_pixel) {
  OpCase c;
  c.op.type = OpType::kResizeBilinear;
  c.op.attrs = ResizeBilinearAttrs{align_corners, half_pixel};
  c.inputs = {Spec(in)};
  c.output = Spec({in[0], out_h, out_w, in[3]});
  return c;
}

TEST(ResizeBilinearTest, Modes) {
  for (auto [align, half] :
       {std::pair{false, true}, std::pair{true, false}, std::pair{false, false}}) {
    RunCase(ResizeCase({1, 4, 4, 3}, 8, 8, align, half));
    RunCase(ResizeCase({1, 5, 7, 8}, 10, 3, align, half));
    RunCase(ResizeCase({2, 3, 3, 2}, 7, 5, align, half));
    RunCase(ResizeCase({1, 8, 8, 4}, 4, 4, align, half));
    RunCase(ResizeCase({1, 1, 1, 3}, 4, 4, align, half));
    RunCase(ResizeCase({1, 6, 6, 3}, 1, 1, align, half));
  }
}

TEST(ResizeBilinearTest, ChannelSlices) {
  OpCase c = ResizeCase({1, 4, 5, 3}, 8, 10, false, true);
  c.inputs[0].placement = {2, 4};
  c.output.placement = {5, 5};
  RunCase(c);
}

}  // namespace
}  // namespace serenity::kernels::testing
