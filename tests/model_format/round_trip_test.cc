// Builder -> bytes/file -> reader, for every operator and option.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "serenity/model_format/model.h"
#include "test_models.h"

namespace serenity {
namespace {

using testing::Iota;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/serenity_rt_" +
         std::to_string(::getpid()) + "_" + name;
}

// One model that uses every operator type and every option field with a
// non-default value. Shapes are worked out by hand in the comments.
struct EveryOp {
  ModelBuilder b{"every_op"};
  Conv2DAttrs conv, depthwise;
  Pool2DAttrs max_pool, avg_pool;
  ResizeBilinearAttrs resize;
  ClampAttrs clamp;
  PadAttrs pad;
  SliceAttrs slice;
  ReshapeAttrs reshape;

  EveryOp() {
    b.SetDescription("all ops");
    b.AddMetadata("author", "tests");
    b.AddMetadata("seed", "7");
    int x = b.AddInput("x", {1, 8, 8, 4});
    // Grouped conv 3x3, stride 2, pad 1: (8 + 2 - 3) / 2 + 1 = 4.
    conv.stride_h = conv.stride_w = 2;
    conv.pad_top = conv.pad_bottom = conv.pad_left = conv.pad_right = 1;
    conv.groups = 2;
    conv.activation = Activation::kRelu6;
    int w1 = b.AddConstant("c1/w", {8, 3, 3, 2}, Iota(8 * 9 * 2));
    int b1 = b.AddConstant("c1/b", {8}, Iota(8));
    int c1 = b.AddActivation("c1", {1, 4, 4, 8});
    b.AddOperator(OpType::kConv2D, "c1", {x, w1, b1}, {c1}, conv);
    // Depthwise 3x3, dilation 2 (extent 5), pad 2: (4 + 4 - 5) / 1 + 1 = 4.
    depthwise.dilation_h = depthwise.dilation_w = 2;
    depthwise.pad_top = depthwise.pad_bottom = 2;
    depthwise.pad_left = depthwise.pad_right = 2;
    depthwise.groups = 8;
    depthwise.activation = Activation::kRelu;
    int w2 = b.AddConstant("c2/w", {8, 3, 3, 1}, Iota(8 * 9));
    int c2 = b.AddActivation("c2", {1, 4, 4, 8});
    b.AddOperator(OpType::kConv2D, "c2", {c1, w2, -1}, {c2}, depthwise);
    // Max pool 3x3 s1 pad 1: 4.
    max_pool.filter_h = max_pool.filter_w = 3;
    max_pool.pad_top = max_pool.pad_bottom = max_pool.pad_left =
        max_pool.pad_right = 1;
    int mp = b.AddActivation("mp", {1, 4, 4, 8});
    b.AddOperator(OpType::kMaxPool2D, "mp", {c2}, {mp}, max_pool);
    // Average pool 2x2 s2 pad (1,0,0,1) counting padding: (4+1-2)/2+1 = 2.
    avg_pool.filter_h = avg_pool.filter_w = 2;
    avg_pool.stride_h = avg_pool.stride_w = 2;
    avg_pool.pad_top = 1;
    avg_pool.pad_right = 1;
    avg_pool.count_include_pad = true;
    int ap = b.AddActivation("ap", {1, 2, 2, 8});
    b.AddOperator(OpType::kAveragePool2D, "ap", {mp}, {ap}, avg_pool);
    resize.align_corners = true;
    resize.half_pixel_centers = false;
    int rs = b.AddActivation("rs", {1, 4, 4, 8});
    b.AddOperator(OpType::kResizeBilinear, "rs", {ap}, {rs}, resize);
    int a2 = b.AddActivation("add2", {1, 4, 4, 8});
    b.AddOperator(OpType::kAdd, "add2", {mp, rs}, {a2},
                  ElementwiseAttrs{Activation::kRelu});
    int a3 = b.AddActivation("add3", {1, 4, 4, 8});
    b.AddOperator(OpType::kAdd, "add3", {a2, c2, mp}, {a3}, ElementwiseAttrs{});
    int scale = b.AddConstant("scale", {8}, Iota(8, 1.0f));
    int mu = b.AddActivation("mul", {1, 4, 4, 8});
    b.AddOperator(OpType::kMul, "mul", {a3, scale}, {mu},
                  ElementwiseAttrs{Activation::kRelu6});
    int cat = b.AddActivation("cat", {1, 4, 4, 16});
    b.AddOperator(OpType::kConcat, "cat", {mu, c1}, {cat}, ConcatAttrs{-1});
    int r = b.AddActivation("relu", {1, 4, 4, 16});
    b.AddOperator(OpType::kRelu, "relu", {cat}, {r});
    clamp.min = -1.5f;
    clamp.max = 2.5f;
    int cl = b.AddActivation("clamp", {1, 4, 4, 16});
    b.AddOperator(OpType::kClamp, "clamp", {r}, {cl}, clamp);
    int sg = b.AddActivation("sigmoid", {1, 4, 4, 16});
    b.AddOperator(OpType::kSigmoid, "sigmoid", {cl}, {sg});
    int hs = b.AddActivation("hswish", {1, 4, 4, 16});
    b.AddOperator(OpType::kHardSwish, "hswish", {sg}, {hs});
    pad.paddings = {0, 0, 1, 2, 2, 1, 0, 0};
    pad.value = -3.0f;
    int pd = b.AddActivation("pad", {1, 7, 7, 16});
    b.AddOperator(OpType::kPad, "pad", {hs}, {pd}, pad);
    slice.begin = {0, 1, 2, 0};
    slice.size = {-1, 4, 5, -1};
    int sl = b.AddActivation("slice", {1, 4, 5, 16});
    b.AddOperator(OpType::kSlice, "slice", {pd}, {sl}, slice);
    int gp = b.AddActivation("gap", {1, 1, 1, 16});
    b.AddOperator(OpType::kGlobalAveragePool, "gap", {sl}, {gp});
    reshape.new_shape = {1, 16};
    int fl = b.AddActivation("flat", {1, 16});
    b.AddOperator(OpType::kReshape, "flat", {gp}, {fl}, reshape);
    int fw = b.AddConstant("fc/w", {10, 16}, Iota(160));
    int fb = b.AddConstant("fc/b", {10}, Iota(10));
    int fc = b.AddActivation("fc", {1, 10});
    b.AddOperator(OpType::kFullyConnected, "fc", {fl, fw, fb}, {fc},
                  FullyConnectedAttrs{Activation::kRelu});
    int sm = b.AddActivation("softmax", {1, 10});
    b.AddOperator(OpType::kSoftmax, "softmax", {fc}, {sm}, SoftmaxAttrs{-1});
    b.MarkOutput(sm);
    b.MarkOutput(fc);
  }
};

const Operator& OpNamed(const Model& m, const std::string& name) {
  for (const Operator& op : m.operators()) {
    if (op.name == name) return op;
  }
  ADD_FAILURE() << "no operator " << name;
  static Operator none;
  return none;
}

TEST(RoundTripTest, EveryOperatorAndOption) {
  EveryOp e;
  std::vector<uint8_t> bytes = testing::FinishOrDie(e.b);
  Result<Model> loaded = Model::FromBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const Model& m = *loaded;
  EXPECT_EQ(m.name(), "every_op");
  EXPECT_EQ(m.description(), "all ops");
  ASSERT_EQ(m.metadata().size(), 2u);
  EXPECT_EQ(m.metadata()[1].first, "seed");
  EXPECT_EQ(m.metadata()[1].second, "7");
  EXPECT_FALSE(m.plan().has_value());
  ASSERT_EQ(m.operators().size(), 19u);

  // Every op type appears.
  std::vector<bool> seen(kNumOpTypes, false);
  for (const Operator& op : m.operators()) seen[static_cast<int>(op.type)] = true;
  for (int t = 0; t < kNumOpTypes; ++t) {
    EXPECT_TRUE(seen[t]) << OpTypeName(static_cast<OpType>(t));
  }

  const auto& c1 = std::get<Conv2DAttrs>(OpNamed(m, "c1").attrs);
  EXPECT_EQ(c1.stride_h, 2);
  EXPECT_EQ(c1.stride_w, 2);
  EXPECT_EQ(c1.pad_top, 1);
  EXPECT_EQ(c1.pad_right, 1);
  EXPECT_EQ(c1.groups, 2);
  EXPECT_EQ(c1.activation, Activation::kRelu6);
  const Operator& c2op = OpNamed(m, "c2");
  EXPECT_EQ(c2op.inputs[2], -1);
  const auto& c2 = std::get<Conv2DAttrs>(c2op.attrs);
  EXPECT_EQ(c2.dilation_h, 2);
  EXPECT_EQ(c2.dilation_w, 2);
  EXPECT_EQ(c2.pad_bottom, 2);
  EXPECT_EQ(c2.pad_left, 2);
  EXPECT_EQ(c2.groups, 8);
  EXPECT_EQ(c2.activation, Activation::kRelu);
  const auto& mp = std::get<Pool2DAttrs>(OpNamed(m, "mp").attrs);
  EXPECT_EQ(mp.filter_h, 3);
  EXPECT_EQ(mp.pad_left, 1);
  EXPECT_FALSE(mp.count_include_pad);
  const auto& ap = std::get<Pool2DAttrs>(OpNamed(m, "ap").attrs);
  EXPECT_EQ(ap.stride_w, 2);
  EXPECT_EQ(ap.pad_top, 1);
  EXPECT_EQ(ap.pad_bottom, 0);
  EXPECT_EQ(ap.pad_right, 1);
  EXPECT_TRUE(ap.count_include_pad);
  const auto& rs = std::get<ResizeBilinearAttrs>(OpNamed(m, "rs").attrs);
  EXPECT_TRUE(rs.align_corners);
  EXPECT_FALSE(rs.half_pixel_centers);
  EXPECT_EQ(rs.output_h, 4);
  EXPECT_EQ(rs.output_w, 4);
  EXPECT_EQ(std::get<ElementwiseAttrs>(OpNamed(m, "add2").attrs).activation,
            Activation::kRelu);
  EXPECT_EQ(OpNamed(m, "add3").inputs.size(), 3u);
  EXPECT_EQ(std::get<ElementwiseAttrs>(OpNamed(m, "mul").attrs).activation,
            Activation::kRelu6);
  // Normalised by the reader: -1 on rank 4 is axis 3.
  EXPECT_EQ(std::get<ConcatAttrs>(OpNamed(m, "cat").attrs).axis, 3);
  EXPECT_TRUE(std::holds_alternative<NoAttrs>(OpNamed(m, "relu").attrs));
  const auto& cl = std::get<ClampAttrs>(OpNamed(m, "clamp").attrs);
  EXPECT_EQ(cl.min, -1.5f);
  EXPECT_EQ(cl.max, 2.5f);
  const auto& pd = std::get<PadAttrs>(OpNamed(m, "pad").attrs);
  EXPECT_EQ(pd.paddings, (std::vector<int64_t>{0, 0, 1, 2, 2, 1, 0, 0}));
  EXPECT_EQ(pd.value, -3.0f);
  const auto& sl = std::get<SliceAttrs>(OpNamed(m, "slice").attrs);
  EXPECT_EQ(sl.begin, (std::vector<int64_t>{0, 1, 2, 0}));
  // Resolved by the reader: -1 means to the end.
  EXPECT_EQ(sl.size, (std::vector<int64_t>{1, 4, 5, 16}));
  EXPECT_EQ(std::get<ReshapeAttrs>(OpNamed(m, "flat").attrs).new_shape,
            (std::vector<int64_t>{1, 16}));
  EXPECT_EQ(std::get<FullyConnectedAttrs>(OpNamed(m, "fc").attrs).activation,
            Activation::kRelu);
  EXPECT_EQ(std::get<SoftmaxAttrs>(OpNamed(m, "softmax").attrs).axis, 1);

  // Constants keep their bytes, aligned.
  uint64_t weights = 0;
  for (const Tensor& t : m.tensors()) {
    if (!t.is_constant()) continue;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u) << t.name;
    EXPECT_EQ(t.data_bytes, t.num_bytes()) << t.name;
    weights += t.data_bytes;
  }
  EXPECT_EQ(m.weight_bytes(), weights);
  EXPECT_EQ(weights, 4u * (144 + 8 + 72 + 8 + 160 + 10));
  for (const Tensor& t : m.tensors()) {
    if (t.name == "fc/w") {
      float v[3];
      std::memcpy(v, t.data, sizeof(v));
      EXPECT_EQ(v[0], 0.0f);
      EXPECT_EQ(v[2], 0.5f);
    }
  }
}

