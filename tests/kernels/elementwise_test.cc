// Add, Mul (broadcasting, n-ary, constants, in place) and the unary ops
// (Relu, Clamp, Sigmoid, HardSwish, Softmax) against the reference, and the
// work-pool element-wise kernel (OwnElementwiseOp) that Relu, Clamp and
// same-shape Add bind with 2+ threads on CPUs with Serenity's own kernels.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "dense_conv.h"
#include "op_tester.h"

namespace serenity::kernels::testing {
namespace {

class BinaryTester {
 public:
  explicit BinaryTester(OpType type) : type_(type) {}
  BinaryTester& inputs(std::vector<std::vector<int64_t>> shapes) {
    shapes_ = std::move(shapes);
    return *this;
  }
  BinaryTester& constant(size_t index) {
    constant_.push_back(index);
    return *this;
  }
  BinaryTester& activation(Activation a) {
    attrs_.activation = a;
    return *this;
  }
  BinaryTester& in_place(bool b) {
    in_place_ = b;
    return *this;
  }
  // Input `index` (or the output) as channels [offset, offset + C) of a
  // buffer with `extra` more channels per pixel.
  BinaryTester& input_slice(size_t index, int64_t offset, int64_t extra) {
    input_slices_.push_back({index, Placement{offset, extra}});
    return *this;
  }
  BinaryTester& output_slice(int64_t offset, int64_t extra) {
    output_slice_ = Placement{offset, extra};
    return *this;
  }
  OpCase Case() const {
    OpCase c;
    c.op.type = type_;
    c.op.attrs = attrs_;
    c.in_place = in_place_;
    std::vector<int64_t> out;
    for (const auto& shape : shapes_) {
      OperandSpec spec = Spec(shape);
      for (size_t k : constant_) spec.constant |= (k == c.inputs.size());
      for (const auto& [k, placement] : input_slices_) {
        if (k == c.inputs.size()) spec.placement = placement;
      }
      spec.min = -3.0f;
      spec.max = 3.0f;
      c.inputs.push_back(spec);
      if (shape.size() > out.size()) out.insert(out.begin(), shape.size() - out.size(), 1);
      for (size_t d = 0; d < shape.size(); ++d) {
        int64_t& o = out[out.size() - shape.size() + d];
        if (shape[d] != 1) o = shape[d];
      }
    }
    c.output = Spec(out);
    c.output.placement = output_slice_;
    return c;
  }
  void Test() const { RunCase(Case()); }

