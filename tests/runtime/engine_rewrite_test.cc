// The engine with EngineOptions::rewrites (issue 8): the plan it picks runs
// on the XNNPACK kernels and computes what the original model computes
// (oracle: the reference kernels on the model as given), is never larger than
// the order alone, and owns its rewritten model.
//
// Tolerance: |a - b| <= 1e-4 + 1e-4 * |b| (XNNPACK accumulates in float, the
// reference in double, and rewrites reorder additions).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "../../bench/operator_floor.h"
#include "../scheduler/rewrite_test_models.h"
#include "engine_testing.h"
#include "serenity/engine.h"
#include "serenity/kernels/op_kernel.h"
#include "serenity/scheduler/rewrite.h"

namespace serenity {
namespace {

std::vector<std::vector<float>> Inputs(const Model& model) {
  std::vector<std::vector<float>> inputs;
  for (size_t i = 0; i < model.inputs().size(); ++i) {
    const Tensor& tensor = model.tensors()[model.inputs()[i]];
    inputs.push_back(rewrite_testing::Values(tensor.num_elements(), 30.0f + i, 1.0f));
  }
  return inputs;
}

using runtime_testing::RunEngine;

void ExpectClose(const std::vector<std::vector<float>>& actual,
                 const std::vector<std::vector<float>>& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t o = 0; o < actual.size(); ++o) {
    runtime_testing::ExpectCloseTo(actual[o], expected[o], what + " output " + std::to_string(o));
  }
}

struct Case {
  std::string name;
  Model (*make)();
};

class EngineRewriteTest : public ::testing::TestWithParam<int> {};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {"shared_relu", [] { return rewrite_testing::SharedReluNet(16, 8); }},
      {"add_6", [] { return rewrite_testing::AddNNet(6, 16, 8); }},
      {"concat_conv_3x3",
       [] {
         return rewrite_testing::ConcatConvNet({8, 4, 12}, 6, 3, 8);
       }},
      {"concat_conv_1x1_wide",
       [] {
         return rewrite_testing::ConcatConvNet({32, 32, 32, 32}, 8, 1, 8);
       }},
      // Its chain, re-sorted by the final order, peaks lower
      // (RewriteOptions::reorder_chains): rewrite_test's "concat_conv 4".
      {"concat_conv_resorted",
       [] {
         return rewrite_testing::ConcatConvNet({20, 20, 32, 24, 4}, 10, 3, 9);
       }},
      {"concat_relu", [] { return rewrite_testing::ConcatSeparableNet(OpType::kRelu); }},
      {"concat_depthwise", [] { return rewrite_testing::ConcatSeparableNet(OpType::kConv2D); }},
      {"factorized_reduction", [] { return rewrite_testing::FactorizedReductionNet(); }},
      // A Relu over an input a convolution reads too (last-reader in place).
      {"last_reader", [] { return rewrite_testing::LastReaderNet(); }},
  };
  return cases;
}

TEST_P(EngineRewriteTest, SameOutputsAsTheOriginalAndNeverALargerArena) {
  const Case& c = Cases()[GetParam()];
  const Model model = c.make();
  const std::vector<std::vector<float>> inputs = Inputs(model);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();

  EngineOptions options;
  Result<Engine> all = Engine::Create(model, options);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  options.rewrites = false;
  Result<Engine> plain = Engine::Create(model, options);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();

  const ExecutionPlan& plan = all->plan();
  std::printf(
      "[ info ] %s: %s, arena %llu (order alone %llu), %zu rewrites kept, %zu last-reader "
      "in place\n",
      c.name.c_str(), MemoryStrategyName(plan.strategy),
      static_cast<unsigned long long>(plan.memory.arena_bytes),
      static_cast<unsigned long long>(plain->memory().arena_bytes), plan.rewrites_applied.size(),
      plan.last_reader_in_place.size());
  EXPECT_LE(plan.memory.arena_bytes, plain->memory().arena_bytes);
  EXPECT_LE(plan.memory.peak_bytes, plain->memory().peak_bytes);
  EXPECT_EQ(plan.order_peak_bytes, plain->memory().peak_bytes);
  EXPECT_EQ(plan.rewritten_model != nullptr, plan.strategy == MemoryStrategy::kRewrites);
  EXPECT_EQ(plan.rewrites_applied.empty(), plan.strategy != MemoryStrategy::kRewrites);
  EXPECT_EQ(&all->model() == &model, plan.rewritten_model == nullptr);
  // Oracle of the peaks: at its step, every operator's inputs and outputs are
  // in the arena at once (bench/operator_floor.h, from the placements only).
  for (const Engine* engine : {&*all, &*plain}) {
    const bench::OperatorFloor floor = bench::FloorOf(engine->plan(), engine->model());
    EXPECT_GT(floor.bytes, 0u) << c.name;
    EXPECT_LE(floor.bytes, engine->plan().memory.peak_bytes) << c.name << ": " << floor.op;
  }

  ExpectClose(RunEngine(*all, inputs), *reference, c.name + " (" +
                                                 MemoryStrategyName(plan.strategy) + ")");
  ExpectClose(RunEngine(*plain, inputs), *reference, c.name + " (order alone)");
  // Twice: in-place and shared buffers must not leak state between runs.
  ExpectClose(RunEngine(*all, inputs), *reference, c.name + " (second run)");
}

