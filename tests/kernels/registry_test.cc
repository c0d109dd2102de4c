// The registry: capabilities, and the errors BindOp returns for what a kernel
// cannot run.
#include <gtest/gtest.h>

#include "op_tester.h"

namespace serenity::kernels::testing {
namespace {

TEST(RegistryTest, EveryOpTypeHasAKernel) {
  for (int t = 0; t < kNumOpTypes; ++t) {
    const OpType type = static_cast<OpType>(t);
    Operator op;
    op.type = type;
    // An empty operator is refused with an error, never "no kernel".
    Status status = RunReferenceOp(op, {}, {}, "empty");
    EXPECT_FALSE(status.ok()) << OpTypeName(type);
    EXPECT_EQ(status.message().find("no reference kernel"), std::string::npos)
        << OpTypeName(type) << ": " << status.message();
  }
}

TEST(RegistryTest, Capabilities) {
  for (OpType type : {OpType::kConv2D, OpType::kFullyConnected, OpType::kMaxPool2D,
                      OpType::kAveragePool2D, OpType::kGlobalAveragePool, OpType::kRelu,
                      OpType::kClamp, OpType::kSigmoid, OpType::kHardSwish, OpType::kSoftmax,
                      OpType::kSlice, OpType::kConcat, OpType::kResizeBilinear, OpType::kAdd}) {
    EXPECT_TRUE(CapabilitiesOf(type).strided_input) << OpTypeName(type);
    EXPECT_TRUE(CapabilitiesOf(type).strided_output) << OpTypeName(type);
  }
  for (OpType type : {OpType::kMul, OpType::kPad, OpType::kReshape}) {
    EXPECT_FALSE(CapabilitiesOf(type).strided_input) << OpTypeName(type);
    EXPECT_FALSE(CapabilitiesOf(type).strided_output) << OpTypeName(type);
  }
  // Verified by the InPlace tests.
  for (OpType type : {OpType::kAdd, OpType::kMul, OpType::kRelu, OpType::kClamp, OpType::kSigmoid,
                      OpType::kHardSwish, OpType::kReshape}) {
    EXPECT_TRUE(CapabilitiesOf(type).in_place) << OpTypeName(type);
  }
  for (OpType type : {OpType::kConv2D, OpType::kSoftmax, OpType::kConcat, OpType::kPad}) {
    EXPECT_FALSE(CapabilitiesOf(type).in_place) << OpTypeName(type);
  }
}

OpCase DenseMul() {
  OpCase c;
  c.op.type = OpType::kMul;
  c.op.attrs = ElementwiseAttrs{};
  c.inputs = {Spec({1, 4, 4, 8}), Spec({1, 4, 4, 8})};
  c.output = Spec({1, 4, 4, 8});
  return c;
}

TEST(RegistryTest, StridedViewOnDenseOnlyOpIsUnsupported) {
  OpCase in = DenseMul();
  in.inputs[1].placement = {2, 4};
  Status status = BindStatus(in);
  EXPECT_EQ(status.code(), StatusCode::kUnsupported);
  EXPECT_NE(status.message().find("test op"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("Mul"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("input 1"), std::string::npos) << status.message();

  OpCase out = DenseMul();
  out.output.placement = {0, 3};
  EXPECT_EQ(BindStatus(out).code(), StatusCode::kUnsupported);

  OpCase pad;
  pad.op.type = OpType::kPad;
  pad.op.attrs = PadAttrs{{0, 0, 1, 1, 1, 1, 0, 0}, 0.0f};
  pad.inputs = {Spec({1, 4, 4, 3})};
  pad.inputs[0].placement = {1, 1};
  pad.output = Spec({1, 6, 6, 3});
  EXPECT_EQ(BindStatus(pad).code(), StatusCode::kUnsupported);

  OpCase reshape;
  reshape.op.type = OpType::kReshape;
  reshape.op.attrs = ReshapeAttrs{{1, 48}};
  reshape.inputs = {Spec({1, 4, 4, 3})};
  reshape.output = Spec({1, 48});
  reshape.output.placement = {0, 2};
  EXPECT_EQ(BindStatus(reshape).code(), StatusCode::kUnsupported);

  OpCase ok = DenseMul();
  EXPECT_TRUE(BindStatus(ok).ok());
}

// A constant with strided rows (Tensor::row_stride) is taken only as a
// Conv2D's weights, even by ops that read strided activations: the others
// copy their constants dense.
TEST(RegistryTest, StridedConstantOnlyAsConvWeights) {
  OpCase add;
  add.op.type = OpType::kAdd;
  add.op.attrs = ElementwiseAttrs{};
  add.inputs = {Spec({1, 4, 4, 8}), Spec({1, 4, 4, 8}, true)};
  add.output = Spec({1, 4, 4, 8});
  EXPECT_TRUE(BindStatus(add).ok());
  add.inputs[1].placement = {0, 4};
  Status status = BindStatus(add);
  EXPECT_EQ(status.code(), StatusCode::kUnsupported);
  EXPECT_NE(status.message().find("input 1"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("strided rows"), std::string::npos) << status.message();
}

TEST(RegistryTest, UnsupportedAttributes) {
  OpCase softmax;
  softmax.op.type = OpType::kSoftmax;
  softmax.op.attrs = SoftmaxAttrs{1};
  softmax.inputs = {Spec({2, 3, 4})};
  softmax.output = Spec({2, 3, 4});
  Status status = BindStatus(softmax);
  EXPECT_EQ(status.code(), StatusCode::kUnsupported);
  EXPECT_NE(status.message().find("last axis"), std::string::npos) << status.message();

  OpCase resize;
  resize.op.type = OpType::kResizeBilinear;
  resize.op.attrs = ResizeBilinearAttrs{true, true};
  resize.inputs = {Spec({1, 2, 2, 1})};
  resize.output = Spec({1, 4, 4, 1});
  EXPECT_EQ(BindStatus(resize).code(), StatusCode::kUnsupported);

  OpCase nary = DenseMul();
  nary.inputs.push_back(Spec({8}));
  EXPECT_EQ(BindStatus(nary).code(), StatusCode::kUnsupported);

  OpCase mul = DenseMul();
  mul.op.type = OpType::kMul;
  mul.inputs[1] = Spec({3});
  EXPECT_EQ(BindStatus(mul).code(), StatusCode::kUnsupported);

  OpCase conv;
  conv.op.type = OpType::kConv2D;
  Conv2DAttrs attrs;
  attrs.groups = 3;  // 8 channels do not split in 3 groups
  conv.op.attrs = attrs;
  conv.inputs = {Spec({1, 5, 5, 8}), Spec({6, 3, 3, 2}, true), Spec({6}, true)};
  conv.output = Spec({1, 3, 3, 6});
  EXPECT_EQ(BindStatus(conv).code(), StatusCode::kUnsupported);

  OpCase wrong_output = DenseMul();
  wrong_output.op.type = OpType::kMaxPool2D;
  wrong_output.op.attrs = Pool2DAttrs{};
  wrong_output.inputs = {Spec({1, 4, 4, 8})};
  wrong_output.output = Spec({1, 5, 4, 8});
  EXPECT_EQ(BindStatus(wrong_output).code(), StatusCode::kUnsupported);
}

TEST(RegistryTest, OperandCountMismatchIsInvalidArgument) {
  Operator op;
  op.type = OpType::kRelu;
  op.inputs = {0};
  op.outputs = {1};
  float data[4] = {};
  OperandView view{data, {4}, 4};
  Result<std::unique_ptr<BoundOp>> bound = BindOp(op, {}, {view, view}, {view}, nullptr, "r");
  EXPECT_EQ(bound.status().code(), StatusCode::kInvalidArgument);
  OperandView null_view{nullptr, {4}, 4};
  bound = BindOp(op, {}, {null_view}, {view}, nullptr, "r");
  EXPECT_EQ(bound.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace serenity::kernels::testing
