// One or more malformed files per class of DESIGN.md §5, each expecting its
// specific status code and a message that names the culprit.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "raw_model.h"
#include "serenity/model_format/model.h"
#include "test_models.h"

namespace serenity {
namespace {

using testing::FinishOrDie;
using testing::Iota;
using testing::RawModel;
using testing::WriteRaw;

// Expects FromBuffer to fail with `code`, a message starting with the source
// name, and containing every one of `needles`.
void ExpectError(const std::vector<uint8_t>& bytes, StatusCode code,
                 const std::vector<std::string>& needles) {
  Result<Model> model = Model::FromBuffer(bytes.data(), bytes.size(), "bad.srn");
  ASSERT_FALSE(model.ok()) << "accepted a bad model";
  EXPECT_EQ(model.status().code(), code) << model.status().ToString();
  const std::string& message = model.status().message();
  EXPECT_EQ(message.rfind("bad.srn: ", 0), 0u) << message;
  for (const std::string& needle : needles) {
    EXPECT_NE(message.find(needle), std::string::npos)
        << "'" << needle << "' not in: " << message;
  }
}

void ExpectError(const ModelBuilder& b, StatusCode code,
                 const std::vector<std::string>& needles) {
  ExpectError(FinishOrDie(b), code, needles);
}

constexpr StatusCode kInvalid = StatusCode::kInvalidModel;

// x [1,4] -> relu -> y [1,4]; the smallest valid graph, to break one way.
ModelBuilder ReluNet() {
  ModelBuilder b("relu");
  int x = b.AddInput("x", {1, 4});
  int y = b.AddActivation("y", {1, 4});
  b.AddOperator(OpType::kRelu, "act", {x}, {y});
  b.MarkOutput(y);
  return b;
}

TEST(MalformedTest, RawHelperWritesAValidModel) {
  std::vector<uint8_t> bytes = WriteRaw(RawModel{});
  Result<Model> model = Model::FromBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->operators()[0].type, OpType::kRelu);
}

// Class 1: truncated files, bad identifier or version, offsets outside the
// buffer, files too large to address.
TEST(MalformedTest, Class1TooShort) {
  std::vector<uint8_t> bytes = {1, 2, 3};
  ExpectError(bytes, kInvalid, {"3 bytes", "too short"});
  ExpectError(std::vector<uint8_t>{}, kInvalid, {"0 bytes"});
}

TEST(MalformedTest, Class1BadIdentifier) {
  std::vector<uint8_t> bytes = FinishOrDie(ReluNet());
  std::memcpy(&bytes[4], "TFL3", 4);
  ExpectError(bytes, kInvalid, {"identifier", "'TFL3'", "SRN1"});
}

TEST(MalformedTest, Class1BadVersion) {
  RawModel r;
  r.version = 2;
  ExpectError(WriteRaw(r), kInvalid, {"format_version is 2"});
}

TEST(MalformedTest, Class1RootOffsetOutsideBuffer) {
  std::vector<uint8_t> bytes = FinishOrDie(ReluNet());
  const uint32_t far = 0x7ffffff0;
  std::memcpy(&bytes[0], &far, 4);
  ExpectError(bytes, kInvalid, {"verification failed", "root table offset"});
}

TEST(MalformedTest, Class1EveryProperPrefixIsRejected) {
  EXPECT_TRUE(true);
  for (const ModelBuilder& b : {ReluNet(), testing::TinyConvNet()}) {
    std::vector<uint8_t> bytes = FinishOrDie(b);
    for (size_t n = 0; n < bytes.size(); ++n) {
      Result<Model> model = Model::FromBuffer(bytes.data(), n, "prefix.srn");
      ASSERT_FALSE(model.ok()) << "prefix of " << n << " bytes accepted";
      EXPECT_EQ(model.status().code(), kInvalid) << n;
      EXPECT_EQ(model.status().message().rfind("prefix.srn: ", 0), 0u);
    }
    Result<Model> whole = Model::FromBuffer(bytes.data(), bytes.size());
    EXPECT_TRUE(whole.ok());
  }
}

TEST(MalformedTest, Class1FileTooLargeToAddress) {
  // The size is checked before the bytes are touched or copied.
  std::vector<uint8_t> bytes = FinishOrDie(ReluNet());
  Result<Model> model =
      Model::FromBuffer(bytes.data(), size_t{kMaxFileBytes} + 1, "big.srn");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), kInvalid);
  EXPECT_NE(model.status().message().find("more than the limit"),
            std::string::npos);

  // A sparse file just over the limit: rejected from its size alone.
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/serenity_big_" +
                     std::to_string(::getpid()) + ".srn";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  const bool sized = ::ftruncate(fd, static_cast<off_t>(kMaxFileBytes) + 1) == 0;
  ::close(fd);
  if (sized) {
    Result<Model> loaded = Model::Load(path);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), kInvalid);
    EXPECT_NE(loaded.status().message().find(path), std::string::npos);
  }
  std::remove(path.c_str());
}

