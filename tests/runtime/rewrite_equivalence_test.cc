// The rewrites are identities and the aliasing plan is executable: checked
// numerically with the reference kernels.
//
//  1. Each rewrite on small graphs: the rewritten model, run by
//     kernels::RunModelReference, gives the original's outputs.
//  2. Arena execution: every operator runs on the reference kernels with the
//     operand views the runtime would build from an AliasPlan (buffer offset
//     from an arena plan, channel offset, pixel stride), in random orders, in
//     one arena filled with NaN first; no-op Concats and Reshapes are skipped.
//     Outputs must match the original model's.
//  3. Zoo models (SERENITY_ZOO_DIR; ctest's zoo fixture generates them) with
//     every rewrite the measurement keeps: same outputs as without, and the
//     recipe replays to the same model (scheduler::ReplayRewrites).
//  4. Zoo models with every convolution that qualifies run windowed in place
//     (not only those the measurement keeps): those run on the real kernel
//     (kernels::BindOp, output over input in the arena, 1 and 2 threads), the
//     rest on the reference kernels, as in 2.
//
// Tolerance: |a - b| <= 1e-4 + 1e-4 * |b|. The rewrites change only the
// order of float additions (partial sums, partial convolutions); the
// reference kernels accumulate in double.
#include <gtest/gtest.h>
#include <pthreadpool.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../scheduler/rewrite_test_models.h"
#include "serenity/kernels/op_kernel.h"
#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/arena_planner.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"
#include "serenity/scheduler/ordering.h"
#include "serenity/scheduler/rewrite.h"

