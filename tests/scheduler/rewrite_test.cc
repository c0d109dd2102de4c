// Rewrites and aliasing on small hand-built graphs, without kernels: the
// structure of each rewrite, the aliasing rules, the peak against an
// independent simulation, and selection by measurement. Numerical
// equivalence is in tests/runtime/rewrite_equivalence_test.cc.
#include "serenity/scheduler/rewrite.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "rewrite_test_models.h"
#include "serenity/internal/model_assembly.h"
#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"
#include "serenity/scheduler/ordering.h"

namespace serenity::scheduler {
namespace {

using rewrite_testing::AddNNet;
using rewrite_testing::ConcatConvNet;
using rewrite_testing::ConcatSeparableNet;
using rewrite_testing::KernelLikeCapabilities;

int CountOps(const Model& model, OpType type) {
  return static_cast<int>(std::count_if(model.operators().begin(), model.operators().end(),
                                        [&](const Operator& op) { return op.type == type; }));
}

int FindOp(const Model& model, const std::string& name) {
  for (size_t o = 0; o < model.operators().size(); ++o) {
    if (model.operators()[o].name == name) return static_cast<int>(o);
  }
  return -1;
}

int TensorOf(const Graph& graph, const std::string& name) {
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    if (graph.tensors[t].name == name) return static_cast<int>(t);
  }
  return -1;
}

// Checks the plan's contents and peak under several random orders (that
// keep the plan's order edges).
void ExpectPlanHolds(const Model& model, const Graph& graph, const AliasPlan& plan) {
  for (uint32_t seed = 0; seed < 12; ++seed) {
    const std::vector<int> order =
        rewrite_testing::RandomOrder(graph, seed, plan.memory.order_edges);
    ASSERT_TRUE(IsTopologicalOrder(graph, order));
    ASSERT_TRUE(KeepsOrderEdges(plan.memory, order));
    EXPECT_EQ(rewrite_testing::SimulateContents(model, graph, plan, order), "")
        << "seed " << seed;
    EXPECT_EQ(PeakBytes(graph, plan.memory, order),
              rewrite_testing::SimulatePeak(graph, plan, order))
        << "seed " << seed;
  }
}

// --- the rewrites' structure --------------------------------------------

TEST(RewriteStructureTest, ChannelWiseReplacesConcatWithPartialConvsAndAdds) {
  const Model model = ConcatConvNet({4, 2, 6}, 5, 3);
  Result<Model> out = PartitionChannelWise(model, FindOp(model, "concat"), FindOp(model, "mix"));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(CountOps(*out, OpType::kConcat), 0);
  EXPECT_EQ(CountOps(*out, OpType::kConv2D), 3 + 3);
  EXPECT_EQ(CountOps(*out, OpType::kAdd), 2);
  // Bias on the first partial only, activation on the last Add only.
  int with_bias = 0;
  for (const Operator& op : out->operators()) {
    if (op.type == OpType::kConv2D && op.name.rfind("mix/part", 0) == 0) {
      EXPECT_EQ(std::get<Conv2DAttrs>(op.attrs).activation, Activation::kNone);
      EXPECT_EQ(out->tensors()[op.inputs[1]].shape[3],
                out->tensors()[op.inputs[0]].shape[3]);
      if (op.inputs[2] >= 0) ++with_bias;
    }
  }
  EXPECT_EQ(with_bias, 1);
  const Operator& last = out->operators()[FindOp(*out, "mix")];
  EXPECT_EQ(last.type, OpType::kAdd);
  EXPECT_EQ(std::get<ElementwiseAttrs>(last.attrs).activation, Activation::kRelu);
}

TEST(RewriteStructureTest, ChannelWiseKeepsAConcatThatIsReadElsewhere) {
  ModelBuilder b("shared");
  const int x = b.AddInput("x", {1, 2, 2, 3});
  const int a = rewrite_testing::AddConv(b, "a", x, 3, 2, 1, 2, Activation::kNone, 1);
  const int c2 = rewrite_testing::AddConv(b, "b", x, 3, 2, 1, 2, Activation::kNone, 2);
  const int c = b.AddActivation("cat", {1, 2, 2, 4});
  b.AddOperator(OpType::kConcat, "concat", {a, c2}, {c}, ConcatAttrs{3});
  const int y = rewrite_testing::AddConv(b, "mix", c, 4, 3, 1, 2, Activation::kNone, 3);
  const int r = b.AddActivation("r", {1, 2, 2, 4});
  b.AddOperator(OpType::kRelu, "relu", {c}, {r});
  b.MarkOutput(y);
  b.MarkOutput(r);
  const Model model = rewrite_testing::Build(b);
  Result<Model> out = PartitionChannelWise(model, FindOp(model, "concat"), FindOp(model, "mix"));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(CountOps(*out, OpType::kConcat), 1);
}

TEST(RewriteStructureTest, ChannelWiseRefusesAGroupedConv) {
  const Model model = ConcatSeparableNet(OpType::kConv2D);
  Result<Model> out = PartitionChannelWise(model, FindOp(model, "concat"), FindOp(model, "sep"));
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
}

TEST(RewriteStructureTest, KernelWiseMovesEachSeparableOpOntoTheBranches) {
  for (OpType type : {OpType::kRelu, OpType::kClamp, OpType::kSigmoid, OpType::kHardSwish,
                      OpType::kMaxPool2D, OpType::kAveragePool2D, OpType::kGlobalAveragePool,
                      OpType::kConv2D, OpType::kMul, OpType::kAdd}) {
    SCOPED_TRACE(OpTypeName(type));
    const Model model = ConcatSeparableNet(type);
    Result<Model> out =
        PartitionKernelWise(model, FindOp(model, "concat"), FindOp(model, "sep"));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(CountOps(*out, type), CountOps(model, type) - 1 + 3);
    const int join = FindOp(*out, "sep/concat");
    ASSERT_GE(join, 0);
    EXPECT_EQ(out->operators()[join].inputs.size(), 3u);
    EXPECT_EQ(FindOp(*out, "concat"), -1);
  }
}

TEST(RewriteStructureTest, PartialSumBuildsAChainInTheGivenOrder) {
  const Model model = AddNNet(4);
  const int add = FindOp(model, "sum");
  Result<Model> out = SplitPartialSum(model, add, {2, 0, 3, 1});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(CountOps(*out, OpType::kAdd), 3);
  const Operator& first = out->operators()[FindOp(*out, "sum/sum1")];
  EXPECT_EQ(out->tensors()[first.inputs[0]].name, "branch2/y");
  EXPECT_EQ(out->tensors()[first.inputs[1]].name, "branch0/y");
  const Operator& last = out->operators()[FindOp(*out, "sum")];
  EXPECT_EQ(out->tensors()[last.inputs[1]].name, "branch1/y");
  EXPECT_EQ(std::get<ElementwiseAttrs>(last.attrs).activation, Activation::kRelu);
  EXPECT_FALSE(SplitPartialSum(model, add, {0, 0, 1, 2}).ok());
  EXPECT_FALSE(SplitPartialSum(model, FindOp(model, "head"), {}).ok());
}

TEST(RewriteStructureTest, KernelWiseThroughAChannelKeepingSlice) {
  const Model model = rewrite_testing::SharedReluNet();
  Result<Model> out = PartitionKernelWise(model, FindOp(model, "concat"), FindOp(model, "relu2"));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  Result<Model> sliced =
      PartitionKernelWise(*out, FindOp(*out, "relu2/concat"), FindOp(*out, "shift"));
  ASSERT_TRUE(sliced.ok()) << sliced.status().ToString();
  EXPECT_EQ(CountOps(*sliced, OpType::kSlice), 3);
  const Operator& branch = sliced->operators()[FindOp(*sliced, "shift/branch1")];
  EXPECT_EQ(sliced->tensors()[branch.outputs[0]].shape, (std::vector<int64_t>{1, 3, 3, 8}));
}

// --- aliasing rules ----------------------------------------------------------

// The depthwise convolution that replaces a shifted subsample, found by its
// name; its weights as floats.
const Operator* ShiftConv(const Model& model) {
  const int op = FindOp(model, "path2_pool/shift");
  return op < 0 ? nullptr : &model.operators()[op];
}

std::vector<float> FloatsOf(const Tensor& tensor) {
  const std::vector<uint8_t> bytes = tensor.DenseData();
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

TEST(RewriteStructureTest, ShiftedSubsampleBecomesOneOneHotDepthwiseConv) {
  // Even sides: x[2i+1, 2j+1] is always inside x, so no padding; odd sides:
  // the last row and column read the pad's zeros, so padding behind.
  for (int64_t side : {8, 7}) {
    SCOPED_TRACE(side);
    rewrite_testing::ShiftSpec spec;
    spec.h = spec.w = side;
    const Model model = rewrite_testing::FactorizedReductionNet(spec);
    Result<Model> out = ReplaceShiftedSubsample(model, FindOp(model, "path2_pool"));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(CountOps(*out, OpType::kPad), 0);
    EXPECT_EQ(CountOps(*out, OpType::kSlice), 0);
    EXPECT_EQ(CountOps(*out, OpType::kAveragePool2D), 1);  // path 1's
    EXPECT_EQ(out->operators().size(), model.operators().size() - 2);
    const Operator* conv = ShiftConv(*out);
    ASSERT_NE(conv, nullptr);
    EXPECT_EQ(conv->type, OpType::kConv2D);
    EXPECT_EQ(out->tensors()[conv->inputs[0]].name, "stem/y");
    EXPECT_EQ(out->tensors()[conv->outputs[0]].name, "path2_pool");
    EXPECT_EQ(out->tensors()[conv->outputs[0]].shape,
              (std::vector<int64_t>{1, (side + 1) / 2, (side + 1) / 2, 8}));
    const auto& attrs = std::get<Conv2DAttrs>(conv->attrs);
    EXPECT_EQ(attrs.groups, 8);
    EXPECT_EQ(attrs.stride_h, 2);
    EXPECT_EQ(attrs.stride_w, 2);
    EXPECT_EQ(attrs.pad_top, 0);
    EXPECT_EQ(attrs.pad_left, 0);
    EXPECT_EQ(attrs.pad_bottom, side % 2);
    EXPECT_EQ(attrs.pad_right, side % 2);
    EXPECT_EQ(attrs.activation, Activation::kNone);
    ASSERT_TRUE(conv->inputs.size() == 2 || conv->inputs[2] < 0);
    const Tensor& w = out->tensors()[conv->inputs[1]];
    EXPECT_EQ(w.shape, (std::vector<int64_t>{8, 2, 2, 1}));
    const std::vector<float> weights = FloatsOf(w);
    for (size_t i = 0; i < weights.size(); ++i) {
      EXPECT_EQ(weights[i], i % 4 == 3 ? 1.0f : 0.0f) << i;  // (1, 1) of each channel
    }
  }
}

TEST(RewriteStructureTest, ShiftedSubsampleRefusesOtherChains) {
  const Model model = rewrite_testing::FactorizedReductionNet();
  // Path 1's pool reads the stem directly: no Pad and Slice before it.
  EXPECT_FALSE(ReplaceShiftedSubsample(model, FindOp(model, "path1_pool")).ok());
  EXPECT_FALSE(ReplaceShiftedSubsample(model, FindOp(model, "path2_shift")).ok());
  EXPECT_FALSE(ReplaceShiftedSubsample(model, -1).ok());
  // A pad value other than zero is not what a convolution pads with.
  ModelBuilder builder = ModelBuilder::FromModel(model);
  for (Operator& op : builder.operators()) {
    if (op.type == OpType::kPad) std::get<PadAttrs>(op.attrs).value = 1.0f;
  }
  const Model nonzero = rewrite_testing::Build(builder);
  Result<Model> out = ReplaceShiftedSubsample(nonzero, FindOp(nonzero, "path2_pool"));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("zeros"), std::string::npos) << out.status().ToString();
}

TEST(AliasTest, InPlaceOnlyOverASingleReaderIntermediate) {
  ModelBuilder b("inplace");
  const int x = b.AddInput("x", {1, 2, 2, 4});
  const int relu_in = b.AddActivation("relu_in", {1, 2, 2, 4});
  b.AddOperator(OpType::kRelu, "on_input", {x}, {relu_in});  // graph input: no
  const int a = rewrite_testing::AddConv(b, "a", relu_in, 4, 4, 1, 2, Activation::kNone, 1);
  const int s = b.AddActivation("s", {1, 2, 2, 4});
  b.AddOperator(OpType::kSigmoid, "sig", {a}, {s});  // single reader: yes
  const int r1 = b.AddActivation("r1", {1, 2, 2, 4});
  b.AddOperator(OpType::kRelu, "r1", {s}, {r1});  // s read twice: no
  const int r2 = b.AddActivation("r2", {1, 2, 2, 4});
  b.AddOperator(OpType::kClamp, "r2", {s}, {r2}, ClampAttrs{});
  const int sum = b.AddActivation("sum", {1, 2, 2, 4});
  b.AddOperator(OpType::kAdd, "add", {r1, r2}, {sum});  // r1 single reader: yes
  b.MarkOutput(sum);
  const Model model = rewrite_testing::Build(b);
  const Graph graph = GraphFromModel(model);
  Result<AliasPlan> plan = PlanAliasing(model, graph, KernelLikeCapabilities());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto same = [&](const char* p, const char* q) {
    return plan->memory.buffer_of_tensor[TensorOf(graph, p)] ==
           plan->memory.buffer_of_tensor[TensorOf(graph, q)];
  };
  EXPECT_FALSE(same("x", "relu_in"));
  EXPECT_TRUE(same("a/y", "s"));
  EXPECT_FALSE(same("s", "r1"));
  EXPECT_FALSE(same("s", "r2"));
  EXPECT_TRUE(same("r1", "sum"));
  EXPECT_FALSE(same("r2", "sum"));
  EXPECT_EQ(plan->in_place_ops.size(), 2u);
  ExpectPlanHolds(model, graph, *plan);

  // Without the capability nothing is shared.
  Result<AliasPlan> none = PlanAliasing(model, graph, AliasCapabilities::None());
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->memory.buffers.size(), graph.tensors.size());
}

