// The plan cache and stored (ahead-of-time) plans, through Engine::Prepare:
// miss then hit, off, refresh; every kind of bad entry ignored, recomputed
// and rewritten; an unusable location never failing; processes racing on one
// entry; stored plans used, skipped or refused.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "plan_cache.h"
#include "plan_cache_generated.h"
#include "serenity/engine.h"
#include "test_models.h"

namespace serenity {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

bool Exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

Model LoadOrDie(ModelBuilder builder) {
  Result<std::vector<uint8_t>> bytes = builder.Finish();
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  Result<Model> model = Model::FromBuffer(bytes->data(), bytes->size(), "test");
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

// A second, different model: the branchy net with another stored order.
ModelBuilder OtherNet() {
  ModelBuilder b("other");
  const int x = b.AddInput("x", {1, 4, 4, 2});
  const int y = runtime_testing::Conv(b, "c0", x, 2, 6, 1, 4, 4, Activation::kRelu, 3.0f);
  const int z = runtime_testing::Conv(b, "c1", y, 6, 3, 3, 4, 4, Activation::kNone, 4.0f);
  b.MarkOutput(z);
  return b;
}

class PlanCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/plan_cache_test_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
    options_.plan_cache_dir = dir_;
  }
  void TearDown() override { EXPECT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0); }

  std::string EntryOf(const Model& model, const EngineOptions& options) const {
    return plan_cache::EntryPath(dir_, model.GraphHash(), PlanningOptionsHash(options));
  }

  ExecutionPlan PrepareOrDie(const Model& model, const EngineOptions& options) {
    Result<ExecutionPlan> plan = Engine::Prepare(model, options);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? std::move(plan).value() : ExecutionPlan{};
  }

  // A bad entry is ignored with a warning naming `reason`, the plan is
  // recomputed, and the entry rewritten: the next Prepare hits.
  void ExpectIgnoredAndRewritten(const Model& model, const std::string& reason) {
    const ExecutionPlan plan = PrepareOrDie(model, options_);
    EXPECT_EQ(plan.cache.status, PlanCacheStatus::kMiss);
    EXPECT_NE(plan.cache.warning.find("ignored"), std::string::npos) << plan.cache.warning;
    EXPECT_NE(plan.cache.warning.find(reason), std::string::npos) << plan.cache.warning;
    EXPECT_EQ(plan.order, fresh_.order);
    const ExecutionPlan again = PrepareOrDie(model, options_);
    EXPECT_EQ(again.cache.status, PlanCacheStatus::kHit);
    EXPECT_TRUE(again.cache.warning.empty()) << again.cache.warning;
  }

  // The plan without any cache, to compare with.
  void Fresh(const Model& model) {
    EngineOptions off = options_;
    off.plan_cache = PlanCacheMode::kOff;
    fresh_ = PrepareOrDie(model, off);
  }

  std::string dir_;
  EngineOptions options_;
  ExecutionPlan fresh_;
};

void ExpectSamePlan(const ExecutionPlan& a, const ExecutionPlan& b) {
  EXPECT_EQ(a.graph_hash, b.graph_hash);
  EXPECT_EQ(a.order, b.order);
  ASSERT_EQ(a.placements.size(), b.placements.size());
  for (size_t t = 0; t < a.placements.size(); ++t) {
    EXPECT_EQ(a.placements[t].offset, b.placements[t].offset) << "tensor " << t;
    EXPECT_EQ(a.placements[t].pixel_stride, b.placements[t].pixel_stride) << "tensor " << t;
  }
  EXPECT_EQ(a.memory.arena_bytes, b.memory.arena_bytes);
  EXPECT_EQ(a.memory.peak_bytes, b.memory.peak_bytes);
  EXPECT_EQ(a.memory.baseline_arena_bytes, b.memory.baseline_arena_bytes);
  EXPECT_EQ(a.memory.stored_order_peak_bytes, b.memory.stored_order_peak_bytes);
  EXPECT_EQ(a.schedule.algorithm, b.schedule.algorithm);
  EXPECT_EQ(a.schedule.optimal, b.schedule.optimal);
  EXPECT_EQ(a.arena.at_peak, b.arena.at_peak);
}

// The same Relu twice on a wide concat: merging the duplicates must pay, so
// the plan runs a rewritten model.
Model SharedReluNet() {
  ModelBuilder b("shared_relu");
  const int x = b.AddInput("x", {1, 8, 8, 4});
  std::vector<int> branches;
  for (int i = 0; i < 3; ++i) {
    branches.push_back(runtime_testing::Conv(b, "branch" + std::to_string(i), x, 4, 16, 1, 8, 8,
                                             Activation::kNone, 2.0f + i));
  }
  const int c = b.AddActivation("cat", {1, 8, 8, 48});
  b.AddOperator(OpType::kConcat, "concat", branches, {c}, ConcatAttrs{3});
  const int r1 = b.AddActivation("relu1", {1, 8, 8, 48});
  b.AddOperator(OpType::kRelu, "relu1", {c}, {r1});
  const int r2 = b.AddActivation("relu2", {1, 8, 8, 48});
  b.AddOperator(OpType::kRelu, "relu2", {c}, {r2});
  const int y1 = runtime_testing::Conv(b, "head1", r1, 48, 8, 1, 8, 8, Activation::kNone, 7.0f);
  const int y2 = runtime_testing::Conv(b, "head2", r2, 48, 8, 1, 8, 8, Activation::kNone, 8.0f);
  const int sum = b.AddActivation("sum", {1, 8, 8, 8});
  b.AddOperator(OpType::kAdd, "sum", {y1, y2}, {sum});
  b.MarkOutput(sum);
  return LoadOrDie(std::move(b));
}

