// Internal to the arena planners: shared between arena_planner.cc and
// arena_planner_search.cc, not part of the public interface. The validator
// (arena_plan_validator.cc) deliberately does not include this file.
#ifndef SERENITY_SCHEDULER_ARENA_PLANNER_INTERNAL_H_
#define SERENITY_SCHEDULER_ARENA_PLANNER_INTERNAL_H_

#include <chrono>
#include <cstdint>
#include <vector>

#include "serenity/scheduler/arena_planner.h"

namespace serenity::scheduler::internal {

inline uint64_t AlignUp(uint64_t value, uint64_t alignment) {
  const uint64_t remainder = value % alignment;
  return remainder == 0 ? value : value + (alignment - remainder);
}

// max(offset + size) over all buffers, without any read-past margin.
uint64_t PlacementHeight(const std::vector<PlanBuffer>& buffers,
                         const std::vector<uint64_t>& offsets);

// The TensorFlow Lite rule. Never fails on validated input.
std::vector<uint64_t> GreedyOffsets(const std::vector<PlanBuffer>& buffers);

enum class SearchOutcome { kFound, kInfeasible, kTimedOut };

struct SearchResult {
  SearchOutcome outcome = SearchOutcome::kInfeasible;
  std::vector<uint64_t> offsets;  // filled when kFound
  uint64_t nodes = 0;
};

// Exact search for offsets with max(offset + size) <= `target`. Proves
// infeasibility when it runs to completion. `deadline` bounds the wall time.
SearchResult SearchOffsets(const std::vector<PlanBuffer>& buffers, uint64_t target,
                           std::chrono::steady_clock::time_point deadline, bool has_deadline);

}  // namespace serenity::scheduler::internal

#endif  // SERENITY_SCHEDULER_ARENA_PLANNER_INTERNAL_H_