// Last-reader in place: a Relu over an input that a convolution reads too
// writes over it once listed, and the plan orders the convolution first. The
// symbolic simulation, which knows nothing of order edges, shows why: under
// an order that runs the Relu first, the convolution reads the Relu's values.
TEST(AliasTest, LastReaderInPlaceRunsAfterTheInputsOtherReaders) {
  const Model model = rewrite_testing::LastReaderNet();
  const Graph graph = GraphFromModel(model);
  const AliasCapabilities caps = KernelLikeCapabilities();
  const int relu = FindOp(model, "r"), conv = FindOp(model, "c");
  EXPECT_EQ(LastReaderInPlaceCandidates(model, caps), std::vector<int>{relu});
  EXPECT_EQ(LastReaderInPlaceCandidates(model, AliasCapabilities::None()), std::vector<int>{});

  Result<AliasPlan> plain = PlanAliasing(model, graph, caps);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_NE(plain->memory.buffer_of_tensor[TensorOf(graph, "a/y")],
            plain->memory.buffer_of_tensor[TensorOf(graph, "r")]);
  EXPECT_TRUE(plain->memory.order_edges.empty());

  AliasOptions options;
  options.last_reader_in_place = {relu};
  Result<AliasPlan> plan = PlanAliasing(model, graph, caps, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->last_reader_in_place, std::vector<int>{relu});
  EXPECT_EQ(plan->memory.order_edges, (std::vector<OrderEdge>{{conv, relu}}));
  const TensorPlacement& pr = plan->placements[TensorOf(graph, "r")];
  EXPECT_EQ(pr.link, AliasLink::kInPlace);
  EXPECT_EQ(pr.alias_of, TensorOf(graph, "a/y"));
  EXPECT_EQ(pr.buffer, plan->placements[TensorOf(graph, "a/y")].buffer);
  ExpectPlanHolds(model, graph, *plan);

  // The order a, r, c, sum breaks the edge, and the simulation sees c read
  // the Relu's output where a's should be.
  const std::vector<int> relu_first = {FindOp(model, "a"), relu, conv, FindOp(model, "sum")};
  ASSERT_TRUE(IsTopologicalOrder(graph, relu_first));
  EXPECT_FALSE(KeepsOrderEdges(plan->memory, relu_first));
  EXPECT_NE(rewrite_testing::SimulateContents(model, graph, *plan, relu_first), "");
  EXPECT_EQ(rewrite_testing::SimulateContents(model, graph, *plain, relu_first), "");

  // The optimal schedule keeps the edge, and its peak is the simulation's.
  Result<Schedule> schedule = ComputeSchedule(graph, plan->memory, ScheduleOptions{});
  ASSERT_TRUE(schedule.ok()) << schedule.status().ToString();
  EXPECT_TRUE(KeepsOrderEdges(plan->memory, schedule->order));
  EXPECT_EQ(schedule->peak_bytes, rewrite_testing::SimulatePeak(graph, *plan, schedule->order));

  // Without the in-place capability, or not listed: nothing.
  options.last_reader_in_place = {conv};
  Result<AliasPlan> not_eligible = PlanAliasing(model, graph, caps, options);
  ASSERT_TRUE(not_eligible.ok());
  EXPECT_TRUE(not_eligible->last_reader_in_place.empty());
  EXPECT_TRUE(not_eligible->memory.order_edges.empty());
}

// A listed operator whose edges would close a cycle (another reader of its
// input needs its output) is skipped, alone or only together with another.
TEST(AliasTest, LastReaderInPlaceSkipsEdgesThatCloseACycle) {
  ModelBuilder b("last_reader_cycle");
  const int x = b.AddInput("x", {1, 4, 4, 8});
  const int x1 = rewrite_testing::AddConv(b, "x1", x, 8, 8, 1, 4, Activation::kNone, 1);
  const int x2 = rewrite_testing::AddConv(b, "x2", x, 8, 8, 1, 4, Activation::kNone, 2);
  const int y1 = b.AddActivation("y1", {1, 4, 4, 8});
  b.AddOperator(OpType::kRelu, "o1", {x1}, {y1});
  const int y2 = b.AddActivation("y2", {1, 4, 4, 8});
  b.AddOperator(OpType::kRelu, "o2", {x2}, {y2});
  // p1 reads x1 and o2's output; p2 reads x2 and o1's output.
  const int p1 = b.AddActivation("p1", {1, 4, 4, 8});
  b.AddOperator(OpType::kAdd, "p1", {y2, x1}, {p1});
  const int p2 = b.AddActivation("p2", {1, 4, 4, 8});
  b.AddOperator(OpType::kAdd, "p2", {y1, x2}, {p2});
  b.MarkOutput(p1);
  b.MarkOutput(p2);
  const Model model = rewrite_testing::Build(b);
  const Graph graph = GraphFromModel(model);
  const AliasCapabilities caps = KernelLikeCapabilities();
  const int o1 = FindOp(model, "o1"), o2 = FindOp(model, "o2");
  EXPECT_EQ(LastReaderInPlaceCandidates(model, caps), (std::vector<int>{o1, o2}));
  // Each alone: one edge, no cycle.
  for (int op : {o1, o2}) {
    AliasOptions options;
    options.last_reader_in_place = {op};
    Result<AliasPlan> plan = PlanAliasing(model, graph, caps, options);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->last_reader_in_place, std::vector<int>{op});
    EXPECT_EQ(plan->memory.order_edges.size(), 1u);
    ExpectPlanHolds(model, graph, *plan);
  }
  // Both: p1 -> o1 -> p2 -> o2 -> p1. The first listed stays.
  AliasOptions both;
  both.last_reader_in_place = {o2, o1};
  Result<AliasPlan> plan = PlanAliasing(model, graph, caps, both);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->last_reader_in_place, std::vector<int>{o1});
  EXPECT_EQ(plan->memory.order_edges, (std::vector<OrderEdge>{{FindOp(model, "p1"), o1}}));
  Result<Schedule> schedule = ComputeSchedule(graph, plan->memory, ScheduleOptions{});
  ASSERT_TRUE(schedule.ok()) << schedule.status().ToString();
  EXPECT_TRUE(KeepsOrderEdges(plan->memory, schedule->order));
}

// A group with a last-reader in-place link never becomes a concat slice: a
// concat of the overwritten input is a reader that runs first, but the
// concat's own readers read those bytes later, after the overwrite. The
// concat stays a copy.
TEST(AliasTest, LastReaderInPlaceGroupsAreNeverConcatSlices) {
  ModelBuilder b("last_reader_concat");
  const int x = b.AddInput("x", {1, 4, 4, 8});
  const int a = rewrite_testing::AddConv(b, "a", x, 8, 8, 1, 4, Activation::kNone, 1);
  const int c = rewrite_testing::AddConv(b, "c", a, 8, 8, 3, 4, Activation::kNone, 2);
  const int cat = b.AddActivation("cat", {1, 4, 4, 16});
  ConcatAttrs concat;
  concat.axis = 3;
  b.AddOperator(OpType::kConcat, "cat", {a, c}, {cat}, concat);
  const int r = b.AddActivation("r", {1, 4, 4, 8});
  b.AddOperator(OpType::kRelu, "r", {a}, {r});
  const int out = rewrite_testing::AddConv(b, "out", cat, 16, 8, 1, 4, Activation::kNone, 3);
  // A convolution reads r (it can read a slice, as an Add could not).
  const int q = rewrite_testing::AddConv(b, "q", r, 8, 8, 1, 4, Activation::kNone, 4);
  const int sum = b.AddActivation("sum", {1, 4, 4, 8});
  b.AddOperator(OpType::kAdd, "sum", {out, q}, {sum});
  b.MarkOutput(sum);
  const Model model = rewrite_testing::Build(b);
  const Graph graph = GraphFromModel(model);
  const AliasCapabilities caps = KernelLikeCapabilities();
  Result<AliasPlan> plain = PlanAliasing(model, graph, caps);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->zero_copy_concats, std::vector<int>{FindOp(model, "cat")});
  AliasOptions options;
  options.last_reader_in_place = {FindOp(model, "r")};
  Result<AliasPlan> plan = PlanAliasing(model, graph, caps, options);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->last_reader_in_place, options.last_reader_in_place);
  EXPECT_EQ(plan->memory.order_edges.size(), 2u);  // c and cat before r
  EXPECT_TRUE(plan->zero_copy_concats.empty());
  ExpectPlanHolds(model, graph, *plan);
}