TEST(MalformedTest, Class1LoadNamesThePath) {
  std::vector<uint8_t> bytes = FinishOrDie(ReluNet());
  bytes.resize(bytes.size() / 2);
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/serenity_half_" +
                     std::to_string(::getpid()) + ".srn";
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  Result<Model> loaded = Model::Load(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), kInvalid);
  EXPECT_EQ(loaded.status().message().rfind(path + ": ", 0), 0u)
      << loaded.status().message();
  ASSERT_TRUE(WriteFileAtomically(path, {}).ok());
  loaded = Model::Load(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), kInvalid);
  std::remove(path.c_str());
}

// Class 2: missing required fields.
TEST(MalformedTest, Class2MissingRequiredFields) {
  const struct {
    bool RawModel::*field;
    const char* name;
  } cases[] = {{&RawModel::with_tensors, "'tensors'"},
               {&RawModel::with_operators, "'operators'"},
               {&RawModel::with_inputs, "'inputs'"},
               {&RawModel::with_outputs, "'outputs'"},
               {&RawModel::with_buffers, "'buffers'"}};
  for (const auto& c : cases) {
    RawModel r;
    r.*c.field = false;
    ExpectError(WriteRaw(r), kInvalid, {"missing required field", c.name});
  }
  RawModel no_shape;
  no_shape.x_has_shape = false;
  ExpectError(WriteRaw(no_shape), kInvalid,
              {"tensor 0", "missing required field 'shape'"});
  RawModel no_outputs;
  no_outputs.op_has_outputs = false;
  ExpectError(WriteRaw(no_outputs), kInvalid,
              {"operator 0", "missing required field 'outputs'"});
  RawModel pad;
  pad.pad_options_without_paddings = true;
  ExpectError(WriteRaw(pad), kInvalid,
              {"operator 0", "missing required field 'paddings'"});
}

TEST(MalformedTest, Class2MissingRequiredOptions) {
  ModelBuilder b("pool");
  int x = b.AddInput("x", {1, 4, 4, 2});
  int y = b.AddActivation("y", {1, 4, 4, 2});
  b.AddOperator(OpType::kMaxPool2D, "pool", {x}, {y});
  b.MarkOutput(y);
  ExpectError(b, kInvalid, {"operator 0 ('pool')", "options is missing",
                            "Pool2DOptions"});
}

// Class 3: indices out of range or negative.
TEST(MalformedTest, Class3OperatorInputOutOfRange) {
  ModelBuilder b = ReluNet();
  b.operators()[0].inputs = {99};
  ExpectError(b, kInvalid, {"operator 0 ('act')", "inputs[0]", "99",
                            "out of range"});
}

TEST(MalformedTest, Class3NegativeIndices) {
  ModelBuilder b = ReluNet();
  b.operators()[0].inputs = {-7};
  ExpectError(b, kInvalid, {"operator 0 ('act')", "inputs[0]", "-7"});
  ModelBuilder out = ReluNet();
  out.operators()[0].outputs = {-1};
  ExpectError(out, kInvalid, {"operator 0 ('act')", "outputs[0]", "-1"});
  // -1 is only for an optional operand: Relu has none.
  ModelBuilder absent = ReluNet();
  absent.operators()[0].inputs = {-1};
  ExpectError(absent, kInvalid, {"operator 0 ('act')", "input 0"});
  ModelBuilder graph_in = ReluNet();
  graph_in.inputs() = {-2};
  ExpectError(graph_in, kInvalid, {"graph input 0", "-2"});
  ModelBuilder graph_out = ReluNet();
  graph_out.outputs() = {5};
  ExpectError(graph_out, kInvalid, {"graph output 0", "5", "out of range"});
}