std::vector<float> RunOnce(const Model& model, const ExecutionPlan& plan,
                           const EngineOptions& options) {
  std::vector<float> input(8 * 8 * 4);
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(i % 13) / 7.0f - 0.8f;
  Result<Engine> engine = Engine::Create(model, plan, options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  if (!engine.ok()) return {};
  EXPECT_TRUE(engine->SetInput(0, input.data(), input.size()).ok());
  EXPECT_TRUE(engine->Invoke().ok());
  std::vector<float> output(engine->output(0)->num_elements);
  EXPECT_TRUE(engine->GetOutput(0, output.data(), output.size()).ok());
  return output;
}

// A plan that runs a rewritten model: the entry carries the rewrite recipe,
// not the model (none of its weights); a hit replays it to the same graph
// (same hash, same plan) and runs to the same outputs.
TEST_F(PlanCacheTest, RewrittenPlansRoundTripAsARecipe) {
  const Model model = SharedReluNet();
  Fresh(model);
  ASSERT_EQ(fresh_.strategy, MemoryStrategy::kRewrites);
  ASSERT_NE(fresh_.rewritten_model, nullptr);
  const ExecutionPlan first = PrepareOrDie(model, options_);
  EXPECT_EQ(first.cache.status, PlanCacheStatus::kMiss);
  const ExecutionPlan hit = PrepareOrDie(model, options_);
  ASSERT_EQ(hit.cache.status, PlanCacheStatus::kHit) << hit.cache.warning;
  EXPECT_TRUE(hit.cache.warning.empty()) << hit.cache.warning;
  ASSERT_NE(hit.rewritten_model, nullptr);
  EXPECT_NE(hit.rewritten_model, first.rewritten_model);
  EXPECT_EQ(hit.rewritten_model->GraphHash(), fresh_.rewritten_model->GraphHash());
  EXPECT_EQ(hit.graph_hash, fresh_.graph_hash);
  EXPECT_EQ(hit.strategy, MemoryStrategy::kRewrites);
  EXPECT_EQ(hit.rewrites_applied, fresh_.rewrites_applied);
  EXPECT_EQ(hit.copy_concats, fresh_.copy_concats);
  EXPECT_EQ(hit.memory.weights_bytes, fresh_.memory.weights_bytes);
  ExpectSamePlan(hit, fresh_);
  // The miss, the hit and the plan without the cache compute the same.
  const std::vector<float> expected = RunOnce(model, fresh_, options_);
  EXPECT_EQ(RunOnce(model, first, options_), expected);
  EXPECT_EQ(RunOnce(model, hit, options_), expected);

  // No weight of the model is in the entry: head1's weights are 1.5 KiB
  // that a stored model would hold verbatim.
  const std::string entry = ReadAll(first.cache.path);
  const Tensor* weights = nullptr;
  for (const Tensor& t : model.tensors()) {
    if (t.name == "head1/w") weights = &t;
  }
  ASSERT_NE(weights, nullptr);
  const std::string weight_bytes(reinterpret_cast<const char*>(weights->data),
                                 weights->data_bytes);
  EXPECT_EQ(entry.find(weight_bytes), std::string::npos);
  EXPECT_LT(entry.size(), model.weight_bytes());
  Result<plan_cache::RecipePlan> decoded = plan_cache::DeserializePlan(
      reinterpret_cast<const uint8_t*>(entry.data()), entry.size(), model.GraphHash(),
      PlanningOptionsHash(options_));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_FALSE(decoded->recipe.empty());
  EXPECT_EQ(decoded->plan.rewritten_model, nullptr);
}

// An entry whose recipe does not fit the model (a tensor it does not have,
// an edit of the wrong form or of no known kind, edits missing) is ignored
// with a warning and planned again; and so is one whose recipe is on a plan
// that runs the model as given.
TEST_F(PlanCacheTest, DamagedRecipesAreIgnored) {
  const Model model = SharedReluNet();
  Fresh(model);
  ASSERT_EQ(PrepareOrDie(model, options_).cache.status, PlanCacheStatus::kMiss);
  const std::string good = ReadAll(EntryOf(model, options_));
  Result<plan_cache::RecipePlan> decoded = plan_cache::DeserializePlan(
      reinterpret_cast<const uint8_t*>(good.data()), good.size(), model.GraphHash(),
      PlanningOptionsHash(options_));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_FALSE(decoded->recipe.empty());
  auto write = [&](const plan_cache::RecipePlan& entry) {
    const std::vector<uint8_t> bytes =
        plan_cache::SerializePlan(entry, model.GraphHash(), PlanningOptionsHash(options_));
    WriteAll(EntryOf(model, options_), std::string(bytes.begin(), bytes.end()));
  };
  using Kind = scheduler::RewriteEdit::Kind;

  plan_cache::RecipePlan missing_tensor = *decoded;
  missing_tensor.recipe.back().first = static_cast<int>(model.tensors().size()) + 1000;
  write(missing_tensor);
  ExpectIgnoredAndRewritten(model, "rewrite recipe does not apply");

  plan_cache::RecipePlan wrong_form = *decoded;
  for (scheduler::RewriteEdit& edit : wrong_form.recipe) {
    if (edit.kind == Kind::kMergeDuplicate) {
      edit.kind = Kind::kKernelWise;  // two Relus: no concat
    } else {
      edit.kind = Kind::kMergeDuplicate;
      edit.order.clear();
    }
  }
  write(wrong_form);
  ExpectIgnoredAndRewritten(model, "rewrite recipe does not apply");

  plan_cache::RecipePlan unknown_kind = *decoded;
  unknown_kind.recipe.front().kind = static_cast<Kind>(9);
  write(unknown_kind);
  ExpectIgnoredAndRewritten(model, "unknown kind");

  // No edits: the replay is the model as given, which the plan does not fit.
  plan_cache::RecipePlan no_edits = *decoded;
  no_edits.recipe.clear();
  write(no_edits);
  ExpectIgnoredAndRewritten(model, "ignored");

  // A recipe on a plan that runs no rewritten model.
  flatbuffers::FlatBufferBuilder fbb;
  auto order = fbb.CreateVector(std::vector<uint32_t>(fresh_.order.begin(), fresh_.order.end()));
  auto placements = fbb.CreateVectorOfStructs(std::vector<plan_fb::Placement>(
      model.tensors().size(), plan_fb::Placement(-1, 0)));
  auto edits = fbb.CreateVectorOfStructs(
      std::vector<plan_fb::RewriteEdit>{plan_fb::RewriteEdit(0, 1, 2, 0)});
  auto edit_orders = fbb.CreateVector(std::vector<int32_t>{});
  plan_fb::PlanBuilder plan(fbb);
  plan.add_graph_hash(model.GraphHash());
  plan.add_source_graph_hash(model.GraphHash());
  plan.add_strategy(static_cast<uint8_t>(MemoryStrategy::kOrder));
  plan.add_order(order);
  plan.add_placements(placements);
  plan.add_rewrite_edits(edits);
  plan.add_rewrite_orders(edit_orders);
  auto plan_table = plan.Finish();
  auto version = fbb.CreateString(VersionString());
  plan_fb::FinishCacheEntryBuffer(
      fbb, plan_fb::CreateCacheEntry(fbb, kPlanFormatVersion, model.GraphHash(),
                                     PlanningOptionsHash(options_), version, plan_table));
  WriteAll(EntryOf(model, options_),
           std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()));
  ExpectIgnoredAndRewritten(model, "recipe but its plan runs the model as given");
}

