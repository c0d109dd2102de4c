// Last-reader in-place operators through the engine (scheduler/alias.h,
// ExecutionPlan::last_reader_in_place): on a stem whose output is read by two
// pools and a Relu, the plan runs the Relu over the stem's output once both
// pools have read it. The outputs equal the naive reference kernels on 1 and
// 2 threads; a plan cache hit and a stored plan carry the choice and are
// checked on load: dropping it, naming an operator that is not eligible, or
// an order that runs the Relu before a pool is refused.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine_testing.h"
#include "serenity/engine.h"
#include "serenity/kernels/op_kernel.h"
#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/ordering.h"
#include "test_models.h"

namespace serenity {
namespace {

using runtime_testing::ExpectCloseTo;
using runtime_testing::ExpectStoredPlanRefused;
using runtime_testing::LoadOrDie;
using runtime_testing::NoCacheOptions;
using runtime_testing::Pattern;
using runtime_testing::RunEngine;

int Pool(ModelBuilder& b, OpType type, const std::string& name, int x) {
  const int y = b.AddActivation(name + "/y", {1, 16, 16, 16});
  Pool2DAttrs attrs;
  attrs.filter_h = attrs.filter_w = 2;
  attrs.stride_h = attrs.stride_w = 2;
  b.AddOperator(type, name, {x}, {y}, attrs);
  return y;
}

// image [1,32,32,3] -> stem 3x3 -> [1,32,32,16] (64 KiB), read by
//   max 2x2/2 -> [1,16,16,16], avg 2x2/2 -> [1,16,16,16], relu -> [1,32,32,16];
// relu -> down 1x1/2 -> [1,16,16,16]; out = (max + avg) + down.
ModelBuilder StemPools() {
  ModelBuilder b("stem_pools");
  const int image = b.AddInput("image", {1, 32, 32, 3});
  const int stem = runtime_testing::Conv(b, "stem", image, 3, 16, 3, 32, 32, Activation::kNone,
                                         1.0f);
  const int max = Pool(b, OpType::kMaxPool2D, "max", stem);
  const int avg = Pool(b, OpType::kAveragePool2D, "avg", stem);
  const int relu = b.AddActivation("relu/y", {1, 32, 32, 16});
  b.AddOperator(OpType::kRelu, "relu", {stem}, {relu});
  const int weights = b.AddConstant("down/w", {16, 1, 1, 16}, Pattern(256, 3.0f, 0.3f));
  const int bias = b.AddConstant("down/b", {16}, Pattern(16, 4.0f, 0.1f));
  const int down = b.AddActivation("down/y", {1, 16, 16, 16});
  Conv2DAttrs attrs;
  attrs.stride_h = attrs.stride_w = 2;
  b.AddOperator(OpType::kConv2D, "down", {relu, weights, bias}, {down}, attrs);
  const int pools = b.AddActivation("pools", {1, 16, 16, 16});
  b.AddOperator(OpType::kAdd, "pools", {max, avg}, {pools});
  const int out = b.AddActivation("out", {1, 16, 16, 16});
  b.AddOperator(OpType::kAdd, "out", {pools, down}, {out});
  b.MarkOutput(out);
  return b;
}

int OpIndex(const Model& model, const std::string& name) {
  for (size_t o = 0; o < model.operators().size(); ++o) {
    if (model.operators()[o].name == name) return static_cast<int>(o);
  }
  return -1;
}

bool ReluInPlace() { return kernels::CapabilitiesOf(OpType::kRelu).in_place; }

TEST(LastReaderEngineTest, ReluRunsOverTheStemAfterBothPools) {
  if (!ReluInPlace()) GTEST_SKIP() << "no in-place Relu in this build";
  const Model model = LoadOrDie(StemPools());
  Result<ExecutionPlan> plan = Engine::Prepare(model, NoCacheOptions());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const int relu = OpIndex(model, "relu");
  EXPECT_EQ(plan->last_reader_in_place, std::vector<int>{relu});
  // By hand, in KiB: whatever the order, the stem's output (64) stays live
  // until both pools and the Relu have read it. Apart, the Relu's output (64)
  // is live beside it at the Relu's step, and so is a 16 KiB tensor: a pool's
  // output (sum) when the pools ran first, else the Relu's own output until
  // down (16) has read it: 144. Over the stem's output, after both pools:
  // stem, max, avg (96), relu in place (96), pools = max + avg in place (80),
  // down (64 + 16 + 16 = 96), out in place: 96.
  EXPECT_EQ(plan->memory.peak_bytes, 96u * 1024);
  EXPECT_EQ(plan->memory.arena_bytes, 96u * 1024 + 16);
  // The same aliasing without the Relu over the stem peaks at 144 KiB.
  const scheduler::Graph graph = scheduler::GraphFromModel(model);
  const scheduler::AliasCapabilities capabilities =
      scheduler::AliasCapabilities::FromFunction([](OpType type) {
        const kernels::OpCapabilities c = kernels::CapabilitiesOf(type);
        return scheduler::OpAliasCapability{c.strided_input, c.strided_output, c.in_place, 0};
      });
  Result<scheduler::AliasPlan> apart = scheduler::PlanAliasing(model, graph, capabilities);
  ASSERT_TRUE(apart.ok());
  Result<scheduler::Schedule> apart_order = 
      scheduler::ComputeSchedule(graph, apart->memory, scheduler::ScheduleOptions{});
  ASSERT_TRUE(apart_order.ok());
  EXPECT_EQ(apart_order->peak_bytes, 144u * 1024);
  // Both pools run before the Relu, and the two tensors are one buffer.
  const auto step_of = [&](const std::string& name) {
    return std::find(plan->order.begin(), plan->order.end(), OpIndex(model, name)) -
           plan->order.begin();
  };
  EXPECT_LT(step_of("max"), step_of("relu"));
  EXPECT_LT(step_of("avg"), step_of("relu"));
  const std::vector<Tensor>& tensors = model.tensors();
  int stem = -1, relu_y = -1;
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].name == "stem/y") stem = static_cast<int>(t);
    if (tensors[t].name == "relu/y") relu_y = static_cast<int>(t);
  }
  EXPECT_EQ(plan->placements[stem].offset, plan->placements[relu_y].offset);
  runtime_testing::ExpectArenaBuffersAgree(model, *plan);

  std::mt19937 random(3);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<std::vector<float>> inputs(1, std::vector<float>(32 * 32 * 3));
  for (float& v : inputs[0]) v = uniform(random);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  for (int threads : {1, 2}) {
    EngineOptions options = NoCacheOptions();
    options.threads = threads;
    Result<Engine> engine = Engine::Create(model, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    EXPECT_EQ(engine->plan().last_reader_in_place, std::vector<int>{relu});
    for (int run = 0; run < 2; ++run) {
      ExpectCloseTo(RunEngine(*engine, inputs)[0], (*reference)[0],
                    std::to_string(threads) + " threads, run " + std::to_string(run));
    }
  }
}

