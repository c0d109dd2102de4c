// Internal to the arena planners: shared between arena_planner.cc and
// arena_planner_search.cc, not part of the public interface. The validator
// (arena_plan_validator.cc) deliberately does not include this file.
#ifndef SERENITY_SCHEDULER_ARENA_PLANNER_INTERNAL_H_
#define SERENITY_SCHEDULER_ARENA_PLANNER_INTERNAL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "serenity/scheduler/arena_planner.h"

namespace serenity::scheduler::internal {

// Shared by both placement searches: a 64-bit mixer (splitmix64's finaliser)
// for hashing partial placements, and the 128-bit key of a remembered failed
// state.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct StateKey {
  uint64_t a;
  uint64_t b;
  bool operator==(const StateKey& o) const { return a == o.a && b == o.b; }
};
struct StateKeyHash {
  size_t operator()(const StateKey& k) const { return static_cast<size_t>(k.a ^ (k.b * 31)); }
};

inline uint64_t AlignUp(uint64_t value, uint64_t alignment) {
  const uint64_t remainder = value % alignment;
  return remainder == 0 ? value : value + (alignment - remainder);
}

// max(offset + size) over all buffers, without any read-past margin.
uint64_t PlacementHeight(const std::vector<PlanBuffer>& buffers,
                         const std::vector<uint64_t>& offsets);

// The timeline of the buffers with a size (the members, in index order) cut
// into sections: the runs of steps between consecutive live-range
// boundaries, where the set of live members does not change. What the
// canonical search and the sweep both work on.
struct Sections {
  std::vector<size_t> members;  // member -> buffer index
  int count = 0;                // sections
  std::vector<int> lo, hi;      // per member: its first and last section
};
Sections SectionsOf(const std::vector<PlanBuffer>& buffers);

// The TensorFlow Lite rule. Never fails on validated input.
std::vector<uint64_t> GreedyOffsets(const std::vector<PlanBuffer>& buffers);

// The same gap rule, buffers taken in another order: largest size (the
// TensorFlow Lite rule), longest lifetime, or largest size x lifetime first;
// ties by size, then first step, then index.
enum class GreedyOrder { kSize, kDuration, kArea };
std::vector<uint64_t> GreedyOffsets(const std::vector<PlanBuffer>& buffers, GreedyOrder order);

// kOutOfNodes: a round used up its node budget without an answer.
// kGaveUp: a heuristic search tried all it tries, which proves nothing.
enum class SearchOutcome { kFound, kInfeasible, kTimedOut, kOutOfNodes, kGaveUp };

struct SearchResult {
  SearchOutcome outcome = SearchOutcome::kInfeasible;
  std::vector<uint64_t> offsets;  // filled when kFound
  uint64_t nodes = 0;
};

// An exact search for offsets with max(offset + size) <= a target, run in
// rounds of restarts whose node budgets double from one round to the next.
// A round returns kFound (offsets() is then a valid plan), kInfeasible (a
// proof: no plan fits the target), kTimedOut (the wall-clock deadline hit)
// or kOutOfNodes (call again). The buffers must outlive the search.
class RoundSearch {
 public:
  virtual ~RoundSearch() = default;
  virtual SearchOutcome RunRound(uint64_t* nodes) = 0;
  virtual const std::vector<uint64_t>& offsets() const = 0;
};

// Branches on the lowest section floor: some buffer sits exactly there, or
// nothing ever does (arena_planner_search.cc).
std::unique_ptr<RoundSearch> MakeFloorSearch(const std::vector<PlanBuffer>& buffers,
                                             uint64_t target,
                                             std::chrono::steady_clock::time_point deadline,
                                             bool has_deadline);

// Places one buffer per node at its lowest offset, in increasing offset
// order (arena_planner_canonical.cc).
std::unique_ptr<RoundSearch> MakeCanonicalSearch(const std::vector<PlanBuffer>& buffers,
                                                 uint64_t target,
                                                 std::chrono::steady_clock::time_point deadline,
                                                 bool has_deadline);

// The canonical search with limited discrepancies: the k-th child tried at
// a node costs k, a path may spend at most d, and d grows 0, 1, 2, ...
// within each round's budget (arena_planner_canonical.cc). Proves
// infeasibility only with an iteration that cut nothing off.
std::unique_ptr<RoundSearch> MakeDiscrepancySearch(const std::vector<PlanBuffer>& buffers,
                                                   uint64_t target,
                                                   std::chrono::steady_clock::time_point deadline,
                                                   bool has_deadline);

// Heuristic: the buffers of the fullest step first, then sweeps backwards
// and forwards in time from it, each buffer at the bottom or the top of a
// gap (arena_planner_sweep.cc). Never answers kInfeasible.
std::unique_ptr<RoundSearch> MakeSweepSearch(const std::vector<PlanBuffer>& buffers,
                                             uint64_t target,
                                             std::chrono::steady_clock::time_point deadline,
                                             bool has_deadline);

// Runs one search until it answers (anything but kOutOfNodes).
SearchResult RunToEnd(RoundSearch& search);

// The four searches, alternating rounds, until one answers (the sweep
// leaves the rotation when it gives up), or kOutOfNodes once they have
// explored `max_nodes` nodes together (0: no limit; checked between rounds,
// so deterministic). Deterministic unless the deadline hits. Proves
// infeasibility when it ends with kInfeasible.
SearchResult SearchOffsets(const std::vector<PlanBuffer>& buffers, uint64_t target,
                           std::chrono::steady_clock::time_point deadline, bool has_deadline,
                           uint64_t max_nodes = 0);

}  // namespace serenity::scheduler::internal

#endif  // SERENITY_SCHEDULER_ARENA_PLANNER_INTERNAL_H_