TEST(RoundTripTest, FileLoadMapsAlignedConstants) {
  EveryOp e;
  std::vector<uint8_t> bytes = testing::FinishOrDie(e.b);
  const std::string path = TempPath("every_op.srn");
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  Result<Model> loaded = Model::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->size_bytes(), bytes.size());
  EXPECT_EQ(std::memcmp(loaded->bytes(), bytes.data(), bytes.size()), 0);
  for (const Tensor& t : loaded->tensors()) {
    if (!t.is_constant()) continue;
    EXPECT_GE(t.data, loaded->bytes());
    EXPECT_LT(t.data, loaded->bytes() + loaded->size_bytes());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u);
  }
  Result<Model> from_buffer = Model::FromBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(from_buffer.ok());
  EXPECT_EQ(loaded->GraphHash(), from_buffer->GraphHash());
  std::remove(path.c_str());
}

TEST(RoundTripTest, MissingFileIsNotFound) {
  Result<Model> loaded = Model::Load(TempPath("does_not_exist.srn"));
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kNotFound);
}

TEST(RoundTripTest, FromModelAndPlanRoundTrip) {
  EveryOp e;
  std::vector<uint8_t> bytes = testing::FinishOrDie(e.b);
  Result<Model> first = Model::FromBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(first.ok());
  ModelBuilder copy = ModelBuilder::FromModel(*first);
  StoredPlan plan;
  plan.graph_hash = first->GraphHash();
  plan.plan_format_version = 3;
  for (uint32_t i = 0; i < first->operators().size(); ++i) plan.order.push_back(i);
  plan.rewrites.push_back({"in_place", {5, 6}});
  plan.rewrites.push_back({"channel_partition", {}});
  plan.tensor_offsets.assign(first->tensors().size(), 64);
  plan.arena_bytes = 12345;
  plan.peak_bytes = 12000;
  plan.optimal = true;
  plan.options_hash = 0xdeadbeefcafeULL;
  copy.SetPlan(plan);
  copy.AddMetadata("extra", "x");
  std::vector<uint8_t> again = testing::FinishOrDie(copy);
  Result<Model> second = Model::FromBuffer(again.data(), again.size());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  // The plan and metadata are outside the graph hash.
  EXPECT_EQ(second->GraphHash(), first->GraphHash());
  ASSERT_TRUE(second->plan().has_value());
  const StoredPlan& p = *second->plan();
  EXPECT_EQ(p.graph_hash, first->GraphHash());
  EXPECT_EQ(p.plan_format_version, 3u);
  EXPECT_EQ(p.order, plan.order);
  EXPECT_EQ(p.rewrites, plan.rewrites);
  EXPECT_EQ(p.tensor_offsets, plan.tensor_offsets);
  EXPECT_EQ(p.arena_bytes, 12345u);
  EXPECT_EQ(p.peak_bytes, 12000u);
  EXPECT_TRUE(p.optimal);
  EXPECT_EQ(p.options_hash, 0xdeadbeefcafeULL);
  EXPECT_EQ(second->metadata().size(), 3u);
  // The copy survives its source.
  first = Result<Model>(InternalError("gone"));
  std::vector<uint8_t> third = testing::FinishOrDie(copy);
  EXPECT_EQ(third, again);
}