// A plan cache hit runs the recipe replayed on the model (a model built in
// memory, borrowing the original's constants) where the miss ran the
// search's: same graph, same plan, same outputs, bit for bit.
TEST_P(EngineRewriteTest, CacheHitRunsLikeTheMiss) {
  const Case& c = Cases()[GetParam()];
  const Model model = c.make();
  const std::vector<std::vector<float>> inputs = Inputs(model);
  EngineOptions options;
  options.plan_cache_dir = ::testing::TempDir() + "/engine_rewrite_test_" +
                           std::to_string(::getpid()) + "_" + c.name;
  options.plan_cache = PlanCacheMode::kRefresh;
  Result<Engine> miss = Engine::Create(model, options);
  ASSERT_TRUE(miss.ok()) << miss.status().ToString();
  options.plan_cache = PlanCacheMode::kOn;
  Result<Engine> hit = Engine::Create(model, options);
  ASSERT_TRUE(hit.ok()) << hit.status().ToString();
  std::remove(hit->plan().cache.path.c_str());
  std::remove(options.plan_cache_dir.c_str());
  ASSERT_EQ(hit->plan().cache.status, PlanCacheStatus::kHit) << hit->plan().cache.warning;
  EXPECT_EQ(hit->plan().strategy, miss->plan().strategy);
  EXPECT_EQ(hit->model().GraphHash(), miss->model().GraphHash());
  EXPECT_EQ(hit->plan().order, miss->plan().order);
  EXPECT_EQ(hit->memory().arena_bytes, miss->memory().arena_bytes);
  if (miss->plan().rewritten_model != nullptr) {
    EXPECT_NE(&hit->model(), &miss->model());
    EXPECT_EQ(hit->model().bytes(), nullptr);  // replayed, not read from the entry
  }
  // Where the plan partitions a convolution by channels, the hit's partial
  // convolutions borrow their weights as strided rows of the original's
  // (Tensor::row_stride), which the convolution gathers when it packs them:
  // the outputs below must still match the miss's, whose weights are dense.
  int strided = 0;
  for (const Tensor& tensor : hit->model().tensors()) {
    strided += tensor.is_constant() && !tensor.is_dense();
  }
  const auto& applied = hit->plan().rewrites_applied;
  const bool channel_wise = std::any_of(applied.begin(), applied.end(), [](const std::string& r) {
    return r.find("channel-wise") != std::string::npos;
  });
  std::printf("[ info ] %s: %d strided constants\n", c.name.c_str(), strided);
  if (channel_wise) {
    EXPECT_GT(strided, 0);
  }
  EXPECT_EQ(RunEngine(*hit, inputs), RunEngine(*miss, inputs));
}

// Engine::ArenaBuffers against the plan (runtime_testing::ExpectArenaBuffersAgree).
TEST_P(EngineRewriteTest, ArenaBuffersAgreeWithThePlan) {
  const Case& c = Cases()[GetParam()];
  const Model model = c.make();
  for (const bool rewrites : {true, false}) {
    SCOPED_TRACE(c.name + (rewrites ? " with rewrites" : " order alone"));
    EngineOptions options;
    options.rewrites = rewrites;
    Result<ExecutionPlan> plan = Engine::Prepare(model, options);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    runtime_testing::ExpectArenaBuffersAgree(model, *plan);
  }
}

