// InferOutputShapes against shapes worked out by hand.
#include <gtest/gtest.h>

#include <vector>

#include "serenity/model_format/model.h"

namespace serenity {
namespace {

using Shape = std::vector<int64_t>;

// Infers the single output of `type` with `attrs` over `inputs`, with no
// tensors (constness not checked).
Result<Shape> Infer(OpType type, OpAttrs attrs, std::vector<Shape> inputs) {
  Operator op;
  op.type = type;
  op.attrs = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    op.inputs.push_back(inputs[i].empty() ? -1 : static_cast<int>(i));
  }
  op.outputs = {static_cast<int>(inputs.size())};
  Result<std::vector<Shape>> out = InferOutputShapes(op, inputs, {});
  if (!out.ok()) return out.status();
  if (out->size() != 1) return InternalError("not one output");
  return (*out)[0];
}

Shape InferOk(OpType type, OpAttrs attrs, std::vector<Shape> inputs) {
  Result<Shape> out = Infer(type, std::move(attrs), std::move(inputs));
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? *out : Shape{};
}

Conv2DAttrs Conv(int stride, int dilation, int pt, int pb, int pl, int pr,
                 int groups = 1) {
  Conv2DAttrs a;
  a.stride_h = a.stride_w = stride;
  a.dilation_h = a.dilation_w = dilation;
  a.pad_top = pt;
  a.pad_bottom = pb;
  a.pad_left = pl;
  a.pad_right = pr;
  a.groups = groups;
  return a;
}

TEST(ShapeInferenceTest, Conv2D) {
  // MobileNet stem, TF "SAME" as (0, 1) padding: (224 + 1 - 3) / 2 + 1 = 112.
  EXPECT_EQ(InferOk(OpType::kConv2D, Conv(2, 1, 0, 1, 0, 1),
                    {{1, 224, 224, 3}, {32, 3, 3, 3}, {32}}),
            (Shape{1, 112, 112, 32}));
  // Dilation 2 widens 3 to 5; pad 2 keeps 32.
  EXPECT_EQ(InferOk(OpType::kConv2D, Conv(1, 2, 2, 2, 2, 2),
                    {{1, 32, 32, 16}, {8, 3, 3, 16}, {}}),
            (Shape{1, 32, 32, 8}));
  // 5x5 stride 3, no padding: (17 - 5) / 3 + 1 = 5, (20 - 5) / 3 + 1 = 6.
  EXPECT_EQ(InferOk(OpType::kConv2D, Conv(3, 1, 0, 0, 0, 0),
                    {{1, 17, 20, 8}, {4, 5, 5, 8}}),
            (Shape{1, 5, 6, 4}));
  // Depthwise: groups = channels, I = 1.
  EXPECT_EQ(InferOk(OpType::kConv2D, Conv(1, 1, 0, 0, 0, 0, 16),
                    {{1, 10, 10, 16}, {16, 3, 3, 1}}),
            (Shape{1, 8, 8, 16}));
  // Grouped 1x1: 6 channels in 3 groups of 2.
  EXPECT_EQ(InferOk(OpType::kConv2D, Conv(1, 1, 0, 0, 0, 0, 3),
                    {{2, 6, 6, 6}, {9, 1, 1, 2}}),
            (Shape{2, 6, 6, 9}));
  // Asymmetric padding: (7 + 2 + 0 - 3) / 2 + 1 = 4; (7 + 0 + 1 - 3)/2+1 = 3.
  EXPECT_EQ(InferOk(OpType::kConv2D, Conv(2, 1, 2, 0, 0, 1),
                    {{1, 7, 7, 1}, {1, 3, 3, 1}}),
            (Shape{1, 4, 3, 1}));
  EXPECT_FALSE(Infer(OpType::kConv2D, Conv(1, 1, 0, 0, 0, 0),
                     {{1, 2, 2, 1}, {1, 3, 3, 1}})
                   .ok());
  EXPECT_FALSE(Infer(OpType::kConv2D, Conv(1, 1, 0, 0, 0, 0),
                     {{1, 4, 4, 2}, {3, 1, 1, 2}, {4}})
                   .ok());
}

TEST(ShapeInferenceTest, Pools) {
  Pool2DAttrs resnet;
  resnet.filter_h = resnet.filter_w = 3;
  resnet.stride_h = resnet.stride_w = 2;
  resnet.pad_top = resnet.pad_bottom = resnet.pad_left = resnet.pad_right = 1;
  // (112 + 2 - 3) / 2 + 1 = 56.
  EXPECT_EQ(InferOk(OpType::kMaxPool2D, resnet, {{1, 112, 112, 64}}),
            (Shape{1, 56, 56, 64}));
  Pool2DAttrs two;
  two.filter_h = two.filter_w = 2;
  two.stride_h = two.stride_w = 2;
  // Floor: (7 - 2) / 2 + 1 = 3.
  EXPECT_EQ(InferOk(OpType::kAveragePool2D, two, {{1, 7, 7, 5}}),
            (Shape{1, 3, 3, 5}));
  Pool2DAttrs rect;
  rect.filter_h = 1;
  rect.filter_w = 3;
  rect.stride_w = 3;
  EXPECT_EQ(InferOk(OpType::kMaxPool2D, rect, {{1, 4, 9, 2}}),
            (Shape{1, 4, 3, 2}));
  EXPECT_EQ(InferOk(OpType::kGlobalAveragePool, NoAttrs{}, {{1, 7, 7, 512}}),
            (Shape{1, 1, 1, 512}));
}

TEST(ShapeInferenceTest, ConcatNormalisesNegativeAxes) {
  EXPECT_EQ(InferOk(OpType::kConcat, ConcatAttrs{3},
                    {{1, 4, 4, 3}, {1, 4, 4, 5}, {1, 4, 4, 1}}),
            (Shape{1, 4, 4, 9}));
  EXPECT_EQ(InferOk(OpType::kConcat, ConcatAttrs{-3},
                    {{1, 4, 4, 3}, {1, 2, 4, 3}}),
            (Shape{1, 6, 4, 3}));
  EXPECT_EQ(InferOk(OpType::kConcat, ConcatAttrs{-1}, {{2, 3}}),
            (Shape{2, 3}));
  EXPECT_FALSE(Infer(OpType::kConcat, ConcatAttrs{3},
                     {{1, 4, 4, 3}, {1, 4, 5, 3}})
                   .ok());
  EXPECT_FALSE(Infer(OpType::kConcat, ConcatAttrs{1}, {{1, 4}, {1, 4, 1}}).ok());
}

TEST(ShapeInferenceTest, SlicePadReshape) {
  // DARTS factorized reduce: drop the first row and column.
  EXPECT_EQ(InferOk(OpType::kSlice, SliceAttrs{{0, 1, 1, 0}, {-1, -1, -1, -1}},
                    {{1, 8, 8, 4}}),
            (Shape{1, 7, 7, 4}));
  EXPECT_EQ(InferOk(OpType::kSlice, SliceAttrs{{0, 2, 0, 1}, {1, 3, 8, 2}},
                    {{1, 8, 8, 4}}),
            (Shape{1, 3, 8, 2}));
  // ... then pad it back at the far end.
  EXPECT_EQ(InferOk(OpType::kPad, PadAttrs{{0, 0, 0, 1, 0, 1, 0, 0}, 0.0f},
                    {{1, 7, 7, 4}}),
            (Shape{1, 8, 8, 4}));
  EXPECT_EQ(InferOk(OpType::kPad, PadAttrs{{1, 2, 3, 4}, 0.0f}, {{5, 6}}),
            (Shape{8, 13}));
  EXPECT_EQ(InferOk(OpType::kReshape, ReshapeAttrs{{6, 4}}, {{1, 2, 3, 4}}),
            (Shape{6, 4}));
  EXPECT_EQ(InferOk(OpType::kReshape, ReshapeAttrs{{1, 512}}, {{1, 1, 1, 512}}),
            (Shape{1, 512}));
  EXPECT_FALSE(Infer(OpType::kReshape, ReshapeAttrs{{5, 5}}, {{1, 24}}).ok());
  EXPECT_FALSE(Infer(OpType::kReshape, ReshapeAttrs{{-1, 24}}, {{1, 24}}).ok());
}

TEST(ShapeInferenceTest, Broadcast) {
  EXPECT_EQ(InferOk(OpType::kMul, ElementwiseAttrs{}, {{1, 4, 4, 8}, {8}}),
            (Shape{1, 4, 4, 8}));
  EXPECT_EQ(InferOk(OpType::kMul, ElementwiseAttrs{}, {{2, 1, 3}, {4, 1}}),
            (Shape{2, 4, 3}));
  EXPECT_EQ(InferOk(OpType::kAdd, ElementwiseAttrs{},
                    {{1, 1, 1, 8}, {1, 4, 4, 1}}),
            (Shape{1, 4, 4, 8}));
  EXPECT_EQ(InferOk(OpType::kAdd, ElementwiseAttrs{},
                    {{1, 3, 3, 2}, {1, 3, 3, 2}, {1, 3, 3, 2}, {1, 3, 3, 2}}),
            (Shape{1, 3, 3, 2}));
  EXPECT_FALSE(Infer(OpType::kMul, ElementwiseAttrs{}, {{3, 4}, {2, 4}}).ok());
  EXPECT_FALSE(
      Infer(OpType::kMul, ElementwiseAttrs{}, {{4}, {4}, {4}}).ok());
}

TEST(ShapeInferenceTest, FullyConnectedResizeUnary) {
  EXPECT_EQ(InferOk(OpType::kFullyConnected, FullyConnectedAttrs{},
                    {{2, 16}, {10, 16}, {10}}),
            (Shape{2, 10}));
  ResizeBilinearAttrs resize;
  resize.output_h = 8;
  resize.output_w = 6;
  EXPECT_EQ(InferOk(OpType::kResizeBilinear, resize, {{1, 4, 3, 3}}),
            (Shape{1, 8, 6, 3}));
  for (OpType t : {OpType::kRelu, OpType::kSigmoid, OpType::kHardSwish}) {
    EXPECT_EQ(InferOk(t, NoAttrs{}, {{1, 5, 5, 7}}), (Shape{1, 5, 5, 7}));
  }
  EXPECT_EQ(InferOk(OpType::kClamp, ClampAttrs{}, {{3}}), (Shape{3}));
  EXPECT_EQ(InferOk(OpType::kSoftmax, SoftmaxAttrs{-1}, {{1, 1000}}),
            (Shape{1, 1000}));
}

TEST(ShapeInferenceTest, WeightsMustBeConstantWhenTensorsAreGiven) {
  Operator op;
  op.type = OpType::kFullyConnected;
  op.attrs = FullyConnectedAttrs{};
  op.inputs = {0, 1};
  op.outputs = {2};
  Tensor x, w;
  x.shape = {1, 4};
  w.shape = {3, 4};
  std::vector<std::vector<int64_t>> shapes = {x.shape, w.shape};
  Result<std::vector<Shape>> out = InferOutputShapes(op, shapes, {&x, &w});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(out.status().message().find("input 1 (weights) must be a constant"),
            std::string::npos);
  const float data[12] = {};
  w.data = reinterpret_cast<const uint8_t*>(data);
  w.data_bytes = sizeof(data);
  out = InferOutputShapes(op, shapes, {&x, &w});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0], (Shape{1, 3}));
}

TEST(ShapeInferenceTest, RejectsShapesOutsideLimits) {
  EXPECT_FALSE(Infer(OpType::kRelu, NoAttrs{}, {{1, 0}}).ok());
  EXPECT_FALSE(Infer(OpType::kRelu, NoAttrs{}, {{1, 1, 1, 1, 1, 1, 1}}).ok());
  EXPECT_FALSE(Infer(OpType::kRelu, NoAttrs{}, {{kMaxDimension + 1}}).ok());
}

}  // namespace
}  // namespace serenity