namespace serenity {
namespace {

using scheduler::AliasPlan;
using scheduler::Graph;

scheduler::AliasCapabilities KernelCapabilities() {
  return scheduler::AliasCapabilities::FromFunction([](OpType type) {
    const kernels::OpCapabilities c = kernels::CapabilitiesOf(type);
    return scheduler::OpAliasCapability{c.strided_input, c.strided_output, c.in_place};
  });
}

std::vector<std::vector<float>> Inputs(const Model& model) {
  std::vector<std::vector<float>> inputs;
  for (size_t i = 0; i < model.inputs().size(); ++i) {
    const Tensor& tensor = model.tensors()[model.inputs()[i]];
    inputs.push_back(rewrite_testing::Values(tensor.num_elements(), 40.0f + i, 1.0f));
  }
  return inputs;
}

void ExpectClose(const std::vector<std::vector<float>>& actual,
                 const std::vector<std::vector<float>>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t o = 0; o < actual.size(); ++o) {
    ASSERT_EQ(actual[o].size(), expected[o].size()) << "output " << o;
    int bad = 0;
    for (size_t i = 0; i < actual[o].size() && bad < 5; ++i) {
      const float a = actual[o][i], b = expected[o][i];
      if (!(std::fabs(a - b) <= 1e-4f + 1e-4f * std::fabs(b))) {
        ADD_FAILURE() << "output " << o << " element " << i << ": " << a << " vs " << b;
        ++bad;
      }
    }
  }
}

// Runs `model` the way the runtime would with `plan`, under `order`: the
// reference kernels, except for windowed in-place convolutions (their output
// overlaps their input, which the reference cannot run), bound with
// kernels::BindOp and run on `pool`.
Result<std::vector<std::vector<float>>> RunInArena(const Model& model, const Graph& graph,
                                                   const AliasPlan& plan,
                                                   const std::vector<int>& order,
                                                   const std::vector<std::vector<float>>& inputs,
                                                   pthreadpool_t pool = nullptr) {
  const std::vector<scheduler::LiveRange> ranges =
      scheduler::ComputeLiveRanges(graph, plan.memory, order);
  std::vector<scheduler::PlanBuffer> buffers;
  for (size_t b = 0; b < plan.memory.buffers.size(); ++b) {
    buffers.push_back({plan.memory.buffers[b].bytes, ranges[b].first, ranges[b].last, 64});
  }
  scheduler::PlanOptions options;
  options.kind = scheduler::PlannerKind::kGreedy;
  SERENITY_ASSIGN_OR_RETURN(scheduler::ArenaPlan arena_plan,
                            scheduler::PlanArena(buffers, options));
  std::vector<float> arena(arena_plan.arena_bytes / sizeof(float) + 16,
                           std::numeric_limits<float>::quiet_NaN());
  std::vector<int> graph_of_model(model.tensors().size(), -1);
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    graph_of_model[graph.tensors[t].model_tensor] = static_cast<int>(t);
  }
  auto view_of = [&](int model_tensor) {
    kernels::OperandView view;
    if (model_tensor < 0) return view;
    const Tensor& tensor = model.tensors()[model_tensor];
    view.shape = tensor.shape;
    if (tensor.is_constant()) {
      view.data = const_cast<float*>(reinterpret_cast<const float*>(tensor.data));
      view.pixel_stride = tensor.shape.empty() ? 1 : tensor.shape.back();
      return view;
    }
    const scheduler::TensorPlacement& p = plan.placements[graph_of_model[model_tensor]];
    const uint64_t byte = arena_plan.offsets[p.buffer] + p.byte_offset;
    view.data = arena.data() + byte / sizeof(float);
    view.pixel_stride = p.pixel_stride;
    return view;
  };
  auto copy = [&](const kernels::OperandView& view, float* dense, bool to_view) {
    const int64_t channels = view.shape.empty() ? 1 : view.shape.back();
    int64_t elements = 1;
    for (int64_t d : view.shape) elements *= d;
    for (int64_t i = 0; i < elements; ++i) {
      float* cell = view.data + (i / channels) * view.pixel_stride + i % channels;
      if (to_view) {
        *cell = dense[i];
      } else {
        dense[i] = *cell;
      }
    }
  };
  for (size_t i = 0; i < model.inputs().size(); ++i) {
    std::vector<float> values = inputs[i];
    copy(view_of(model.inputs()[i]), values.data(), true);
  }
  for (int op : order) {
    if (plan.IsNoOp(op)) continue;
    const Operator& o = model.operators()[op];
    std::vector<kernels::OperandView> in, out;
    for (int t : o.inputs) in.push_back(view_of(t));
    for (int t : o.outputs) out.push_back(view_of(t));
    if (std::binary_search(plan.windowed_convs.begin(), plan.windowed_convs.end(), op)) {
      std::vector<const Tensor*> tensors;
      for (int t : o.inputs) tensors.push_back(t < 0 ? nullptr : &model.tensors()[t]);
      SERENITY_ASSIGN_OR_RETURN(std::unique_ptr<kernels::BoundOp> bound,
                                kernels::BindOp(o, tensors, in, out, pool, o.name));
      SERENITY_RETURN_IF_ERROR(bound->Run(pool));
      continue;
    }
    SERENITY_RETURN_IF_ERROR(kernels::RunReferenceOp(model, op, in, out));
  }
  std::vector<std::vector<float>> outputs;
  for (int t : model.outputs()) {
    const kernels::OperandView view = view_of(t);
    std::vector<float> values(model.tensors()[t].num_elements());
    copy(view, values.data(), false);
    outputs.push_back(std::move(values));
  }
  return outputs;
}

void ExpectArenaRunsMatch(const Model& model, const std::vector<std::vector<float>>& expected,
                          int orders) {
  const Graph graph = scheduler::GraphFromModel(model);
  Result<AliasPlan> plan = scheduler::PlanAliasing(model, graph, KernelCapabilities());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (int seed = 0; seed < orders; ++seed) {
    SCOPED_TRACE("order seed " + std::to_string(seed));
    const std::vector<int> order = rewrite_testing::RandomOrder(graph, seed);
    Result<std::vector<std::vector<float>>> out =
        RunInArena(model, graph, *plan, order, Inputs(model));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ExpectClose(*out, expected);
  }
}