 private:
  OpType type_;
  std::vector<std::vector<int64_t>> shapes_;
  std::vector<size_t> constant_;
  ElementwiseAttrs attrs_;
  bool in_place_ = false;
  std::vector<std::pair<size_t, Placement>> input_slices_;
  Placement output_slice_;
};

BinaryTester Add() { return BinaryTester(OpType::kAdd); }
BinaryTester Mul() { return BinaryTester(OpType::kMul); }

const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>& BroadcastPatterns() {
  static const auto* patterns =
      new std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
          {{1, 8, 8, 16}, {1, 8, 8, 16}},  // same shape
          {{1, 8, 8, 16}, {16}},           // per channel
          {{1, 8, 8, 16}, {1, 1, 1, 16}},  // squeeze-excite scale
          {{1, 1, 1, 16}, {1, 8, 8, 16}},  // broadcast first operand
          {{1, 8, 8, 16}, {}},             // scalar
          {{2, 5, 1, 3}, {1, 1, 7, 1}},    // both broadcast
          {{3, 1, 4}, {2, 1, 5, 1}},       // different ranks
          {{4, 9}, {4, 1}},
          {{1, 2, 3, 4, 5, 6}, {6}},  // rank 6
          {{1}, {1}},
      };
  return *patterns;
}

TEST(AddTest, Broadcasting) {
  for (const auto& [a, b] : BroadcastPatterns()) Add().inputs({a, b}).Test();
}

TEST(AddTest, ConstantOperandAndActivation) {
  Add().inputs({{1, 6, 6, 8}, {8}}).constant(1).Test();
  Add().inputs({{1, 6, 6, 8}, {1, 6, 6, 8}}).constant(0).activation(Activation::kRelu).Test();
  Add().inputs({{1, 6, 6, 8}, {1, 1, 1, 8}}).activation(Activation::kRelu6).Test();
}

TEST(AddTest, NAry) {
  for (int n : {3, 4, 7}) {
    for (const std::vector<int64_t>& shape :
         std::vector<std::vector<int64_t>>{{1, 8, 8, 16}, {5}, {1, 33, 35, 7}, {}}) {
      Add().inputs(std::vector<std::vector<int64_t>>(n, shape)).Test();
      Add()
          .inputs(std::vector<std::vector<int64_t>>(n, shape))
          .activation(Activation::kRelu6)
          .Test();
    }
  }
}

TEST(AddTest, NAryNullPool) {
  OpCase c = Add().inputs({{1, 20, 20, 8}, {1, 20, 20, 8}, {1, 20, 20, 8}}).Case();
  c.single_threaded = true;
  RunCase(c);
}

TEST(AddTest, InPlace) {
  Add().inputs({{1, 8, 8, 16}, {1, 8, 8, 16}}).in_place(true).Test();
  Add().inputs({{1, 8, 8, 16}, {16}}).in_place(true).Test();
  Add().inputs({{1, 8, 8, 16}, {1, 1, 1, 16}}).in_place(true).activation(Activation::kRelu).Test();
  Add().inputs({{1, 9, 9, 5}, {1, 9, 9, 5}, {1, 9, 9, 5}}).in_place(true).Test();
  Add()
      .inputs({{1, 64, 64, 3}, {1, 64, 64, 3}, {1, 64, 64, 3}, {1, 64, 64, 3}})
      .in_place(true)
      .Test();
}

// Zero-copy concat: an Add writes a channel slice of the concat's buffer and
// reads slices of others (the hand-written strided kernel).
TEST(AddTest, ChannelSlices) {
  Add().inputs({{1, 8, 8, 16}, {1, 8, 8, 16}}).output_slice(16, 48).Test();
  Add().inputs({{1, 8, 8, 16}, {1, 8, 8, 16}}).input_slice(1, 3, 5).Test();
  Add()
      .inputs({{1, 7, 9, 5}, {1, 7, 9, 5}})
      .input_slice(0, 2, 9)
      .output_slice(1, 5)
      .activation(Activation::kRelu6)
      .Test();
  Add()
      .inputs({{1, 6, 6, 300}, {1, 6, 6, 300}, {1, 6, 6, 300}})  // > one 256-channel block
      .input_slice(2, 7, 8)
      .output_slice(300, 600)
      .Test();
  // Broadcasting operands beside a strided output.
  Add().inputs({{1, 8, 8, 16}, {16}}).output_slice(4, 4).Test();
  Add().inputs({{1, 8, 8, 16}, {1, 1, 1, 16}}).input_slice(0, 1, 2).output_slice(0, 3).Test();
  Add().inputs({{2, 5, 1, 3}, {1, 1, 7, 1}}).output_slice(3, 3).Test();
  Add().inputs({{1, 4, 4, 6}, {}}).output_slice(0, 6).Test();
  Add().inputs({{1, 4, 4, 6}, {1, 4, 4, 6}}).input_slice(0, 6, 6).constant(1).Test();
  // One value per pixel as the first, both, or a third addend.
  Add().inputs({{1, 5, 7, 1}, {1, 5, 7, 9}}).output_slice(1, 2).Test();
  Add().inputs({{1, 5, 7, 1}, {1, 1, 7, 1}, {1, 5, 7, 9}}).output_slice(0, 5).Test();
  Add()
      .inputs({{1, 5, 7, 9}, {1, 5, 7, 9}, {1, 5, 1, 1}, {9}})
      .input_slice(1, 4, 4)
      .activation(Activation::kRelu)
      .Test();
}

TEST(AddTest, ChannelSliceInPlaceAndNullPool) {
  Add().inputs({{1, 8, 8, 16}, {1, 8, 8, 16}}).input_slice(0, 8, 8).in_place(true).Test();
  Add()
      .inputs({{1, 5, 5, 12}, {1, 5, 5, 12}, {1, 5, 5, 12}})
      .input_slice(0, 12, 24)
      .input_slice(1, 0, 4)
      .in_place(true)
      .activation(Activation::kRelu)
      .Test();
  OpCase c = Add().inputs({{1, 9, 9, 8}, {1, 9, 9, 8}}).output_slice(8, 8).Case();
  c.single_threaded = true;
  RunCase(c);
}

TEST(MulTest, Broadcasting) {
  for (const auto& [a, b] : BroadcastPatterns()) Mul().inputs({a, b}).Test();
  Mul().inputs({{1, 6, 6, 8}, {1, 1, 1, 8}}).constant(1).activation(Activation::kRelu6).Test();
  Mul().inputs({{8}, {1, 6, 6, 8}}).constant(0).Test();
}

TEST(MulTest, InPlace) {
  Mul().inputs({{1, 8, 8, 16}, {1, 8, 8, 16}}).in_place(true).Test();
  Mul().inputs({{1, 8, 8, 16}, {1, 1, 1, 16}}).in_place(true).Test();
}

class UnaryTester {
 public:
  explicit UnaryTester(OpType type) : type_(type) {
    if (type == OpType::kClamp) attrs_ = ClampAttrs{};
    if (type == OpType::kSoftmax) attrs_ = SoftmaxAttrs{};
  }
  UnaryTester& shape(std::vector<int64_t> s) {
    shape_ = std::move(s);
    return *this;
  }
  UnaryTester& clamp(float min, float max) {
    attrs_ = ClampAttrs{min, max};
    return *this;
  }
  UnaryTester& range(float min, float max) {
    min_ = min;
    max_ = max;
    return *this;
  }
  UnaryTester& input_slice(int64_t offset, int64_t extra) {
    input_placement_ = {offset, extra};
    return *this;
  }
  UnaryTester& output_slice(int64_t offset, int64_t extra) {
    output_placement_ = {offset, extra};
    return *this;
  }
  UnaryTester& in_place(bool b) {
    in_place_ = b;
    return *this;
  }
  OpCase Case() const {
    OpCase c;
    c.op.type = type_;
    c.op.attrs = attrs_;
    if (type_ == OpType::kSoftmax) {
      c.op.attrs = SoftmaxAttrs{static_cast<int>(shape_.size()) - 1};
    }
    c.in_place = in_place_;
    c.inputs = {Spec(shape_)};
    c.inputs[0].placement = input_placement_;
    c.inputs[0].min = min_;
    c.inputs[0].max = max_;
    c.output = Spec(shape_);
    c.output.placement = output_placement_;
    return c;
  }
  void Test() const { RunCase(Case()); }

