// EngineOptions::fold_activations: a Relu or Clamp [0, 6] that is the only
// reader of a Conv2D's output runs as the convolution's fused activation and
// is skipped, whether the plan runs it in place (aliasing) or in a buffer of
// its own (the convolution then writes that buffer, when nothing live in
// between shares a byte with it). Checked against the naive reference and
// against the same plan without folding, on 1 and 2 threads and both kernel
// selections; operators that must not fold (another clamp range, a second
// reader, a graph output) still run; and a hand-made plan whose activation
// output reuses the convolution's input bytes is not folded into a write
// over that input. An Add that is the only reader of a Conv2D's output folds
// into the convolution on the own dense kernel (same sums as the reference
// and the unfolded engine), and not where its output's bytes are still read
// before the Add's step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dense_conv.h"
#include "engine_testing.h"
#include "serenity/engine.h"
#include "serenity/kernels/op_kernel.h"
#include "test_models.h"

namespace serenity {
namespace {

using runtime_testing::BuildModel;
using runtime_testing::Conv;
using runtime_testing::LoadOrDie;
using runtime_testing::Pattern;
using runtime_testing::RunEngine;

int Unary(ModelBuilder& b, OpType type, const std::string& name, int x, std::vector<int64_t> shape,
          float min = 0.0f, float max = 6.0f) {
  const int y = b.AddActivation(name + "/y", std::move(shape));
  if (type == OpType::kClamp) {
    ClampAttrs attrs;
    attrs.min = min;
    attrs.max = max;
    b.AddOperator(type, name, {x}, {y}, attrs);
  } else {
    b.AddOperator(type, name, {x}, {y});
  }
  return y;
}

// image [1,10,10,8] -> conv_a 3x3 -> relu_a -> conv_b 3x3 -> clamp_b [0,6]
//   -> conv_c 1x1 -> clamp_c [-1,1] -> conv_d 3x3 -> {relu_d1, relu_d2} -> add
//   (output "sum"); image -> conv_e 1x1 (output) -> relu_e (output).
// Foldable: relu_a, clamp_b. Not: clamp_c (range), relu_d1 and relu_d2
// (conv_d's output has two readers), relu_e (conv_e's output is a graph
// output).
ModelBuilder FoldNet() {
  ModelBuilder b("fold");
  const std::vector<int64_t> shape8 = {1, 10, 10, 8};
  const std::vector<int64_t> shape16 = {1, 10, 10, 16};
  const int image = b.AddInput("image", shape8);
  const int a = Conv(b, "conv_a", image, 8, 16, 3, 10, 10, Activation::kNone, 1.0f);
  const int ra = Unary(b, OpType::kRelu, "relu_a", a, shape16);
  const int c_b = Conv(b, "conv_b", ra, 16, 16, 3, 10, 10, Activation::kNone, 2.0f);
  const int rb = Unary(b, OpType::kClamp, "clamp_b", c_b, shape16, 0.0f, 6.0f);
  const int c_c = Conv(b, "conv_c", rb, 16, 8, 1, 10, 10, Activation::kNone, 3.0f);
  const int rc = Unary(b, OpType::kClamp, "clamp_c", c_c, shape8, -1.0f, 1.0f);
  const int d = Conv(b, "conv_d", rc, 8, 8, 3, 10, 10, Activation::kNone, 4.0f);
  const int d1 = Unary(b, OpType::kRelu, "relu_d1", d, shape8);
  const int d2 = Unary(b, OpType::kRelu, "relu_d2", d, shape8);
  const int sum = b.AddActivation("sum", shape8);
  b.AddOperator(OpType::kAdd, "add", {d1, d2}, {sum});
  const int e = Conv(b, "conv_e", image, 8, 8, 1, 10, 10, Activation::kNone, 5.0f);
  const int re = Unary(b, OpType::kRelu, "relu_e", e, shape8);
  b.MarkOutput(sum);
  b.MarkOutput(e);
  b.MarkOutput(re);
  return b;
}

EngineOptions NoCache() {
  EngineOptions options;
  options.plan_cache = PlanCacheMode::kOff;
  options.use_stored_plan = false;
  options.profile = true;
  return options;
}

// The engine configurations each test runs: aliasing or not, Serenity's
// kernels or XNNPACK's, 1 or 2 threads, each named for messages.
struct Configuration {
  std::string what;
  EngineOptions options;
};
std::vector<Configuration> Configurations() {
  std::vector<Configuration> configurations;
  for (bool rewrites : {true, false}) {
    for (KernelSelection kernels : {KernelSelection::kAuto, KernelSelection::kXnnpack}) {
      for (int threads : {1, 2}) {
        Configuration config;
        config.what = std::string(rewrites ? "aliasing" : "no aliasing") +
                      (kernels == KernelSelection::kAuto ? ", auto" : ", xnnpack") + ", " +
                      std::to_string(threads) + " threads";
        config.options = NoCache();
        config.options.rewrites = rewrites;
        config.options.kernels = kernels;
        config.options.threads = threads;
        configurations.push_back(std::move(config));
      }
    }
  }
  return configurations;
}

std::vector<std::vector<float>> Inputs(const Model& model) {
  std::vector<std::vector<float>> inputs;
  for (int t : model.inputs()) {
    inputs.push_back(Pattern(static_cast<size_t>(model.tensors()[t].num_elements()), 0.3f, 4.0f));
  }
  return inputs;
}

void ExpectClose(const std::vector<std::vector<float>>& actual,
                 const std::vector<std::vector<float>>& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t o = 0; o < actual.size(); ++o) {
    ASSERT_EQ(actual[o].size(), expected[o].size()) << what;
    int bad = 0;
    for (size_t i = 0; i < actual[o].size() && bad < 5; ++i) {
      if (!(std::fabs(actual[o][i] - expected[o][i]) <= 1e-4 + 1e-4 * std::fabs(expected[o][i]))) {
        ADD_FAILURE() << what << ": output " << o << " element " << i << " is " << actual[o][i]
                      << ", expected " << expected[o][i];
        ++bad;
      }
    }
  }
}

// One configuration's engine without and with folding, checked to run the
// same plan in the same arena.
void CreatePlainAndFolded(const Model& model, const Configuration& config,
                          std::optional<Engine>* plain, std::optional<Engine>* folded) {
  EngineOptions options = config.options;
  options.fold_activations = false;
  Result<Engine> unfolded = Engine::Create(model, options);
  ASSERT_TRUE(unfolded.ok()) << unfolded.status().ToString();
  options.fold_activations = true;
  Result<Engine> with_folds = Engine::Create(model, options);
  ASSERT_TRUE(with_folds.ok()) << with_folds.status().ToString();
  EXPECT_EQ(with_folds->plan().order, unfolded->plan().order) << config.what;
  EXPECT_EQ(with_folds->memory().arena_bytes, unfolded->memory().arena_bytes) << config.what;
  plain->emplace(std::move(unfolded).value());
  folded->emplace(std::move(with_folds).value());
}

std::set<std::string> RunOperators(const Engine& engine) {
  std::set<std::string> names;
  for (const OpProfile& entry : engine.profile()) names.insert(entry.name);
  return names;
}

// Whether the engine's plan runs operator `name` in place: its output at
// its input 0's offset.
bool RunsInPlace(const Model& model, const Engine& engine, const std::string& name) {
  const Model& run =
      engine.plan().rewritten_model != nullptr ? *engine.plan().rewritten_model : model;
  const std::vector<TensorPlacement>& placements = engine.plan().placements;
  for (const Operator& op : run.operators()) {
    if (op.name != name) continue;
    return placements[op.inputs[0]].offset == placements[op.outputs[0]].offset;
  }
  ADD_FAILURE() << name << " is not in the model the plan runs";
  return false;
}

TEST(FoldActivationsTest, FoldsOnlyTheSoleReaderOfAConvOutput) {
  const Model model = LoadOrDie(FoldNet());
  const std::vector<std::vector<float>> inputs = Inputs(model);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  // The activations must matter: conv outputs with both signs and above 6.
  for (const Configuration& config : Configurations()) {
    const std::string& what = config.what;
    const EngineOptions& options = config.options;
    std::optional<Engine> plain, folded;
    ASSERT_NO_FATAL_FAILURE(CreatePlainAndFolded(model, config, &plain, &folded));
    const std::set<std::string> all = RunOperators(*plain);
    const std::set<std::string> run = RunOperators(*folded);
    EXPECT_EQ(all.size(), model.operators().size()) << what;
    // Where the plan runs one in place over its convolution's output
    // (aliasing; which ones depends on the platform's kernels and the
    // order found), it always folds; elsewhere it folds only where its
    // own buffer shares no byte with what is live from the convolution
    // on (NoEarlyWriteOverTheConvolutionsInput checks both cases).
    // Nothing else folds (the loop below).
    int in_place = 0;
    for (const char* name : {"relu_a", "clamp_b"}) {
      if (!RunsInPlace(model, *folded, name)) continue;
      ++in_place;
      EXPECT_EQ(run.count(name), 0u) << what << ": " << name << " runs in place but still runs";
    }
    if (!options.rewrites) {
      EXPECT_EQ(in_place, 0) << what << ": in place without aliasing";
    }
    // Something folds in every configuration here (on x86-64 both run
    // in place under aliasing; on aarch64 neither, and relu_a folds
    // into its own bytes).
    const size_t skipped = all.size() - run.size();
    EXPECT_GE(skipped, std::max<size_t>(1, static_cast<size_t>(in_place))) << what;
    EXPECT_LE(skipped, 2u) << what;
    for (const char* name : {"clamp_c", "relu_d1", "relu_d2", "relu_e", "conv_a", "conv_b",
                             "conv_c", "conv_d", "conv_e", "add"}) {
      EXPECT_EQ(run.count(name), 1u) << what << ": " << name << " does not run";
    }
    const std::vector<std::vector<float>> expected = RunEngine(*plain, inputs);
    ExpectClose(expected, *reference, what + ", not folded vs reference");
    for (int run_index = 0; run_index < 2; ++run_index) {
      const std::vector<std::vector<float>> got = RunEngine(*folded, inputs);
      ExpectClose(got, *reference, what + ", folded vs reference");
      ExpectClose(got, expected, what + ", folded vs not folded");
    }
  }
}

// image [1,10,10,8] -> conv 3x3 -> relu (output). A valid plan may put the
// relu's output over the image, which is dead once the conv has read it;
// writing the relu's output from the conv would then overwrite pixels the
// conv has yet to read.
TEST(FoldActivationsTest, NoEarlyWriteOverTheConvolutionsInput) {
  ModelBuilder b("over_input");
  const int image = b.AddInput("image", {1, 10, 10, 8});
  const int conv = Conv(b, "conv", image, 8, 8, 3, 10, 10, Activation::kNone, 1.0f);
  const int relu = Unary(b, OpType::kRelu, "relu", conv, {1, 10, 10, 8});
  b.MarkOutput(relu);
  const Model model = LoadOrDie(b);
  const std::vector<std::vector<float>> inputs = Inputs(model);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();

  EngineOptions options = NoCache();
  options.rewrites = false;
  Result<ExecutionPlan> plan = Engine::Prepare(model, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->order.size(), 2u);
  const int conv_output = model.operators()[plan->order[0]].outputs[0];
  ASSERT_NE(plan->placements[relu].offset, plan->placements[conv_output].offset);
  // Overlapping the image with the relu's output: the image's last reader is
  // the conv (step 0), the relu's output is written at step 1.
  plan->placements[relu] = plan->placements[image];
  for (int threads : {1, 2}) {
    options.threads = threads;
    Result<Engine> engine = Engine::Create(model, *plan, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_EQ(RunOperators(*engine).count("relu"), 1u) << threads << " threads";
    ExpectClose(RunEngine(*engine, inputs), *reference, std::to_string(threads) + " threads");
  }
  // With the relu's output in bytes of its own, above everything else, the
  // conv writes it directly and the relu folds.
  ExecutionPlan own = *plan;
  own.placements[relu].offset = static_cast<int64_t>(own.memory.arena_bytes);
  own.memory.arena_bytes += 10 * 10 * 8 * sizeof(float);
  for (int threads : {1, 2}) {
    options.threads = threads;
    Result<Engine> engine = Engine::Create(model, own, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_EQ(RunOperators(*engine).count("relu"), 0u) << threads << " threads";
    ExpectClose(RunEngine(*engine, inputs), *reference,
                "own bytes, " + std::to_string(threads) + " threads");
  }
}

int Depthwise(ModelBuilder& b, const std::string& name, int x, int channels, float seed) {
  const int weights = b.AddConstant(name + "/w", {channels, 3, 3, 1},
                                    Pattern(static_cast<size_t>(channels) * 9, seed, 0.5f));
  const int bias = b.AddConstant(name + "/b", {channels}, Pattern(channels, seed + 1, 0.1f));
  const int y = b.AddActivation(name + "/y", {1, 10, 10, channels});
  Conv2DAttrs attrs;
  attrs.pad_top = attrs.pad_bottom = attrs.pad_left = attrs.pad_right = 1;
  attrs.groups = channels;
  b.AddOperator(OpType::kConv2D, name, {x, weights, bias}, {y}, attrs);
  return y;
}

// image [1,10,10,16] -> conv 1x1 -> t; t -> relu_1 -> dw_1 (3x3 depthwise);
// t -> relu_2 -> {dw_2, add}; sum = dw_1 + dw_2 + relu_2 (output).
// relu_1 folds into dw_1 (its only reader); relu_2 has two readers.
TEST(FoldActivationsTest, ReluFoldsIntoTheDepthwiseConvolutionReadingIt) {
  ModelBuilder b("relu_dw");
  const std::vector<int64_t> shape = {1, 10, 10, 16};
  const int image = b.AddInput("image", shape);
  const int t = Conv(b, "conv", image, 16, 16, 1, 10, 10, Activation::kNone, 1.0f);
  const int r1 = Unary(b, OpType::kRelu, "relu_1", t, shape);
  const int d1 = Depthwise(b, "dw_1", r1, 16, 2.0f);
  const int r2 = Unary(b, OpType::kRelu, "relu_2", t, shape);
  const int d2 = Depthwise(b, "dw_2", r2, 16, 3.0f);
  const int sum = b.AddActivation("sum", shape);
  b.AddOperator(OpType::kAdd, "add", {d1, d2, r2}, {sum});
  b.MarkOutput(sum);
  const Model model = LoadOrDie(b);
  const std::vector<std::vector<float>> inputs = Inputs(model);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  for (const Configuration& config : Configurations()) {
    const std::string& what = config.what;
    EngineOptions options = config.options;
    Result<Engine> engine = Engine::Create(model, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    const std::set<std::string> run = RunOperators(*engine);
    // Only Serenity's own depthwise kernel reads through a Relu.
    const bool own = options.kernels == KernelSelection::kAuto &&
                     kernels::CapabilitiesOf(OpType::kConv2D).windowed_max_positions > 0;
    EXPECT_EQ(run.count("relu_1"), own ? 0u : 1u) << what;
    EXPECT_EQ(run.count("relu_2"), 1u) << what;
    for (int run_index = 0; run_index < 2; ++run_index) {
      ExpectClose(RunEngine(*engine, inputs), *reference, what);
    }
  }
}

// image -> relu -> dw (output y); image2 -> conv -> z; y + z (output). In a
// plan that runs relu, conv, dw and puts z over the image (dead after the
// relu), the dw cannot read the image through the relu: the relu runs.
TEST(FoldActivationsTest, NoReluFoldWhenItsInputIsOverwrittenBeforeTheReader) {
  ModelBuilder b("overwritten");
  const std::vector<int64_t> shape = {1, 10, 10, 16};
  const int image = b.AddInput("image", shape);
  const int image2 = b.AddInput("image2", shape);
  const int r = Unary(b, OpType::kRelu, "relu", image, shape);
  const int y = Depthwise(b, "dw", r, 16, 2.0f);
  const int z = Conv(b, "conv", image2, 16, 16, 1, 10, 10, Activation::kNone, 3.0f);
  const int sum = b.AddActivation("sum", shape);
  b.AddOperator(OpType::kAdd, "add", {y, z}, {sum});
  b.MarkOutput(sum);
  const Model model = LoadOrDie(b);
  const std::vector<std::vector<float>> inputs = Inputs(model);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  EngineOptions options = NoCache();
  options.rewrites = false;
  Result<ExecutionPlan> plan = Engine::Prepare(model, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto index_of = [&](const std::string& name) {
    for (size_t o = 0; o < model.operators().size(); ++o) {
      if (model.operators()[o].name == name) return static_cast<int>(o);
    }
    return -1;
  };
  // relu, conv, dw, add; every tensor in bytes of its own, then z over the
  // image.
  plan->order = {index_of("relu"), index_of("conv"), index_of("dw"), index_of("add")};
  const int64_t bytes = 10 * 10 * 16 * sizeof(float);
  int64_t offset = 0;
  for (size_t t = 0; t < model.tensors().size(); ++t) {
    if (model.tensors()[t].is_constant()) continue;
    plan->placements[t].offset = offset;
    plan->placements[t].pixel_stride = 16;
    offset += bytes;
  }
  plan->placements[z] = plan->placements[image];
  plan->memory.arena_bytes = static_cast<uint64_t>(offset);
  for (bool fold : {true, false}) {
    options.fold_activations = fold;
    Result<Engine> engine = Engine::Create(model, *plan, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_EQ(RunOperators(*engine).count("relu"), 1u);
    ExpectClose(RunEngine(*engine, inputs), *reference, fold ? "fold" : "no fold");
  }
  // With z in bytes of its own the relu folds (own depthwise kernel).
  plan->placements[z].offset = offset;
  plan->memory.arena_bytes = static_cast<uint64_t>(offset + bytes);
  options.fold_activations = true;
  Result<Engine> engine = Engine::Create(model, *plan, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  if (kernels::CapabilitiesOf(OpType::kConv2D).windowed_max_positions > 0) {
    EXPECT_EQ(RunOperators(*engine).count("relu"), 0u);
  }
  ExpectClose(RunEngine(*engine, inputs), *reference, "z apart");
}

// image [1,9,11,8] -> conv_p 1x1 (8 -> 20) and conv_q 1x1 (8 -> 20) ->
// add (Relu) -> conv_r 1x1 (20 -> 12) -> sum2 = conv_r + bypass, where
// bypass = conv_s 1x1 (8 -> 12) of the image; sum2 is the output. Each Add
// reads two convolution outputs, each read by that Add alone: it may fold
// into whichever of its convolutions runs second (the other's output is then
// written before it). 20 and 12 channels leave a partial vector at the end
// of every pixel.
ModelBuilder AddNet() {
  ModelBuilder b("add_fold");
  const int image = b.AddInput("image", {1, 9, 11, 8});
  const int p = Conv(b, "conv_p", image, 8, 20, 1, 9, 11, Activation::kNone, 1.0f);
  const int q = Conv(b, "conv_q", image, 8, 20, 1, 9, 11, Activation::kNone, 2.0f);
  const int sum = b.AddActivation("sum", {1, 9, 11, 20});
  b.AddOperator(OpType::kAdd, "add", {p, q}, {sum}, ElementwiseAttrs{Activation::kRelu});
  const int r = Conv(b, "conv_r", sum, 20, 12, 1, 9, 11, Activation::kNone, 3.0f);
  const int bypass = Conv(b, "conv_s", image, 8, 12, 1, 9, 11, Activation::kNone, 4.0f);
  const int sum2 = b.AddActivation("sum2", {1, 9, 11, 12});
  b.AddOperator(OpType::kAdd, "add2", {r, bypass}, {sum2});
  b.MarkOutput(sum2);
  return b;
}

TEST(FoldActivationsTest, AddFoldsIntoTheConvolutionWritingOneAddend) {
  // The sums equal the reference and the unfolded engine's; with the own
  // dense kernel (x86-64 with AVX2 + FMA, not kXnnpack) both Adds fold and
  // do not run, elsewhere both run.
  const Model model = LoadOrDie(AddNet());
  const std::vector<std::vector<float>> inputs = Inputs(model);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  for (const Configuration& config : Configurations()) {
    const std::string& what = config.what;
    const EngineOptions& options = config.options;
    std::optional<Engine> plain, folded;
    ASSERT_NO_FATAL_FAILURE(CreatePlainAndFolded(model, config, &plain, &folded));
    const std::vector<std::vector<float>> plain_out = RunEngine(*plain, inputs);
    const std::vector<std::vector<float>> folded_out = RunEngine(*folded, inputs);
    ExpectClose(plain_out, *reference, what + ", not folded");
    ExpectClose(folded_out, *reference, what + ", folded");
    const std::set<std::string> run = RunOperators(*folded);
    EXPECT_EQ(RunOperators(*plain).size(), model.operators().size()) << what;
    const bool own = kernels::DenseConvAvailable() && options.kernels != KernelSelection::kXnnpack;
    for (const char* name : {"add", "add2"}) {
      EXPECT_EQ(run.count(name), own ? 0u : 1u) << what << ": " << name;
    }
    for (const char* name : {"conv_p", "conv_q", "conv_r", "conv_s"}) {
      EXPECT_EQ(run.count(name), 1u) << what << ": " << name << " does not run";
    }
  }
}

// image [1,h,w,c] -> conv_a and conv_b (kernel x kernel, c -> c, no
// activation) -> add (`activation`) -> sum (output); its inputs, reference
// outputs, and the plan Prepare makes for it without rewrites.
struct TwoConvolutionsAdded {
  std::optional<Model> model;
  int image = -1, sum = -1;
  std::vector<std::vector<float>> inputs, reference;
  EngineOptions options;
  ExecutionPlan plan;

  // `plan` with the sum moved to bytes of its own past the arena's end.
  ExecutionPlan SumInOwnBytes() const {
    ExecutionPlan own = plan;
    own.placements[sum].offset = static_cast<int64_t>(own.memory.arena_bytes);
    own.memory.arena_bytes += model->tensors()[sum].num_bytes();
    return own;
  }
};

void MakeTwoConvolutionsAdded(const std::string& name, int h, int w, int c, int kernel,
                              Activation activation, TwoConvolutionsAdded* net) {
  ModelBuilder b(name);
  net->image = b.AddInput("image", {1, h, w, c});
  const int a = Conv(b, "conv_a", net->image, c, c, kernel, h, w, Activation::kNone, 1.0f);
  const int t = Conv(b, "conv_b", net->image, c, c, kernel, h, w, Activation::kNone, 2.0f);
  net->sum = b.AddActivation("sum", {1, h, w, c});
  b.AddOperator(OpType::kAdd, "add", {a, t}, {net->sum}, ElementwiseAttrs{activation});
  b.MarkOutput(net->sum);
  net->model.emplace(LoadOrDie(b));
  net->inputs = Inputs(*net->model);
  Result<std::vector<std::vector<float>>> reference =
      kernels::RunModelReference(*net->model, net->inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  net->reference = std::move(reference).value();
  net->options = NoCache();
  net->options.rewrites = false;
  Result<ExecutionPlan> plan = Engine::Prepare(*net->model, net->options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->order.size(), 3u);
  net->plan = std::move(plan).value();
}

TEST(FoldActivationsTest, AddFoldsIntoAWinogradConvolution) {
  // 3x3 convolutions of 32 channels (Winograd's shape) whose sum has bytes
  // of its own (a hand-made plan), so the Add may fold into conv_b. With the
  // own kernels it does, on Winograd (kernel scratch: only Winograd takes
  // some) and on the direct kernel alike; the sums equal the reference.
  TwoConvolutionsAdded net;
  ASSERT_NO_FATAL_FAILURE(
      MakeTwoConvolutionsAdded("add_winograd", 16, 16, 32, 3, Activation::kRelu, &net));
  const ExecutionPlan own = net.SumInOwnBytes();
  EngineOptions options = net.options;
  for (KernelSelection kernels : {KernelSelection::kAuto, KernelSelection::kDirect}) {
    for (int threads : {1, 2}) {
      const std::string what = std::string(kernels == KernelSelection::kAuto ? "auto" : "direct") +
                               ", " + std::to_string(threads) + " threads";
      options.kernels = kernels;
      options.threads = threads;
      Result<Engine> engine = Engine::Create(*net.model, own, options);
      ASSERT_TRUE(engine.ok()) << engine.status().ToString();
      ExpectClose(RunEngine(*engine, net.inputs), net.reference, what);
      EXPECT_EQ(RunOperators(*engine).count("add"), kernels::DenseConvAvailable() ? 0u : 1u)
          << what;
      if (kernels::DenseConvAvailable()) {
        EXPECT_EQ(engine->memory().kernel_scratch_bytes > 0, kernels == KernelSelection::kAuto)
            << what << ": Winograd runs only under kAuto";
      }
    }
  }
}

TEST(FoldActivationsTest, NoAddFoldOverTheConvolutionsInput) {
  // image -> conv_a 1x1 and conv_b 1x1 -> add (output). A hand-made plan
  // puts the Add's output on the image's bytes: valid for the Add at its own
  // step (the image is dead by then), not at the second convolution's,
  // which still reads the image. The Add runs; with its output in bytes of
  // its own it folds (on the own dense kernel). (The binding refuses an
  // output over the convolution's own input too: see the next test for a
  // case only the engine's check catches.)
  TwoConvolutionsAdded net;
  ASSERT_NO_FATAL_FAILURE(
      MakeTwoConvolutionsAdded("add_over_input", 6, 7, 8, 1, Activation::kNone, &net));
  ExecutionPlan over = net.plan;
  over.placements[net.sum] = over.placements[net.image];
  const ExecutionPlan own = net.SumInOwnBytes();
  EngineOptions options = net.options;
  for (int threads : {1, 2}) {
    options.threads = threads;
    Result<Engine> engine = Engine::Create(*net.model, over, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_EQ(RunOperators(*engine).count("add"), 1u) << threads << " threads";
    ExpectClose(RunEngine(*engine, net.inputs), net.reference,
                std::to_string(threads) + " threads");
    Result<Engine> folded = Engine::Create(*net.model, own, options);
    ASSERT_TRUE(folded.ok()) << folded.status().ToString();
    EXPECT_EQ(RunOperators(*folded).count("add"), kernels::DenseConvAvailable() ? 0u : 1u)
        << threads << " threads";
    ExpectClose(RunEngine(*folded, net.inputs), net.reference,
                "own bytes, " + std::to_string(threads) + " threads");
  }
}

TEST(FoldActivationsTest, NoAddFoldOverATensorReadBeforeTheAdd) {
  // image -> relu_w -> w; image -> conv_a -> a; image -> conv_b -> t;
  // w -> relu2 (output); add = a + t (output), run in that order: the Add
  // may fold into conv_b (step 2). A hand-made plan gives each tensor bytes
  // of its own except the Add's output, on w's bytes: valid for the Add at
  // step 4 (w's last reader, relu2, runs at step 3), not at conv_b's step.
  // Only the engine's check stands in the way here (conv_b's input, the
  // image, does not overlap the Add's output).
  ModelBuilder b("add_over_live");
  const std::vector<int64_t> shape = {1, 6, 7, 8};
  const int image = b.AddInput("image", shape);
  const int w = Unary(b, OpType::kRelu, "relu_w", image, shape);
  const int a = Conv(b, "conv_a", image, 8, 8, 1, 6, 7, Activation::kNone, 1.0f);
  const int t = Conv(b, "conv_b", image, 8, 8, 1, 6, 7, Activation::kNone, 2.0f);
  const int w2 = Unary(b, OpType::kRelu, "relu2", w, shape);
  const int sum = b.AddActivation("sum", shape);
  b.AddOperator(OpType::kAdd, "add", {a, t}, {sum});
  b.MarkOutput(w2);
  b.MarkOutput(sum);
  const Model model = LoadOrDie(b);
  const std::vector<std::vector<float>> inputs = Inputs(model);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();

  EngineOptions options = NoCache();
  options.rewrites = false;
  Result<ExecutionPlan> plan = Engine::Prepare(model, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ExecutionPlan over = *plan;
  over.order.clear();
  for (const char* name : {"relu_w", "conv_a", "conv_b", "relu2", "add"}) {
    for (size_t o = 0; o < model.operators().size(); ++o) {
      if (model.operators()[o].name == name) over.order.push_back(static_cast<int>(o));
    }
  }
  ASSERT_EQ(over.order.size(), 5u);
  const int64_t bytes = 6 * 7 * 8 * sizeof(float);
  int64_t next = 0;
  for (int tensor : {image, w, a, t, w2}) {
    over.placements[tensor].offset = next;
    over.placements[tensor].pixel_stride = 8;
    next += bytes;
  }
  over.placements[sum] = over.placements[w];
  over.memory.arena_bytes = static_cast<uint64_t>(next);
  over.memory.peak_bytes = static_cast<uint64_t>(next);
  ExecutionPlan own = over;
  own.placements[sum].offset = next;
  own.memory.arena_bytes = own.memory.peak_bytes = static_cast<uint64_t>(next + bytes);
  for (int threads : {1, 2}) {
    options.threads = threads;
    Result<Engine> engine = Engine::Create(model, over, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_EQ(RunOperators(*engine).count("add"), 1u) << threads << " threads";
    ExpectClose(RunEngine(*engine, inputs), *reference, std::to_string(threads) + " threads");
    Result<Engine> folded = Engine::Create(model, own, options);
    ASSERT_TRUE(folded.ok()) << folded.status().ToString();
    EXPECT_EQ(RunOperators(*folded).count("add"), kernels::DenseConvAvailable() ? 0u : 1u)
        << threads << " threads";
    ExpectClose(RunEngine(*folded, inputs), *reference,
                "own bytes, " + std::to_string(threads) + " threads");
  }
}

TEST(FoldActivationsTest, BindRequestRefusesAFusedActivationElsewhere) {
  const Model model = LoadOrDie(FoldNet());
  // Operator 1 is relu_a, a Relu: it takes no fused activation.
  int relu_index = -1, conv_e_index = -1;
  for (size_t o = 0; o < model.operators().size(); ++o) {
    if (model.operators()[o].name == "relu_a") relu_index = static_cast<int>(o);
    if (model.operators()[o].name == "conv_e") conv_e_index = static_cast<int>(o);
  }
  ASSERT_GE(relu_index, 0);
  ASSERT_GE(conv_e_index, 0);
  std::vector<std::vector<float>> storage;
  for (int index : {relu_index, conv_e_index}) {
    const Operator& op = model.operators()[index];
    kernels::BindRequest request;
    request.model = &model;
    request.op_index = index;
    request.fused_activation = Activation::kRelu;
    for (int t : op.inputs) {
      kernels::OperandView view;
      view.shape = model.tensors()[t].shape;
      view.pixel_stride = view.shape.back();
      if (model.tensors()[t].is_constant()) {
        view.data = const_cast<float*>(reinterpret_cast<const float*>(model.tensors()[t].data));
      } else {
        storage.emplace_back(static_cast<size_t>(model.tensors()[t].num_elements()) + 16, 0.0f);
        view.data = storage.back().data();
      }
      request.inputs.push_back(view);
    }
    for (int t : op.outputs) {
      kernels::OperandView view;
      view.shape = model.tensors()[t].shape;
      view.pixel_stride = view.shape.back();
      storage.emplace_back(static_cast<size_t>(model.tensors()[t].num_elements()) + 16, 0.0f);
      view.data = storage.back().data();
      request.outputs.push_back(view);
    }
    Result<std::unique_ptr<kernels::BoundOp>> bound = kernels::BindOp(request);
    if (index == relu_index) {
      ASSERT_FALSE(bound.ok());
      EXPECT_EQ(bound.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(bound.status().message().find("relu_a"), std::string::npos)
          << bound.status().message();
    } else {
      EXPECT_TRUE(bound.ok()) << bound.status().ToString();
    }
  }
}

}  // namespace
}  // namespace serenity