int FindOp(const Model& model, const std::string& name) {
  for (size_t o = 0; o < model.operators().size(); ++o) {
    if (model.operators()[o].name == name) return static_cast<int>(o);
  }
  return -1;
}

// The zoo directory: SERENITY_ZOO_DIR, else ctest's fixture (null: none).
const char* ZooDir() {
  const char* dir = std::getenv("SERENITY_ZOO_DIR");
#ifdef SERENITY_REWRITE_ZOO_DIR
  if (dir == nullptr) dir = SERENITY_REWRITE_ZOO_DIR;
#endif
  return dir;
}

// The zoo models a test runs: SERENITY_REWRITE_ZOO_MODELS (comma-separated)
// when set, else `defaults`.
std::vector<std::string> ZooModelNames(std::vector<std::string> defaults) {
  const char* only = std::getenv("SERENITY_REWRITE_ZOO_MODELS");
  if (only == nullptr) return defaults;
  std::vector<std::string> names;
  const std::string list = only;
  for (size_t start = 0; start <= list.size();) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) names.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return names;
}

void ExpectSameOutputs(const Model& original, const Model& rewritten) {
  Result<std::vector<std::vector<float>>> expected =
      kernels::RunModelReference(original, Inputs(original));
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  Result<std::vector<std::vector<float>>> actual =
      kernels::RunModelReference(rewritten, Inputs(rewritten));
  ASSERT_TRUE(actual.ok()) << actual.status().ToString();
  ExpectClose(*actual, *expected);
  ExpectArenaRunsMatch(original, *expected, 4);
  ExpectArenaRunsMatch(rewritten, *expected, 4);
}

TEST(RewriteEquivalenceTest, ChannelWise) {
  for (int kernel : {1, 3}) {
    for (Activation activation : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
      const Model model = rewrite_testing::ConcatConvNet({4, 2, 6}, 5, kernel, 5, activation);
      for (std::vector<int> order : {std::vector<int>{}, std::vector<int>{2, 0, 1}}) {
        Result<Model> out = scheduler::PartitionChannelWise(model, FindOp(model, "concat"),
                                                            FindOp(model, "mix"), order);
        ASSERT_TRUE(out.ok()) << out.status().ToString();
        ExpectSameOutputs(model, *out);
      }
    }
  }
}

TEST(RewriteEquivalenceTest, KernelWise) {
  for (OpType type : {OpType::kRelu, OpType::kClamp, OpType::kSigmoid, OpType::kHardSwish,
                      OpType::kMaxPool2D, OpType::kAveragePool2D, OpType::kGlobalAveragePool,
                      OpType::kConv2D, OpType::kMul, OpType::kAdd}) {
    SCOPED_TRACE(OpTypeName(type));
    const Model model = rewrite_testing::ConcatSeparableNet(type, {4, 2, 6}, 5);
    Result<Model> out =
        scheduler::PartitionKernelWise(model, FindOp(model, "concat"), FindOp(model, "sep"));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ExpectSameOutputs(model, *out);
  }
}

TEST(RewriteEquivalenceTest, PartialSum) {
  const Model model = rewrite_testing::AddNNet(5);
  for (std::vector<int> order : {std::vector<int>{}, std::vector<int>{4, 2, 0, 3, 1}}) {
    Result<Model> out = scheduler::SplitPartialSum(model, FindOp(model, "sum"), order);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ExpectSameOutputs(model, *out);
  }
}

