// Small models for the rewriting and aliasing tests, and an independent
// step-by-step simulation of an aliasing plan under an order.
#ifndef SERENITY_TESTS_SCHEDULER_REWRITE_TEST_MODELS_H_
#define SERENITY_TESTS_SCHEDULER_REWRITE_TEST_MODELS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "random_graphs.h"
#include "serenity/model_format/model.h"
#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/graph.h"

namespace serenity::rewrite_testing {

inline std::vector<float> Values(size_t count, float seed, float scale = 0.5f) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) {
    values[i] = scale * std::sin(seed * 1.7f + 0.6180f * static_cast<float>(i) +
                                 0.011f * static_cast<float>(i * i % 89));
  }
  return values;
}

inline int AddConv(ModelBuilder& b, const std::string& name, int x, int64_t in_channels,
                   int64_t out_channels, int kernel, int64_t hw, Activation activation,
                   float seed, bool bias = true) {
  const int64_t fan_in = in_channels * kernel * kernel;
  const int w = b.AddConstant(name + "/w", {out_channels, kernel, kernel, in_channels},
                              Values(static_cast<size_t>(out_channels * fan_in), seed,
                                     1.2f / std::sqrt(static_cast<float>(fan_in))));
  const int bias_tensor =
      bias ? b.AddConstant(name + "/b", {out_channels}, Values(out_channels, seed + 3, 0.1f))
           : -1;
  const int y = b.AddActivation(name + "/y", {1, hw, hw, out_channels});
  Conv2DAttrs attrs;
  attrs.pad_top = attrs.pad_bottom = attrs.pad_left = attrs.pad_right = kernel / 2;
  attrs.activation = activation;
  b.AddOperator(OpType::kConv2D, name, {x, w, bias_tensor}, {y}, attrs);
  return y;
}

inline Model Build(const ModelBuilder& b) {
  Result<std::vector<uint8_t>> bytes = b.Finish();
  if (!bytes.ok()) DieOnBadResultAccess(bytes.status());
  Result<Model> model = Model::FromBuffer(bytes->data(), bytes->size(), "test");
  if (!model.ok()) DieOnBadResultAccess(model.status());
  return std::move(model).value();
}

// x [1,hw,hw,3] -> branch_i: 1x1 conv -> widths[i] (relu)
//   -> concat -> conv kxk -> out_channels (activation) -> output.
inline Model ConcatConvNet(const std::vector<int64_t>& widths, int64_t out_channels,
                           int kernel = 1, int64_t hw = 4,
                           Activation activation = Activation::kRelu) {
  ModelBuilder b("concat_conv");
  const int x = b.AddInput("x", {1, hw, hw, 3});
  std::vector<int> branches;
  int64_t total = 0;
  for (size_t i = 0; i < widths.size(); ++i) {
    branches.push_back(AddConv(b, "branch" + std::to_string(i), x, 3, widths[i], 1, hw,
                               Activation::kRelu, 1.0f + i));
    total += widths[i];
  }
  const int c = b.AddActivation("cat", {1, hw, hw, total});
  b.AddOperator(OpType::kConcat, "concat", branches, {c}, ConcatAttrs{3});
  const int y = AddConv(b, "mix", c, total, out_channels, kernel, hw, activation, 9.0f);
  b.MarkOutput(y);
  return Build(b);
}

// Two ConcatConvNet stages, the second after a 4x4 stride-4 max pool: x
// [1,8,8,3] -> three 1x1 conv branches of 16 -> concat -> 1x1 "mix" -> 4,
// pooled to [1,2,2,4] -> three 1x1 conv branches of 16 -> concat -> 1x1
// "mix2" -> 4 -> output. The second stage's tensors are a sixteenth of the
// first's, so its concat is far below the first stage's peak.
inline Model TwoStageConcatConvNet() {
  ModelBuilder b("two_stage_concat_conv");
  int x = b.AddInput("x", {1, 8, 8, 3});
  int64_t channels = 3;
  int64_t hw = 8;
  for (const std::string stage : {"", "2"}) {
    std::vector<int> branches;
    for (int i = 0; i < 3; ++i) {
      branches.push_back(AddConv(b, "branch" + stage + std::to_string(i), x, channels, 16, 1, hw,
                                 Activation::kRelu, 1.0f + i + 5 * stage.size()));
    }
    const int c = b.AddActivation("cat" + stage, {1, hw, hw, 48});
    b.AddOperator(OpType::kConcat, "concat" + stage, branches, {c}, ConcatAttrs{3});
    x = AddConv(b, "mix" + stage, c, 48, 4, 1, hw, Activation::kRelu, 9.0f + stage.size());
    channels = 4;
    if (stage.empty()) {
      Pool2DAttrs pool;
      pool.filter_h = pool.filter_w = pool.stride_h = pool.stride_w = 4;
      hw = 2;
      const int pooled = b.AddActivation("pool/y", {1, hw, hw, channels});
      b.AddOperator(OpType::kMaxPool2D, "pool", {x}, {pooled}, pool);
      x = pooled;
    }
  }
  b.MarkOutput(x);
  return Build(b);
}