// Windowed in place: a Conv2D listed in windowed_convs writes over its input,
// the output at the buffer's start and the input the closed form's offset
// (aligned) above it, both dense; the separate validator accepts those
// offsets. (ExpectPlanHolds' simulator writes whole tensors at once, not rows
// in order, so it does not apply to these plans.)
TEST(AliasTest, WindowedConvPutsItsInputAboveItsOutput) {
  ModelBuilder b("windowed");
  const int x = b.AddInput("x", {1, 16, 16, 3});
  // a: 3 -> 8 channels, 3x3 stride 1 (AddConv), then b: 8 -> 8, and c, d
  // reading b twice (not eligible: two readers).
  const int a = rewrite_testing::AddConv(b, "a", x, 3, 8, 3, 16, Activation::kNone, 1);
  const int bb = rewrite_testing::AddConv(b, "b", a, 8, 8, 3, 16, Activation::kRelu, 2);
  const int c = rewrite_testing::AddConv(b, "c", bb, 8, 4, 1, 16, Activation::kNone, 3);
  const int d = rewrite_testing::AddConv(b, "d", bb, 8, 4, 1, 16, Activation::kNone, 4);
  const int cat = b.AddActivation("cat", {1, 16, 16, 8});
  ConcatAttrs concat;
  concat.axis = 3;
  b.AddOperator(OpType::kConcat, "cat", {c, d}, {cat}, concat);
  b.MarkOutput(cat);
  const Model model = rewrite_testing::Build(b);
  const Graph graph = GraphFromModel(model);
  AliasCapabilities caps = KernelLikeCapabilities();
  AliasOptions options;
  options.windowed_convs = {0, 1, 2, 3};
  // Without the capability: nothing windowed.
  Result<AliasPlan> off = PlanAliasing(model, graph, caps, options);
  ASSERT_TRUE(off.ok());
  EXPECT_TRUE(off->windowed_convs.empty());
  EXPECT_EQ(WindowedConvCandidates(model, caps), std::vector<int>{});

  caps[OpType::kConv2D].windowed_max_positions = 9;
  EXPECT_EQ(WindowedConvCandidates(model, caps), (std::vector<int>{0, 1, 2, 3}));
  Result<AliasPlan> plan = PlanAliasing(model, graph, caps, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  // a over the graph input x, b over a; c and d read b, which has two readers.
  EXPECT_EQ(plan->windowed_convs, (std::vector<int>{0, 1}));
  const TensorPlacement& px = plan->placements[TensorOf(graph, "x")];
  const TensorPlacement& pa = plan->placements[TensorOf(graph, "a/y")];
  const TensorPlacement& pb = plan->placements[TensorOf(graph, "b/y")];
  EXPECT_EQ(px.buffer, pa.buffer);
  EXPECT_EQ(pa.buffer, pb.buffer);
  EXPECT_EQ(pa.link, AliasLink::kWindowed);
  EXPECT_EQ(pa.alias_of, TensorOf(graph, "x"));
  EXPECT_EQ(pa.pixel_stride, 8);
  EXPECT_EQ(px.pixel_stride, 3);
  // b over a (rows of 16 * 8 floats both): e * 512 - (e - 1) * 512 = 512;
  // a over x (input rows of 16 * 3 floats): e * 512 - (e - 1) * 192, largest
  // at the last band end, e = 15.
  WindowedConvGeometry ga;
  ga.in_rows = 16, ga.in_row_bytes = 16 * 3 * 4, ga.out_rows = 16, ga.out_row_bytes = 16 * 8 * 4;
  ga.stride = 1, ga.pad_top = 1, ga.kernel = 3, ga.dilation = 1;
  WindowedConvGeometry gb = ga;
  gb.in_row_bytes = 16 * 8 * 4;
  EXPECT_EQ(WindowedConvMinOffsetBytes(gb), 512u);
  EXPECT_EQ(WindowedConvMinOffsetBytes(ga), 15u * 512 - 14u * 192);
  EXPECT_EQ(pb.byte_offset, 0u);
  EXPECT_EQ(pa.byte_offset, AlignUp(WindowedConvMinOffsetBytes(gb)));
  EXPECT_EQ(px.byte_offset, pa.byte_offset + AlignUp(WindowedConvMinOffsetBytes(ga)));
  EXPECT_TRUE(ValidateWindowedWrite(ga, px.byte_offset, pa.byte_offset).ok());
  EXPECT_TRUE(ValidateWindowedWrite(gb, pa.byte_offset, pb.byte_offset).ok());
  EXPECT_FALSE(ValidateWindowedWrite(ga, px.byte_offset - 4 - (px.byte_offset - pa.byte_offset -
                                                                WindowedConvMinOffsetBytes(ga)),
                                     pa.byte_offset)
                   .ok());
  const uint64_t x_bytes = 16 * 16 * 3 * 4, a_bytes = 16 * 16 * 8 * 4;
  EXPECT_EQ(plan->memory.buffers[pa.buffer].bytes,
            AlignUp(std::max(px.byte_offset + x_bytes, pa.byte_offset + a_bytes)));
  EXPECT_LT(plan->memory.buffers[pa.buffer].bytes, x_bytes + 2 * a_bytes);

  // A 3x3 window above the capability's limit, a grouped conv: not eligible.
  caps[OpType::kConv2D].windowed_max_positions = 8;
  EXPECT_EQ(WindowedConvCandidates(model, caps), (std::vector<int>{2, 3}));
  Result<AliasPlan> small = PlanAliasing(model, graph, caps, options);
  ASSERT_TRUE(small.ok());
  EXPECT_TRUE(small->windowed_convs.empty());
}

// A windowed group never becomes a concat slice, and a concat whose output a
// windowed conv overwrites stays a copy.
TEST(AliasTest, WindowedGroupsAreNeverConcatSlices) {
  ModelBuilder b("windowed_concat");
  const int x = b.AddInput("x", {1, 8, 8, 4});
  const int p = rewrite_testing::AddConv(b, "p", x, 4, 4, 1, 8, Activation::kNone, 1);
  const int q = rewrite_testing::AddConv(b, "q", x, 4, 4, 1, 8, Activation::kNone, 2);
  const int r = rewrite_testing::AddConv(b, "r", p, 4, 4, 3, 8, Activation::kNone, 3);
  const int cat = b.AddActivation("cat", {1, 8, 8, 8});
  ConcatAttrs concat;
  concat.axis = 3;
  b.AddOperator(OpType::kConcat, "cat", {r, q}, {cat}, concat);
  const int out = rewrite_testing::AddConv(b, "out", cat, 8, 8, 3, 8, Activation::kNone, 4);
  b.MarkOutput(out);
  const Model model = rewrite_testing::Build(b);
  const Graph graph = GraphFromModel(model);
  AliasCapabilities caps = KernelLikeCapabilities();
  caps[OpType::kConv2D].windowed_max_positions = 9;
  Result<AliasPlan> plain = PlanAliasing(model, graph, caps);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->zero_copy_concats.size(), 1u);
  AliasOptions options;
  options.windowed_convs = {FindOp(model, "r"), FindOp(model, "out")};
  Result<AliasPlan> plan = PlanAliasing(model, graph, caps, options);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->windowed_convs, options.windowed_convs);
  EXPECT_TRUE(plan->zero_copy_concats.empty());
  EXPECT_NE(plan->placements[TensorOf(graph, "r/y")].link, AliasLink::kSlice);
}

TEST(AliasTest, ZeroCopyConcatMakesEachInputAChannelSlice) {
  const Model model = ConcatConvNet({4, 2, 6}, 5);
  const Graph graph = GraphFromModel(model);
  Result<AliasPlan> plan = PlanAliasing(model, graph, KernelLikeCapabilities());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->zero_copy_concats.size(), 1u);
  const int cat = TensorOf(graph, "cat");
  const int64_t offsets[] = {0, 4, 6};
  for (int i = 0; i < 3; ++i) {
    const TensorPlacement& p = plan->placements[TensorOf(graph, "branch" + std::to_string(i) + "/y")];
    EXPECT_EQ(p.buffer, plan->placements[cat].buffer);
    EXPECT_EQ(p.link, AliasLink::kSlice);
    EXPECT_EQ(p.channel_offset, offsets[i]);
    EXPECT_EQ(p.byte_offset, static_cast<uint64_t>(offsets[i] * 4));
    EXPECT_EQ(p.pixel_stride, 12);
  }
  EXPECT_TRUE(plan->IsNoOp(FindOp(model, "concat")));
  ExpectPlanHolds(model, graph, *plan);
  // A kept copy is kept.
  AliasOptions options;
  options.copy_concats = {FindOp(model, "concat")};
  Result<AliasPlan> copy = PlanAliasing(model, graph, KernelLikeCapabilities(), options);
  ASSERT_TRUE(copy.ok());
  EXPECT_TRUE(copy->zero_copy_concats.empty());
}

TEST(AliasTest, ZeroCopyRefusedWhenAProducerCannotWriteASlice) {
  const Model model = ConcatConvNet({4, 2, 6}, 5);
  const Graph graph = GraphFromModel(model);
  AliasCapabilities caps = KernelLikeCapabilities();
  caps[OpType::kConv2D].strided_output = false;
  Result<AliasPlan> plan = PlanAliasing(model, graph, caps);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->zero_copy_concats.empty());
}

TEST(AliasTest, ZeroCopyRefusedWhenAnotherReaderCannotReadASlice) {
  ModelBuilder b("reader");
  const int x = b.AddInput("x", {1, 2, 2, 3});
  const int a = rewrite_testing::AddConv(b, "a", x, 3, 4, 1, 2, Activation::kNone, 1);
  const int a2 = rewrite_testing::AddConv(b, "a2", x, 3, 4, 1, 2, Activation::kNone, 2);
  const int c = b.AddActivation("cat", {1, 2, 2, 8});
  b.AddOperator(OpType::kConcat, "concat", {a, a2}, {c}, ConcatAttrs{3});
  const int sum = b.AddActivation("sum", {1, 2, 2, 4});
  b.AddOperator(OpType::kAdd, "add", {a, a2}, {sum});  // Add takes dense only
  const int y = rewrite_testing::AddConv(b, "mix", c, 8, 4, 1, 2, Activation::kNone, 3);
  const int out = b.AddActivation("out", {1, 2, 2, 4});
  b.AddOperator(OpType::kAdd, "join", {y, sum}, {out});
  b.MarkOutput(out);
  const Model model = rewrite_testing::Build(b);
  const Graph graph = GraphFromModel(model);
  Result<AliasPlan> plan = PlanAliasing(model, graph, KernelLikeCapabilities());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->zero_copy_concats.empty());
  // With a strided Add it qualifies.
  AliasCapabilities caps = KernelLikeCapabilities();
  caps[OpType::kAdd].strided_input = true;
  Result<AliasPlan> strided = PlanAliasing(model, graph, caps);
  ASSERT_TRUE(strided.ok());
  EXPECT_EQ(strided->zero_copy_concats.size(), 1u);
  ExpectPlanHolds(model, graph, *strided);
}

