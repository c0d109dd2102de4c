// Windowed in-place convolutions through the engine (scheduler/alias.h,
// ExecutionPlan::windowed_convs): on a two-conv stem whose peak is an input
// and its convolution's output live together, the plan runs both convs over
// their inputs, the peak drops to the stem output alone, and the outputs
// equal the naive reference and the plan without aliasing, on 1 and 2
// threads. A stored plan carries them and is checked on load: dropping the
// windowed entry, naming an operator that is not a Conv2D, or moving an
// input closer to its conv's output is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine_testing.h"
#include "serenity/engine.h"
#include "serenity/kernels/op_kernel.h"
#include "serenity/scheduler/alias.h"
#include "test_models.h"

namespace serenity {
namespace {

using runtime_testing::BuildModel;
using runtime_testing::ExpectCloseTo;
using runtime_testing::ExpectStoredPlanRefused;
using runtime_testing::LoadOrDie;
using runtime_testing::NoCacheOptions;
using runtime_testing::Pattern;
using runtime_testing::RunEngine;

int StridedConv(ModelBuilder& b, const std::string& name, int x, int in_channels,
                int out_channels, int h, int w, float seed) {
  const int fan_in = in_channels * 9;
  const int weights = b.AddConstant(
      name + "/w", {out_channels, 3, 3, in_channels},
      Pattern(static_cast<size_t>(out_channels) * fan_in, seed, 1.5f / std::sqrt(fan_in)));
  const int bias = b.AddConstant(name + "/b", {out_channels}, Pattern(out_channels, seed + 1));
  const int y = b.AddActivation(name + "/y", {1, h, w, out_channels});
  Conv2DAttrs attrs;
  attrs.stride_h = attrs.stride_w = 2;
  attrs.pad_top = attrs.pad_bottom = attrs.pad_left = attrs.pad_right = 1;
  attrs.activation = Activation::kRelu;
  b.AddOperator(OpType::kConv2D, name, {x, weights, bias}, {y}, attrs);
  return y;
}

// image [1,64,64,3] -> stem1 3x3/2 -> [1,32,32,24] -> stem2 3x3/2 -> [1,16,16,48]
ModelBuilder StemNet() {
  ModelBuilder b("stem");
  const int image = b.AddInput("image", {1, 64, 64, 3});
  const int stem1 = StridedConv(b, "stem1", image, 3, 24, 32, 32, 1.0f);
  const int stem2 = StridedConv(b, "stem2", stem1, 24, 48, 16, 16, 3.0f);
  b.MarkOutput(stem2);
  return b;
}

bool Windowed() { return kernels::CapabilitiesOf(OpType::kConv2D).windowed_max_positions > 0; }

TEST(WindowedConvEngineTest, StemRunsInPlaceAndComputesTheReference) {
  const Model model = LoadOrDie(StemNet());
  Result<ExecutionPlan> plan = Engine::Prepare(model, NoCacheOptions());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  if (!Windowed()) {
    EXPECT_TRUE(plan->windowed_convs.empty());
    GTEST_SKIP() << "no windowed in-place capability on this CPU or build";
  }
  EXPECT_EQ(plan->windowed_convs, (std::vector<int>{0, 1}));
  // Without: image + stem1 = 48 KiB + 96 KiB at both steps. With: one buffer
  // of stem1's 96 KiB, the image 48384 bytes above stem1's start (rounded up
  // to the alignment), stem2 at its start.
  EXPECT_EQ(plan->order_peak_bytes, 147456u);
  EXPECT_EQ(plan->memory.peak_bytes, 98304u);
  const std::vector<Tensor>& tensors = model.tensors();
  int image = -1, stem1 = -1, stem2 = -1;
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].name == "image") image = static_cast<int>(t);
    if (tensors[t].name == "stem1/y") stem1 = static_cast<int>(t);
    if (tensors[t].name == "stem2/y") stem2 = static_cast<int>(t);
  }
  ASSERT_GE(image, 0);
  // max over e = 1..31 of e * 3072 - (2e - 1) * 768, a multiple of 64.
  EXPECT_EQ(plan->placements[image].offset - plan->placements[stem1].offset, 48384);
  EXPECT_EQ(plan->placements[stem2].offset, plan->placements[stem1].offset);

  std::mt19937 random(5);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<std::vector<float>> inputs(1, std::vector<float>(64 * 64 * 3));
  for (float& v : inputs[0]) v = uniform(random);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  EngineOptions plain = NoCacheOptions();
  plain.rewrites = false;
  Result<Engine> unaliased = Engine::Create(model, plain);
  ASSERT_TRUE(unaliased.ok()) << unaliased.status().ToString();
  EXPECT_TRUE(unaliased->plan().windowed_convs.empty());
  const std::vector<float> expected = RunEngine(*unaliased, inputs)[0];
  ExpectCloseTo(expected, (*reference)[0], "without aliasing vs reference");
  for (int threads : {1, 2}) {
    EngineOptions options = NoCacheOptions();
    options.threads = threads;
    Result<Engine> engine = Engine::Create(model, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    // Each conv's band of output rows: 10 rows of 3072 bytes (at most 32 KiB),
    // in the kernels' shared scratch, outside the arena.
    EXPECT_EQ(engine->memory().kernel_scratch_bytes, 30720u);
    // Twice: each run overwrites the input, which SetInput writes again.
    for (int run = 0; run < 2; ++run) {
      const std::vector<float> got = RunEngine(*engine, inputs)[0];
      const std::string what = std::to_string(threads) + " threads, run " + std::to_string(run);
      ExpectCloseTo(got, (*reference)[0], what + " vs reference");
      ExpectCloseTo(got, expected, what + " vs without aliasing");
    }
  }
}

TEST(WindowedConvEngineTest, StoredPlanIsCheckedOnLoad) {
  if (!Windowed()) GTEST_SKIP() << "no windowed in-place capability on this CPU or build";
  const Model model = LoadOrDie(StemNet());
  const runtime_testing::StoredRoundTrip trip = runtime_testing::RoundTripStoredPlan(model);
  ASSERT_FALSE(trip.fresh.windowed_convs.empty());
  EXPECT_EQ(trip.loaded.windowed_convs, trip.fresh.windowed_convs);
  const EngineOptions& options = trip.options;
  const StoredPlan& stored = trip.stored;

  auto refused = [&](const StoredPlan& plan, const std::string& what) {
    ExpectStoredPlanRefused(model, plan, options, what);
  };
  const StoredPlan dropped = runtime_testing::WithoutEntry(stored, "windowed-conv");
  ASSERT_LT(dropped.rewrites.size(), stored.rewrites.size());
  refused(dropped, "the windowed entry dropped");

  StoredPlan not_a_conv = stored;
  for (auto& entry : not_a_conv.rewrites) {
    if (entry.first == "windowed-conv") entry.second.push_back(7);
  }
  refused(not_a_conv, "an operator that does not exist");

  // The image one alignment step closer to stem1's output.
  StoredPlan closer = stored;
  const std::vector<Tensor>& tensors = model.tensors();
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].name == "image") closer.tensor_offsets[t] -= 64;
  }
  refused(closer, "the input moved closer");
}

}  // namespace
}  // namespace serenity