// x -> three 1x1 conv branches (widths) -> concat -> `type` -> 1x1 conv -> out.
// `type` is one of Relu, Clamp, Sigmoid, HardSwish, MaxPool2D, AveragePool2D,
// GlobalAveragePool, Conv2D (depthwise 3x3), Mul / Add (per-channel constant).
inline Model ConcatSeparableNet(OpType type, const std::vector<int64_t>& widths = {4, 2, 6},
                                int64_t hw = 4) {
  ModelBuilder b("concat_separable");
  const int x = b.AddInput("x", {1, hw, hw, 3});
  std::vector<int> branches;
  int64_t total = 0;
  for (size_t i = 0; i < widths.size(); ++i) {
    branches.push_back(AddConv(b, "branch" + std::to_string(i), x, 3, widths[i], 1, hw,
                               Activation::kNone, 2.0f + i));
    total += widths[i];
  }
  const int c = b.AddActivation("cat", {1, hw, hw, total});
  b.AddOperator(OpType::kConcat, "concat", branches, {c}, ConcatAttrs{3});
  int64_t out_hw = hw;
  int z = -1;
  switch (type) {
    case OpType::kMaxPool2D:
    case OpType::kAveragePool2D: {
      Pool2DAttrs attrs;
      attrs.filter_h = attrs.filter_w = 3;
      attrs.stride_h = attrs.stride_w = 2;
      attrs.pad_top = attrs.pad_left = 1;
      attrs.pad_bottom = attrs.pad_right = 1;
      out_hw = (hw + 2 - 3) / 2 + 1;
      z = b.AddActivation("sep", {1, out_hw, out_hw, total});
      b.AddOperator(type, "sep", {c}, {z}, attrs);
      break;
    }
    case OpType::kGlobalAveragePool:
      out_hw = 1;
      z = b.AddActivation("sep", {1, 1, 1, total});
      b.AddOperator(type, "sep", {c}, {z});
      break;
    case OpType::kConv2D: {
      const int w = b.AddConstant("sep/w", {total, 3, 3, 1}, Values(total * 9, 7.0f, 0.4f));
      const int bias = b.AddConstant("sep/b", {total}, Values(total, 8.0f, 0.1f));
      Conv2DAttrs attrs;
      attrs.pad_top = attrs.pad_bottom = attrs.pad_left = attrs.pad_right = 1;
      attrs.groups = static_cast<int>(total);
      attrs.activation = Activation::kRelu;
      z = b.AddActivation("sep", {1, hw, hw, total});
      b.AddOperator(type, "sep", {c, w, bias}, {z}, attrs);
      break;
    }
    case OpType::kMul:
    case OpType::kAdd: {
      const int k = b.AddConstant("sep/k", {1, 1, 1, total}, Values(total, 6.0f, 1.0f));
      z = b.AddActivation("sep", {1, hw, hw, total});
      b.AddOperator(type, "sep", {c, k}, {z}, ElementwiseAttrs{});
      break;
    }
    case OpType::kClamp:
      z = b.AddActivation("sep", {1, hw, hw, total});
      b.AddOperator(type, "sep", {c}, {z}, ClampAttrs{-0.1f, 0.2f});
      break;
    default:
      z = b.AddActivation("sep", {1, hw, hw, total});
      b.AddOperator(type, "sep", {c}, {z});
      break;
  }
  const int y = AddConv(b, "head", z, total, 5, 1, out_hw, Activation::kNone, 11.0f);
  b.MarkOutput(y);
  return Build(b);
}