TEST(RewriteEquivalenceTest, ShiftedSubsample) {
  for (const rewrite_testing::ShiftSpec& spec : rewrite_testing::ShiftSpecs()) {
    SCOPED_TRACE(testing::Message() << spec.h << "x" << spec.w << " pad " << spec.pad_top << ","
                                    << spec.pad_bottom << " begin " << spec.begin_h
                                    << " stride " << spec.stride << " "
                                    << OpTypeName(spec.pool));
    const Model model = rewrite_testing::FactorizedReductionNet(spec);
    Result<Model> out = scheduler::ReplaceShiftedSubsample(model, FindOp(model, "path2_pool"));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ExpectSameOutputs(model, *out);
    // The one-hot convolution copies: its output is the pool's, bit for bit.
    Result<std::vector<std::vector<float>>> expected =
        kernels::RunModelReference(model, Inputs(model));
    Result<std::vector<std::vector<float>>> actual =
        kernels::RunModelReference(*out, Inputs(*out));
    ASSERT_TRUE(expected.ok() && actual.ok());
    EXPECT_EQ(*actual, *expected);
  }
}

TEST(RewriteEquivalenceTest, MergedDuplicatesAndPushedDownConcats) {
  const Model model = rewrite_testing::SharedReluNet(6, 5);
  scheduler::RewriteOptions options;
  options.capabilities = KernelCapabilities();
  Result<scheduler::RewriteResult> result = scheduler::RewriteForMemory(model, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_GT(result->applied_count, 0);
  ExpectSameOutputs(model, result->model);
  // And the push-down forced, whatever it measures: kernel-wise through
  // relu2 and the slice, channel-wise into the convolutions.
  Result<Model> step1 =
      scheduler::PartitionKernelWise(model, FindOp(model, "concat"), FindOp(model, "relu2"));
  ASSERT_TRUE(step1.ok()) << step1.status().ToString();
  Result<Model> step2 =
      scheduler::PartitionKernelWise(*step1, FindOp(*step1, "relu2/concat"), FindOp(*step1, "shift"));
  ASSERT_TRUE(step2.ok()) << step2.status().ToString();
  Result<Model> step3 = scheduler::PartitionChannelWise(*step2, FindOp(*step2, "shift/concat"),
                                                        FindOp(*step2, "reduce"));
  ASSERT_TRUE(step3.ok()) << step3.status().ToString();
  ExpectSameOutputs(model, *step3);
}

TEST(RewriteEquivalenceTest, ArenaExecutionCatchesABadPlan) {
  // The oracle can fail: a plan that puts two live tensors in one buffer.
  const Model model = rewrite_testing::AddNNet(3);
  const Graph graph = scheduler::GraphFromModel(model);
  Result<AliasPlan> plan = scheduler::PlanAliasing(model, graph, KernelCapabilities());
  ASSERT_TRUE(plan.ok());
  AliasPlan bad = *plan;
  int b0 = -1, b1 = -1;
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    if (graph.tensors[t].name == "branch0/y") b0 = static_cast<int>(t);
    if (graph.tensors[t].name == "branch1/y") b1 = static_cast<int>(t);
  }
  ASSERT_GE(b0, 0);
  ASSERT_GE(b1, 0);
  bad.placements[b1] = bad.placements[b0];
  Result<std::vector<std::vector<float>>> expected =
      kernels::RunModelReference(model, Inputs(model));
  ASSERT_TRUE(expected.ok());
  Result<std::vector<std::vector<float>>> out = RunInArena(
      model, graph, bad, rewrite_testing::RandomOrder(graph, 0), Inputs(model));
  ASSERT_TRUE(out.ok());
  bool differs = false;
  for (size_t i = 0; i < (*out)[0].size(); ++i) {
    differs = differs || std::fabs((*out)[0][i] - (*expected)[0][i]) > 1e-3f;
  }
  EXPECT_TRUE(differs);
  EXPECT_NE(rewrite_testing::SimulateContents(model, graph, bad,
                                              rewrite_testing::RandomOrder(graph, 0)),
            "");
}

// The zoo models ctest's runtime_zoo_generate fixture writes.
const std::vector<std::string> kFixtureZooModels = {
    "tiny_branch", "tiny_concat_conv", "tiny_add_chain",  "tiny_all_ops",
    "darts_cifar", "nasnet_cifar",     "amoebanet_cifar", "randwire_ws_c78_32"};