TEST_F(PlanCacheTest, MissThenHitGivesTheSamePlanAndRuns) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  Fresh(model);
  const ExecutionPlan first = PrepareOrDie(model, options_);
  EXPECT_EQ(first.cache.status, PlanCacheStatus::kMiss);
  EXPECT_EQ(first.cache.path, EntryOf(model, options_));
  EXPECT_TRUE(first.cache.warning.empty()) << first.cache.warning;
  EXPECT_TRUE(Exists(first.cache.path));
  const ExecutionPlan second = PrepareOrDie(model, options_);
  EXPECT_EQ(second.cache.status, PlanCacheStatus::kHit);
  EXPECT_EQ(second.cache.path, first.cache.path);
  ExpectSamePlan(second, fresh_);
  EXPECT_EQ(second.schedule.states, first.schedule.states);

  // The cached plan runs and gives the fresh plan's outputs.
  Result<Engine> cached = Engine::Create(model, second, options_);
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  EngineOptions off = options_;
  off.plan_cache = PlanCacheMode::kOff;
  Result<Engine> reference = Engine::Create(model, off);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  const std::vector<float> image = runtime_testing::Pattern(8 * 8 * 4, 9.0f, 1.0f);
  for (Engine* engine : {&*cached, &*reference}) {
    ASSERT_TRUE(engine->SetInput(0, image.data(), image.size()).ok());
    ASSERT_TRUE(engine->Invoke().ok());
  }
  std::vector<float> a(10), b(10);
  ASSERT_TRUE(cached->GetOutput(0, a.data(), a.size()).ok());
  ASSERT_TRUE(reference->GetOutput(0, b.data(), b.size()).ok());
  EXPECT_EQ(a, b);
}

