// Builder -> bytes/file -> reader, for every operator and option.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
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

const Operator& OpNamed(const Model& m, const std::string& name) {
  for (const Operator& op : m.operators()) {
    if (op.name == name) return op;
  }
  ADD_FAILURE() << "no operator " << name;
  static Operator none;
  return none;
}

uint64_t GraphHashOf(const ModelBuilder& b) {
  std::vector<uint8_t> bytes = testing::FinishOrDie(b);
  Result<Model> m = Model::FromBuffer(bytes.data(), bytes.size());
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? m->GraphHash() : 0;
}

TEST(RoundTripTest, EveryOperatorAndOption) {
  testing::EveryOp e;
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
  testing::EveryOp e;
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
  testing::EveryOp e;
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
  plan.pixel_strides.assign(first->tensors().size(), 3);
  plan.pixel_strides[0] = -1;
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
  EXPECT_EQ(p.pixel_strides, plan.pixel_strides);
  EXPECT_EQ(second->metadata().size(), 3u);
  // The copy survives its source.
  first = Result<Model>(InternalError("gone"));
  std::vector<uint8_t> third = testing::FinishOrDie(copy);
  EXPECT_EQ(third, again);
}

// An empty [ulong] vector is not 8-byte aligned in the file (the builder
// only aligns non-empty vectors); the reader must still take it.
TEST(RoundTripTest, EmptyPlanVectors) {
  ModelBuilder b = testing::TinyConvNet();
  StoredPlan plan;
  plan.arena_bytes = 7;
  b.SetPlan(plan);
  std::vector<uint8_t> bytes = testing::FinishOrDie(b);
  Result<Model> m = Model::FromBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->plan().has_value());
  EXPECT_TRUE(m->plan()->tensor_offsets.empty());
  EXPECT_TRUE(m->plan()->pixel_strides.empty());
  EXPECT_EQ(m->plan()->arena_bytes, 7u);
}

TEST(RoundTripTest, GraphHashIgnoresNamesButSeesWeightsAndAttrs) {
  const uint64_t base = GraphHashOf(testing::TinyConvNet());
  EXPECT_EQ(GraphHashOf(testing::TinyConvNet()), base);

  ModelBuilder renamed = testing::TinyConvNet();
  renamed.tensors()[0].name = "other";
  renamed.operators()[0].name = "other";
  renamed.AddMetadata("k", "v");
  renamed.SetDescription("d");
  EXPECT_EQ(GraphHashOf(renamed), base);

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
  EXPECT_NE(GraphHashOf(b2), base);

  ModelBuilder act = testing::TinyConvNet();
  std::get<Conv2DAttrs>(act.operators()[0].attrs).activation =
      Activation::kRelu6;
  EXPECT_NE(GraphHashOf(act), base);
}

// Compiled .srn files and plan cache entries on disk carry graph hashes, so
// a change in how the hash is computed must keep every value (or come with a
// new kPlanFormatVersion). The values were recorded with the byte-at-a-time
// word assembly of c723ccd, before the hash read each word in one load.
TEST(RoundTripTest, GraphHashKeepsItsValues) {
  EXPECT_EQ(GraphHashOf(testing::TinyConvNet()), uint64_t{12520997851747269843u});
  testing::EveryOp every;
  EXPECT_EQ(GraphHashOf(every.b), uint64_t{7522794416251511877u});
}

// Every byte of a constant counts, wherever it sits in a word or in the
// tail after the last whole word.
TEST(RoundTripTest, GraphHashSeesEveryByteOfAConstant) {
  auto hash_of = [](const std::vector<float>& values) {
    ModelBuilder b("bytes");
    const int x = b.AddInput("x", {1, 5});
    const int c = b.AddConstant("c", {1, 5}, values);
    const int y = b.AddActivation("y", {1, 5});
    b.AddOperator(OpType::kAdd, "add", {x, c}, {y}, ElementwiseAttrs{});
    b.MarkOutput(y);
    return GraphHashOf(b);
  };
  const std::vector<float> base = {1.5f, -2.25f, 3.0f, 0.125f, 7.75f};  // 20 bytes
  const uint64_t base_hash = hash_of(base);
  std::vector<uint64_t> seen = {base_hash};
  for (size_t byte = 0; byte < base.size() * sizeof(float); ++byte) {
    std::vector<float> changed = base;
    uint8_t raw[sizeof(float)];
    std::memcpy(raw, &changed[byte / sizeof(float)], sizeof(raw));
    raw[byte % sizeof(float)] ^= 0x01;
    std::memcpy(&changed[byte / sizeof(float)], raw, sizeof(raw));
    const uint64_t hash = hash_of(changed);
    EXPECT_NE(hash, base_hash) << "byte " << byte;
    EXPECT_EQ(std::count(seen.begin(), seen.end(), hash), 0) << "byte " << byte;
    seen.push_back(hash);
  }
}