// x -> n 1x1 conv branches of `width` -> Add(all, relu) -> 1x1 conv -> out.
// NASNet's factorized reduction (nasnet_utils.factorized_reduction) with
// its shifted path's geometry as parameters.
struct ShiftSpec {
  int64_t h = 8, w = 8, channels = 8;
  int64_t pad_top = 0, pad_bottom = 1, pad_left = 0, pad_right = 1;
  int64_t begin_h = 1, begin_w = 1;
  int stride = 2;
  OpType pool = OpType::kAveragePool2D;
  // Channels of a 1x1 conv reading the input beside the reduction (0: none);
  // a wide one puts the peak there, out of the rewrite's reach.
  int64_t side_channels = 0;
};

// x [1,h,w,3] -> conv 1x1 -> a [1,h,w,channels] (relu);
//   path1: a -> avgpool 1x1 stride s -> conv 1x1 -> 4;
//   path2: a -> "path2_pad" -> "path2_shift" (Slice) -> "path2_pool" (1x1,
//   stride s) -> conv 1x1 -> 4; concat -> conv 1x1 -> 5 -> output.
inline Model FactorizedReductionNet(const ShiftSpec& spec = {}) {
  ModelBuilder b("factorized_reduction");
  const int x = b.AddInput("x", {1, spec.h, spec.w, 3});
  const int64_t c = spec.channels;
  const int64_t fan_in = 3;
  const int wa = b.AddConstant("stem/w", {c, 1, 1, 3},
                               Values(static_cast<size_t>(c * fan_in), 1.0f, 0.9f));
  const int a = b.AddActivation("stem/y", {1, spec.h, spec.w, c});
  Conv2DAttrs stem;
  stem.activation = Activation::kRelu;
  b.AddOperator(OpType::kConv2D, "stem", {x, wa, -1}, {a}, stem);
  const int s = spec.stride;
  const int64_t out_h = (spec.h - 1) / s + 1, out_w = (spec.w - 1) / s + 1;
  Pool2DAttrs pool;
  pool.stride_h = pool.stride_w = s;
  const int p1 = b.AddActivation("path1_pool", {1, out_h, out_w, c});
  b.AddOperator(OpType::kAveragePool2D, "path1_pool", {a}, {p1}, pool);
  const int64_t ph = spec.h + spec.pad_top + spec.pad_bottom;
  const int64_t pw = spec.w + spec.pad_left + spec.pad_right;
  const int padded = b.AddActivation("path2_pad", {1, ph, pw, c});
  PadAttrs pad;
  pad.paddings = {0, 0, spec.pad_top, spec.pad_bottom, spec.pad_left, spec.pad_right, 0, 0};
  b.AddOperator(OpType::kPad, "path2_pad", {a}, {padded}, pad);
  const int64_t sh = ph - spec.begin_h, sw = pw - spec.begin_w;
  const int shifted = b.AddActivation("path2_shift", {1, sh, sw, c});
  SliceAttrs slice;
  slice.begin = {0, spec.begin_h, spec.begin_w, 0};
  slice.size = {1, sh, sw, c};
  b.AddOperator(OpType::kSlice, "path2_shift", {padded}, {shifted}, slice);
  const int64_t out2_h = (sh - 1) / s + 1, out2_w = (sw - 1) / s + 1;
  const int p2 = b.AddActivation("path2_pool", {1, out2_h, out2_w, c});
  b.AddOperator(spec.pool, "path2_pool", {shifted}, {p2}, pool);
  // 1x1 convolutions on out_h x out_w (AddConv's are square).
  auto conv1x1 = [&](const std::string& name, int in, int64_t cin, int64_t cout, float seed) {
    const int w = b.AddConstant(name + "/w", {cout, 1, 1, cin},
                                Values(static_cast<size_t>(cout * cin), seed, 0.7f));
    const int bias = b.AddConstant(name + "/b", {cout}, Values(cout, seed + 3, 0.1f));
    const int y = b.AddActivation(name + "/y", {1, out_h, out_w, cout});
    b.AddOperator(OpType::kConv2D, name, {in, w, bias}, {y}, Conv2DAttrs{});
    return y;
  };
  const int y1 = conv1x1("path1_conv", p1, c, 4, 3.0f);
  const int y2 = conv1x1("path2_conv", p2, c, 4, 4.0f);
  const int cat = b.AddActivation("concat", {1, out_h, out_w, 8});
  b.AddOperator(OpType::kConcat, "concat", {y1, y2}, {cat}, ConcatAttrs{3});
  int head_in = cat;
  int64_t head_channels = 8;
  if (spec.side_channels > 0) {
    const int side = AddConv(b, "side", x, 3, spec.side_channels, 1, spec.h, Activation::kRelu,
                             5.0f);  // square inputs only
    const int side_pool = b.AddActivation("side_pool", {1, out_h, out_w, spec.side_channels});
    b.AddOperator(OpType::kAveragePool2D, "side_pool", {side}, {side_pool}, pool);
    const int both = b.AddActivation("both", {1, out_h, out_w, 8 + spec.side_channels});
    b.AddOperator(OpType::kConcat, "both", {cat, side_pool}, {both}, ConcatAttrs{3});
    head_in = both;
    head_channels += spec.side_channels;
  }
  const int y = conv1x1("head", head_in, head_channels, 5, 6.0f);
  b.MarkOutput(y);
  return Build(b);
}

