// The three exact searches behind PlannerKind::kBest, each on its own: every
// pruning rule (dominance, section floors, splitting, remembered failures,
// identical-buffer symmetry, the discrepancy limit) must keep the search
// exact, so each search must find a plan at the brute-force optimum and
// prove that one byte less is impossible. The heuristic sweep must find
// only valid plans. No deadlines: node budgets only, nothing depends on the
// clock.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>

#include "arena_planner_internal.h"
#include "arena_planner_testing.h"
#include "serenity/scheduler/plan_csv.h"

namespace serenity::scheduler {
namespace {

using internal::RoundSearch;
using internal::SearchOutcome;
using internal::SearchResult;

using MakeSearch =
    std::function<std::unique_ptr<RoundSearch>(const std::vector<PlanBuffer>&, uint64_t)>;

std::vector<std::pair<const char*, MakeSearch>> Searches() {
  const auto never = std::chrono::steady_clock::time_point::max();
  return {
      {"canonical",
       [never](const std::vector<PlanBuffer>& buffers, uint64_t target) {
         return internal::MakeCanonicalSearch(buffers, target, never, false);
       }},
      {"floor",
       [never](const std::vector<PlanBuffer>& buffers, uint64_t target) {
         return internal::MakeFloorSearch(buffers, target, never, false);
       }},
      {"discrepancy",
       [never](const std::vector<PlanBuffer>& buffers, uint64_t target) {
         return internal::MakeDiscrepancySearch(buffers, target, never, false);
       }},
  };
}

// Checks a found plan with the independent validator and against the target.
void ExpectValidAtMost(const std::vector<PlanBuffer>& buffers, const SearchResult& result,
                       uint64_t target) {
  ASSERT_EQ(result.outcome, SearchOutcome::kFound);
  ArenaPlan plan;
  plan.offsets = result.offsets;
  for (size_t i = 0; i < buffers.size(); ++i) {
    plan.arena_bytes = std::max(plan.arena_bytes, plan.offsets[i] + buffers[i].size);
  }
  EXPECT_LE(plan.arena_bytes, target);
  Status valid = ValidateArenaPlan(buffers, plan, 0);
  EXPECT_TRUE(valid.ok()) << valid.ToString();
}

// Structures that exercise the rules: many identical buffers (symmetry),
// sizes from a small set (ties in offsets, dominance), nested and chained
// lifetimes (splitting), mixed alignments.
std::vector<PlanBuffer> TrickyBuffers(std::mt19937& rng, int count, int kind) {
  static constexpr uint64_t kAlignments[] = {1, 1, 1, 2, 4, 8};
  std::vector<PlanBuffer> buffers(count);
  const int steps = 2 + static_cast<int>(rng() % 7);
  for (int i = 0; i < count; ++i) {
    PlanBuffer& b = buffers[i];
    b.alignment = kind == 3 ? kAlignments[rng() % 6] : 1;
    switch (kind) {
      case 0:  // identical pairs
        if (i % 2 == 1) {
          b = buffers[i - 1];
          continue;
        }
        b.size = 4 * (1 + rng() % 3);
        break;
      case 1:  // nested lifetimes
        b.size = 1 + rng() % 12;
        break;
      default:
        b.size = 4 * (1 + rng() % 3) + (rng() % 4 == 0 ? 2 : 0);
        break;
    }
    b.first = static_cast<int>(rng() % steps);
    b.last = b.first + static_cast<int>(rng() % (steps - b.first));
    if (kind == 1 && i > 0) {  // inside the previous buffer's lifetime
      const PlanBuffer& outer = buffers[i - 1];
      b.first = outer.first + static_cast<int>(rng() % (outer.last - outer.first + 1));
      b.last = b.first + static_cast<int>(rng() % (outer.last - b.first + 1));
    }
  }
  return buffers;
}

TEST(ArenaSearchTest, EachSearchAloneMatchesBruteForce) {
  std::mt19937 rng(61124);
  int infeasible_checked = 0;
  for (int trial = 0; trial < 1200; ++trial) {
    const int count = 1 + trial % 7;
    const std::vector<PlanBuffer> buffers = TrickyBuffers(rng, count, trial % 4);
    const uint64_t optimum = BruteForceOptimalHeight(buffers);
    for (const auto& [name, make] : Searches()) {
      SCOPED_TRACE(testing::Message() << "trial " << trial << " search " << name);
      std::unique_ptr<RoundSearch> at = make(buffers, optimum);
      const SearchResult found = internal::RunToEnd(*at);
      ExpectValidAtMost(buffers, found, optimum);
      if (HasFatalFailure()) return;
      if (optimum > 0) {
        std::unique_ptr<RoundSearch> below = make(buffers, optimum - 1);
        ASSERT_EQ(internal::RunToEnd(*below).outcome, SearchOutcome::kInfeasible);
        ++infeasible_checked;
      }
    }
  }
  EXPECT_GT(infeasible_checked, 1000);
}

// The sweep is a heuristic: on the same instances, whatever it finds must be
// a valid plan under the target, it must never claim a proof, and below the
// optimum it can only give up.
TEST(ArenaSearchTest, SweepFindsOnlyValidPlansAndProvesNothing) {
  std::mt19937 rng(2718);
  const auto never = std::chrono::steady_clock::time_point::max();
  int found = 0;
  for (int trial = 0; trial < 1200; ++trial) {
    const std::vector<PlanBuffer> buffers = TrickyBuffers(rng, 1 + trial % 7, trial % 4);
    const uint64_t optimum = BruteForceOptimalHeight(buffers);
    SCOPED_TRACE(testing::Message() << "trial " << trial);
    std::unique_ptr<RoundSearch> at = internal::MakeSweepSearch(buffers, optimum, never, false);
    const SearchResult result = internal::RunToEnd(*at);
    if (result.outcome == SearchOutcome::kFound) {
      ExpectValidAtMost(buffers, result, optimum);
      if (HasFatalFailure()) return;
      ++found;
    } else {
      EXPECT_EQ(result.outcome, SearchOutcome::kGaveUp);
    }
    if (optimum > 0) {
      std::unique_ptr<RoundSearch> below =
          internal::MakeSweepSearch(buffers, optimum - 1, never, false);
      EXPECT_EQ(internal::RunToEnd(*below).outcome, SearchOutcome::kGaveUp);
    }
  }
  // Not a bound on its quality, only a sign that it searches at all.
  EXPECT_GT(found, 0);
}

// Cuts the rectangle [0, steps) x [0, height) into buffers by random
// guillotine cuts, in time or in bytes: every step is then exactly full, so
// the lower bound is `height` and a plan reaching it exists.
void Guillotine(std::mt19937& rng, int first, int last, uint64_t low, uint64_t high, int depth,
                std::vector<PlanBuffer>* out) {
  const uint64_t units = (high - low) / 64;
  const bool can_cut_time = last > first;
  const bool can_cut_bytes = units > 1;
  if (depth == 0 || (!can_cut_time && !can_cut_bytes) || rng() % 6 == 0) {
    out->push_back({high - low, first, last, 64});
    return;
  }
  if (can_cut_time && (!can_cut_bytes || rng() % 2 == 0)) {
    const int cut = first + static_cast<int>(rng() % (last - first));
    Guillotine(rng, first, cut, low, high, depth - 1, out);
    Guillotine(rng, cut + 1, last, low, high, depth - 1, out);
  } else {
    const uint64_t cut = low + 64 * (1 + rng() % (units - 1));
    Guillotine(rng, first, last, low, cut, depth - 1, out);
    Guillotine(rng, first, last, cut, high, depth - 1, out);
  }
}

TEST(ArenaSearchTest, PerfectPackingsReachTheBound) {
  std::mt19937 rng(424242);
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<PlanBuffer> buffers;
    const uint64_t height = 64 * (8 + rng() % 40);
    Guillotine(rng, 0, 10 + static_cast<int>(rng() % 30), 0, height, 9, &buffers);
    std::shuffle(buffers.begin(), buffers.end(), rng);
    ASSERT_EQ(ArenaLowerBound(buffers), height);
    for (const auto& [name, make] : Searches()) {
      SCOPED_TRACE(testing::Message() << "trial " << trial << " search " << name << ", "
                                      << buffers.size() << " buffers");
      std::unique_ptr<RoundSearch> search = make(buffers, height);
      ExpectValidAtMost(buffers, internal::RunToEnd(*search), height);
      if (HasFatalFailure()) return;
    }
    // And the planner, through its public interface, without a time limit.
    PlanOptions options;
    options.time_limit_seconds = 0;
    Result<ArenaPlan> plan = PlanArena(buffers, options);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_TRUE(plan->optimal);
    EXPECT_EQ(plan->arena_bytes, height);
    EXPECT_TRUE(ValidateArenaPlan(buffers, *plan, 0).ok());
  }
}

// The canonical search stops trying candidates once one sits above the
// target minus the fullest section's unplaced bytes. The boundary is
// inclusive: here the last buffer (1 byte over both steps) must sit exactly at
// 4 - 1 = 3, on top of the two 3-byte buffers, when nothing else is left.
TEST(ArenaSearchTest, CandidateExactlyAtTheLastFittingOffsetIsTried) {
  std::vector<PlanBuffer> buffers(3);
  buffers[0] = {3, 0, 0, 1};
  buffers[1] = {1, 0, 1, 1};
  buffers[2] = {3, 1, 1, 1};
  ASSERT_EQ(ArenaLowerBound(buffers), 4u);
  for (const auto& [name, make] : Searches()) {
    SCOPED_TRACE(name);
    std::unique_ptr<RoundSearch> at = make(buffers, 4);
    ExpectValidAtMost(buffers, internal::RunToEnd(*at), 4);
    std::unique_ptr<RoundSearch> below = make(buffers, 3);
    EXPECT_EQ(internal::RunToEnd(*below).outcome, SearchOutcome::kInfeasible);
  }
}

// MiniMalloc's instance I (374 buffers, lower bound = capacity = 1048576):
// the plain canonical, floor and sweep searches each do not fit it within
// millions of nodes; the discrepancy search alone does, in about 180,000.
// A work budget, not a clock: 400,000 nodes, a few seconds on a loaded
// machine.
TEST(ArenaSearchTest, DiscrepancySearchFitsMiniMallocInstanceI) {
  std::ifstream file(std::string(SERENITY_PLAN_BENCH_DATA) + "/I.1048576.csv");
  ASSERT_TRUE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  Result<PlanCsv> csv = ParsePlanCsv(text.str());
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  const std::vector<PlanBuffer>& buffers = csv->buffers;
  constexpr uint64_t kCapacity = 1048576;
  ASSERT_EQ(ArenaLowerBound(buffers), kCapacity);
  const auto never = std::chrono::steady_clock::time_point::max();
  std::unique_ptr<RoundSearch> search =
      internal::MakeDiscrepancySearch(buffers, kCapacity, never, false);
  SearchResult result;
  do {
    result.outcome = search->RunRound(&result.nodes);
  } while (result.outcome == SearchOutcome::kOutOfNodes && result.nodes < 400000);
  ASSERT_EQ(result.outcome, SearchOutcome::kFound) << result.nodes << " nodes";
  result.offsets = search->offsets();
  ExpectValidAtMost(buffers, result, kCapacity);
}

// The portfolio (the four searches taking turns: the sweep can find a
// plan, only the exact searches can prove there is none) on the same small
// instances: found at the optimum, proven impossible below it.
TEST(ArenaSearchTest, AllSearchesTogetherMatchBruteForce) {
  std::mt19937 rng(99);
  const auto never = std::chrono::steady_clock::time_point::max();
  for (int trial = 0; trial < 400; ++trial) {
    const std::vector<PlanBuffer> buffers = TrickyBuffers(rng, 1 + trial % 7, trial % 4);
    const uint64_t optimum = BruteForceOptimalHeight(buffers);
    SCOPED_TRACE(testing::Message() << "trial " << trial);
    ExpectValidAtMost(buffers, internal::SearchOffsets(buffers, optimum, never, false), optimum);
    if (HasFatalFailure()) return;
    if (optimum > 0) {
      EXPECT_EQ(internal::SearchOffsets(buffers, optimum - 1, never, false).outcome,
                SearchOutcome::kInfeasible);
    }
  }
}

// The greedy orders kBest starts from are valid plans, and kBest is never
// above kGreedy (TensorFlow Lite's rule) even when its search gets no time.
TEST(ArenaSearchTest, GreedyOrdersValidAndBestNeverAboveGreedy) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<PlanBuffer> buffers(30 + trial);
    for (PlanBuffer& b : buffers) {
      b.size = 64 * (1 + rng() % 16);
      b.first = static_cast<int>(rng() % 40);
      b.last = b.first + static_cast<int>(rng() % 12);
      b.alignment = 64;
    }
    for (internal::GreedyOrder order :
         {internal::GreedyOrder::kSize, internal::GreedyOrder::kDuration,
          internal::GreedyOrder::kArea}) {
      ArenaPlan plan;
      plan.offsets = internal::GreedyOffsets(buffers, order);
      plan.arena_bytes = internal::PlacementHeight(buffers, plan.offsets);
      EXPECT_TRUE(ValidateArenaPlan(buffers, plan, 0).ok());
    }
    EXPECT_EQ(internal::GreedyOffsets(buffers, internal::GreedyOrder::kSize),
              internal::GreedyOffsets(buffers));
    PlanOptions greedy_options;
    greedy_options.kind = PlannerKind::kGreedy;
    PlanOptions best_options;
    best_options.time_limit_seconds = 1e-9;  // the search times out at once
    Result<ArenaPlan> greedy = PlanArena(buffers, greedy_options);
    Result<ArenaPlan> best = PlanArena(buffers, best_options);
    ASSERT_TRUE(greedy.ok() && best.ok());
    EXPECT_LE(best->arena_bytes, greedy->arena_bytes);
    EXPECT_TRUE(ValidateArenaPlan(buffers, *best, 0).ok());
  }
}

}  // namespace
}  // namespace serenity::scheduler