TEST(LastReaderEngineTest, CacheHitCarriesTheChoice) {
  if (!ReluInPlace()) GTEST_SKIP() << "no in-place Relu in this build";
  const Model model = LoadOrDie(StemPools());
  const std::string dir = ::testing::TempDir() + "/last_reader_engine_test_" +
                          std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  EngineOptions options = NoCacheOptions();
  options.plan_cache = PlanCacheMode::kOn;
  options.plan_cache_dir = dir;
  Result<ExecutionPlan> miss = Engine::Prepare(model, options);
  ASSERT_TRUE(miss.ok()) << miss.status().ToString();
  EXPECT_EQ(miss->cache.status, PlanCacheStatus::kMiss);
  Result<ExecutionPlan> hit = Engine::Prepare(model, options);
  ASSERT_TRUE(hit.ok()) << hit.status().ToString();
  EXPECT_EQ(hit->cache.status, PlanCacheStatus::kHit);
  EXPECT_FALSE(hit->last_reader_in_place.empty());
  EXPECT_EQ(hit->last_reader_in_place, miss->last_reader_in_place);
  EXPECT_EQ(hit->order, miss->order);
  EXPECT_EQ(hit->memory.peak_bytes, miss->memory.peak_bytes);
  std::filesystem::remove_all(dir);
}

TEST(LastReaderEngineTest, StoredPlanIsCheckedOnLoad) {
  if (!ReluInPlace()) GTEST_SKIP() << "no in-place Relu in this build";
  const Model model = LoadOrDie(StemPools());
  const runtime_testing::StoredRoundTrip trip = runtime_testing::RoundTripStoredPlan(model);
  ASSERT_FALSE(trip.fresh.last_reader_in_place.empty());
  EXPECT_EQ(trip.loaded.last_reader_in_place, trip.fresh.last_reader_in_place);
  const EngineOptions& options = trip.options;
  const StoredPlan& stored = trip.stored;

  auto refused = [&](const StoredPlan& plan, const std::string& what, const std::string& says) {
    ExpectStoredPlanRefused(model, plan, options, what, says);
  };
  const std::string kEntry = "last-reader-in-place";
  const StoredPlan dropped = runtime_testing::WithoutEntry(stored, kEntry);
  ASSERT_LT(dropped.rewrites.size(), stored.rewrites.size());
  refused(dropped, "the entry dropped", "overlap in bytes");

  StoredPlan not_eligible = stored;
  for (auto& entry : not_eligible.rewrites) {
    if (entry.first == kEntry) entry.second.push_back(OpIndex(model, "down"));
  }
  refused(not_eligible, "a convolution listed", "in place after their input's other readers");

  // The Relu moved before the max pool: still a topological order.
  StoredPlan early = stored;
  auto relu = std::find(early.order.begin(), early.order.end(), OpIndex(model, "relu"));
  auto max = std::find(early.order.begin(), early.order.end(), OpIndex(model, "max"));
  ASSERT_LT(max, relu);
  std::rotate(max, relu, relu + 1);
  refused(early, "the Relu before a pool", "before another operator reads that input");
}

}  // namespace
}  // namespace serenity