// Calls `test` with each of the zoo models `names`, read from `dir`, one at a
// time, under a trace of its name; a model that is missing or does not load
// is a failure.
void ForEachZooModel(const char* dir, const std::vector<std::string>& names,
                     const std::function<void(const std::string&, const Model*)>& test) {
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const std::string path = std::string(dir) + "/" + name + ".srn";
    if (!std::filesystem::exists(path)) {
      ADD_FAILURE() << path << " missing";
      continue;
    }
    Result<Model> model = Model::Load(path);
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    if (model.ok()) test(name, &*model);
  }
}

TEST(RewriteEquivalenceTest, ZooModelsWithEveryRewrite) {
  const char* dir = ZooDir();
  if (dir == nullptr || !std::filesystem::exists(std::string(dir) + "/tiny_branch.srn")) {
    GTEST_SKIP() << "no zoo (SERENITY_ZOO_DIR, or ctest's runtime_zoo_generate fixture)";
  }
  ForEachZooModel(
      dir, ZooModelNames(kFixtureZooModels), [&](const std::string& name, const Model* model) {
        scheduler::RewriteOptions options;
        options.capabilities = KernelCapabilities();
        // Equivalence, not the peak, is under test: the fast heuristic order.
        options.schedule.algorithm = scheduler::Algorithm::kHeuristic;
        // Bounded so the sanitizer build stays well inside ctest's timeout.
        options.time_limit_seconds = 10;
        Result<scheduler::RewriteResult> result = scheduler::RewriteForMemory(*model, options);
        ASSERT_TRUE(result.ok()) << result.status().ToString();
        // The recipe rebuilds the searched model (what a plan cache hit runs):
        // same graph, names and numbering as the one the builder and the reader
        // made.
        Result<Model> replayed = scheduler::ReplayRewrites(*model, result->recipe);
        ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
        EXPECT_EQ(replayed->GraphHash(), result->model.GraphHash());
        ASSERT_EQ(replayed->tensors().size(), result->model.tensors().size());
        for (size_t t = 0; t < replayed->tensors().size(); ++t) {
          ASSERT_EQ(replayed->tensors()[t].name, result->model.tensors()[t].name) << "tensor " << t;
        }
        ASSERT_EQ(replayed->operators().size(), result->model.operators().size());
        for (size_t o = 0; o < replayed->operators().size(); ++o) {
          ASSERT_EQ(replayed->operators()[o].name, result->model.operators()[o].name) << "op " << o;
        }
        Result<std::vector<std::vector<float>>> expected =
            kernels::RunModelReference(*model, Inputs(*model));
        ASSERT_TRUE(expected.ok()) << expected.status().ToString();
        Result<std::vector<std::vector<float>>> actual =
            RunInArena(result->model, result->graph, result->alias, result->schedule.order,
                       Inputs(result->model));
        ASSERT_TRUE(actual.ok()) << actual.status().ToString();
        ExpectClose(*actual, *expected);
        const long shifted = std::count_if(
            result->recipe.begin(), result->recipe.end(), [](const scheduler::RewriteEdit& edit) {
              return edit.kind == scheduler::RewriteEdit::Kind::kShiftedSubsample;
            });
        std::printf(
            "[ info ] %s: %d rewrites applied (%zu edits, %ld shifted subsamples), peak "
            "%llu -> %llu\n",
            name.c_str(), result->applied_count, result->recipe.size(), shifted,
            (unsigned long long)result->initial_peak_bytes,
            (unsigned long long)result->schedule.peak_bytes);
      });
}