TEST(AliasTest, ZeroCopyRefusesGraphInputsAndRepeatedInputs) {
  ModelBuilder b("refuse");
  const int x = b.AddInput("x", {1, 2, 2, 3});
  const int a = rewrite_testing::AddConv(b, "a", x, 3, 3, 1, 2, Activation::kNone, 1);
  const int c1 = b.AddActivation("c1", {1, 2, 2, 6});
  b.AddOperator(OpType::kConcat, "with_input", {x, a}, {c1}, ConcatAttrs{3});
  const int c2 = b.AddActivation("c2", {1, 2, 2, 6});
  b.AddOperator(OpType::kConcat, "twice", {a, a}, {c2}, ConcatAttrs{3});
  const int out = b.AddActivation("out", {1, 2, 2, 6});
  b.AddOperator(OpType::kAdd, "add", {c1, c2}, {out});
  b.MarkOutput(out);
  const Model model = rewrite_testing::Build(b);
  const Graph graph = GraphFromModel(model);
  Result<AliasPlan> plan = PlanAliasing(model, graph, KernelLikeCapabilities());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->zero_copy_concats.empty());
}

TEST(AliasTest, NestedConcatsComposeOffsets) {
  ModelBuilder b("nested");
  const int x = b.AddInput("x", {1, 2, 2, 3});
  const int a = rewrite_testing::AddConv(b, "a", x, 3, 2, 1, 2, Activation::kNone, 1);
  const int a2 = rewrite_testing::AddConv(b, "b", x, 3, 3, 1, 2, Activation::kNone, 2);
  const int inner = b.AddActivation("inner", {1, 2, 2, 5});
  b.AddOperator(OpType::kConcat, "inner", {a, a2}, {inner}, ConcatAttrs{3});
  const int d = rewrite_testing::AddConv(b, "d", x, 3, 4, 1, 2, Activation::kRelu, 3);
  const int r = b.AddActivation("r", {1, 2, 2, 4});
  b.AddOperator(OpType::kRelu, "relu", {d}, {r});
  const int outer = b.AddActivation("outer", {1, 2, 2, 9});
  b.AddOperator(OpType::kConcat, "outer", {r, inner}, {outer}, ConcatAttrs{3});
  const int y = rewrite_testing::AddConv(b, "mix", outer, 9, 2, 1, 2, Activation::kNone, 4);
  b.MarkOutput(y);
  const Model model = rewrite_testing::Build(b);
  const Graph graph = GraphFromModel(model);
  Result<AliasPlan> plan = PlanAliasing(model, graph, KernelLikeCapabilities());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->zero_copy_concats.size(), 2u);
  EXPECT_EQ(plan->placements[TensorOf(graph, "d/y")].channel_offset, 0);
  EXPECT_EQ(plan->placements[TensorOf(graph, "a/y")].channel_offset, 4);
  EXPECT_EQ(plan->placements[TensorOf(graph, "b/y")].channel_offset, 6);
  EXPECT_EQ(plan->placements[TensorOf(graph, "b/y")].pixel_stride, 9);
  ExpectPlanHolds(model, graph, *plan);
}

TEST(AliasTest, InPlaceOverAConcatWhoseSliceIsStillReadKeepsTheCopy) {
  // cat = concat(a, b); r = relu(cat) in place; `late` reads a after the relu
  // may have run: zero-copy would let the relu clobber a.
  ModelBuilder b("hazard");
  const int x = b.AddInput("x", {1, 2, 2, 3});
  const int a = rewrite_testing::AddConv(b, "a", x, 3, 2, 1, 2, Activation::kNone, 1);
  const int a2 = rewrite_testing::AddConv(b, "b", x, 3, 2, 1, 2, Activation::kNone, 2);
  const int c = b.AddActivation("cat", {1, 2, 2, 4});
  b.AddOperator(OpType::kConcat, "concat", {a, a2}, {c}, ConcatAttrs{3});
  const int r = b.AddActivation("r", {1, 2, 2, 4});
  b.AddOperator(OpType::kRelu, "relu", {c}, {r});
  const int late = rewrite_testing::AddConv(b, "late", a, 2, 4, 1, 2, Activation::kNone, 3);
  const int out = b.AddActivation("out", {1, 2, 2, 4});
  b.AddOperator(OpType::kAdd, "add", {r, late}, {out});
  b.MarkOutput(out);
  const Model model = rewrite_testing::Build(b);
  const Graph graph = GraphFromModel(model);
  Result<AliasPlan> plan = PlanAliasing(model, graph, KernelLikeCapabilities());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->zero_copy_concats.empty());
  EXPECT_EQ(plan->in_place_ops.size(), 2u);  // relu over cat, add over r
  ExpectPlanHolds(model, graph, *plan);
}

TEST(AliasTest, InPlaceOverAConcatWhoseSliceReadersAllRunFirstKeepsZeroCopy) {
  // cat = concat(a, b); `late` reads a; add(cat, late) writes over cat, and
  // runs after every reader of a and b (the concat and `late`) in every
  // order: the concat stays zero-copy. In both operator numberings, and
  // with `late` far above the add (the ancestor search must reach it).
  for (bool late_first : {false, true}) {
    SCOPED_TRACE(late_first ? "late before the concat" : "late after the concat");
    ModelBuilder b("no_hazard");
    const int x = b.AddInput("x", {1, 2, 2, 3});
    const int a = rewrite_testing::AddConv(b, "a", x, 3, 2, 1, 2, Activation::kNone, 1);
    const int a2 = rewrite_testing::AddConv(b, "b", x, 3, 2, 1, 2, Activation::kNone, 2);
    const int c = b.AddActivation("cat", {1, 2, 2, 4});
    int late = -1;
    if (late_first) late = rewrite_testing::AddConv(b, "late", a, 2, 4, 1, 2, Activation::kNone, 3);
    b.AddOperator(OpType::kConcat, "concat", {a, a2}, {c}, ConcatAttrs{3});
    if (!late_first) {
      late = rewrite_testing::AddConv(b, "late", a, 2, 4, 1, 2, Activation::kNone, 3);
    }
    // A chain after `late`, so the add is far from it.
    for (int i = 0; i < 6; ++i) {
      const int next = b.AddActivation("chain" + std::to_string(i), {1, 2, 2, 4});
      b.AddOperator(OpType::kSigmoid, "sig" + std::to_string(i), {late}, {next});
      late = next;
    }
    const int out = b.AddActivation("out", {1, 2, 2, 4});
    b.AddOperator(OpType::kAdd, "add", {c, late}, {out});
    b.MarkOutput(out);
    const Model model = rewrite_testing::Build(b);
    const Graph graph = GraphFromModel(model);
    Result<AliasPlan> plan = PlanAliasing(model, graph, KernelLikeCapabilities());
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->zero_copy_concats.size(), 1u);
    EXPECT_TRUE(std::find(plan->in_place_ops.begin(), plan->in_place_ops.end(),
                          FindOp(model, "add")) != plan->in_place_ops.end());
    ExpectPlanHolds(model, graph, *plan);
  }
}

TEST(AliasTest, ReshapeSharesTheBytesOfADenseSingleReaderInput) {
  ModelBuilder b("reshape");
  const int x = b.AddInput("x", {1, 2, 2, 3});
  const int a = rewrite_testing::AddConv(b, "a", x, 3, 4, 1, 2, Activation::kNone, 1);
  const int flat = b.AddActivation("flat", {1, 16});
  ReshapeAttrs attrs;
  attrs.new_shape = {1, 16};
  b.AddOperator(OpType::kReshape, "flatten", {a}, {flat}, attrs);
  const int s = b.AddActivation("s", {1, 16});
  b.AddOperator(OpType::kSigmoid, "sig", {flat}, {s});
  b.MarkOutput(s);
  const Model model = rewrite_testing::Build(b);
  const Graph graph = GraphFromModel(model);
  Result<AliasPlan> plan = PlanAliasing(model, graph, KernelLikeCapabilities());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->memory.buffers.size(), 2u);  // x; a = flat = s
  EXPECT_TRUE(plan->IsNoOp(FindOp(model, "flatten")));
  EXPECT_EQ(plan->placements[TensorOf(graph, "flat")].pixel_stride, 16);
  ExpectPlanHolds(model, graph, *plan);
}

TEST(AliasTest, RewrittenModelsKeepThePlanSound) {
  const Model base = ConcatConvNet({4, 2, 6}, 5, 3);
  Result<Model> channel_wise =
      PartitionChannelWise(base, FindOp(base, "concat"), FindOp(base, "mix"));
  ASSERT_TRUE(channel_wise.ok());
  const Model separable = ConcatSeparableNet(OpType::kMaxPool2D);
  Result<Model> kernel_wise =
      PartitionKernelWise(separable, FindOp(separable, "concat"), FindOp(separable, "sep"));
  ASSERT_TRUE(kernel_wise.ok());
  const Model add = AddNNet(5);
  Result<Model> partial = SplitPartialSum(add, FindOp(add, "sum"));
  ASSERT_TRUE(partial.ok());
  for (const Model* model : {&channel_wise.value(), &kernel_wise.value(), &partial.value()}) {
    const Graph graph = GraphFromModel(*model);
    Result<AliasPlan> plan = PlanAliasing(*model, graph, KernelLikeCapabilities());
    ASSERT_TRUE(plan.ok());
    ExpectPlanHolds(*model, graph, *plan);
  }
  // The accumulating Adds run in place; each partial term is its own tensor.
  const Graph graph = GraphFromModel(*channel_wise);
  Result<AliasPlan> plan = PlanAliasing(*channel_wise, graph, KernelLikeCapabilities());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->in_place_ops.size(), 2u);
  EXPECT_NE(plan->memory.buffer_of_tensor[TensorOf(graph, "mix/y/part1")],
            plan->memory.buffer_of_tensor[TensorOf(graph, "mix/y")]);
  EXPECT_EQ(plan->memory.buffer_of_tensor[TensorOf(graph, "mix/y/acc0")],
            plan->memory.buffer_of_tensor[TensorOf(graph, "mix/y")]);
}

// --- selection by measurement ------------------------------------------------

RewriteOptions TestOptions() {
  RewriteOptions options;
  options.capabilities = KernelLikeCapabilities();
  options.schedule.algorithm = Algorithm::kOptimal;
  options.schedule.time_limit_seconds = 10;
  return options;
}

uint64_t OptimalPeak(const Model& model, const AliasCapabilities& caps) {
  const Graph graph = GraphFromModel(model);
  Result<AliasPlan> plan = PlanAliasing(model, graph, caps);
  EXPECT_TRUE(plan.ok());
  ScheduleOptions options;
  Result<Schedule> schedule = ComputeSchedule(graph, plan->memory, options);
  EXPECT_TRUE(schedule.ok());
  EXPECT_TRUE(schedule->optimal);
  return schedule->peak_bytes;
}