TEST_F(PlanCacheTest, OffNeitherReadsNorWrites) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  options_.plan_cache = PlanCacheMode::kOff;
  const ExecutionPlan plan = PrepareOrDie(model, options_);
  EXPECT_EQ(plan.cache.status, PlanCacheStatus::kOff);
  EXPECT_TRUE(plan.cache.path.empty());
  EXPECT_FALSE(Exists(dir_));
}

TEST_F(PlanCacheTest, RefreshPlansAgainAndRewrites) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  Fresh(model);
  ASSERT_EQ(PrepareOrDie(model, options_).cache.status, PlanCacheStatus::kMiss);
  const std::string path = EntryOf(model, options_);
  WriteAll(path, "stale");
  options_.plan_cache = PlanCacheMode::kRefresh;
  const ExecutionPlan refreshed = PrepareOrDie(model, options_);
  EXPECT_EQ(refreshed.cache.status, PlanCacheStatus::kRefreshed);
  EXPECT_TRUE(refreshed.cache.warning.empty()) << "refresh does not read the entry";
  EXPECT_NE(ReadAll(path), "stale");
  options_.plan_cache = PlanCacheMode::kOn;
  const ExecutionPlan hit = PrepareOrDie(model, options_);
  EXPECT_EQ(hit.cache.status, PlanCacheStatus::kHit);
  ExpectSamePlan(hit, fresh_);
}

TEST_F(PlanCacheTest, EveryPlanningOptionIsInTheKey) {
  const EngineOptions base;
  const uint64_t hash = PlanningOptionsHash(base);
  EngineOptions o = base;
  o.scheduler = ScheduleAlgorithm::kHeuristic;
  EXPECT_NE(PlanningOptionsHash(o), hash);
  o = base;
  o.schedule_time_limit_seconds = 3;
  EXPECT_NE(PlanningOptionsHash(o), hash);
  o = base;
  o.arena_time_limit_seconds = 3;
  EXPECT_NE(PlanningOptionsHash(o), hash);
  o = base;
  o.rewrites = !o.rewrites;
  EXPECT_NE(PlanningOptionsHash(o), hash);
  o = base;
  o.rewrite_work_limit = base.rewrite_work_limit / 2;
  EXPECT_NE(PlanningOptionsHash(o), hash);
  o = base;
  o.rewrite_work_limit = 0;
  EXPECT_NE(PlanningOptionsHash(o), hash);
  o = base;
  o.arena_node_limit = base.arena_node_limit / 2;
  EXPECT_NE(PlanningOptionsHash(o), hash);
  o = base;
  o.rewrite_time_limit_seconds = 3;
  EXPECT_NE(PlanningOptionsHash(o), hash);
  o = base;
  o.schedule_memory_limit_bytes = base.schedule_memory_limit_bytes / 2;
  EXPECT_NE(PlanningOptionsHash(o), hash);
  // Not planning options.
  o = base;
  o.threads = 4;
  o.profile = true;
  o.plan_cache_dir = "/elsewhere";
  EXPECT_EQ(PlanningOptionsHash(o), hash);

  // Two option sets, two entries.
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  ASSERT_EQ(PrepareOrDie(model, options_).cache.status, PlanCacheStatus::kMiss);
  EngineOptions stored = options_;
  stored.scheduler = ScheduleAlgorithm::kStored;
  const ExecutionPlan plan = PrepareOrDie(model, stored);
  EXPECT_EQ(plan.cache.status, PlanCacheStatus::kMiss);
  EXPECT_EQ(plan.schedule.algorithm, ScheduleAlgorithm::kStored);
  EXPECT_NE(plan.cache.path, EntryOf(model, options_));
}