TEST(MalformedTest, Class3BufferIndexOutOfRange) {
  RawModel r;
  r.x_buffer = 7;
  ExpectError(WriteRaw(r), kInvalid, {"tensor 0 ('x')", "buffer is 7"});
}

// Class 4: negative, zero or huge dimensions, rank above the limit.
TEST(MalformedTest, Class4BadDimensions) {
  for (int64_t dim : {int64_t{0}, int64_t{-3}, kMaxDimension + 1,
                      int64_t{std::numeric_limits<int32_t>::max()}}) {
    ModelBuilder b = ReluNet();
    b.tensors()[1].shape = {1, dim};
    ExpectError(b, kInvalid,
                {"tensor 1 ('y')", "shape", "dimension " + std::to_string(dim)});
  }
}

TEST(MalformedTest, Class4RankAboveLimit) {
  ModelBuilder b = ReluNet();
  b.tensors()[0].shape = {1, 1, 1, 1, 1, 1, 4};
  ExpectError(b, kInvalid, {"tensor 0 ('x')", "rank 7"});
}

// Class 5: integer overflow in element counts and byte sizes.
TEST(MalformedTest, Class5ElementCountOverflow) {
  ModelBuilder b = ReluNet();
  // 2^24 six times: 2^144 elements, far past 64 bits.
  b.tensors()[1].shape.assign(6, kMaxDimension);
  ExpectError(b, kInvalid, {"tensor 1 ('y')", "needs more than 4294967296"});
  ModelBuilder just_over = ReluNet();
  // 2^30 float32 elements = 2^32 bytes is the limit; one more row is over.
  just_over.tensors()[0].shape = {65, 1 << 24};
  ExpectError(just_over, kInvalid, {"tensor 0 ('x')", "needs more than"});
}

TEST(MalformedTest, Class5ConcatOutputOverflowsDimension) {
  ModelBuilder b("cat");
  int x = b.AddInput("x", {1, kMaxDimension});
  int y = b.AddActivation("y", {1, 1});
  b.AddOperator(OpType::kConcat, "cat", {x, x}, {y}, ConcatAttrs{1});
  b.MarkOutput(y);
  ExpectError(b, kInvalid, {"operator 0 ('cat')", "Concat",
                            std::to_string(2 * kMaxDimension)});
}

// Class 6: weight buffers of the wrong length, or misaligned.
TEST(MalformedTest, Class6WeightLengthMismatch) {
  ModelBuilder b = testing::TinyConvNet();
  b.tensors()[1].data_bytes -= 4;
  ExpectError(b, kInvalid, {"tensor 1 ('conv/w')", "holds 428 bytes",
                            "needs 432"});
  ModelBuilder empty("e");
  int x = empty.AddInput("x", {1, 4});
  int c = empty.AddConstantBytes("c", {4}, DataType::kFloat32, {});
  int y = empty.AddActivation("y", {1, 4});
  empty.AddOperator(OpType::kAdd, "add", {x, c}, {y}, ElementwiseAttrs{});
  empty.MarkOutput(y);
  ExpectError(empty, kInvalid, {"tensor 1 ('c')", "holds 0 bytes", "needs 16"});
}

TEST(MalformedTest, Class6MisalignedWeights) {
  RawModel r;
  r.misaligned_constant = true;
  std::vector<uint8_t> bytes = WriteRaw(r);
  ASSERT_FALSE(bytes.empty());
  ExpectError(bytes, kInvalid, {"tensor 2 ('c')", "not 64-byte aligned"});
}

TEST(MalformedTest, Class6BufferZeroMustBeEmpty) {
  // Tensor 0 of TinyConvNet's file is an activation; pointing a constant at
  // buffer 0 is expressed by giving buffer 0 bytes, which only raw bytes can.
  ModelBuilder b = ReluNet();
  b.AddConstant("c", {1}, {1.0f});  // goes to buffer 1
  std::vector<uint8_t> bytes = FinishOrDie(b);
  Result<Model> ok = Model::FromBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
}