TEST(RewriteForMemoryTest, ChannelWisePaysWhenTheConcatIsWide) {
  // Wide branches, narrow conv output: never materialising the concat pays.
  const Model model = ConcatConvNet({16, 16, 16}, 2, 1, 4);
  RewriteOptions options = TestOptions();
  options.capabilities = AliasCapabilities::None();  // so the concat is a copy
  options.capabilities[OpType::kAdd].in_place = true;
  Result<RewriteResult> result = RewriteForMemory(model, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_GE(result->applied_count, 1);
  bool channel_wise = false;
  for (const RewriteDecision& d : result->decisions) {
    channel_wise = channel_wise || (d.applied && d.kind == RewriteKind::kChannelWise);
    if (d.applied) {
      EXPECT_LT(d.peak_after, d.peak_before);
    }
  }
  EXPECT_TRUE(channel_wise);
  EXPECT_EQ(CountOps(result->model, OpType::kConcat), 0);
  EXPECT_LT(result->schedule.peak_bytes, result->initial_peak_bytes);
  // The reported peak is what the memory model and the simulation say.
  EXPECT_EQ(result->schedule.peak_bytes,
            PeakBytes(result->graph, result->alias.memory, result->schedule.order));
  EXPECT_EQ(result->schedule.peak_bytes,
            rewrite_testing::SimulatePeak(result->graph, result->alias, result->schedule.order));
  EXPECT_EQ(result->schedule.peak_bytes, OptimalPeak(result->model, options.capabilities));
  ExpectPlanHolds(result->model, result->graph, result->alias);
}

// Chains re-sorted by the final order (RewriteOptions::reorder_chains): a
// channel-wise chain's order is recorded from the schedule that still had
// the concat, which is often not the order its partial convolutions want.
// Over seeded concat -> conv nets (and concat -> separable op -> conv, and
// wide Adds): the model kept beside the re-sorted one is exactly the result
// without re-sorting; the re-sorted one's peak is never higher, is the
// simulation's and a fresh exact search's, and its recipe replays to it;
// and on some of them the peak goes strictly down.
TEST(RewriteForMemoryTest, ReorderedChainsNeverRaiseThePeak) {
  std::vector<std::pair<std::string, Model>> models;
  std::mt19937 rng(7);
  for (int i = 0; i < 24; ++i) {
    std::vector<int64_t> widths(2 + rng() % 4);
    for (int64_t& w : widths) w = 4 * (1 + rng() % 8);
    const int64_t out_channels = 2 + rng() % 16;
    const int kernel = 1 + 2 * (rng() % 2);
    const int64_t hw = 4 + rng() % 6;
    models.emplace_back("concat_conv " + std::to_string(i),
                        rewrite_testing::ConcatConvNet(widths, out_channels, kernel, hw));
  }
  for (OpType type : {OpType::kRelu, OpType::kConv2D, OpType::kMaxPool2D}) {
    for (int i = 0; i < 3; ++i) {
      std::vector<int64_t> widths(2 + rng() % 4);
      for (int64_t& w : widths) w = 2 * (1 + rng() % 8);
      models.emplace_back(std::string("concat_") + OpTypeName(type) + " " + std::to_string(i),
                          rewrite_testing::ConcatSeparableNet(type, widths, 4 + rng() % 6));
    }
  }
  models.emplace_back("add_7", rewrite_testing::AddNNet(7, 36, 4));
  int reordered = 0, lowered = 0;
  for (const auto& [name, model] : models) {
    SCOPED_TRACE(name);
    RewriteOptions options = TestOptions();
    Result<RewriteResult> on = RewriteForMemory(model, options);
    ASSERT_TRUE(on.ok()) << on.status().ToString();
    options.reorder_chains = false;
    Result<RewriteResult> off = RewriteForMemory(model, options);
    ASSERT_TRUE(off.ok()) << off.status().ToString();
    EXPECT_EQ(off->before_reorder, nullptr);
    EXPECT_LE(on->schedule.peak_bytes, off->schedule.peak_bytes);
    EXPECT_EQ(on->schedule.peak_bytes,
              rewrite_testing::SimulatePeak(on->graph, on->alias, on->schedule.order));
    EXPECT_EQ(on->schedule.peak_bytes, OptimalPeak(on->model, options.capabilities));
    ExpectPlanHolds(on->model, on->graph, on->alias);
    Result<Model> replayed = ReplayRewrites(model, on->recipe);
    ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
    EXPECT_EQ(replayed->GraphHash(), on->model.GraphHash());
    if (on->before_reorder == nullptr) {
      EXPECT_EQ(on->model.GraphHash(), off->model.GraphHash());
      continue;
    }
    ++reordered;
    if (on->schedule.peak_bytes < off->schedule.peak_bytes) {
      ++lowered;
      std::printf("[ info ] %s: re-sorted, peak %llu -> %llu bytes\n", name.c_str(),
                  static_cast<unsigned long long>(off->schedule.peak_bytes),
                  static_cast<unsigned long long>(on->schedule.peak_bytes));
    }
    const RewriteResult& before = *on->before_reorder;
    EXPECT_EQ(before.model.GraphHash(), off->model.GraphHash());
    EXPECT_EQ(before.schedule.peak_bytes, off->schedule.peak_bytes);
    EXPECT_NE(on->model.GraphHash(), before.model.GraphHash());
    Result<Model> replayed_before = ReplayRewrites(model, before.recipe);
    ASSERT_TRUE(replayed_before.ok()) << replayed_before.status().ToString();
    EXPECT_EQ(replayed_before->GraphHash(), before.model.GraphHash());
  }
  std::printf("[ info ] %d of %zu nets re-sorted a chain, %d to a lower peak\n", reordered,
              models.size(), lowered);
  EXPECT_GT(lowered, 0);
}

TEST(RewriteForMemoryTest, PartialSumPaysForAWideAdd) {
  const Model model = AddNNet(6, 16);
  RewriteOptions options = TestOptions();
  Result<RewriteResult> result = RewriteForMemory(model, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(CountOps(result->model, OpType::kAdd), 5);
  EXPECT_LT(result->schedule.peak_bytes, result->initial_peak_bytes);
  EXPECT_EQ(result->schedule.peak_bytes,
            rewrite_testing::SimulatePeak(result->graph, result->alias, result->schedule.order));
  ExpectPlanHolds(result->model, result->graph, result->alias);
}

TEST(RewriteForMemoryTest, ShiftedSubsamplePaysWhereTheShiftedPathPeaks) {
  // Buffers (64-byte aligned): x 768, stem/y 2048, path2_pad (9x9x8) 2624,
  // path2_shift 2048, each 4x4x8 pool 512, the zero-copy concat 512. Stem/y
  // is read by both paths. Before, the optimal order runs path1_pool first
  // and peaks at the Pad: stem/y + path1_pool + path2_pad = 5184 (the Slice
  // would hold path2_pad + path2_shift + stem/y or path1_pool). With the
  // shifted subsample the largest step is stem/y + path1_pool + path2_pool
  // (or + the concat) = 3072; a channel-wise split of the head then removes
  // the concat, leaving x + stem/y = 2816 at the stem.
  const Model model = rewrite_testing::FactorizedReductionNet();
  RewriteOptions options = TestOptions();
  Result<RewriteResult> result = RewriteForMemory(model, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->initial_peak_bytes, 5184u);
  EXPECT_EQ(result->initial_peak_bytes, OptimalPeak(model, options.capabilities));
  bool shifted = false;
  for (const RewriteDecision& d : result->decisions) {
    if (d.applied && d.kind == RewriteKind::kShiftedSubsample) {
      shifted = true;
      EXPECT_EQ(d.operators, std::vector<std::string>{"path2_pool"});
      EXPECT_EQ(d.peak_before, 5184u);
      EXPECT_EQ(d.peak_after, 3072u);
    }
  }
  EXPECT_TRUE(shifted);
  EXPECT_EQ(CountOps(result->model, OpType::kPad), 0);
  EXPECT_EQ(CountOps(result->model, OpType::kSlice), 0);
  EXPECT_EQ(result->schedule.peak_bytes, 2816u);
  EXPECT_EQ(result->schedule.peak_bytes,
            PeakBytes(result->graph, result->alias.memory, result->schedule.order));
  EXPECT_EQ(result->schedule.peak_bytes,
            rewrite_testing::SimulatePeak(result->graph, result->alias, result->schedule.order));
  EXPECT_EQ(result->schedule.peak_bytes, OptimalPeak(result->model, options.capabilities));
  ExpectPlanHolds(result->model, result->graph, result->alias);
  ASSERT_FALSE(result->recipe.empty());
  EXPECT_EQ(result->recipe.front().kind, RewriteEdit::Kind::kShiftedSubsample);
}

TEST(RewriteForMemoryTest, NoShiftedSubsampleWhereThePeakIsElsewhere) {
  // A 64-channel conv of the input beside the reduction peaks higher than
  // the shifted path: removing the padded tensor does not lower the peak.
  rewrite_testing::ShiftSpec spec;
  spec.side_channels = 64;
  const Model model = rewrite_testing::FactorizedReductionNet(spec);
  RewriteOptions options = TestOptions();
  Result<RewriteResult> result = RewriteForMemory(model, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  bool tried = false;
  for (const RewriteDecision& d : result->decisions) {
    if (d.kind != RewriteKind::kShiftedSubsample) continue;
    tried = true;
    EXPECT_FALSE(d.applied);
    EXPECT_GE(d.peak_after, d.peak_before);
  }
  EXPECT_TRUE(tried);
  for (const RewriteEdit& edit : result->recipe) {
    EXPECT_NE(edit.kind, RewriteEdit::Kind::kShiftedSubsample);
  }
  EXPECT_EQ(CountOps(result->model, OpType::kPad), 1);
  EXPECT_EQ(CountOps(result->model, OpType::kSlice), 1);
  // Turned off, it is not even tried.
  options.shifted_subsample = false;
  Result<RewriteResult> off = RewriteForMemory(model, options);
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  for (const RewriteDecision& d : off->decisions) {
    EXPECT_NE(d.kind, RewriteKind::kShiftedSubsample);
  }
}

TEST(RewriteForMemoryTest, NoRewriteWhereItWouldRaiseThePeak) {
  // One-channel branches into a 64-channel conv: partial convolutions need a
  // 64-channel accumulator and a 64-channel term at once, more than the
  // 3-channel concat costs.
  const Model model = ConcatConvNet({1, 1, 1}, 64, 1, 4, Activation::kNone);
  RewriteOptions options = TestOptions();
  options.kernel_wise = options.partial_sum = false;
  options.capabilities = AliasCapabilities::None();
  options.capabilities[OpType::kAdd].in_place = true;
  Result<RewriteResult> result = RewriteForMemory(model, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_FALSE(result->decisions.empty());  // it was tried ...
  for (const RewriteDecision& d : result->decisions) {
    EXPECT_FALSE(d.applied);  // ... and measured worse
    EXPECT_GE(d.peak_after, d.peak_before);
  }
  EXPECT_EQ(result->model.operators().size(), model.operators().size());
  EXPECT_EQ(result->schedule.peak_bytes, result->initial_peak_bytes);
  // The rewrite really is worse on its own.
  Result<Model> forced =
      PartitionChannelWise(model, FindOp(model, "concat"), FindOp(model, "mix"));
  ASSERT_TRUE(forced.ok());
  EXPECT_GT(OptimalPeak(*forced, options.capabilities), result->initial_peak_bytes);
}

TEST(RewriteForMemoryTest, SharedReluIsMergedAndTheConcatPushedDown) {
  const Model model = rewrite_testing::SharedReluNet(16, 4);
  RewriteOptions options = TestOptions();
  Result<RewriteResult> result = RewriteForMemory(model, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  bool merged = false;
  for (const RewriteDecision& d : result->decisions) {
    merged = merged || (d.applied && d.kind == RewriteKind::kMergeDuplicates);
    if (d.applied) {
      EXPECT_LT(d.peak_after, d.peak_before);
    }
  }
  EXPECT_TRUE(merged);
  EXPECT_LT(result->schedule.peak_bytes, result->initial_peak_bytes);
  EXPECT_EQ(result->schedule.peak_bytes,
            rewrite_testing::SimulatePeak(result->graph, result->alias, result->schedule.order));
  EXPECT_EQ(result->schedule.peak_bytes, OptimalPeak(result->model, options.capabilities));
  ExpectPlanHolds(result->model, result->graph, result->alias);
}

TEST(RewriteForMemoryTest, PruningLeavesOutTheSitesThePeakDoesNotNeed) {
  // Both stages' concat -> conv sites make one channel-wise batch, which
  // lowers the peak (in the first stage). The second stage's site does not
  // help the peak; pruning leaves it out.
  const Model model = rewrite_testing::TwoStageConcatConvNet();
  RewriteOptions options = TestOptions();
  options.kernel_wise = options.partial_sum = options.merge_duplicates = false;
  options.shifted_subsample = options.choose_copy_concats = false;
  options.capabilities = AliasCapabilities::None();  // so each concat is a copy
  options.capabilities[OpType::kAdd].in_place = true;
  RewriteOptions unpruned_options = options;
  unpruned_options.prune_sites = false;
  Result<RewriteResult> pruned = RewriteForMemory(model, options);
  Result<RewriteResult> unpruned = RewriteForMemory(model, unpruned_options);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  ASSERT_TRUE(unpruned.ok()) << unpruned.status().ToString();

  // Without pruning, the batch rewrote both stages.
  EXPECT_EQ(CountOps(unpruned->model, OpType::kConcat), 0);
  // With it, only the first stage, for the same peak.
  EXPECT_EQ(FindOp(pruned->model, "concat"), -1);
  EXPECT_GE(FindOp(pruned->model, "concat2"), 0);
  EXPECT_GE(FindOp(pruned->model, "mix2"), 0);
  EXPECT_EQ(pruned->model.operators()[FindOp(pruned->model, "mix2")].type, OpType::kConv2D);
  EXPECT_LT(pruned->model.operators().size(), unpruned->model.operators().size());
  EXPECT_EQ(pruned->schedule.peak_bytes, unpruned->schedule.peak_bytes);
  EXPECT_LT(pruned->schedule.peak_bytes, pruned->initial_peak_bytes);
  // The decision says what was left out and names what stayed.
  bool batch_seen = false;
  for (const RewriteDecision& d : pruned->decisions) {
    if (!d.applied || !d.batch) continue;
    batch_seen = true;
    EXPECT_EQ(d.kind, RewriteKind::kChannelWise);
    EXPECT_EQ(d.sites_left_out, 1);
    ASSERT_EQ(d.operators.size(), 1u);
    EXPECT_EQ(d.operators[0], "concat -> mix");
  }
  EXPECT_TRUE(batch_seen);
  // The peak is the pruned model's optimal one, by the memory model and by
  // the independent simulation, and the recipe rebuilds the pruned model.
  EXPECT_EQ(pruned->schedule.peak_bytes, OptimalPeak(pruned->model, options.capabilities));
  EXPECT_EQ(pruned->schedule.peak_bytes,
            rewrite_testing::SimulatePeak(pruned->graph, pruned->alias, pruned->schedule.order));
  ExpectPlanHolds(pruned->model, pruned->graph, pruned->alias);
  Result<Model> replayed = ReplayRewrites(model, pruned->recipe);
  ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
  EXPECT_EQ(replayed->GraphHash(), pruned->model.GraphHash());
}

TEST(RewriteForMemoryTest, NothingEnabledLeavesTheModelAlone) {
  const Model model = AddNNet(4);
  RewriteOptions options = TestOptions();
  options.channel_wise = options.kernel_wise = options.partial_sum = false;
  options.choose_copy_concats = options.merge_duplicates = false;
  Result<RewriteResult> result = RewriteForMemory(model, options);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->decisions.empty());
  EXPECT_EQ(result->model.GraphHash(), model.GraphHash());
}

// --- the work budget ---------------------------------------------------------
//
// The rewrite search is bounded by counted work, so the kept rewrites may
// depend on the budget but never on the clock: a wall-clock limit is a safety
// net that, when it fires, says so (time_limited).

void ExpectSameResult(const RewriteResult& a, const RewriteResult& b) {
  EXPECT_EQ(a.model.GraphHash(), b.model.GraphHash());
  EXPECT_EQ(a.schedule.order, b.schedule.order);
  EXPECT_EQ(a.schedule.peak_bytes, b.schedule.peak_bytes);
  EXPECT_EQ(a.copy_concats, b.copy_concats);
  EXPECT_EQ(a.work, b.work);
  EXPECT_EQ(a.out_of_work, b.out_of_work);
  ASSERT_EQ(a.decisions.size(), b.decisions.size());
  for (size_t i = 0; i < a.decisions.size(); ++i) {
    EXPECT_EQ(a.decisions[i].applied, b.decisions[i].applied) << "trial " << i;
    EXPECT_EQ(a.decisions[i].peak_after, b.decisions[i].peak_after) << "trial " << i;
  }
}

TEST(RewriteWorkBudgetTest, TheBudgetNotTheClockDecides) {
  const Model model = rewrite_testing::SharedReluNet(16, 4);
  RewriteOptions options = TestOptions();
  Result<RewriteResult> unbounded = RewriteForMemory(model, options);
  ASSERT_TRUE(unbounded.ok()) << unbounded.status().ToString();
  ASSERT_GE(unbounded->decisions.size(), 2u);
  // A budget the first measurement uses up: no trial.
  options.work_limit = 1;
  Result<RewriteResult> measured_only = RewriteForMemory(model, options);
  ASSERT_TRUE(measured_only.ok());
  EXPECT_TRUE(measured_only->decisions.empty());
  EXPECT_GE(measured_only->work, kRewriteTrialWork);
  // Enough for one trial after it, not for the second.
  options.work_limit = measured_only->work + 1;
  std::vector<RewriteResult> results;
  for (const double seconds : {0.0, 1e6}) {
    options.time_limit_seconds = seconds;       // none, then huge
    options.schedule.time_limit_seconds = seconds;
    Result<RewriteResult> result = RewriteForMemory(model, options);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_TRUE(result->out_of_work);
    EXPECT_FALSE(result->time_limited);
    EXPECT_EQ(result->decisions.size(), 1u);
    EXPECT_GE(result->work, options.work_limit);
    results.push_back(std::move(result).value());
  }
  ExpectSameResult(results[0], results[1]);
  EXPECT_FALSE(unbounded->out_of_work);
  EXPECT_FALSE(unbounded->time_limited);
}

TEST(RewriteWorkBudgetTest, NoBudgetMeansNoTrial) {
  const Model model = AddNNet(6, 16);
  RewriteOptions options = TestOptions();
  options.work_limit = 0;
  Result<RewriteResult> result = RewriteForMemory(model, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->decisions.empty());
  EXPECT_EQ(result->applied_count, 0);
  EXPECT_TRUE(result->recipe.empty());
  EXPECT_TRUE(result->out_of_work);
  EXPECT_EQ(result->model.GraphHash(), model.GraphHash());
  EXPECT_EQ(result->schedule.peak_bytes, result->initial_peak_bytes);
  // With a budget, the same model pays (PartialSumPaysForAWideAdd).
  options.work_limit = RewriteOptions{}.work_limit;
  Result<RewriteResult> budgeted = RewriteForMemory(model, options);
  ASSERT_TRUE(budgeted.ok());
  EXPECT_LT(budgeted->schedule.peak_bytes, budgeted->initial_peak_bytes);
}

TEST(RewriteWorkBudgetTest, TheWallClockCuttingTheSearchIsReported) {
  const Model model = AddNNet(6, 16);
  RewriteOptions options = TestOptions();
  // Below the time the first measurement takes: the search stops before its
  // first trial, whatever the machine.
  options.time_limit_seconds = 1e-9;
  Result<RewriteResult> result = RewriteForMemory(model, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->time_limited);
  EXPECT_FALSE(result->out_of_work);
  EXPECT_TRUE(result->decisions.empty());
}

// --- replaying a recipe -------------------------------------------------------
//
// Oracle: the model RewriteForMemory (or a single rewrite) materialised
// through ModelBuilder and the model reader. ReplayRewrites builds its model
// in memory by other code (no builder, no reader), so equal graph hashes,
// names and numbering say the two agree.

void ExpectSameModel(const Model& replayed, const Model& expected) {
  EXPECT_EQ(replayed.GraphHash(), expected.GraphHash());
  ASSERT_EQ(replayed.tensors().size(), expected.tensors().size());
  ASSERT_EQ(replayed.operators().size(), expected.operators().size());
  for (size_t t = 0; t < expected.tensors().size(); ++t) {
    EXPECT_EQ(replayed.tensors()[t].name, expected.tensors()[t].name) << "tensor " << t;
  }
  for (size_t o = 0; o < expected.operators().size(); ++o) {
    EXPECT_EQ(replayed.operators()[o].name, expected.operators()[o].name) << "operator " << o;
  }
  EXPECT_EQ(replayed.inputs(), expected.inputs());
  EXPECT_EQ(replayed.outputs(), expected.outputs());
  EXPECT_EQ(replayed.name(), expected.name());
  EXPECT_EQ(replayed.weight_bytes(), expected.weight_bytes());
}

int ProducedTensor(const Model& model, const std::string& op_name) {
  const int op = FindOp(model, op_name);
  return op < 0 ? -1 : model.operators()[op].outputs[0];
}

struct ReplayCase {
  std::string name;
  Model (*make)();
  bool no_aliasing;
};

const std::vector<ReplayCase>& ReplayCases() {
  static const std::vector<ReplayCase> cases = {
      {"shared_relu", [] { return rewrite_testing::SharedReluNet(16, 4); }, false},
      {"add_6", [] { return AddNNet(6, 16); }, false},
      {"concat_conv_wide", [] { return ConcatConvNet({16, 16, 16}, 2, 1, 4); }, true},
      {"concat_conv_3x3", [] { return ConcatConvNet({8, 4, 12}, 6, 3, 8); }, false},
      {"concat_relu", [] { return ConcatSeparableNet(OpType::kRelu, {16, 8, 24}); }, true},
      {"factorized_reduction", [] { return rewrite_testing::FactorizedReductionNet(); }, false},
  };
  return cases;
}

TEST(ReplayRewritesTest, ReplayingTheRecipeGivesTheSearchedModel) {
  std::set<RewriteEdit::Kind> kinds;
  for (const ReplayCase& c : ReplayCases()) {
    SCOPED_TRACE(c.name);
    const Model model = c.make();
    RewriteOptions options = TestOptions();
    if (c.no_aliasing) {
      options.capabilities = AliasCapabilities::None();
      options.capabilities[OpType::kAdd].in_place = true;
    }
    Result<RewriteResult> result = RewriteForMemory(model, options);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_GT(result->applied_count, 0);
    for (const RewriteEdit& edit : result->recipe) kinds.insert(edit.kind);
    Result<Model> replayed = ReplayRewrites(model, result->recipe);
    ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
    ExpectSameModel(*replayed, result->model);
    EXPECT_EQ(replayed->bytes(), nullptr);
    EXPECT_EQ(replayed->size_bytes(), 0u);
    // The plan RewriteForMemory measured holds on the replayed model.
    const Graph graph = GraphFromModel(*replayed);
    AliasOptions alias;
    alias.copy_concats = result->copy_concats;
    Result<AliasPlan> plan = PlanAliasing(*replayed, graph, options.capabilities, alias);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    ASSERT_TRUE(IsTopologicalOrder(graph, result->schedule.order));
    EXPECT_EQ(PeakBytes(graph, plan->memory, result->schedule.order),
              result->schedule.peak_bytes);
  }
  // Every kind of edit the search keeps here was replayed at least once.
  EXPECT_EQ(kinds.count(RewriteEdit::Kind::kMergeDuplicate), 1u);
  EXPECT_EQ(kinds.count(RewriteEdit::Kind::kPartialSum), 1u);
  EXPECT_EQ(kinds.count(RewriteEdit::Kind::kChannelWise), 1u);
  EXPECT_EQ(kinds.count(RewriteEdit::Kind::kKernelWise), 1u);
  EXPECT_EQ(kinds.count(RewriteEdit::Kind::kShiftedSubsample), 1u);
}

TEST(ReplayRewritesTest, EachSingleRewriteReplaysToTheMaterialisedModel) {
  // Kernel-wise through every channel-separable op kind.
  for (OpType type : {OpType::kRelu, OpType::kClamp, OpType::kSigmoid, OpType::kHardSwish,
                      OpType::kMaxPool2D, OpType::kAveragePool2D, OpType::kGlobalAveragePool,
                      OpType::kConv2D, OpType::kMul, OpType::kAdd}) {
    SCOPED_TRACE(OpTypeName(type));
    const Model model = ConcatSeparableNet(type);
    Result<Model> expected =
        PartitionKernelWise(model, FindOp(model, "concat"), FindOp(model, "sep"));
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    const RewriteEdit edit{RewriteEdit::Kind::kKernelWise, ProducedTensor(model, "concat"),
                           ProducedTensor(model, "sep"), {}};
    Result<Model> replayed = ReplayRewrites(model, {edit});
    ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
    ExpectSameModel(*replayed, *expected);
  }
  // Channel-wise and partial sums in a non-trivial order.
  {
    const Model model = ConcatConvNet({8, 4, 12}, 6, 3, 8);
    Result<Model> expected =
        PartitionChannelWise(model, FindOp(model, "concat"), FindOp(model, "mix"), {2, 0, 1});
    ASSERT_TRUE(expected.ok());
    Result<Model> replayed = ReplayRewrites(
        model, {{RewriteEdit::Kind::kChannelWise, ProducedTensor(model, "concat"),
                 ProducedTensor(model, "mix"), {2, 0, 1}}});
    ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
    ExpectSameModel(*replayed, *expected);
  }
  {
    const Model model = AddNNet(5);
    Result<Model> expected = SplitPartialSum(model, FindOp(model, "sum"), {3, 1, 4, 0, 2});
    ASSERT_TRUE(expected.ok());
    Result<Model> replayed = ReplayRewrites(
        model, {{RewriteEdit::Kind::kPartialSum, ProducedTensor(model, "sum"), -1,
                 {3, 1, 4, 0, 2}}});
    ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
    ExpectSameModel(*replayed, *expected);
  }
  // Shifted subsamples, even and odd sides, with the weights compared too
  // (the replay makes them anew).
  for (int64_t side : {8, 7}) {
    rewrite_testing::ShiftSpec spec;
    spec.h = spec.w = side;
    const Model model = rewrite_testing::FactorizedReductionNet(spec);
    Result<Model> expected = ReplaceShiftedSubsample(model, FindOp(model, "path2_pool"));
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    Result<Model> replayed = ReplayRewrites(
        model, {{RewriteEdit::Kind::kShiftedSubsample, ProducedTensor(model, "path2_pool"), -1,
                 {}}});
    ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
    ExpectSameModel(*replayed, *expected);
    const Operator* a = ShiftConv(*replayed);
    const Operator* b = ShiftConv(*expected);
    ASSERT_TRUE(a != nullptr && b != nullptr);
    EXPECT_EQ(FloatsOf(replayed->tensors()[a->inputs[1]]),
              FloatsOf(expected->tensors()[b->inputs[1]]));
    // A shifted subsample names one tensor, and only a pool's.
    EXPECT_FALSE(ReplayRewrites(model, {{RewriteEdit::Kind::kShiftedSubsample,
                                         ProducedTensor(model, "path2_pool"),
                                         ProducedTensor(model, "path2_pool"), {}}})
                     .ok());
    EXPECT_FALSE(ReplayRewrites(model, {{RewriteEdit::Kind::kShiftedSubsample,
                                         ProducedTensor(model, "path1_pool"), -1, {}}})
                     .ok());
  }
}

// A source whose tensors have names an edit gives the tensors it adds
// ("mix/y/part0", ...): the replay names its new tensors around them. Oracle:
// every name of the replayed model, in a set, appears once; the source's
// names are kept; and the replay agrees with the materialised rewrite.
TEST(ReplayRewritesTest, NewNamesAvoidSourceNamesThatLookLikeAnEdits) {
  ModelBuilder builder = ModelBuilder::FromModel(ConcatConvNet({8, 4, 12}, 6, 3, 8));
  const std::map<std::string, std::string> renamed = {
      {"branch0/b", "mix/y/part0"}, {"branch1/b", "mix/w/part1"}, {"branch2/b", "mix/y/acc0"}};
  for (Tensor& tensor : builder.tensors()) {
    const auto it = renamed.find(tensor.name);
    if (it != renamed.end()) tensor.name = it->second;
  }
  const Model model = rewrite_testing::Build(builder);
  Result<Model> expected =
      PartitionChannelWise(model, FindOp(model, "concat"), FindOp(model, "mix"), {2, 0, 1});
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  Result<Model> replayed = ReplayRewrites(
      model, {{RewriteEdit::Kind::kChannelWise, ProducedTensor(model, "concat"),
               ProducedTensor(model, "mix"), {2, 0, 1}}});
  ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
  ExpectSameModel(*replayed, *expected);
  std::set<std::string> names;
  for (const Tensor& tensor : replayed->tensors()) {
    EXPECT_TRUE(names.insert(tensor.name).second) << "two tensors named " << tensor.name;
  }
  for (const auto& [old_name, new_name] : renamed) EXPECT_EQ(names.count(new_name), 1u);
  EXPECT_EQ(names.count("mix/y/part0_1"), 1u);
  EXPECT_EQ(names.count("mix/w/part1_1"), 1u);
  EXPECT_EQ(names.count("mix/y/acc0_1"), 1u);
}

// The replayed model borrows the source's constants, the weights of the
// partial convolutions too (ranges of input channels of "mix"'s weights, as
// strided rows: Tensor::row_stride), so it copies no weights; it outlives the
// search's result and the recipe.
TEST(ReplayRewritesTest, BorrowsTheSourceConstantsWithoutCopies) {
  const Model model = ConcatConvNet({16, 16, 16}, 2, 1, 4);
  Result<Model> replayed = [&] {
    RewriteOptions options = TestOptions();
    options.capabilities = AliasCapabilities::None();
    options.capabilities[OpType::kAdd].in_place = true;
    Result<RewriteResult> result = RewriteForMemory(model, options);
    EXPECT_TRUE(result.ok());
    return ReplayRewrites(model, result->recipe);
  }();
  ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
  Result<Model> expected =
      PartitionChannelWise(model, FindOp(model, "concat"), FindOp(model, "mix"));
  ASSERT_TRUE(expected.ok());
  int borrowed = 0, owned = 0, strided = 0;
  for (const Tensor& tensor : replayed->tensors()) {
    if (!tensor.is_constant()) continue;
    const bool in_source = tensor.data >= model.bytes() &&
                           tensor.data + tensor.data_bytes <= model.bytes() + model.size_bytes();
    ++(in_source ? borrowed : owned);
    if (tensor.is_dense()) continue;
    ++strided;
    EXPECT_GT(tensor.row_stride, tensor.shape.back()) << tensor.name;
    EXPECT_GT(tensor.data_bytes, tensor.num_bytes()) << tensor.name;
    // The same values as the materialised model's dense copy.
    const Tensor* dense = nullptr;
    for (const Tensor& t : expected->tensors()) {
      if (t.name == tensor.name) dense = &t;
    }
    ASSERT_NE(dense, nullptr) << tensor.name;
    ASSERT_TRUE(dense->is_dense());
    ASSERT_EQ(dense->data_bytes, tensor.num_bytes());
    const std::vector<uint8_t> values = tensor.DenseData();
    ASSERT_EQ(values.size(), tensor.num_bytes());
    EXPECT_EQ(std::memcmp(values.data(), dense->data, values.size()), 0) << tensor.name;
  }
  EXPECT_GT(borrowed, 0);
  EXPECT_EQ(owned, 0);
  EXPECT_EQ(strided, 3);  // the weight slices of "mix", one per branch
  EXPECT_EQ(replayed->weight_bytes(), expected->weight_bytes());
  EXPECT_NE(replayed->GraphHash(), model.GraphHash());  // reads every constant
  // Written out, the strided constants are dense: the file reads back as the
  // same graph.
  Result<std::vector<uint8_t>> bytes = ModelBuilder::FromModel(*replayed).Finish();
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  Result<Model> reread = Model::FromBuffer(bytes->data(), bytes->size());
  ASSERT_TRUE(reread.ok()) << reread.status().ToString();
  EXPECT_EQ(reread->GraphHash(), replayed->GraphHash());
  EXPECT_EQ(reread->weight_bytes(), replayed->weight_bytes());
  // It knows what it was derived from (the runtime's cheap identity check).
  EXPECT_TRUE(model_assembly::IsDerivedFrom(*replayed, model));
  EXPECT_FALSE(model_assembly::IsDerivedFrom(*replayed, *expected));
  EXPECT_FALSE(model_assembly::IsDerivedFrom(*expected, model));
  EXPECT_FALSE(model_assembly::IsDerivedFrom(model, model));
  const Model moved = std::move(replayed).value();
  EXPECT_TRUE(model_assembly::IsDerivedFrom(moved, model));
}

// GraphNames::kOmitted (the runtime's plan check) gives the same graph but
// for the names.
TEST(GraphFromModelTest, OmittedNamesLeaveTheGraphAsItIs) {
  const Model model = ConcatConvNet({16, 8, 4}, 2, 3, 4);
  const Graph named = GraphFromModel(model);
  const Graph plain = GraphFromModel(model, GraphNames::kOmitted);
  ASSERT_EQ(plain.tensors.size(), named.tensors.size());
  ASSERT_EQ(plain.ops.size(), named.ops.size());
  for (size_t t = 0; t < named.tensors.size(); ++t) {
    EXPECT_FALSE(named.tensors[t].name.empty());
    EXPECT_TRUE(plain.tensors[t].name.empty());
    EXPECT_EQ(plain.tensors[t].bytes, named.tensors[t].bytes);
    EXPECT_EQ(plain.tensors[t].producer, named.tensors[t].producer);
    EXPECT_EQ(plain.tensors[t].consumers, named.tensors[t].consumers);
    EXPECT_EQ(plain.tensors[t].model_tensor, named.tensors[t].model_tensor);
    EXPECT_EQ(plain.tensors[t].graph_input, named.tensors[t].graph_input);
    EXPECT_EQ(plain.tensors[t].graph_output, named.tensors[t].graph_output);
  }
  for (size_t o = 0; o < named.ops.size(); ++o) {
    EXPECT_TRUE(plain.ops[o].name.empty());
    EXPECT_EQ(plain.ops[o].type, named.ops[o].type);
    EXPECT_EQ(plain.ops[o].inputs, named.ops[o].inputs);
    EXPECT_EQ(plain.ops[o].outputs, named.ops[o].outputs);
    EXPECT_EQ(plain.ops[o].model_operator, named.ops[o].model_operator);
  }
  EXPECT_TRUE(ValidateGraph(plain).ok());
}

// CompactGraphFromModel is GraphFromModel (the oracle) in another layout:
// the same lists, and every function that takes either gives the same answer.
std::vector<int> IdentityOrder(int n) {
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  return order;
}

void ExpectSameAsGraph(const Model& model) {
  SCOPED_TRACE(model.name());
  const Graph graph = GraphFromModel(model);
  CompactGraph built = CompactGraphFromModel(model);
  const CompactGraph compact = std::move(built);  // the lists survive a move
  ASSERT_EQ(compact.tensors.size(), graph.tensors.size());
  ASSERT_EQ(compact.ops.size(), graph.ops.size());
  auto list = [](const IndexList& l) { return std::vector<int>(l.begin(), l.end()); };
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    EXPECT_EQ(compact.tensors[t].bytes, graph.tensors[t].bytes) << t;
    EXPECT_EQ(compact.tensors[t].producer, graph.tensors[t].producer) << t;
    EXPECT_EQ(list(compact.tensors[t].consumers), graph.tensors[t].consumers) << t;
    EXPECT_EQ(compact.tensors[t].model_tensor, graph.tensors[t].model_tensor) << t;
    EXPECT_EQ(compact.tensors[t].graph_input, graph.tensors[t].graph_input) << t;
    EXPECT_EQ(compact.tensors[t].graph_output, graph.tensors[t].graph_output) << t;
  }
  for (size_t o = 0; o < graph.ops.size(); ++o) {
    EXPECT_EQ(list(compact.ops[o].inputs), graph.ops[o].inputs) << o;
    EXPECT_EQ(list(compact.ops[o].outputs), graph.ops[o].outputs) << o;
    EXPECT_EQ(compact.ops[o].model_operator, graph.ops[o].model_operator) << o;
  }

  const int n = static_cast<int>(graph.ops.size());
  std::vector<std::vector<int>> orders = {IdentityOrder(n)};
  orders.emplace_back(orders[0].rbegin(), orders[0].rend());
  for (int i = 0; i + 1 < n; ++i) {  // each adjacent swap: some break an edge
    orders.push_back(orders[0]);
    std::swap(orders.back()[i], orders.back()[i + 1]);
  }
  orders.push_back({0});  // too short
  int topological = 0;
  for (const std::vector<int>& order : orders) {
    EXPECT_EQ(IsTopologicalOrder(compact, order), IsTopologicalOrder(graph, order));
    topological += IsTopologicalOrder(graph, order) ? 1 : 0;
  }
  EXPECT_GE(topological, 1);
  EXPECT_LT(topological, static_cast<int>(orders.size()));

  // b_lists false: b was planned without the per-buffer lists
  // (AliasOptions::buffer_tensor_lists), which must then be empty, and the
  // rest of the plan, the live ranges and the peak the same as a's.
  auto same_plan = [&](const AliasPlan& a, const AliasPlan& b, bool b_lists = true) {
    ASSERT_EQ(a.memory.buffers.size(), b.memory.buffers.size());
    for (size_t i = 0; i < a.memory.buffers.size(); ++i) {
      EXPECT_EQ(a.memory.buffers[i].bytes, b.memory.buffers[i].bytes);
      if (b_lists) {
        EXPECT_EQ(a.memory.buffers[i].tensors, b.memory.buffers[i].tensors);
      } else {
        EXPECT_FALSE(a.memory.buffers[i].tensors.empty());
        EXPECT_TRUE(b.memory.buffers[i].tensors.empty());
      }
    }
    EXPECT_EQ(a.memory.buffer_of_tensor, b.memory.buffer_of_tensor);
    ASSERT_EQ(a.placements.size(), b.placements.size());
    for (size_t t = 0; t < a.placements.size(); ++t) {
      EXPECT_EQ(a.placements[t].buffer, b.placements[t].buffer);
      EXPECT_EQ(a.placements[t].byte_offset, b.placements[t].byte_offset);
      EXPECT_EQ(a.placements[t].pixel_stride, b.placements[t].pixel_stride);
      EXPECT_EQ(a.placements[t].link, b.placements[t].link);
      EXPECT_EQ(a.placements[t].alias_of, b.placements[t].alias_of);
    }
    EXPECT_EQ(a.in_place_ops, b.in_place_ops);
    EXPECT_EQ(a.no_op_reshapes, b.no_op_reshapes);
    EXPECT_EQ(a.zero_copy_concats, b.zero_copy_concats);
    const std::vector<int> order = IdentityOrder(n);
    const std::vector<LiveRange> ranges = ComputeLiveRanges(graph, a.memory, order);
    const std::vector<LiveRange> compact_ranges = ComputeLiveRanges(compact, b.memory, order);
    ASSERT_EQ(ranges.size(), compact_ranges.size());
    for (size_t i = 0; i < ranges.size(); ++i) {
      EXPECT_EQ(ranges[i].first, compact_ranges[i].first);
      EXPECT_EQ(ranges[i].last, compact_ranges[i].last);
    }
    EXPECT_EQ(PeakBytes(b.memory, compact_ranges, n), PeakBytes(graph, a.memory, order));
  };
  same_plan(PlanWithoutAliasing(model, graph), PlanWithoutAliasing(model, compact));
  const MemoryModel plain = MemoryModel::WithoutAliasing(graph);
  const MemoryModel compact_plain = MemoryModel::WithoutAliasing(compact);
  ASSERT_EQ(plain.buffers.size(), compact_plain.buffers.size());
  for (size_t i = 0; i < plain.buffers.size(); ++i) {
    EXPECT_EQ(plain.buffers[i].bytes, compact_plain.buffers[i].bytes);
  }
  for (const AliasCapabilities& capabilities :
       {KernelLikeCapabilities(), AliasCapabilities::None()}) {
    Result<AliasPlan> aliased = PlanAliasing(model, graph, capabilities);
    Result<AliasPlan> compact_aliased = PlanAliasing(model, compact, capabilities);
    ASSERT_TRUE(aliased.ok() && compact_aliased.ok());
    same_plan(*aliased, *compact_aliased);
    AliasOptions no_lists;
    no_lists.buffer_tensor_lists = false;
    Result<AliasPlan> listless = PlanAliasing(model, compact, capabilities, no_lists);
    ASSERT_TRUE(listless.ok());
    same_plan(*aliased, *listless, /*b_lists=*/false);
  }
}

TEST(CompactGraphTest, SameGraphAsGraphFromModel) {
  ExpectSameAsGraph(ConcatConvNet({16, 8, 4}, 2, 3, 4));
  ExpectSameAsGraph(ConcatSeparableNet(OpType::kMul));
  ExpectSameAsGraph(AddNNet(5));
  ExpectSameAsGraph(rewrite_testing::SharedReluNet(16, 4));
  // An operator that reads one tensor twice lists it once.
  ModelBuilder b("self_add");
  const int x = b.AddInput("x", {1, 4, 4, 8});
  const int y = b.AddActivation("y", {1, 4, 4, 8});
  const int z = b.AddActivation("z", {1, 4, 4, 8});
  const int c = b.AddActivation("c", {1, 4, 4, 16});
  b.AddOperator(OpType::kAdd, "add", {x, x}, {y});
  b.AddOperator(OpType::kRelu, "relu", {y}, {z});
  b.AddOperator(OpType::kConcat, "concat", {y, z}, {c}, ConcatAttrs{3});
  b.MarkOutput(c);
  ExpectSameAsGraph(rewrite_testing::Build(b));
  // Rewritten models: partial sums, partial convolutions on borrowed weights.
  auto rewritten = [](const Model& source) {
    Result<RewriteResult> result = RewriteForMemory(source, TestOptions());
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    ASSERT_GE(result->applied_count, 1);
    ExpectSameAsGraph(result->model);
  };
  rewritten(ConcatConvNet({16, 16, 16}, 2, 1, 4));
  rewritten(AddNNet(6, 16));
}

// A recipe that does not fit the model fails cleanly, naming the edit.
TEST(ReplayRewritesTest, ARecipeThatDoesNotApplyIsAnError) {
  const Model model = rewrite_testing::SharedReluNet(16, 4);
  const int cat = ProducedTensor(model, "concat");
  const int relu1 = ProducedTensor(model, "relu1");
  const int relu2 = ProducedTensor(model, "relu2");
  const int pre1 = ProducedTensor(model, "pre1");
  const int n = static_cast<int>(model.tensors().size());
  using Kind = RewriteEdit::Kind;
  const RewriteEdit merge{Kind::kMergeDuplicate, relu1, relu2, {}};
  ASSERT_TRUE(ReplayRewrites(model, {merge}).ok());
  const struct {
    std::string what;
    std::vector<RewriteEdit> recipe;
    std::string message;
  } cases[] = {
      {"no such tensor", {{Kind::kMergeDuplicate, n + 40, relu2, {}}}, "no operator produces"},
      {"negative tensor", {{Kind::kKernelWise, -3, relu1, {}}}, "no operator produces"},
      {"an input", {{Kind::kPartialSum, model.inputs()[0], -1, {}}}, "no operator produces"},
      {"not duplicates", {{Kind::kMergeDuplicate, relu1, pre1, {}}}, "same tensor"},
      {"duplicates backwards", {{Kind::kMergeDuplicate, relu2, relu1, {}}}, "same tensor"},
      {"twice", {merge, merge}, "edit 1"},
      {"channel-wise into a Relu", {{Kind::kChannelWise, cat, relu1, {0, 1, 2}}}, "Conv2D"},
      {"kernel-wise into a dense conv", {{Kind::kKernelWise, relu1, pre1, {}}}, "Concat"},
      {"not a permutation",
       {merge, {Kind::kKernelWise, cat, relu1, {}},
        {Kind::kChannelWise, relu1, pre1, {0, 0, 2}}},
       "permutation"},
      {"order missing",
       {merge, {Kind::kKernelWise, cat, relu1, {}},
        {Kind::kChannelWise, relu1, pre1, {}}},
       "order"},
      {"partial sum of a 2-input Add",
       {{Kind::kPartialSum, ProducedTensor(model, "sum"), -1, {0, 1}}}, "3 or more"},
      {"unknown kind", {{static_cast<Kind>(77), relu1, relu2, {}}}, "unknown"},
  };
  for (const auto& c : cases) {
    Result<Model> replayed = ReplayRewrites(model, c.recipe);
    ASSERT_FALSE(replayed.ok()) << c.what;
    EXPECT_EQ(replayed.status().code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(replayed.status().message().find(c.message), std::string::npos)
        << c.what << ": " << replayed.status().message();
    EXPECT_NE(replayed.status().message().find("rewrite edit"), std::string::npos) << c.what;
  }
}

}  // namespace
}  // namespace serenity::scheduler