// A plan that a wall-clock limit cut short depends on the machine's load at
// that moment: its entry is provisional, and the next Prepare plans again
// instead of using it; a plan made without the cut is final and hits.
TEST_F(PlanCacheTest, WallClockCutPlansAreProvisionalAndPlannedAgain) {
  const Model model = SharedReluNet();  // a rewrite site: the search has trials
  // Shorter than the rewrite search's first measurement: cut before its
  // first trial on any machine.
  EngineOptions cut = options_;
  cut.rewrite_time_limit_seconds = 1e-9;
  const ExecutionPlan first = PrepareOrDie(model, cut);
  EXPECT_EQ(first.cache.status, PlanCacheStatus::kMiss);
  EXPECT_TRUE(first.rewrite_time_limited);
  EXPECT_TRUE(first.time_limited());
  EXPECT_TRUE(first.cache.provisional);
  ASSERT_TRUE(Exists(EntryOf(model, cut)));

  // Not a hit: the search runs again (and is cut again: the entry stays
  // provisional, and the plan is never worse than the one stored).
  const ExecutionPlan second = PrepareOrDie(model, cut);
  EXPECT_EQ(second.cache.status, PlanCacheStatus::kRetried);
  EXPECT_TRUE(second.cache.provisional);
  EXPECT_LE(second.memory.arena_bytes, first.memory.arena_bytes);
  EXPECT_GT(second.rewrite_time_ms, 0.0) << "planned again, not read back";

  // The entry's flags round-trip: a provisional entry read back by the
  // deserialiser says which search was cut.
  const std::string bytes = ReadAll(EntryOf(model, cut));
  Result<plan_cache::RecipePlan> entry = plan_cache::DeserializePlan(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), model.GraphHash(),
      PlanningOptionsHash(cut));
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();
  EXPECT_TRUE(entry->plan.rewrite_time_limited);
  EXPECT_TRUE(entry->plan.time_limited());

  // Replace the provisional entry with one whose search ran to completion
  // (written by hand under the cut options' key): it is final and hits.
  EngineOptions off = options_;
  off.plan_cache = PlanCacheMode::kOff;
  Result<ExecutionPlan> complete = Engine::Prepare(model, off);
  ASSERT_TRUE(complete.ok());
  ASSERT_FALSE(complete->time_limited());
  EXPECT_GT(complete->rewrite_work, 0u);
  EXPECT_FALSE(complete->rewrite_out_of_work);
  EngineOptions refresh = options_;
  refresh.plan_cache = PlanCacheMode::kRefresh;
  const ExecutionPlan refreshed = PrepareOrDie(model, refresh);
  EXPECT_FALSE(refreshed.cache.provisional);
  const ExecutionPlan hit = PrepareOrDie(model, options_);
  EXPECT_EQ(hit.cache.status, PlanCacheStatus::kHit);
  EXPECT_FALSE(hit.time_limited());
  EXPECT_FALSE(hit.cache.provisional);
  EXPECT_EQ(hit.rewrite_work, complete->rewrite_work);
  ExpectSamePlan(hit, *complete);
}

// A cut search whose retry finds a smaller arena replaces the entry; one
// that finds none leaves it. Either way the smaller plan runs.
TEST_F(PlanCacheTest, ARetryKeepsTheSmallerArena) {
  const Model model = SharedReluNet();
  EngineOptions cut = options_;
  cut.rewrite_time_limit_seconds = 1e-9;
  const ExecutionPlan cut_plan = PrepareOrDie(model, cut);
  ASSERT_TRUE(cut_plan.cache.provisional);
  // The complete search's entry (a refresh under the default options),
  // stored by hand as provisional under the cut options' key: it must win
  // the retry, its arena being smaller (merging the duplicate Relus pays).
  EngineOptions refresh = options_;
  refresh.plan_cache = PlanCacheMode::kRefresh;
  const ExecutionPlan complete = PrepareOrDie(model, refresh);
  ASSERT_FALSE(complete.time_limited());
  ASSERT_EQ(complete.strategy, MemoryStrategy::kRewrites);
  ASSERT_LT(complete.memory.arena_bytes, cut_plan.memory.arena_bytes);
  const std::string complete_bytes = ReadAll(EntryOf(model, options_));
  Result<plan_cache::RecipePlan> stored = plan_cache::DeserializePlan(
      reinterpret_cast<const uint8_t*>(complete_bytes.data()), complete_bytes.size(),
      model.GraphHash(), PlanningOptionsHash(options_));
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  stored->plan.rewrite_time_limited = true;  // as if cut, yet better
  const std::vector<uint8_t> entry =
      plan_cache::SerializePlan(*stored, model.GraphHash(), PlanningOptionsHash(cut));
  WriteAll(EntryOf(model, cut), std::string(entry.begin(), entry.end()));

  const ExecutionPlan retried = PrepareOrDie(model, cut);
  EXPECT_EQ(retried.cache.status, PlanCacheStatus::kRetried);
  EXPECT_TRUE(retried.cache.warning.empty()) << retried.cache.warning;
  EXPECT_EQ(retried.memory.arena_bytes, complete.memory.arena_bytes) << "the stored plan runs";
  EXPECT_EQ(retried.strategy, MemoryStrategy::kRewrites);
  EXPECT_TRUE(retried.cache.provisional);
  EXPECT_EQ(ReadAll(EntryOf(model, cut)), std::string(entry.begin(), entry.end()))
      << "a worse retry does not replace the entry";
}

TEST_F(PlanCacheTest, CorruptEntryIsIgnored) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  Fresh(model);
  ASSERT_EQ(PrepareOrDie(model, options_).cache.status, PlanCacheStatus::kMiss);
  std::string bytes = ReadAll(EntryOf(model, options_));
  ASSERT_GT(bytes.size(), 64u);
  // Scribble over the middle (vtables, offsets, vectors).
  for (size_t i = 8; i < bytes.size(); i += 3) bytes[i] = static_cast<char>(0xA5 ^ bytes[i]);
  WriteAll(EntryOf(model, options_), bytes);
  ExpectIgnoredAndRewritten(model, EntryOf(model, options_));
}

TEST_F(PlanCacheTest, TruncatedEntryIsIgnored) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  Fresh(model);
  ASSERT_EQ(PrepareOrDie(model, options_).cache.status, PlanCacheStatus::kMiss);
  const std::string bytes = ReadAll(EntryOf(model, options_));
  WriteAll(EntryOf(model, options_), bytes.substr(0, bytes.size() / 2));
  ExpectIgnoredAndRewritten(model, "verification");
  WriteAll(EntryOf(model, options_), "");
  ExpectIgnoredAndRewritten(model, "0 bytes");
}