TEST(RoundTripTest, GraphHashIgnoresNamesButSeesWeightsAndAttrs) {
  auto hash_of = [](const ModelBuilder& b) {
    std::vector<uint8_t> bytes = testing::FinishOrDie(b);
    Result<Model> m = Model::FromBuffer(bytes.data(), bytes.size());
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? m->GraphHash() : 0;
  };
  const uint64_t base = hash_of(testing::TinyConvNet());
  EXPECT_EQ(hash_of(testing::TinyConvNet()), base);

  ModelBuilder renamed = testing::TinyConvNet();
  renamed.tensors()[0].name = "other";
  renamed.operators()[0].name = "other";
  renamed.AddMetadata("k", "v");
  renamed.SetDescription("d");
  EXPECT_EQ(hash_of(renamed), base);

  // One weight changes in its last bit.
  std::vector<float> w = Iota(4 * 3 * 3 * 3);
  w[17] = std::nextafter(w[17], 100.0f);
  ModelBuilder b2("tiny");
  {
    int x = b2.AddInput("x", {1, 8, 8, 3});
    int wt = b2.AddConstant("conv/w", {4, 3, 3, 3}, w);
    int bias = b2.AddConstant("conv/b", {4}, Iota(4));
    int y = b2.AddActivation("conv/y", {1, 8, 8, 4});
    Conv2DAttrs conv;
    conv.pad_top = conv.pad_bottom = conv.pad_left = conv.pad_right = 1;
    conv.activation = Activation::kRelu;
    b2.AddOperator(OpType::kConv2D, "conv", {x, wt, bias}, {y}, conv);
    int p = b2.AddActivation("pool/y", {1, 4, 4, 4});
    Pool2DAttrs pool;
    pool.filter_h = pool.filter_w = 2;
    pool.stride_h = pool.stride_w = 2;
    b2.AddOperator(OpType::kMaxPool2D, "pool", {y}, {p}, pool);
    b2.MarkOutput(p);
  }
  EXPECT_NE(hash_of(b2), base);

  ModelBuilder act = testing::TinyConvNet();
  std::get<Conv2DAttrs>(act.operators()[0].attrs).activation =
      Activation::kRelu6;
  EXPECT_NE(hash_of(act), base);
}

TEST(RoundTripTest, WriteFileAtomicallyReplacesAndLeavesNoTemp) {
  const std::string path = TempPath("atomic.srn");
  ASSERT_TRUE(WriteFileAtomically(path, {1, 2, 3}).ok());
  ASSERT_TRUE(WriteFileAtomically(path, {4, 5}).ok());
  std::ifstream in(path, std::ios::binary);
  std::vector<char> got((std::istreambuf_iterator<char>(in)),
                        std::istreambuf_iterator<char>());
  EXPECT_EQ(got, (std::vector<char>{4, 5}));
  std::remove(path.c_str());
  Status bad = WriteFileAtomically("/nonexistent-dir/x.srn", {1});
  EXPECT_EQ(bad.code(), StatusCode::kIoError);
  EXPECT_NE(bad.message().find("/nonexistent-dir/x.srn"), std::string::npos);
}

}  // namespace
}  // namespace serenity
