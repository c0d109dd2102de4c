// RunModelReference and the Model-facing BindOp: a small network built with
// ModelBuilder runs on the reference kernels and, operator by operator, on
// the XNNPACK bindings; the two agree.
#include <gtest/gtest.h>
#include <xnnpack.h>

#include <cmath>
#include <random>

#include "op_tester.h"

namespace serenity::kernels::testing {
namespace {

std::vector<float> Random(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

Model BuildNetwork() {
  ModelBuilder b("kernels_reference_net");
  const int x = b.AddInput("x", {1, 8, 8, 3});
  Conv2DAttrs conv;
  conv.pad_top = conv.pad_bottom = conv.pad_left = conv.pad_right = 1;
  conv.activation = Activation::kRelu;
  const int w1 = b.AddConstant("w1", {8, 3, 3, 3}, Random(8 * 27, 1));
  const int b1 = b.AddConstant("b1", {8}, Random(8, 2));
  const int a = b.AddActivation("a", {1, 8, 8, 8});
  b.AddOperator(OpType::kConv2D, "conv1", {x, w1, b1}, {a}, conv);
  Conv2DAttrs dw = conv;
  dw.groups = 8;
  dw.activation = Activation::kRelu6;
  const int w2 = b.AddConstant("w2", {8, 3, 3, 1}, Random(8 * 9, 3));
  const int bb = b.AddActivation("b", {1, 8, 8, 8});
  b.AddOperator(OpType::kConv2D, "dw", {a, w2, -1}, {bb}, dw);
  Pool2DAttrs pool;
  pool.filter_h = pool.filter_w = 3;
  pool.pad_top = pool.pad_bottom = pool.pad_left = pool.pad_right = 1;
  const int c = b.AddActivation("c", {1, 8, 8, 8});
  b.AddOperator(OpType::kMaxPool2D, "pool", {a}, {c}, pool);
  const int d = b.AddActivation("d", {1, 8, 8, 16});
  b.AddOperator(OpType::kConcat, "concat", {bb, c}, {d}, ConcatAttrs{3});
  const int shift = b.AddConstant("shift", {16}, Random(16, 4));
  const int e = b.AddActivation("e", {1, 8, 8, 16});
  b.AddOperator(OpType::kAdd, "add", {d, shift}, {e}, ElementwiseAttrs{});
  const int f = b.AddActivation("f", {1, 8, 8, 16});
  b.AddOperator(OpType::kSigmoid, "sigmoid", {e}, {f});
  const int g = b.AddActivation("g", {1, 8, 8, 16});
  b.AddOperator(OpType::kMul, "swish", {e, f}, {g}, ElementwiseAttrs{});
  const int h = b.AddActivation("h", {1, 1, 1, 16});
  b.AddOperator(OpType::kGlobalAveragePool, "gap", {g}, {h});
  ReshapeAttrs reshape;
  reshape.new_shape = {1, 16};
  const int i = b.AddActivation("i", {1, 16});
  b.AddOperator(OpType::kReshape, "flatten", {h}, {i}, reshape);
  const int w3 = b.AddConstant("w3", {10, 16}, Random(160, 5));
  const int b3 = b.AddConstant("b3", {10}, Random(10, 6));
  const int j = b.AddActivation("j", {1, 10});
  b.AddOperator(OpType::kFullyConnected, "fc", {i, w3, b3}, {j}, FullyConnectedAttrs{});
  const int k = b.AddActivation("k", {1, 10});
  b.AddOperator(OpType::kSoftmax, "softmax", {j}, {k}, SoftmaxAttrs{1});
  b.MarkOutput(k);
  b.MarkOutput(g);
  Result<std::vector<uint8_t>> bytes = b.Finish();
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  Result<Model> model = Model::FromBuffer(bytes->data(), bytes->size(), "net");
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

// Runs every operator through BindOp(BindRequest) + Run, one buffer per tensor.
std::vector<std::vector<float>> RunBound(const Model& model, const std::vector<float>& input) {
  const std::vector<Tensor>& tensors = model.tensors();
  std::vector<std::vector<float>> buffers(tensors.size());
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (!tensors[t].is_constant()) {
      buffers[t].assign(tensors[t].num_elements() + XNN_EXTRA_BYTES / sizeof(float), 0.0f);
    }
  }
  std::copy(input.begin(), input.end(), buffers[model.inputs()[0]].begin());
  auto view = [&](int t) {
    OperandView v;
    if (t < 0) return v;
    v.data = tensors[t].is_constant()
                 ? const_cast<float*>(reinterpret_cast<const float*>(tensors[t].data))
                 : buffers[t].data();
    v.shape = tensors[t].shape;
    v.pixel_stride = tensors[t].shape.back();
    return v;
  };
  for (size_t o = 0; o < model.operators().size(); ++o) {
    BindRequest request;
    request.model = &model;
    request.op_index = static_cast<int>(o);
    request.pool = TestPool();
    for (int t : model.operators()[o].inputs) request.inputs.push_back(view(t));
    for (int t : model.operators()[o].outputs) request.outputs.push_back(view(t));
    Result<std::unique_ptr<BoundOp>> bound = BindOp(request);
    EXPECT_TRUE(bound.ok()) << bound.status().ToString();
    if (!bound.ok()) return {};
    EXPECT_TRUE((*bound)->Run(TestPool()).ok());
  }
  std::vector<std::vector<float>> outputs;
  for (int t : model.outputs()) {
    outputs.emplace_back(buffers[t].begin(), buffers[t].begin() + tensors[t].num_elements());
  }
  return outputs;
}

TEST(ModelReferenceTest, AgreesWithBoundOperators) {
  Model model = BuildNetwork();
  const std::vector<float> input = Random(8 * 8 * 3, 7);
  Result<std::vector<std::vector<float>>> reference = RunModelReference(model, {input});
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  std::vector<std::vector<float>> bound = RunBound(model, input);
  ASSERT_EQ(reference->size(), 2u);
  ASSERT_EQ(bound.size(), 2u);
  double softmax_total = 0.0;
  for (float v : (*reference)[0]) softmax_total += v;
  EXPECT_NEAR(softmax_total, 1.0, 1e-5);
  for (size_t o = 0; o < 2; ++o) {
    ASSERT_EQ((*reference)[o].size(), bound[o].size());
    for (size_t i = 0; i < bound[o].size(); ++i) {
      const double want = (*reference)[o][i];
      EXPECT_NEAR(bound[o][i], want, kAbsTolerance + kRelTolerance * std::fabs(want))
          << "output " << o << " element " << i;
    }
  }
}

TEST(ModelReferenceTest, RejectsBadInputs) {
  Model model = BuildNetwork();
  EXPECT_EQ(RunModelReference(model, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RunModelReference(model, {std::vector<float>(5)}).status().code(),
            StatusCode::kInvalidArgument);
  BindRequest request;
  request.model = &model;
  request.op_index = 99;
  EXPECT_EQ(BindOp(request).status().code(), StatusCode::kInvalidArgument);
}

TEST(ModelReferenceTest, BindErrorsNameTheOperator) {
  Model model = BuildNetwork();
  // The add with a second operand that does not broadcast to the output.
  BindRequest request;
  request.model = &model;
  request.op_index = 4;
  std::vector<float> storage(8 * 8 * 32 + 16);
  request.inputs = {OperandView{storage.data(), {1, 8, 8, 16}, 32},
                    OperandView{storage.data(), {15}, 15}};
  request.outputs = {OperandView{storage.data(), {1, 8, 8, 16}, 16}};
  Result<std::unique_ptr<BoundOp>> bound = BindOp(request);
  EXPECT_EQ(bound.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(bound.status().message().find("add"), std::string::npos) << bound.status().message();
}

}  // namespace
}  // namespace serenity::kernels::testing