TEST_F(PlanCacheTest, ForeignFileIsIgnored) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  Fresh(model);
  ASSERT_EQ(PrepareOrDie(model, options_).cache.status, PlanCacheStatus::kMiss);
  // A .srn model where the entry should be: identifier SRN1, not SRNP.
  WriteAll(EntryOf(model, options_),
           std::string(reinterpret_cast<const char*>(model.bytes()), model.size_bytes()));
  ExpectIgnoredAndRewritten(model, "identifier");
  // A directory in its place cannot be read, nor replaced: no failure either.
  ASSERT_EQ(std::remove(EntryOf(model, options_).c_str()), 0);
  ASSERT_EQ(::mkdir(EntryOf(model, options_).c_str(), 0700), 0);
  const ExecutionPlan plan = PrepareOrDie(model, options_);
  EXPECT_NE(plan.cache.warning.find("not a regular file"), std::string::npos)
      << plan.cache.warning;
  EXPECT_NE(plan.cache.warning.find("cannot write"), std::string::npos) << plan.cache.warning;
  EXPECT_EQ(plan.order, fresh_.order);
}

TEST_F(PlanCacheTest, StaleEntriesAreIgnored) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  const Model other = LoadOrDie(OtherNet());
  Fresh(model);
  // Another model's entry under this model's name.
  ASSERT_EQ(PrepareOrDie(other, options_).cache.status, PlanCacheStatus::kMiss);
  ::mkdir(dir_.c_str(), 0700);
  WriteAll(EntryOf(model, options_), ReadAll(EntryOf(other, options_)));
  ExpectIgnoredAndRewritten(model, "another model");

  // An entry made with other options under this name.
  EngineOptions heuristic = options_;
  heuristic.scheduler = ScheduleAlgorithm::kHeuristic;
  ASSERT_EQ(PrepareOrDie(model, heuristic).cache.status, PlanCacheStatus::kMiss);
  WriteAll(EntryOf(model, options_), ReadAll(EntryOf(model, heuristic)));
  ExpectIgnoredAndRewritten(model, "other planning options");

  // Another plan format version, otherwise right.
  flatbuffers::FlatBufferBuilder fbb;
  const std::string good = ReadAll(EntryOf(model, options_));
  const plan_fb::CacheEntry* entry =
      plan_fb::GetCacheEntry(reinterpret_cast<const uint8_t*>(good.data()));
  const plan_fb::Plan* p = entry->plan();
  auto order = fbb.CreateVector(p->order()->data(), p->order()->size());
  auto placements = fbb.CreateVectorOfStructs(
      reinterpret_cast<const plan_fb::Placement*>(p->placements()->Data()), p->placements()->size());
  auto packed = plan_fb::CreatePlan(
      fbb, p->graph_hash(), order, placements, p->algorithm(), p->optimal(),
      p->lower_bound_bytes(), p->schedule_time_ms(), p->states(), p->arena_at_peak(),
      p->arena_time_ms(), p->arena_bytes(), p->peak_bytes(), p->baseline_arena_bytes(),
      p->stored_order_peak_bytes(), p->weights_bytes());
  auto version = fbb.CreateString("0.0.1");
  plan_fb::FinishCacheEntryBuffer(
      fbb, plan_fb::CreateCacheEntry(fbb, kPlanFormatVersion + 1, entry->model_hash(),
                                     entry->options_hash(), version, packed));
  WriteAll(EntryOf(model, options_),
           std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()));
  ExpectIgnoredAndRewritten(model, "plan format version");
}

// Entries whose key is right but whose plan is not valid for the model: the
// independent checks (topological order, arena validator, peak) catch them.
TEST_F(PlanCacheTest, InvalidPlansAreIgnored) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  Fresh(model);
  const uint64_t model_hash = model.GraphHash();
  const uint64_t options_hash = PlanningOptionsHash(options_);
  ::mkdir(dir_.c_str(), 0700);
  auto write = [&](const ExecutionPlan& plan) {
    const std::vector<uint8_t> bytes =
        plan_cache::SerializePlan({plan, {}}, model_hash, options_hash);
    WriteAll(EntryOf(model, options_), std::string(bytes.begin(), bytes.end()));
  };

  ExecutionPlan reversed = fresh_;
  std::reverse(reversed.order.begin(), reversed.order.end());
  write(reversed);
  ExpectIgnoredAndRewritten(model, "topological");

  ExecutionPlan stacked = fresh_;
  for (TensorPlacement& p : stacked.placements) {
    if (p.offset >= 0) p.offset = 0;
  }
  write(stacked);
  ExpectIgnoredAndRewritten(model, "overlap");

  ExecutionPlan small = fresh_;
  small.memory.arena_bytes = 64;
  write(small);
  ExpectIgnoredAndRewritten(model, "outside the arena");

  ExecutionPlan huge = fresh_;
  huge.memory.arena_bytes = uint64_t{1} << 40;
  write(huge);
  ExpectIgnoredAndRewritten(model, "side by side");

  ExecutionPlan lying = fresh_;
  lying.memory.peak_bytes /= 2;
  write(lying);
  ExpectIgnoredAndRewritten(model, "peak");

  ExecutionPlan short_plan = fresh_;
  short_plan.placements.pop_back();
  write(short_plan);
  ExpectIgnoredAndRewritten(model, "tensors");

  ExecutionPlan strided = fresh_;
  for (TensorPlacement& p : strided.placements) {
    if (p.offset >= 0) p.pixel_stride += 1;
  }
  write(strided);
  ExpectIgnoredAndRewritten(model, "stride");
}