// Class 7: graph faults.
TEST(MalformedTest, Class7Cycle) {
  ModelBuilder b("cycle");
  int x = b.AddInput("x", {1, 4});
  int a = b.AddActivation("a", {1, 4});
  int c = b.AddActivation("c", {1, 4});
  b.AddOperator(OpType::kAdd, "first", {x, c}, {a}, ElementwiseAttrs{});
  b.AddOperator(OpType::kRelu, "second", {a}, {c});
  b.MarkOutput(c);
  ExpectError(b, kInvalid, {"cycle through operator"});
  ModelBuilder self("self");
  int s = self.AddActivation("s", {1, 4});
  self.AddOperator(OpType::kRelu, "loop", {s}, {s});
  self.MarkOutput(s);
  ExpectError(self, kInvalid, {"cycle through operator 0 ('loop')"});
}

TEST(MalformedTest, Class7NotTopologicallyOrdered) {
  ModelBuilder b("order");
  int x = b.AddInput("x", {1, 4});
  int a = b.AddActivation("a", {1, 4});
  int c = b.AddActivation("c", {1, 4});
  b.AddOperator(OpType::kRelu, "late", {a}, {c});
  b.AddOperator(OpType::kRelu, "early", {x}, {a});
  b.MarkOutput(c);
  ExpectError(b, kInvalid, {"operator 0 ('late')", "tensor 1 ('a')",
                            "produced later by operator 1 ('early')",
                            "topological"});
}

TEST(MalformedTest, Class7TwoProducers) {
  ModelBuilder b = ReluNet();
  b.AddOperator(OpType::kSigmoid, "again", {0}, {1});
  ExpectError(b, kInvalid, {"tensor 1 ('y') has two producers",
                            "operator 0 ('act')", "operator 1 ('again')"});
}

TEST(MalformedTest, Class7ReadsTensorNothingProduces) {
  ModelBuilder b = ReluNet();
  int orphan = b.AddActivation("orphan", {1, 4});
  int z = b.AddActivation("z", {1, 4});
  b.AddOperator(OpType::kAdd, "sum", {1, orphan}, {z}, ElementwiseAttrs{});
  ExpectError(b, kInvalid, {"operator 1 ('sum')", "tensor 2 ('orphan')",
                            "no operator produces"});
}

TEST(MalformedTest, Class7WritesConstantOrGraphInput) {
  ModelBuilder b = ReluNet();
  int c = b.AddConstant("c", {1, 4}, Iota(4));
  b.operators()[0].outputs = {c};
  ExpectError(b, kInvalid, {"operator 0 ('act')", "tensor 2 ('c')",
                            "a constant"});
  ModelBuilder in = ReluNet();
  int x2 = in.AddInput("x2", {1, 4});
  in.AddOperator(OpType::kRelu, "overwrite", {1}, {x2});
  ExpectError(in, kInvalid, {"operator 1 ('overwrite')", "tensor 2 ('x2')",
                             "graph input"});
}

TEST(MalformedTest, Class7GraphOutputNotProduced) {
  ModelBuilder b = ReluNet();
  int dangling = b.AddActivation("dangling", {1, 4});
  b.MarkOutput(dangling);
  ExpectError(b, kInvalid, {"graph output 1", "tensor 2 ('dangling')",
                            "no operator produces"});
  ModelBuilder in = ReluNet();
  in.MarkOutput(0);
  ExpectError(in, kInvalid, {"graph output 1", "tensor 0 ('x')"});
}

TEST(MalformedTest, Class7DuplicateGraphInputsAndConstantInput) {
  ModelBuilder b = ReluNet();
  b.inputs().push_back(0);
  ExpectError(b, kInvalid, {"graph input 1 repeats tensor 0 ('x')"});
  ModelBuilder c = ReluNet();
  int k = c.AddConstant("k", {1}, {2.0f});
  c.inputs().push_back(k);
  ExpectError(c, kInvalid, {"graph input 1", "tensor 2 ('k')", "constant"});
}

// Class 8: unknown enum values.
TEST(MalformedTest, Class8UnknownOpcode) {
  RawModel r;
  r.opcode = 99;
  ExpectError(WriteRaw(r), kInvalid, {"operator 0 ('op')", "opcode",
                                      "unknown value 99"});
  r.opcode = -1;
  ExpectError(WriteRaw(r), kInvalid, {"unknown value -1"});
}

TEST(MalformedTest, Class8UnknownDataType) {
  RawModel r;
  r.x_type = 42;
  ExpectError(WriteRaw(r), kInvalid, {"tensor 0 ('x')", "type",
                                      "unknown value 42"});
}