// Geometries of the shifted path: NASNet's (even and odd sides, where the
// odd one reads the pad's zeros), a max pool, stride 1, a shift of 2 behind
// a pad of 1 in front (tap 1 with no conv padding in front), and a pad in
// front that the slice keeps (conv padding in front, tap 0).
inline std::vector<ShiftSpec> ShiftSpecs() {
  std::vector<ShiftSpec> specs(7);
  specs[1].h = specs[1].w = 7;
  specs[2].h = 7;
  specs[2].w = 10;
  specs[3].pool = OpType::kMaxPool2D;
  specs[4].stride = 1;
  specs[5].pad_top = specs[5].pad_left = 1;
  specs[5].begin_h = specs[5].begin_w = 2;
  specs[6].h = specs[6].w = 7;
  specs[6].pad_top = specs[6].pad_left = 1;
  specs[6].pad_bottom = specs[6].pad_right = 0;
  specs[6].begin_h = specs[6].begin_w = 0;
  return specs;
}

inline Model AddNNet(int n, int64_t width = 8, int64_t hw = 4) {
  ModelBuilder b("add_n");
  const int x = b.AddInput("x", {1, hw, hw, 3});
  std::vector<int> branches;
  for (int i = 0; i < n; ++i) {
    branches.push_back(AddConv(b, "branch" + std::to_string(i), x, 3, width, 1, hw,
                               Activation::kNone, 3.0f + i));
  }
  const int s = b.AddActivation("sum", {1, hw, hw, width});
  b.AddOperator(OpType::kAdd, "sum", branches, {s}, ElementwiseAttrs{Activation::kRelu});
  const int y = AddConv(b, "head", s, width, 4, 1, hw, Activation::kNone, 13.0f);
  b.MarkOutput(y);
  return Build(b);
}

// A DARTS-like cell output: x -> three 1x1 conv branches -> concat; the same
// Relu of the concat twice (two later cells), each into a 1x1 conv, and a
// channel-keeping Slice of one Relu into a third conv; the three sum to the
// output.
inline Model SharedReluNet(int64_t width = 8, int64_t hw = 4) {
  ModelBuilder b("shared_relu");
  const int x = b.AddInput("x", {1, hw, hw, 3});
  std::vector<int> branches;
  for (int i = 0; i < 3; ++i) {
    branches.push_back(AddConv(b, "branch" + std::to_string(i), x, 3, width, 1, hw,
                               Activation::kNone, 4.0f + i));
  }
  const int c = b.AddActivation("cat", {1, hw, hw, 3 * width});
  b.AddOperator(OpType::kConcat, "concat", branches, {c}, ConcatAttrs{3});
  const int r1 = b.AddActivation("relu1", {1, hw, hw, 3 * width});
  b.AddOperator(OpType::kRelu, "relu1", {c}, {r1});
  const int r2 = b.AddActivation("relu2", {1, hw, hw, 3 * width});
  b.AddOperator(OpType::kRelu, "relu2", {c}, {r2});
  const int y1 = AddConv(b, "pre1", r1, 3 * width, width, 1, hw, Activation::kNone, 21.0f);
  const int y2 = AddConv(b, "pre0", r2, 3 * width, width, 1, hw, Activation::kNone, 22.0f);
  const int shifted = b.AddActivation("shift", {1, hw - 1, hw - 1, 3 * width});
  SliceAttrs slice;
  slice.begin = {0, 1, 1, 0};
  slice.size = {1, hw - 1, hw - 1, 3 * width};
  b.AddOperator(OpType::kSlice, "shift", {r2}, {shifted}, slice);
  const int y3 = AddConv(b, "reduce", shifted, 3 * width, width, 1, hw - 1,
                         Activation::kNone, 23.0f);
  const int sum = b.AddActivation("sum", {1, hw, hw, width});
  b.AddOperator(OpType::kAdd, "sum", {y1, y2}, {sum});
  b.MarkOutput(sum);
  b.MarkOutput(y3);
  return Build(b);
}