// Every shifted subsample of the NAS zoo models replaced (not only those the
// measurement keeps): the outputs are the original's under the reference
// kernels, bit for bit (the one-hot convolution copies). The models are
// SERENITY_REWRITE_ZOO_MODELS' when set (nasnet_imagenet,amoebanet_imagenet
// for the ImageNet ones, which the zoo fixture does not generate).
TEST(RewriteEquivalenceTest, ZooModelsWithEveryShiftedSubsample) {
  const char* dir = ZooDir();
  if (dir == nullptr || !std::filesystem::exists(std::string(dir) + "/nasnet_cifar.srn")) {
    GTEST_SKIP() << "no zoo (SERENITY_ZOO_DIR, or ctest's runtime_zoo_generate fixture)";
  }
  ForEachZooModel(
      dir, ZooModelNames({"nasnet_cifar", "amoebanet_cifar"}),
      [&](const std::string& name, const Model* model) {
        std::unique_ptr<Model> owned;  // the latest rewrite (Model is move-only)
        const Model* current = model;
        int replaced = 0;
        for (bool progressed = true; progressed;) {
          progressed = false;
          for (size_t o = 0; o < current->operators().size(); ++o) {
            const OpType type = current->operators()[o].type;
            if (type != OpType::kAveragePool2D && type != OpType::kMaxPool2D) continue;
            Result<Model> next = scheduler::ReplaceShiftedSubsample(*current, static_cast<int>(o));
            if (next.ok()) {
              owned = std::make_unique<Model>(std::move(next).value());
              current = owned.get();
              ++replaced;
              progressed = true;
              break;
            }
          }
        }
        const Model& rewritten = *current;
        int pads = 0;
        for (const Operator& op : model->operators()) pads += op.type == OpType::kPad;
        if (name.rfind("nasnet", 0) == 0 || name.rfind("amoebanet", 0) == 0) {
          EXPECT_GT(replaced, 0);
        }
        int pads_left = 0;
        for (const Operator& op : rewritten.operators()) pads_left += op.type == OpType::kPad;
        EXPECT_EQ(pads_left, pads - replaced);
        Result<std::vector<std::vector<float>>> expected =
            kernels::RunModelReference(*model, Inputs(*model));
        ASSERT_TRUE(expected.ok()) << expected.status().ToString();
        Result<std::vector<std::vector<float>>> actual =
            kernels::RunModelReference(rewritten, Inputs(rewritten));
        ASSERT_TRUE(actual.ok()) << actual.status().ToString();
        EXPECT_EQ(*actual, *expected);
        std::printf("[ info ] %s: %d shifted subsamples replaced\n", name.c_str(), replaced);
      });
}

TEST(RewriteEquivalenceTest, ZooModelsWithEveryWindowedConv) {
  scheduler::AliasCapabilities capabilities = KernelCapabilities();
  capabilities[OpType::kConv2D].windowed_max_positions =
      kernels::CapabilitiesOf(OpType::kConv2D).windowed_max_positions;
  if (capabilities[OpType::kConv2D].windowed_max_positions == 0) {
    GTEST_SKIP() << "no windowed in-place convolutions on this CPU or build";
  }
  const char* dir = ZooDir();
  if (dir == nullptr || !std::filesystem::exists(std::string(dir) + "/tiny_branch.srn")) {
    GTEST_SKIP() << "no zoo (SERENITY_ZOO_DIR, or ctest's runtime_zoo_generate fixture)";
  }
  std::unique_ptr<pthreadpool, decltype(&pthreadpool_destroy)> pool(pthreadpool_create(2),
                                                                    pthreadpool_destroy);
  int total = 0;
  ForEachZooModel(dir, kFixtureZooModels, [&](const std::string& name, const Model* model) {
    const Graph graph = scheduler::GraphFromModel(*model);
    scheduler::AliasOptions options;
    options.windowed_convs = scheduler::WindowedConvCandidates(*model, capabilities);
    Result<AliasPlan> plan = scheduler::PlanAliasing(*model, graph, capabilities, options);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    total += static_cast<int>(plan->windowed_convs.size());
    Result<std::vector<std::vector<float>>> expected =
        kernels::RunModelReference(*model, Inputs(*model));
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    for (int seed = 0; seed < 2; ++seed) {
      SCOPED_TRACE("order seed " + std::to_string(seed) + (seed ? ", 2 threads" : ", 1 thread"));
      Result<std::vector<std::vector<float>>> actual =
          RunInArena(*model, graph, *plan, rewrite_testing::RandomOrder(graph, seed),
                     Inputs(*model), seed ? pool.get() : nullptr);
      ASSERT_TRUE(actual.ok()) << actual.status().ToString();
      ExpectClose(*actual, *expected);
    }
    std::printf("[ info ] %s: %zu of %zu candidate convolutions windowed\n", name.c_str(),
                plan->windowed_convs.size(), options.windowed_convs.size());
  });
  EXPECT_GT(total, 100);
}