TEST(MalformedTest, Class8UnknownActivation) {
  RawModel r;
  r.opcode = 5;  // ADD
  r.op_inputs = {0, 0};
  r.options_type = 4;  // ElementwiseOptions
  r.options_table = true;
  r.activation = 9;
  ExpectError(WriteRaw(r), kInvalid, {"operator 0 ('op')", "activation",
                                      "unknown value 9"});
}

TEST(MalformedTest, Class8UnknownUnionTag) {
  RawModel r;
  r.options_type = 77;
  r.options_table = true;
  ExpectError(WriteRaw(r), kInvalid, {"operator 0 ('op')",
                                      "unknown union type 77"});
}

TEST(MalformedTest, Class8OptionsDoNotMatchOpcode) {
  ModelBuilder b = ReluNet();
  b.operators()[0].attrs = ConcatAttrs{0};
  ExpectError(b, kInvalid, {"operator 0 ('act')", "ConcatOptions",
                            "expected no options"});
  ModelBuilder conv = testing::TinyConvNet();
  conv.operators()[0].attrs = Pool2DAttrs{};
  ExpectError(conv, kInvalid, {"operator 0 ('conv')", "Pool2DOptions",
                               "expected Conv2DOptions"});
}

// Class 9: invalid op parameters.
ModelBuilder ConvWith(Conv2DAttrs attrs, std::vector<int64_t> weights_shape,
                      std::vector<int64_t> out_shape, bool constant = true) {
  ModelBuilder b("conv");
  int x = b.AddInput("x", {1, 8, 8, 4});
  size_t count = 1;
  for (int64_t d : weights_shape) count *= static_cast<size_t>(d);
  int w = constant ? b.AddConstant("w", weights_shape, Iota(count))
                   : b.AddInput("w", weights_shape);
  int y = b.AddActivation("y", out_shape);
  b.AddOperator(OpType::kConv2D, "cell3/sep_conv_2", {x, w, -1}, {y}, attrs);
  b.MarkOutput(y);
  return b;
}

TEST(MalformedTest, Class9ConvParameters) {
  Conv2DAttrs good;
  Result<Model> ok = [&] {
    std::vector<uint8_t> bytes =
        FinishOrDie(ConvWith(good, {2, 3, 3, 4}, {1, 6, 6, 2}));
    return Model::FromBuffer(bytes.data(), bytes.size());
  }();
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();

  Conv2DAttrs zero_stride;
  zero_stride.stride_w = 0;
  ExpectError(ConvWith(zero_stride, {2, 3, 3, 4}, {1, 6, 6, 2}), kInvalid,
              {"operator 0 ('cell3/sep_conv_2')", "stride_w", "positive"});
  Conv2DAttrs zero_dilation;
  zero_dilation.dilation_h = -1;
  ExpectError(ConvWith(zero_dilation, {2, 3, 3, 4}, {1, 6, 6, 2}), kInvalid,
              {"dilation_h"});
  Conv2DAttrs groups;
  groups.groups = 3;
  ExpectError(ConvWith(groups, {3, 3, 3, 1}, {1, 6, 6, 3}), kInvalid,
              {"groups 3 must divide"});
  Conv2DAttrs negative_pad;
  negative_pad.pad_left = -1;
  ExpectError(ConvWith(negative_pad, {2, 3, 3, 4}, {1, 6, 6, 2}), kInvalid,
              {"pad_left", "negative"});
  Conv2DAttrs big_pad;
  big_pad.pad_top = 4;
  ExpectError(ConvWith(big_pad, {2, 3, 3, 4}, {1, 10, 6, 2}), kInvalid,
              {"padding", "larger than the dilated kernel 3x3"});
  // Weights' input channels do not match the input.
  ExpectError(ConvWith(good, {2, 3, 3, 3}, {1, 6, 6, 2}), kInvalid,
              {"input 1 (weights)", "must be 4"});
  ExpectError(ConvWith(good, {2, 3, 3, 4}, {1, 6, 6, 2}, /*constant=*/false),
              kInvalid,
              {"bad.srn: operator 0 ('cell3/sep_conv_2'): Conv2D input 1 "
               "(weights) must be a constant"});
  // Stored output shape disagrees with inference.
  ExpectError(ConvWith(good, {2, 3, 3, 4}, {1, 8, 8, 2}), kInvalid,
              {"output 0", "tensor 2 ('y')", "[1, 8, 8, 2]", "[1, 6, 6, 2]"});
}