// XNNPACK-like capabilities (as kernels::CapabilitiesOf reports them).
// x -> a 1x1 -> [1,4,4,8], read by c 3x3 and by Relu r; sum = c + r. The
// Relu can run over a's output once c has read it (last-reader in place).
inline Model LastReaderNet() {
  ModelBuilder b("last_reader");
  const int x = b.AddInput("x", {1, 4, 4, 8});
  const int a = AddConv(b, "a", x, 8, 8, 1, 4, Activation::kNone, 1);
  const int c = AddConv(b, "c", a, 8, 8, 3, 4, Activation::kNone, 2);
  const int r = b.AddActivation("r", {1, 4, 4, 8});
  b.AddOperator(OpType::kRelu, "r", {a}, {r});
  const int sum = b.AddActivation("sum", {1, 4, 4, 8});
  b.AddOperator(OpType::kAdd, "sum", {c, r}, {sum});
  b.MarkOutput(sum);
  return Build(b);
}

inline scheduler::AliasCapabilities KernelLikeCapabilities() {
  scheduler::AliasCapabilities caps;
  for (OpType type : {OpType::kConv2D, OpType::kFullyConnected, OpType::kMaxPool2D,
                      OpType::kAveragePool2D, OpType::kGlobalAveragePool, OpType::kConcat,
                      OpType::kRelu, OpType::kClamp, OpType::kSigmoid, OpType::kHardSwish,
                      OpType::kSlice, OpType::kResizeBilinear, OpType::kSoftmax}) {
    caps[type].strided_input = caps[type].strided_output = true;
  }
  for (OpType type : {OpType::kRelu, OpType::kClamp, OpType::kSigmoid, OpType::kHardSwish,
                      OpType::kAdd, OpType::kMul, OpType::kReshape}) {
    caps[type].in_place = true;
  }
  return caps;
}

// A random topological order of the graph that keeps `edges` too
// (testing::RandomTopologicalOrder with a generator seeded by `seed`).
inline std::vector<int> RandomOrder(const scheduler::Graph& graph, uint32_t seed,
                                    const std::vector<scheduler::OrderEdge>& edges = {}) {
  std::mt19937 rng(seed);
  return scheduler::testing::RandomTopologicalOrder(rng, graph, edges);
}