INSTANTIATE_TEST_SUITE_P(Nets, EngineRewriteTest,
                         ::testing::Range(0, static_cast<int>(Cases().size())),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return Cases()[info.param].name;
                         });

// The shifted subsample on the real kernels (Serenity's own depthwise
// convolution and XNNPACK's, 1 and 2 threads): the one-hot convolution
// copies, so the model with it computes the original's outputs bit for bit.
// Oracle: the original model on the same engine options, rewrites off.
TEST(EngineRewriteChoiceTest, ShiftedSubsampleRunsExactlyOnTheRealKernels) {
  std::vector<rewrite_testing::ShiftSpec> specs = rewrite_testing::ShiftSpecs();
  specs.emplace_back();
  specs.back().h = specs.back().w = 12;
  specs.back().channels = 16;
  for (const rewrite_testing::ShiftSpec& spec : specs) {
    const Model model = rewrite_testing::FactorizedReductionNet(spec);
    int pool = -1;
    for (size_t o = 0; o < model.operators().size(); ++o) {
      if (model.operators()[o].name == "path2_pool") pool = static_cast<int>(o);
    }
    Result<Model> shifted = scheduler::ReplaceShiftedSubsample(model, pool);
    ASSERT_TRUE(shifted.ok()) << shifted.status().ToString();
    const std::vector<std::vector<float>> inputs = Inputs(model);
    for (KernelSelection kernels : {KernelSelection::kAuto, KernelSelection::kXnnpack}) {
      for (int threads : {1, 2}) {
        SCOPED_TRACE(testing::Message() << spec.h << "x" << spec.w << " pad " << spec.pad_top
                                        << "," << spec.pad_bottom << " begin " << spec.begin_h
                                        << " stride " << spec.stride << " "
                                        << OpTypeName(spec.pool) << " kernels "
                                        << static_cast<int>(kernels) << " threads " << threads);
        EngineOptions options;
        options.rewrites = false;
        options.kernels = kernels;
        options.threads = threads;
        Result<Engine> original = Engine::Create(model, options);
        ASSERT_TRUE(original.ok()) << original.status().ToString();
        Result<Engine> rewritten = Engine::Create(*shifted, options);
        ASSERT_TRUE(rewritten.ok()) << rewritten.status().ToString();
        EXPECT_EQ(RunEngine(*rewritten, inputs), RunEngine(*original, inputs));
        EXPECT_LT(rewritten->memory().peak_bytes, original->memory().peak_bytes);
      }
    }
  }
  // And the engine's own choice keeps it, and says so.
  const Model model = rewrite_testing::FactorizedReductionNet();
  Result<Engine> engine = Engine::Create(model, EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const auto& applied = engine->plan().rewrites_applied;
  EXPECT_TRUE(std::any_of(applied.begin(), applied.end(), [](const std::string& r) {
    return r.find("shifted-subsample") != std::string::npos;
  })) << ::testing::PrintToString(applied);
}

// Nets where a rewrite must win, with the reason it must: the same Relu twice
// on a wide concat (merging them frees one copy); an 8-input Add whose
// inputs can die one by one (partial sums).
TEST(EngineRewriteChoiceTest, RewritesWinWhereTheyMust) {
  for (const auto& [name, model] :
       {std::make_pair(std::string("shared_relu"), rewrite_testing::SharedReluNet(16, 8)),
        std::make_pair(std::string("add_8"), rewrite_testing::AddNNet(8, 16, 8))}) {
    Result<ExecutionPlan> plan = Engine::Prepare(model, EngineOptions{});
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_EQ(plan->strategy, MemoryStrategy::kRewrites) << name;
    EXPECT_LT(plan->memory.peak_bytes, plan->order_peak_bytes) << name;
    EXPECT_GT(plan->rewrites_peak_bytes, 0u) << name;
    ASSERT_NE(plan->rewritten_model, nullptr) << name;
    EXPECT_NE(plan->graph_hash, plan->source_graph_hash) << name;
    EXPECT_EQ(plan->source_graph_hash, model.GraphHash()) << name;
  }
}

TEST(EngineRewriteChoiceTest, RewritesOffRunsTheModelAsGiven) {
  const Model model = rewrite_testing::AddNNet(8, 16, 8);
  EngineOptions options;
  options.rewrites = false;
  Result<ExecutionPlan> plan = Engine::Prepare(model, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->strategy, MemoryStrategy::kOrder);
  EXPECT_FALSE(plan->aliasing());
  EXPECT_EQ(plan->rewritten_model, nullptr);
  EXPECT_TRUE(plan->rewrites_applied.empty());
  EXPECT_EQ(plan->graph_hash, model.GraphHash());
  EXPECT_EQ(plan->aliasing_peak_bytes, 0u);
}

// The rewritten model lives as long as any plan or engine holds it.
TEST(EngineRewritePlanTest, EnginesOutliveThePlanAndShareItsModel) {
  const Model model = rewrite_testing::SharedReluNet(16, 8);
  const std::vector<std::vector<float>> inputs = Inputs(model);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(model, inputs);
  ASSERT_TRUE(reference.ok());
  std::unique_ptr<Engine> first, second;
  {
    Result<ExecutionPlan> plan = Engine::Prepare(model, EngineOptions{});
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    ASSERT_NE(plan->rewritten_model, nullptr);
    Result<Engine> a = Engine::Create(model, *plan, EngineOptions{});
    Result<Engine> b = Engine::Create(model, std::move(plan).value(), EngineOptions{});
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(&a->model(), &b->model());  // one rewritten model, shared
    first = std::make_unique<Engine>(std::move(a).value());
    second = std::make_unique<Engine>(std::move(b).value());
  }
  ExpectClose(RunEngine(*first, inputs), *reference, "first engine");
  first.reset();
  ExpectClose(RunEngine(*second, inputs), *reference, "second engine");
}

// The rewritten model shares the source model's constants and keeps their
// storage alive: a plan outlives the model it was prepared from, and binds
// to an equal model loaded later (under ASan, a dangling constant fails).
TEST(EngineRewritePlanTest, PlanOutlivesItsSourceModel) {
  for (int net = 0; net < 2; ++net) {
    auto build = [net] {
      return net == 0 ? rewrite_testing::SharedReluNet(16, 8)
                      : rewrite_testing::ConcatConvNet({8, 4, 12}, 6, 3, 8);
    };
    Result<ExecutionPlan> plan = InvalidArgumentError("unset");
    {
      auto source = std::make_unique<Model>(build());
      plan = Engine::Prepare(*source, EngineOptions{});
      ASSERT_TRUE(plan.ok()) << plan.status().ToString();
      ASSERT_NE(plan->rewritten_model, nullptr) << "net " << net;
    }  // the source model is gone; the plan's rewritten model is not
    const Model again = build();
    const std::vector<std::vector<float>> inputs = Inputs(again);
    Result<std::vector<std::vector<float>>> reference =
        kernels::RunModelReference(again, inputs);
    ASSERT_TRUE(reference.ok());
    // The rewritten model's constants are read directly (its graph hash).
    EXPECT_EQ(plan->rewritten_model->GraphHash(), plan->graph_hash);
    Result<Engine> engine = Engine::Create(again, *plan, EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    ExpectClose(RunEngine(*engine, inputs), *reference, "plan of a destroyed model");
  }
}

TEST(EngineRewritePlanTest, RewrittenPlanOfAnotherModelIsRefused) {
  const Model model = rewrite_testing::SharedReluNet(16, 8);
  const Model other = rewrite_testing::SharedReluNet(16, 4);
  Result<ExecutionPlan> plan = Engine::Prepare(model, EngineOptions{});
  ASSERT_TRUE(plan.ok());
  ASSERT_NE(plan->rewritten_model, nullptr);
  Result<Engine> engine = Engine::Create(other, *plan, EngineOptions{});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find("not made for model"), std::string::npos)
      << engine.status().message();
  // A rewritten plan whose model was swapped for another is refused too.
  ExecutionPlan tampered = *plan;
  Result<ExecutionPlan> other_plan = Engine::Prepare(other, EngineOptions{});
  ASSERT_TRUE(other_plan.ok());
  tampered.rewritten_model = other_plan->rewritten_model;
  engine = Engine::Create(model, tampered, EngineOptions{});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace serenity