TEST(MalformedTest, Class9PoolParameters) {
  auto pool_net = [](Pool2DAttrs attrs, std::vector<int64_t> out) {
    ModelBuilder b("pool");
    int x = b.AddInput("x", {1, 8, 8, 4});
    int y = b.AddActivation("y", out);
    b.AddOperator(OpType::kAveragePool2D, "p", {x}, {y}, attrs);
    b.MarkOutput(y);
    return b;
  };
  Pool2DAttrs zero;
  zero.filter_h = 0;
  zero.filter_w = 2;
  ExpectError(pool_net(zero, {1, 8, 7, 4}), kInvalid,
              {"operator 0 ('p')", "filter_h", "positive"});
  Pool2DAttrs pad;
  pad.filter_h = pad.filter_w = 2;
  pad.pad_bottom = 2;
  ExpectError(pool_net(pad, {1, 9, 7, 4}), kInvalid,
              {"padding", "smaller than the filter 2x2"});
  Pool2DAttrs too_big;
  too_big.filter_h = too_big.filter_w = 9;
  ExpectError(pool_net(too_big, {1, 1, 1, 4}), kInvalid,
              {"does not fit the padded input of 8"});
}

TEST(MalformedTest, Class9ShapeMismatchesBetweenOperands) {
  ModelBuilder b("add");
  int x = b.AddInput("x", {1, 4});
  int z = b.AddInput("z", {1, 5});
  int y = b.AddActivation("y", {1, 5});
  b.AddOperator(OpType::kAdd, "add", {x, z}, {y}, ElementwiseAttrs{});
  b.MarkOutput(y);
  ExpectError(b, kInvalid, {"operator 0 ('add')", "[1, 4]", "[1, 5]",
                            "do not broadcast"});
  ModelBuilder three("add3");
  int a = three.AddInput("a", {2, 4});
  int c = three.AddInput("c", {1, 4});
  int y3 = three.AddActivation("y", {2, 4});
  three.AddOperator(OpType::kAdd, "add3", {a, a, c}, {y3}, ElementwiseAttrs{});
  three.MarkOutput(y3);
  ExpectError(three, kInvalid, {"more than 2 inputs needs equal shapes"});
  ModelBuilder fc("fc");
  int fx = fc.AddInput("x", {1, 8});
  int fw = fc.AddConstant("w", {3, 7}, Iota(21));
  int fy = fc.AddActivation("y", {1, 3});
  fc.AddOperator(OpType::kFullyConnected, "fc", {fx, fw}, {fy},
                 FullyConnectedAttrs{});
  fc.MarkOutput(fy);
  ExpectError(fc, kInvalid, {"operator 0 ('fc')", "weights", "[3, 7]"});
}

TEST(MalformedTest, Class9ConcatAxisOutOfRange) {
  for (int axis : {4, -5}) {
    ModelBuilder b("cat");
    int x = b.AddInput("x", {1, 2, 2, 3});
    int y = b.AddActivation("y", {1, 2, 2, 6});
    b.AddOperator(OpType::kConcat, "cat", {x, x}, {y}, ConcatAttrs{axis});
    b.MarkOutput(y);
    ExpectError(b, kInvalid, {"operator 0 ('cat')",
                              "axis " + std::to_string(axis),
                              "out of range for rank 4"});
  }
}