// Runs the plan symbolically under `order`: every buffer element holds a tag
// (tensor, element) saying whose value is there. Before each operator runs,
// every element of every activation it reads must hold the expected value;
// then its outputs are written (nothing for a no-op). Returns "" or what
// went wrong. Written without the planner's code: a different algorithm over
// the same placements.
inline std::string SimulateContents(const Model& model, const scheduler::Graph& graph,
                                    const scheduler::AliasPlan& plan,
                                    const std::vector<int>& order) {
  using Tag = std::pair<int, int64_t>;
  const int num_tensors = static_cast<int>(graph.tensors.size());
  std::vector<int> graph_of_model(model.tensors().size(), -1);
  for (int t = 0; t < num_tensors; ++t) graph_of_model[graph.tensors[t].model_tensor] = t;
  auto shape_of = [&](int t) { return model.tensors()[graph.tensors[t].model_tensor].shape; };
  auto elements = [&](int t) {
    int64_t n = 1;
    for (int64_t d : shape_of(t)) n *= d;
    return n;
  };
  auto address = [&](int t, int64_t i) {
    const std::vector<int64_t> shape = shape_of(t);
    const int64_t channels = shape.empty() ? 1 : shape.back();
    const scheduler::TensorPlacement& p = plan.placements[t];
    return (i / channels) * p.pixel_stride + p.channel_offset + i % channels;
  };
  // The value a tensor's element must hold: views resolve to what they show.
  std::vector<const Operator*> producer(num_tensors, nullptr);
  for (int o = 0; o < static_cast<int>(graph.ops.size()); ++o) {
    for (int t : graph.ops[o].outputs) producer[t] = &model.operators()[o];
  }
  auto expected = [&](auto&& self, int t, int64_t i) -> Tag {
    const int op = graph.tensors[t].producer;
    if (op >= 0 && plan.IsNoOp(op)) {
      const Operator& o = model.operators()[op];
      if (o.type == OpType::kReshape) return self(self, graph_of_model[o.inputs[0]], i);
      const int64_t channels = shape_of(t).back();
      const int64_t pixel = i / channels;
      int64_t channel = i % channels;
      for (int input : o.inputs) {
        const int g = graph_of_model[input];
        const int64_t width = shape_of(g).back();
        if (channel < width) return self(self, g, pixel * width + channel);
        channel -= width;
      }
    }
    return Tag{t, i};
  };
  std::map<int, std::vector<Tag>> memory;
  auto cell = [&](int t, int64_t i) -> Tag& {
    std::vector<Tag>& buffer = memory[plan.placements[t].buffer];
    const int64_t a = address(t, i);
    if (static_cast<int64_t>(buffer.size()) <= a) buffer.resize(a + 1, Tag{-1, -1});
    return buffer[a];
  };
  auto check = [&](int t, const std::string& when) -> std::string {
    for (int64_t i = 0; i < elements(t); ++i) {
      if (cell(t, i) != expected(expected, t, i)) {
        return "tensor '" + graph.tensors[t].name + "' element " + std::to_string(i) +
               " was overwritten " + when;
      }
    }
    return "";
  };
  for (int t = 0; t < num_tensors; ++t) {
    if (!graph.tensors[t].graph_input) continue;
    for (int64_t i = 0; i < elements(t); ++i) cell(t, i) = Tag{t, i};
  }
  for (int op : order) {
    for (int t : graph.ops[op].inputs) {
      std::string error = check(t, "before operator '" + graph.ops[op].name + "' read it");
      if (!error.empty()) return error;
    }
    if (plan.IsNoOp(op)) continue;
    for (int t : graph.ops[op].outputs) {
      for (int64_t i = 0; i < elements(t); ++i) cell(t, i) = Tag{t, i};
    }
  }
  for (int t = 0; t < num_tensors; ++t) {
    if (!graph.tensors[t].graph_output) continue;
    std::string error = check(t, "before the end (graph output)");
    if (!error.empty()) return error;
  }
  return "";
}

// Peak by direct simulation: at each step, a buffer counts if some tensor in
// it has been written (or is a graph input) and some tensor in it is still to
// be read at this step or later (or is a graph output).
inline uint64_t SimulatePeak(const scheduler::Graph& graph, const scheduler::AliasPlan& plan,
                             const std::vector<int>& order) {
  const int steps = static_cast<int>(order.size());
  uint64_t peak = 0;
  for (int step = 0; step < steps; ++step) {
    uint64_t live = 0;
    for (size_t b = 0; b < plan.memory.buffers.size(); ++b) {
      bool written = false, needed = false;
      for (int t : plan.memory.buffers[b].tensors) {
        const scheduler::GraphTensor& tensor = graph.tensors[t];
        for (int s = 0; s <= step; ++s) {
          const int op = order[s];
          if (tensor.producer == op) written = true;
          if (std::find(tensor.consumers.begin(), tensor.consumers.end(), op) !=
              tensor.consumers.end()) {
            written = true;  // read implies written before (inputs)
          }
        }
        if (tensor.graph_input) written = true;
        if (tensor.graph_output) needed = true;
        for (int s = step; s < steps; ++s) {
          const int op = order[s];
          if (tensor.producer == op ||
              std::find(tensor.consumers.begin(), tensor.consumers.end(), op) !=
                  tensor.consumers.end()) {
            needed = true;
          }
        }
      }
      if (written && needed) live += plan.memory.buffers[b].bytes;
    }
    peak = std::max(peak, live);
  }
  return peak;
}

}  // namespace serenity::rewrite_testing

#endif  // SERENITY_TESTS_SCHEDULER_REWRITE_TEST_MODELS_H_