TEST_F(PlanCacheTest, UnwritableLocationRunsWithoutTheCache) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  Fresh(model);
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  // Under a regular file: no directory can exist there, even for root.
  WriteAll(dir_ + "/file", "x");
  options_.plan_cache_dir = dir_ + "/file/cache";
  const ExecutionPlan plan = PrepareOrDie(model, options_);
  EXPECT_EQ(plan.cache.status, PlanCacheStatus::kOff);
  EXPECT_NE(plan.cache.warning.find("cannot write"), std::string::npos) << plan.cache.warning;
  EXPECT_NE(plan.cache.warning.find("running without the cache"), std::string::npos);
  EXPECT_EQ(plan.cache.warning.find('\n'), std::string::npos);
  ExpectSamePlan(plan, fresh_);
  Result<Engine> engine = Engine::Create(model, options_);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
}

TEST_F(PlanCacheTest, DefaultLocationFollowsXdgThenHome) {
  const char* saved_xdg = std::getenv("XDG_CACHE_HOME");
  const char* saved_home = std::getenv("HOME");
  const std::string xdg = saved_xdg ? saved_xdg : "", home = saved_home ? saved_home : "";
  ::setenv("XDG_CACHE_HOME", (dir_ + "/xdg").c_str(), 1);
  EXPECT_EQ(DefaultPlanCacheDir(), dir_ + "/xdg/serenity");
  ::setenv("XDG_CACHE_HOME", "relative/ignored", 1);
  ::setenv("HOME", (dir_ + "/home").c_str(), 1);
  EXPECT_EQ(DefaultPlanCacheDir(), dir_ + "/home/.cache/serenity");

  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  options_.plan_cache_dir.clear();
  const ExecutionPlan plan = PrepareOrDie(model, options_);
  EXPECT_EQ(plan.cache.status, PlanCacheStatus::kMiss);
  EXPECT_EQ(plan.cache.path.rfind(dir_ + "/home/.cache/serenity/", 0), 0u) << plan.cache.path;

  ::unsetenv("XDG_CACHE_HOME");
  ::unsetenv("HOME");
  EXPECT_EQ(DefaultPlanCacheDir(), "");
  const ExecutionPlan nowhere = PrepareOrDie(model, options_);
  EXPECT_EQ(nowhere.cache.status, PlanCacheStatus::kOff);
  EXPECT_NE(nowhere.cache.warning.find("no location"), std::string::npos);
  if (saved_xdg) ::setenv("XDG_CACHE_HOME", xdg.c_str(), 1);
  if (saved_home) ::setenv("HOME", home.c_str(), 1);
}

// Processes that plan the same model at once, some rewriting the entry on
// every load (refresh), some reading it: a reader must never meet a
// half-written entry (it would report it as corrupt in the warning).
TEST_F(PlanCacheTest, ConcurrentProcessesNeverSeeAHalfWrittenEntry) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  Fresh(model);
  constexpr int kProcesses = 6;
  constexpr int kLoads = 40;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int failures = 0;
      EngineOptions options = options_;
      for (int i = 0; i < kLoads; ++i) {
        options.plan_cache = (p + i) % 2 ? PlanCacheMode::kRefresh : PlanCacheMode::kOn;
        Result<ExecutionPlan> plan = Engine::Prepare(model, options);
        if (!plan.ok() || !plan->cache.warning.empty() || plan->order != fresh_.order ||
            plan->memory.arena_bytes != fresh_.memory.arena_bytes) {
          std::fprintf(stderr, "process %d load %d: %s\n", p, i,
                       plan.ok() ? plan->cache.warning.c_str()
                                 : plan.status().ToString().c_str());
          ++failures;
        }
      }
      std::fflush(stderr);
      ::_exit(failures == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << pid;
  }
  // No temporary file left behind.
  int entries = 0;
  const std::string listing = dir_ + "/listing";
  ASSERT_EQ(std::system(("ls '" + dir_ + "' > '" + listing + "'").c_str()), 0);
  std::istringstream names(ReadAll(listing));
  for (std::string name; std::getline(names, name);) {
    if (name == "listing") continue;
    EXPECT_EQ(name, EntryOf(model, options_).substr(dir_.size() + 1));
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

// ---- stored (ahead-of-time) plans ----

Model WithStoredPlan(const Model& model, const StoredPlan& plan) {
  ModelBuilder builder = ModelBuilder::FromModel(model);
  builder.SetPlan(plan);
  return LoadOrDie(std::move(builder));
}

TEST_F(PlanCacheTest, StoredPlanLoadsWithNoSearchAndNoCache) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  Fresh(model);
  const Model planned = WithStoredPlan(model, ToStoredPlan(fresh_, options_));
  const ExecutionPlan plan = PrepareOrDie(planned, options_);
  EXPECT_EQ(plan.cache.status, PlanCacheStatus::kStoredPlan);
  EXPECT_STREQ(PlanCacheStatusName(plan.cache.status), "aot");
  EXPECT_EQ(plan.schedule.states, 0u);
  ExpectSamePlan(plan, fresh_);
  EXPECT_FALSE(Exists(dir_)) << "a stored plan leaves the cache alone";
  Result<Engine> engine = Engine::Create(planned, plan, options_);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();

  // Other planning options: the stored plan does not apply; planned at load.
  EngineOptions heuristic = options_;
  heuristic.scheduler = ScheduleAlgorithm::kHeuristic;
  EXPECT_EQ(PrepareOrDie(planned, heuristic).cache.status, PlanCacheStatus::kMiss);
  // Asked to ignore it.
  EngineOptions ignore = options_;
  ignore.use_stored_plan = false;
  ignore.plan_cache = PlanCacheMode::kOff;
  EXPECT_EQ(PrepareOrDie(planned, ignore).cache.status, PlanCacheStatus::kOff);
}

