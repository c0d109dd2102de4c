// Shared by the arena planner tests: a brute-force optimum to compare the
// planners against.
#ifndef SERENITY_TESTS_SCHEDULER_ARENA_PLANNER_TESTING_H_
#define SERENITY_TESTS_SCHEDULER_ARENA_PLANNER_TESTING_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "serenity/scheduler/arena_planner.h"

namespace serenity::scheduler {

inline uint64_t RoundUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

inline bool LiveTogether(const PlanBuffer& a, const PlanBuffer& b) {
  return a.first <= b.last && b.first <= a.last;
}

// Brute-force optimum. Any valid plan can be pushed down until every buffer
// sits at its alignment-rounded resting height; listed in offset order, each
// buffer then sits at RoundUp(max top of the earlier buffers live with it).
// So the minimum of that rule over all orders is the optimal height.
inline uint64_t BruteForceOptimalHeight(const std::vector<PlanBuffer>& buffers) {
  std::vector<size_t> order;
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (buffers[i].size > 0) order.push_back(i);
  }
  uint64_t best = UINT64_MAX;
  std::vector<uint64_t> offsets(buffers.size(), 0);
  do {
    uint64_t height = 0;
    for (size_t x = 0; x < order.size() && height < best; ++x) {
      const size_t i = order[x];
      uint64_t top = 0;
      for (size_t y = 0; y < x; ++y) {
        const size_t j = order[y];
        if (LiveTogether(buffers[i], buffers[j])) top = std::max(top, offsets[j] + buffers[j].size);
      }
      offsets[i] = RoundUp(top, buffers[i].alignment);
      height = std::max(height, offsets[i] + buffers[i].size);
    }
    best = std::min(best, height);
  } while (std::next_permutation(order.begin(), order.end()));
  return best;
}

}  // namespace serenity::scheduler

#endif  // SERENITY_TESTS_SCHEDULER_ARENA_PLANNER_TESTING_H_
