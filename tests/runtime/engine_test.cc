#include "serenity/engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "dense_conv.h"
#include "serenity/kernels/op_kernel.h"
#include "test_models.h"
#include "engine_testing.h"

namespace serenity {
namespace {

using runtime_testing::BranchyNet;
using runtime_testing::BuildModel;
using runtime_testing::TwoInputNet;

// Outputs are compared with this tolerance: XNNPACK accumulates in float in
// its own order, the reference in double.
constexpr double kAbsTolerance = 1e-4;
constexpr double kRelTolerance = 1e-4;

void ExpectClose(const std::vector<float>& actual, const std::vector<float>& expected,
                 const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double tolerance = kAbsTolerance + kRelTolerance * std::fabs(expected[i]);
    if (!(std::fabs(actual[i] - expected[i]) <= tolerance)) {
      if (++bad <= 5) {
        ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", expected "
                      << expected[i];
      }
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << actual.size() << " elements differ";
}

std::vector<std::vector<float>> RandomInputs(const Model& model, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<std::vector<float>> inputs;
  for (int t : model.inputs()) {
    std::vector<float> values(static_cast<size_t>(model.tensors()[t].num_elements()));
    for (float& v : values) v = uniform(random);
    inputs.push_back(std::move(values));
  }
  return inputs;
}

using runtime_testing::RunEngine;

EngineOptions WithScheduler(ScheduleAlgorithm algorithm, int threads = 1) {
  EngineOptions options;
  options.scheduler = algorithm;
  options.threads = threads;
  return options;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<Model> model = BuildModel(BranchyNet());
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = std::make_unique<Model>(std::move(model).value());
  }
  std::unique_ptr<Model> model_;
};

TEST_F(EngineTest, OptimalStoredHeuristicAndReferenceAgree) {
  const auto inputs = RandomInputs(*model_, 7);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(*model_, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  for (ScheduleAlgorithm algorithm :
       {ScheduleAlgorithm::kOptimal, ScheduleAlgorithm::kStored, ScheduleAlgorithm::kHeuristic}) {
    for (int threads : {1, 2}) {
      Result<Engine> engine = Engine::Create(*model_, WithScheduler(algorithm, threads));
      ASSERT_TRUE(engine.ok()) << engine.status().ToString();
      const std::string what = std::string(scheduler::AlgorithmName(algorithm)) + ", " +
                               std::to_string(threads) + " thread(s)";
      EXPECT_EQ(engine->schedule().algorithm, algorithm);
      const auto outputs = RunEngine(*engine, inputs);
      ASSERT_EQ(outputs.size(), reference->size());
      for (size_t o = 0; o < outputs.size(); ++o) {
        ExpectClose(outputs[o], (*reference)[o], what + ", output " + std::to_string(o));
      }
    }
  }
}

TEST_F(EngineTest, OptimalOrderDiffersAndHasSmallerPeak) {
  Result<Engine> optimal = Engine::Create(*model_, WithScheduler(ScheduleAlgorithm::kOptimal));
  Result<Engine> stored = Engine::Create(*model_, WithScheduler(ScheduleAlgorithm::kStored));
  ASSERT_TRUE(optimal.ok()) << optimal.status().ToString();
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_TRUE(optimal->schedule().optimal);
  EXPECT_NE(optimal->plan().order, stored->plan().order);
  std::vector<int> identity(model_->operators().size());
  for (size_t i = 0; i < identity.size(); ++i) identity[i] = static_cast<int>(i);
  EXPECT_EQ(stored->plan().order, identity);

  const MemoryFigures& m = optimal->memory();
  EXPECT_LT(m.peak_bytes, m.stored_order_peak_bytes);
  EXPECT_EQ(stored->memory().peak_bytes, m.stored_order_peak_bytes);
  EXPECT_GE(m.arena_bytes, m.peak_bytes);
  EXPECT_LT(m.arena_bytes, m.baseline_arena_bytes);
  EXPECT_GE(m.baseline_arena_bytes, m.stored_order_peak_bytes);
  EXPECT_EQ(m.baseline_arena_bytes, stored->memory().baseline_arena_bytes);
  EXPECT_EQ(m.weights_bytes, model_->weight_bytes());
  EXPECT_GT(m.packed_weight_bytes, 0u);
  // Three 8x8x32 float branches live at once in the stored order.
  EXPECT_GE(m.stored_order_peak_bytes, 3u * 8 * 8 * 32 * 4);
}

TEST_F(EngineTest, RepeatedInvokeIsDeterministic) {
  Result<Engine> engine = Engine::Create(*model_, EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const auto inputs = RandomInputs(*model_, 3);
  const auto first = RunEngine(*engine, inputs);
  const auto other = RunEngine(*engine, RandomInputs(*model_, 4));
  const auto again = RunEngine(*engine, inputs);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
}

TEST_F(EngineTest, MovedEngineStillRuns) {
  Result<Engine> engine = Engine::Create(*model_, EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const auto inputs = RandomInputs(*model_, 5);
  const auto before = RunEngine(*engine, inputs);
  Engine moved = std::move(engine).value();
  Engine target = std::move(moved);
  EXPECT_EQ(RunEngine(target, inputs), before);
}

struct AlignedArena {
  explicit AlignedArena(size_t bytes, size_t shift = 0)
      : memory(static_cast<uint8_t*>(::operator new(bytes + 128, std::align_val_t{64}))),
        data(memory + shift) {}
  ~AlignedArena() { ::operator delete(memory, std::align_val_t{64}); }
  uint8_t* memory;
  uint8_t* data;
};

TEST_F(EngineTest, CallerArenaOfTheReportedSizeWorks) {
  EngineOptions options;
  Result<uint64_t> needed = Engine::RequiredArenaBytes(*model_, options);
  ASSERT_TRUE(needed.ok()) << needed.status().ToString();
  AlignedArena arena(*needed);
  options.arena = arena.data;
  options.arena_bytes = *needed;
  Result<Engine> engine = Engine::Create(*model_, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ(engine->arena(), arena.data);
  EXPECT_EQ(engine->memory().arena_bytes, *needed);

  // Every input and output lies inside the caller's arena.
  for (int i = 0; i < engine->num_inputs(); ++i) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(engine->input(i)->data);
    EXPECT_GE(p, arena.data);
    EXPECT_LE(p + engine->input(i)->num_elements * 4, arena.data + *needed);
  }
  const auto inputs = RandomInputs(*model_, 11);
  Result<Engine> own = Engine::Create(*model_, EngineOptions{});
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(RunEngine(*engine, inputs), RunEngine(*own, inputs));
}

TEST_F(EngineTest, SmallerCallerArenaIsRefusedWithTheNeededSize) {
  EngineOptions options;
  Result<ExecutionPlan> plan = Engine::Prepare(*model_, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const uint64_t needed = plan->memory.arena_bytes;
  AlignedArena arena(needed);
  options.arena = arena.data;
  options.arena_bytes = needed - 1;
  Result<Engine> engine = Engine::Create(*model_, *plan, options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find(std::to_string(needed)), std::string::npos)
      << engine.status().message();

  // The same plan with the exact size is accepted.
  options.arena_bytes = needed;
  Result<Engine> exact = Engine::Create(*model_, *plan, options);
  EXPECT_TRUE(exact.ok()) << exact.status().ToString();
}

TEST_F(EngineTest, MisalignedCallerArenaIsRefused) {
  EngineOptions options;
  Result<uint64_t> needed = Engine::RequiredArenaBytes(*model_, options);
  ASSERT_TRUE(needed.ok());
  AlignedArena arena(*needed, /*shift=*/4);
  options.arena = arena.data;
  options.arena_bytes = *needed + 64;
  Result<Engine> engine = Engine::Create(*model_, options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find("aligned"), std::string::npos);
}

TEST_F(EngineTest, BadOptionsAreRefused) {
  EngineOptions options;
  options.threads = -2;
  Result<Engine> engine = Engine::Create(*model_, options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);

  options = EngineOptions{};
  options.arena_bytes = 4096;
  engine = Engine::Create(*model_, options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, PlanOfAnotherModelIsRefused) {
  Result<Model> other = BuildModel(TwoInputNet());
  ASSERT_TRUE(other.ok());
  Result<ExecutionPlan> plan = Engine::Prepare(*other, EngineOptions{});
  ASSERT_TRUE(plan.ok());
  Result<Engine> engine = Engine::Create(*model_, *plan, EngineOptions{});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, InputsAndOutputsByIndexAndName) {
  Result<Engine> engine = Engine::Create(*model_, EngineOptions{});
  ASSERT_TRUE(engine.ok());
  ASSERT_EQ(engine->num_inputs(), 1);
  ASSERT_EQ(engine->num_outputs(), 2);

  Result<TensorView> image = engine->input("image");
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->index, 0);
  EXPECT_EQ(image->shape, (std::vector<int64_t>{1, 8, 8, 4}));
  EXPECT_EQ(image->boundary_shape, image->shape);
  EXPECT_EQ(image->num_elements, 256u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(image->data) % 64, 0u);

  Result<TensorView> logits = engine->output(0);
  ASSERT_TRUE(logits.ok());
  EXPECT_EQ(logits->name, "logits");
  EXPECT_EQ(logits->shape, (std::vector<int64_t>{1, 10}));
  Result<TensorView> pooled = engine->output("pooled");
  ASSERT_TRUE(pooled.ok());
  EXPECT_EQ(pooled->index, 1);
  EXPECT_EQ(pooled->shape, (std::vector<int64_t>{1, 4, 4, 8}));

  Result<TensorView> missing = engine->input("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'image'"), std::string::npos)
      << missing.status().message();
  EXPECT_EQ(engine->output("image").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(engine->input(1).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(engine->input(-1).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(engine->output(2).status().code(), StatusCode::kOutOfRange);

  std::vector<float> data(256, 0.5f);
  EXPECT_TRUE(engine->SetInput("image", data.data(), data.size()).ok());
  Status wrong = engine->SetInput(0, data.data(), 255);
  EXPECT_EQ(wrong.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.message().find("[1, 8, 8, 4]"), std::string::npos) << wrong.message();
  EXPECT_EQ(engine->SetInput(0, nullptr, 256).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->SetInput(3, data.data(), 256).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(engine->SetInput("logits", data.data(), 256).code(), StatusCode::kNotFound);
  ASSERT_TRUE(engine->Invoke().ok());
  std::vector<float> out(10);
  EXPECT_TRUE(engine->GetOutput("logits", out.data(), out.size()).ok());
  EXPECT_EQ(engine->GetOutput("logits", out.data(), 9).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->GetOutput(7, out.data(), 10).code(), StatusCode::kOutOfRange);
  // The raw view and the copy agree.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(out[i], logits->data[i]);
}

TEST(EngineMultiInputTest, InputsByNameMatchReference) {
  Result<Model> model = BuildModel(TwoInputNet());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Result<Engine> engine = Engine::Create(*model, EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_EQ(engine->num_inputs(), 2);
  const auto inputs = RandomInputs(*model, 9);
  // Set them by name, in the reverse order.
  ASSERT_TRUE(engine->SetInput("b", inputs[1].data(), inputs[1].size()).ok());
  ASSERT_TRUE(engine->SetInput("a", inputs[0].data(), inputs[0].size()).ok());
  ASSERT_TRUE(engine->Invoke().ok());
  std::vector<float> out(engine->output(0)->num_elements);
  ASSERT_TRUE(engine->GetOutput(0, out.data(), out.size()).ok());
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(*model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  ExpectClose(out, (*reference)[0], "two inputs");
}

// With "serenity.io_layout" = "nchw" the copy helpers take and give NCHW.
TEST(EngineLayoutTest, NchwBoundaryTransposes) {
  Result<Model> plain = BuildModel(BranchyNet());
  Result<Model> nchw = BuildModel(BranchyNet("nchw"));
  ASSERT_TRUE(plain.ok() && nchw.ok());
  Result<Engine> plain_engine = Engine::Create(*plain, EngineOptions{});
  Result<Engine> nchw_engine = Engine::Create(*nchw, EngineOptions{});
  ASSERT_TRUE(plain_engine.ok() && nchw_engine.ok());

  Result<TensorView> image = nchw_engine->input(0);
  EXPECT_EQ(image->layout, BoundaryLayout::kNchw);
  EXPECT_EQ(image->boundary_shape, (std::vector<int64_t>{1, 4, 8, 8}));
  EXPECT_EQ(image->shape, (std::vector<int64_t>{1, 8, 8, 4}));
  EXPECT_EQ(nchw_engine->output(1)->boundary_shape, (std::vector<int64_t>{1, 8, 4, 4}));
  EXPECT_EQ(nchw_engine->output(0)->boundary_shape, (std::vector<int64_t>{1, 10}));

  const auto nhwc_in = RandomInputs(*plain, 21)[0];
  std::vector<float> nchw_in(nhwc_in.size());
  const int H = 8, W = 8, C = 4;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < C; ++c) nchw_in[(c * H + y) * W + x] = nhwc_in[(y * W + x) * C + c];
  const auto plain_out = RunEngine(*plain_engine, {nhwc_in});
  const auto nchw_out = RunEngine(*nchw_engine, {nchw_in});
  EXPECT_EQ(plain_out[0], nchw_out[0]);
  const int h = 4, w = 4, c8 = 8;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < c8; ++c)
        ASSERT_EQ(nchw_out[1][(c * h + y) * w + x], plain_out[1][(y * w + x) * c8 + c]);
}

TEST_F(EngineTest, ProfileCoversEveryOperator) {
  EngineOptions options;
  options.profile = true;
  options.fold_activations = false;  // every operator runs: none is folded away
  Result<Engine> engine = Engine::Create(*model_, options);
  ASSERT_TRUE(engine.ok());
  const auto inputs = RandomInputs(*model_, 1);
  RunEngine(*engine, inputs);
  RunEngine(*engine, inputs);
  EXPECT_EQ(engine->profiled_runs(), 2);
  std::vector<OpProfile> profile = engine->profile();
  ASSERT_EQ(static_cast<int>(profile.size()), engine->num_operators());
  for (size_t i = 0; i < profile.size(); ++i) {
    EXPECT_EQ(profile[i].op, engine->plan().order[i]);
    EXPECT_GE(profile[i].total_ms, 0.0);
  }
  engine->ResetProfile();
  EXPECT_EQ(engine->profiled_runs(), 0);

  Result<Engine> quiet = Engine::Create(*model_, EngineOptions{});
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet->profile().empty());
}

// Two 3x3 convolutions of 32 channels on a 16x16 image: 16 Winograd tiles,
// so kAuto binds the Winograd kernel on x86-64 with AVX2 + FMA.
TEST(EngineKernelSelectionTest, AllSelectionsAgreeWithTheReference) {
  ModelBuilder b("three_by_three");
  const int image = b.AddInput("image", {1, 16, 16, 32});
  const int first =
      runtime_testing::Conv(b, "first", image, 32, 32, 3, 16, 16, Activation::kRelu, 1.0f);
  const int second =
      runtime_testing::Conv(b, "second", first, 32, 40, 3, 16, 16, Activation::kNone, 2.0f);
  b.MarkOutput(second);
  Result<Model> model = BuildModel(b);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const auto inputs = RandomInputs(*model, 5);
  Result<std::vector<std::vector<float>>> reference = kernels::RunModelReference(*model, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  uint64_t packed[3] = {0, 0, 0};
  const KernelSelection selections[3] = {KernelSelection::kAuto, KernelSelection::kDirect,
                                         KernelSelection::kXnnpack};
  for (int k = 0; k < 3; ++k) {
    for (int threads : {1, 2}) {
      EngineOptions options;
      options.kernels = selections[k];
      options.threads = threads;
      Result<Engine> engine = Engine::Create(*model, options);
      ASSERT_TRUE(engine.ok()) << engine.status().ToString();
      const auto outputs = RunEngine(*engine, inputs);
      ASSERT_EQ(outputs.size(), 1u);
      ExpectClose(outputs[0], (*reference)[0],
                  "selection " + std::to_string(k) + ", " + std::to_string(threads) + " threads");
      packed[k] = engine->memory().packed_weight_bytes;
    }
  }
  // Winograd's transformed weights take 36 floats per 3x3 kernel, not 9.
  EXPECT_GE(packed[0], packed[1]);
  if (kernels::DenseConvAvailable()) {
    EXPECT_GT(packed[0], 3 * packed[1]);
  }
}

// The kernels' scratch is one buffer for the whole engine: a chain of
// identical Winograd convolutions needs as much as one of them, not one
// buffer each, and the shared buffer still computes what the reference does.
TEST(EngineKernelSelectionTest, WinogradScratchIsSharedByTheOperators) {
  auto chain = [](int convolutions) {
    ModelBuilder b("chain_of_" + std::to_string(convolutions));
    int tensor = b.AddInput("image", {1, 16, 16, 32});
    for (int i = 0; i < convolutions; ++i) {
      tensor = runtime_testing::Conv(b, "conv" + std::to_string(i), tensor, 32, 32, 3, 16, 16,
                                     Activation::kRelu, 1.0f + static_cast<float>(i));
    }
    b.MarkOutput(tensor);
    return BuildModel(b);
  };
  for (int threads : {1, 2}) {
    uint64_t scratch[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      Result<Model> model = chain(k == 0 ? 1 : 4);
      ASSERT_TRUE(model.ok()) << model.status().ToString();
      const auto inputs = RandomInputs(*model, 11);
      Result<std::vector<std::vector<float>>> reference =
          kernels::RunModelReference(*model, inputs);
      ASSERT_TRUE(reference.ok()) << reference.status().ToString();
      EngineOptions options;
      options.threads = threads;
      // The order alone: with aliasing, the chain's convolutions would run
      // windowed in place (own direct kernel by bands of rows, with scratch
      // of their own), not on Winograd.
      options.rewrites = false;
      Result<Engine> engine = Engine::Create(*model, options);
      ASSERT_TRUE(engine.ok()) << engine.status().ToString();
      ExpectClose(RunEngine(*engine, inputs)[0], (*reference)[0],
                  model->name() + ", " + std::to_string(threads) + " threads");
      scratch[k] = engine->memory().kernel_scratch_bytes;

      options.kernels = KernelSelection::kDirect;  // no Winograd: no scratch
      Result<Engine> direct = Engine::Create(*model, options);
      ASSERT_TRUE(direct.ok()) << direct.status().ToString();
      EXPECT_EQ(direct->memory().kernel_scratch_bytes, 0u);
    }
    EXPECT_EQ(scratch[1], scratch[0]) << threads << " threads";
    if (kernels::DenseConvAvailable()) {
      EXPECT_GT(scratch[0], 0u) << threads << " threads";
    }
  }
}

TEST_F(EngineTest, ThreadsOption) {
  Result<Engine> two = Engine::Create(*model_, WithScheduler(ScheduleAlgorithm::kOptimal, 2));
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->threads(), 2);
  Result<Engine> one = Engine::Create(*model_, EngineOptions{});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->threads(), 1);
}

}  // namespace
}  // namespace serenity