TEST_F(PlanCacheTest, StoredPlanOfAnotherGraphIsRefused) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  const Model other = LoadOrDie(OtherNet());
  EngineOptions off = options_;
  off.plan_cache = PlanCacheMode::kOff;
  const ExecutionPlan other_plan = PrepareOrDie(other, off);
  // Splice the other model's plan into this one.
  const Model spliced = WithStoredPlan(model, ToStoredPlan(other_plan, options_));
  Result<ExecutionPlan> plan = Engine::Prepare(spliced, options_);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(plan.status().message().find("another graph"), std::string::npos)
      << plan.status().message();
  EXPECT_FALSE(Engine::Create(spliced, options_).ok());
  // Unless told to ignore stored plans.
  EngineOptions ignore = options_;
  ignore.use_stored_plan = false;
  EXPECT_TRUE(Engine::Prepare(spliced, ignore).ok());
}

TEST_F(PlanCacheTest, InvalidStoredPlanIsRefused) {
  const Model model = LoadOrDie(runtime_testing::BranchyNet());
  Fresh(model);
  StoredPlan stacked = ToStoredPlan(fresh_, options_);
  for (uint64_t& offset : stacked.tensor_offsets) {
    if (offset != ~uint64_t{0}) offset = 0;
  }
  Result<ExecutionPlan> plan = Engine::Prepare(WithStoredPlan(model, stacked), options_);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(plan.status().message().find("not valid"), std::string::npos);
  EXPECT_NE(plan.status().message().find("overlap"), std::string::npos)
      << plan.status().message();

  StoredPlan short_order = ToStoredPlan(fresh_, options_);
  short_order.order.pop_back();
  plan = Engine::Prepare(WithStoredPlan(model, short_order), options_);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(plan.status().message().find("operators"), std::string::npos);

  // Another plan format version: not refused, planned at load with a warning.
  StoredPlan old = ToStoredPlan(fresh_, options_);
  old.plan_format_version = kPlanFormatVersion + 7;
  const ExecutionPlan replanned = PrepareOrDie(WithStoredPlan(model, old), options_);
  EXPECT_EQ(replanned.cache.status, PlanCacheStatus::kMiss);
  EXPECT_NE(replanned.cache.warning.find("plan format version"), std::string::npos);
}

TEST(PlanCacheFormatTest, DeserializeRejectsWhatIsNotAnEntry) {
  EXPECT_EQ(plan_cache::DeserializePlan(nullptr, 0, 1, 2).status().code(),
            StatusCode::kCorruptCache);
  const std::vector<uint8_t> zeros(256, 0);
  EXPECT_EQ(plan_cache::DeserializePlan(zeros.data(), zeros.size(), 1, 2).status().code(),
            StatusCode::kCorruptCache);
  ExecutionPlan plan;
  plan.source_graph_hash = plan.graph_hash = 1;
  plan.order = {0};
  plan.placements = {TensorPlacement{0, 4}};
  const std::vector<uint8_t> bytes = plan_cache::SerializePlan({plan, {}}, 1, 2);
  Result<plan_cache::RecipePlan> back =
      plan_cache::DeserializePlan(bytes.data(), bytes.size(), 1, 2);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->plan.order, plan.order);
  EXPECT_TRUE(back->recipe.empty());
  // Every truncation is rejected, never read past.
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(plan_cache::DeserializePlan(bytes.data(), n, 1, 2).ok()) << n;
  }
}

}  // namespace
}  // namespace serenity