// Every last-reader in-place operator the zoo models allow (not only those
// the engine keeps): under random orders that keep the plan's order edges,
// the arena run equals the reference; under orders that break one, a reader
// sees the overwritten values (the edges are what makes the plan safe).
TEST(RewriteEquivalenceTest, ZooModelsWithEveryLastReaderInPlace) {
  const char* dir = ZooDir();
  if (dir == nullptr || !std::filesystem::exists(std::string(dir) + "/tiny_branch.srn")) {
    GTEST_SKIP() << "no zoo (SERENITY_ZOO_DIR, or ctest's runtime_zoo_generate fixture)";
  }
  const scheduler::AliasCapabilities capabilities = KernelCapabilities();
  int total = 0, broken_orders = 0, broken_orders_caught = 0;
  ForEachZooModel(dir, kFixtureZooModels, [&](const std::string& name, const Model* model) {
    const Graph graph = scheduler::GraphFromModel(*model);
    scheduler::AliasOptions options;
    options.last_reader_in_place = scheduler::LastReaderInPlaceCandidates(*model, capabilities);
    Result<AliasPlan> plan = scheduler::PlanAliasing(*model, graph, capabilities, options);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    total += static_cast<int>(plan->last_reader_in_place.size());
    Result<std::vector<std::vector<float>>> expected =
        kernels::RunModelReference(*model, Inputs(*model));
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    for (uint32_t seed = 0; seed < 2; ++seed) {
      SCOPED_TRACE("order seed " + std::to_string(seed));
      const std::vector<int> order =
          rewrite_testing::RandomOrder(graph, seed, plan->memory.order_edges);
      ASSERT_TRUE(scheduler::KeepsOrderEdges(plan->memory, order));
      Result<std::vector<std::vector<float>>> actual =
          RunInArena(*model, graph, *plan, order, Inputs(*model));
      ASSERT_TRUE(actual.ok()) << actual.status().ToString();
      ExpectClose(*actual, *expected);
    }
    // An order of the graph alone that breaks an edge.
    for (uint32_t seed = 0; seed < 20; ++seed) {
      const std::vector<int> order = rewrite_testing::RandomOrder(graph, seed);
      if (scheduler::KeepsOrderEdges(plan->memory, order)) continue;
      ++broken_orders;
      Result<std::vector<std::vector<float>>> actual =
          RunInArena(*model, graph, *plan, order, Inputs(*model));
      ASSERT_TRUE(actual.ok()) << actual.status().ToString();
      bool differs = false;
      for (size_t o = 0; o < actual->size(); ++o) {
        for (size_t i = 0; i < (*actual)[o].size() && !differs; ++i) {
          const float a = (*actual)[o][i], b = (*expected)[o][i];
          differs = !(std::fabs(a - b) <= 1e-4f + 1e-4f * std::fabs(b));
        }
      }
      broken_orders_caught += differs ? 1 : 0;
      break;
    }
    std::printf("[ info ] %s: %zu of %zu candidate operators last-reader in place, %zu edges\n",
                name.c_str(), plan->last_reader_in_place.size(),
                options.last_reader_in_place.size(), plan->memory.order_edges.size());
  });
  EXPECT_GT(total, 100);
  EXPECT_GT(broken_orders, 0);
  EXPECT_GT(broken_orders_caught, 0) << "of " << broken_orders;
}

}  // namespace
}  // namespace serenity