 private:
  OpType type_;
  std::vector<int64_t> shape_ = {1, 8, 8, 16};
  OpAttrs attrs_;
  float min_ = -8.0f, max_ = 8.0f;
  Placement input_placement_, output_placement_;
  bool in_place_ = false;
};

const OpType kUnaryTypes[] = {OpType::kRelu, OpType::kClamp, OpType::kSigmoid, OpType::kHardSwish,
                              OpType::kSoftmax};

TEST(UnaryTest, Shapes) {
  for (OpType type : kUnaryTypes) {
    for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{
             {1, 8, 8, 16}, {1, 7, 9, 3}, {2, 10}, {1000}, {1, 1, 1, 1}, {3, 1, 5, 129}}) {
      UnaryTester(type).shape(shape).Test();
    }
  }
}

TEST(UnaryTest, ClampRanges) {
  UnaryTester(OpType::kClamp).clamp(-1.5f, 2.25f).Test();
  UnaryTester(OpType::kClamp).clamp(0.0f, 6.0f).Test();
}

TEST(UnaryTest, ChannelSlices) {
  for (OpType type : kUnaryTypes) {
    UnaryTester(type).shape({1, 6, 6, 5}).input_slice(3, 7).Test();
    UnaryTester(type).shape({1, 6, 6, 5}).output_slice(2, 2).Test();
    UnaryTester(type).shape({2, 4, 3, 9}).input_slice(0, 1).output_slice(9, 9).Test();
  }
}