TEST(MalformedTest, Class9SlicePadReshapeSoftmax) {
  auto unary = [](OpType type, OpAttrs attrs, std::vector<int64_t> out) {
    ModelBuilder b("u");
    int x = b.AddInput("x", {1, 4, 4, 2});
    int y = b.AddActivation("y", out);
    b.AddOperator(type, "u", {x}, {y}, std::move(attrs));
    b.MarkOutput(y);
    return b;
  };
  ExpectError(unary(OpType::kSlice, SliceAttrs{{0, 3, 0, 0}, {1, 2, 4, 2}},
                    {1, 2, 4, 2}),
              kInvalid, {"operator 0 ('u')", "out of bounds", "dimension 1"});
  ExpectError(unary(OpType::kSlice, SliceAttrs{{0, -1, 0, 0}, {1, 1, 4, 2}},
                    {1, 1, 4, 2}),
              kInvalid, {"out of bounds"});
  ExpectError(unary(OpType::kSlice, SliceAttrs{{0, 0}, {1, 1}}, {1, 1}),
              kInvalid, {"begin and size need 4 values"});
  ExpectError(unary(OpType::kPad, PadAttrs{{0, 0, -1, 1, 0, 0, 0, 0}, 0.0f},
                    {1, 4, 4, 2}),
              kInvalid, {"paddings", "negative"});
  ExpectError(unary(OpType::kPad, PadAttrs{{1, 1}, 0.0f}, {3, 4, 4, 2}),
              kInvalid, {"paddings has 2 values"});
  ExpectError(unary(OpType::kReshape, ReshapeAttrs{{1, 33}}, {1, 33}),
              kInvalid, {"new_shape [1, 33]", "32 elements"});
  ExpectError(unary(OpType::kSoftmax, SoftmaxAttrs{1}, {1, 4, 4, 2}), kInvalid,
              {"operator 0 ('u')", "not the last axis"});
  ExpectError(unary(OpType::kClamp, ClampAttrs{3.0f, 1.0f}, {1, 4, 4, 2}),
              kInvalid, {"min <= max"});
  ExpectError(unary(OpType::kResizeBilinear, ResizeBilinearAttrs{true, true},
                    {1, 8, 8, 2}),
              kInvalid, {"align_corners and half_pixel_centers"});
}

// Class 10: counts or sizes that would demand absurd memory or time.
TEST(MalformedTest, Class10TooManyTensors) {
  ModelBuilder b = ReluNet();
  for (uint32_t i = 0; i < kMaxTensors; ++i) b.AddActivation("", {1});
  ExpectError(b, kInvalid, {"tensors has 65538 entries", "limit of 65536"});
}

TEST(MalformedTest, Class10TooManyOperators) {
  ModelBuilder b = ReluNet();
  for (uint32_t i = 0; i < kMaxOperators; ++i) {
    b.AddOperator(OpType::kRelu, "", {0}, {1});
  }
  ExpectError(b, kInvalid, {"operators has 32769 entries", "limit of 32768"});
}

TEST(MalformedTest, Class10TooManyOperands) {
  ModelBuilder b = ReluNet();
  b.operators()[0].inputs.assign(kMaxOperandsPerOp + 1, 0);
  ExpectError(b, kInvalid, {"operator 0 ('act')", "inputs has 1025 entries"});
}

TEST(MalformedTest, Class10TableBomb) {
  // A vector of just over kMaxFlatbufferTables offsets to one tiny table:
  // small on disk, but the verifier stops counting at the limit.
  namespace sfb = ::serenity::fb;
  flatbuffers::FlatBufferBuilder fbb;
  auto kv = sfb::CreateKeyValue(fbb, fbb.CreateString("k"));
  std::vector<flatbuffers::Offset<sfb::KeyValue>> many(kMaxFlatbufferTables + 1,
                                                       kv);
  auto metadata = fbb.CreateVector(many);
  auto empty = fbb.CreateVector(std::vector<int32_t>{});
  std::vector<flatbuffers::Offset<sfb::Buffer>> buffers = {
      sfb::CreateBuffer(fbb)};
  auto root = sfb::CreateModel(
      fbb, 1, 0, 0, metadata,
      fbb.CreateVector(std::vector<flatbuffers::Offset<sfb::Tensor>>{}),
      fbb.CreateVector(std::vector<flatbuffers::Offset<sfb::Operator>>{}),
      empty, empty, fbb.CreateVector(buffers));
  sfb::FinishModelBuffer(fbb, root);
  std::vector<uint8_t> bytes(fbb.GetBufferPointer(),
                             fbb.GetBufferPointer() + fbb.GetSize());
  ExpectError(bytes, kInvalid, {"verification failed", "limits"});
}

// Well-formed but not runnable today.
TEST(MalformedTest, NonFloatActivationIsUnsupported) {
  ModelBuilder b("int8");
  int x = b.AddInput("x", {1, 4}, DataType::kInt8);
  int y = b.AddActivation("y", {1, 4}, DataType::kInt8);
  b.AddOperator(OpType::kRelu, "act", {x}, {y});
  b.MarkOutput(y);
  ExpectError(b, StatusCode::kUnsupported,
              {"tensor 0 ('x')", "int8", "float32"});
}