// Quantization parameters survive the file (Tensor::quantization: null when
// absent, shared by copies of the Tensor), and the graph hash sees them.
TEST(RoundTripTest, QuantizationRoundTripsAndIsHashed) {
  auto load = [](const ModelBuilder& b) {
    std::vector<uint8_t> bytes = testing::FinishOrDie(b);
    Result<Model> m = Model::FromBuffer(bytes.data(), bytes.size());
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return std::move(m).value();
  };
  auto index_of = [](const std::vector<Tensor>& tensors, const std::string& name) {
    for (size_t t = 0; t < tensors.size(); ++t) {
      if (tensors[t].name == name) return static_cast<int>(t);
    }
    ADD_FAILURE() << "no tensor " << name;
    return 0;
  };
  const Model plain = load(testing::TinyConvNet());
  for (const Tensor& t : plain.tensors()) EXPECT_EQ(t.quantization, nullptr) << t.name;

  ModelBuilder quantized = testing::TinyConvNet();
  const int bias = index_of(quantized.tensors(), "conv/b");
  Quantization q;
  q.scale = {0.5f, 0.25f, 2.0f, 1.0f};
  q.zero_point = {3, -1, 0, 7};
  q.quantized_dimension = 0;
  quantized.tensors()[bias].quantization = std::make_shared<const Quantization>(q);
  const Model loaded = load(quantized);
  const Tensor& tensor = loaded.tensors()[index_of(loaded.tensors(), "conv/b")];
  ASSERT_NE(tensor.quantization, nullptr);
  EXPECT_EQ(tensor.quantization->scale, q.scale);
  EXPECT_EQ(tensor.quantization->zero_point, q.zero_point);
  EXPECT_EQ(tensor.quantization->quantized_dimension, 0);
  for (const Tensor& t : loaded.tensors()) {
    if (&t != &tensor) {
      EXPECT_EQ(t.quantization, nullptr) << t.name;
    }
  }
  const Tensor copy = tensor;
  EXPECT_EQ(copy.quantization.get(), tensor.quantization.get());

  EXPECT_NE(loaded.GraphHash(), plain.GraphHash());
  q.scale[2] = 4.0f;
  quantized.tensors()[bias].quantization = std::make_shared<const Quantization>(q);
  EXPECT_NE(load(quantized).GraphHash(), loaded.GraphHash());
}

TEST(RoundTripTest, BuilderRefusesValuesTheFileCannotHold) {
  ModelBuilder shape = testing::TinyConvNet();
  shape.tensors()[2].shape = {int64_t{1} << 33};
  Result<std::vector<uint8_t>> bytes = shape.Finish();
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bytes.status().message().find("tensor 2 ('conv/b') shape holds "
                                          "8589934592"),
            std::string::npos)
      << bytes.status().message();
  ModelBuilder pad("pad");
  int x = pad.AddInput("x", {1, 4});
  int y = pad.AddActivation("y", {1, 5});
  pad.AddOperator(OpType::kPad, "p", {x}, {y},
                  PadAttrs{{0, 0, -(int64_t{1} << 40), 1}, 0.0f});
  bytes = pad.Finish();
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("operator 0 ('p') paddings"),
            std::string::npos)
      << bytes.status().message();
}

TEST(RoundTripTest, WriteFileAtomicallyReplacesAndLeavesNoTemp) {
  const std::string path = TempPath("atomic.srn");
  ASSERT_TRUE(WriteFileAtomically(path, {1, 2, 3}).ok());
  ASSERT_TRUE(WriteFileAtomically(path, {4, 5}).ok());
  std::ifstream in(path, std::ios::binary);
  std::vector<char> got((std::istreambuf_iterator<char>(in)),
                        std::istreambuf_iterator<char>());
  EXPECT_EQ(got, (std::vector<char>{4, 5}));
  const std::string dir = path.substr(0, path.find_last_of('/'));
  const std::string base = path.substr(path.find_last_of('/') + 1);
  DIR* listing = ::opendir(dir.c_str());
  ASSERT_NE(listing, nullptr);
  while (const dirent* entry = ::readdir(listing)) {
    const std::string name = entry->d_name;
    EXPECT_FALSE(name != base && name.rfind(base, 0) == 0) << name;
  }
  ::closedir(listing);
  std::remove(path.c_str());
  Status bad = WriteFileAtomically("/nonexistent-dir/x.srn", {1});
  EXPECT_EQ(bad.code(), StatusCode::kIoError);
  EXPECT_NE(bad.message().find("/nonexistent-dir/x.srn"), std::string::npos);
}

}  // namespace
}  // namespace serenity