TEST(UnaryTest, InPlace) {
  for (OpType type : {OpType::kRelu, OpType::kClamp, OpType::kSigmoid, OpType::kHardSwish}) {
    UnaryTester(type).shape({1, 16, 16, 24}).in_place(true).Test();
    UnaryTester(type).shape({1, 5, 5, 3}).in_place(true).Test();
    UnaryTester(type).shape({1, 6, 6, 5}).input_slice(4, 4).in_place(true).Test();
  }
}

TEST(UnaryTest, ConstantInput) {
  for (OpType type : kUnaryTypes) {
    OpCase c = UnaryTester(type).shape({3, 5}).Case();
    c.inputs[0].constant = true;
    RunCase(c);
  }
}

// Binds the case as RunCase does and checks the kernel: OwnElementwiseOp
// (which shares work) on 2 threads where the own kernels exist, XNNPACK or
// the pthreadpool kernels otherwise.
void CheckOwnElementwise(const OpCase& c) {
  RunCase(c);
  Result<BoundCase> bound = BindCase(c);
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  EXPECT_EQ(bound->op->shares_work(), DenseConvAvailable() && !c.single_threaded)
      << Describe(c);
}

TEST(OwnElementwiseTest, ReluClampAndAddOverTasks) {
  // Above kOwnElementwiseParallelFloats (tasks on both threads): 56x56x24
  // (MobileNetV2), several tasks over the flat elements and a partial last
  // one; 70x70x17 with slices, several tasks of whole rows. Below it (the
  // calling thread alone): 28x28x48 (DARTS), 2x3x5x7. In place; one and two
  // threads; one, two and three addends.
  for (bool single : {false, true}) {
    for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{
             {1, 56, 56, 24}, {1, 70, 70, 17}, {1, 28, 28, 48}, {2, 3, 5, 7}}) {
      for (OpType type : {OpType::kRelu, OpType::kClamp}) {
        UnaryTester t = UnaryTester(type).shape(shape);
        if (type == OpType::kClamp) t.clamp(-0.5f, 6.0f);
        OpCase c = t.Case();
        c.single_threaded = single;
        CheckOwnElementwise(c);
        c = t.in_place(true).Case();
        c.single_threaded = single;
        CheckOwnElementwise(c);
        c = UnaryTester(type).shape(shape).input_slice(3, 5).output_slice(1, 2).Case();
        c.single_threaded = single;
        CheckOwnElementwise(c);
      }
      for (size_t addends : {2, 3}) {
        std::vector<std::vector<int64_t>> shapes(addends, shape);
        OpCase c = Add().inputs(shapes).activation(Activation::kRelu6).Case();
        c.single_threaded = single;
        CheckOwnElementwise(c);
        c = Add().inputs(shapes).in_place(true).Case();
        c.single_threaded = single;
        CheckOwnElementwise(c);
        c = Add().inputs(shapes).input_slice(1, 2, 3).output_slice(0, 4).constant(0).Case();
        c.single_threaded = single;
        CheckOwnElementwise(c);
      }
    }
  }
}

TEST(OwnElementwiseTest, ManyAddendsFallBack) {
  // 16 addends (kOwnElementwiseMaxInputs) still run on it; 17 on the n-ary
  // pthreadpool kernel.
  for (size_t addends : {16, 17}) {
    OpCase c = Add().inputs(std::vector<std::vector<int64_t>>(addends, {1, 9, 9, 40})).Case();
    RunCase(c);
    Result<BoundCase> bound = BindCase(c);
    ASSERT_TRUE(bound.ok()) << bound.status().ToString();
    EXPECT_EQ(bound->op->shares_work(), DenseConvAvailable() && addends <= 16) << Describe(c);
  }
}

TEST(OpTesterTest, DetectsAMismatch) {
  OpCase c = UnaryTester(OpType::kRelu).shape({4, 4}).Case();
  c.perturb_reference = 1e-2f;
  EXPECT_NONFATAL_FAILURE(RunCase(c), "reference");
}

}  // namespace
}  // namespace serenity::kernels::testing