// Whatever the reader accepts is internally consistent, and the builder
// writes it back to a model with the same graph.
void CheckAccepted(const Model& m) {
  (void)m.GraphHash();
  for (const Operator& op : m.operators()) {
    std::vector<std::vector<int64_t>> shapes;
    std::vector<const Tensor*> inputs;
    for (int t : op.inputs) {
      inputs.push_back(t < 0 ? nullptr : &m.tensors()[t]);
      shapes.push_back(t < 0 ? std::vector<int64_t>{} : m.tensors()[t].shape);
    }
    Result<std::vector<std::vector<int64_t>>> out =
        InferOutputShapes(op, shapes, inputs);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->size(), op.outputs.size());
    for (size_t k = 0; k < op.outputs.size(); ++k) {
      EXPECT_EQ((*out)[k], m.tensors()[op.outputs[k]].shape);
    }
  }
  Result<std::vector<uint8_t>> again = ModelBuilder::FromModel(m).Finish();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  Result<Model> reread = Model::FromBuffer(again->data(), again->size());
  ASSERT_TRUE(reread.ok()) << reread.status().ToString();
  EXPECT_EQ(reread->GraphHash(), m.GraphHash());
}

// Random byte flips over valid files never crash (ASan/UBSan in CI catch
// memory errors); whatever is accepted is internally consistent.
TEST(MalformedTest, RandomByteFlipsNeverCrash) {
  std::mt19937 rng(12345);
  int accepted = 0, rejected = 0;
  testing::EveryOp every;
  const std::vector<std::vector<uint8_t>> files = {
      FinishOrDie(ReluNet()), FinishOrDie(testing::TinyConvNet()),
      FinishOrDie(every.b)};
  for (const std::vector<uint8_t>& original : files) {
    for (int trial = 0; trial < 2000; ++trial) {
      std::vector<uint8_t> bytes = original;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        const size_t at = rng() % bytes.size();
        if (rng() % 2 == 0) {
          bytes[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
        } else {
          bytes[at] = static_cast<uint8_t>(rng());
        }
      }
      Result<Model> model = Model::FromBuffer(bytes.data(), bytes.size());
      if (!model.ok()) {
        ++rejected;
        EXPECT_FALSE(model.status().message().empty());
        continue;
      }
      ++accepted;
      CheckAccepted(*model);
    }
  }
  EXPECT_GT(rejected, 0);
  RecordProperty("accepted", accepted);
  RecordProperty("rejected", rejected);
}

// Found by the fuzzer: a plan whose [ulong] tensor_offsets start 4 bytes off
// an 8-byte boundary passes the FlatBuffers verifier, and reading it was a
// misaligned load (UBSan).
TEST(MalformedTest, FuzzCrashMisalignedPlanOffsets) {
  const std::string path = std::string(SERENITY_FUZZ_CORPUS_DIR) +
                           "/crash_misaligned_plan_offsets.srn";
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  ASSERT_FALSE(bytes.empty()) << path;
  ExpectError(bytes, kInvalid, {"plan fields order and tensor_offsets",
                                "aligned"});
}

// Inputs the fuzzer found, one per distinct outcome of the reader (and any
// input that ever crashed it): each must still be handled cleanly.
TEST(MalformedTest, FuzzCorpusReplays) {
  const std::string dir = SERENITY_FUZZ_CORPUS_DIR;
  DIR* listing = ::opendir(dir.c_str());
  ASSERT_NE(listing, nullptr) << dir;
  int files = 0, accepted = 0;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string name = entry->d_name;
    if (name.size() < 4 || name.substr(name.size() - 4) != ".srn") continue;
    std::ifstream in(dir + "/" + name, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    ++files;
    Result<Model> model = Model::FromBuffer(bytes.data(), bytes.size(), name);
    if (model.ok()) {
      ++accepted;
      CheckAccepted(*model);
    } else {
      EXPECT_EQ(model.status().message().rfind(name + ": ", 0), 0u)
          << model.status().message();
      EXPECT_EQ(model.status().message().find('\n'), std::string::npos)
          << model.status().message();
    }
  }
  ::closedir(listing);
  EXPECT_GT(files, 100);
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace serenity
