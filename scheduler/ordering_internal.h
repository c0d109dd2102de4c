// Internal to scheduler/: the orderings behind ComputeSchedule.
#ifndef SERENITY_SCHEDULER_ORDERING_INTERNAL_H_
#define SERENITY_SCHEDULER_ORDERING_INTERNAL_H_

#include <chrono>
#include <cstdint>
#include <vector>

#include "schedule_problem.h"

namespace serenity::scheduler::internal {

// Above this many operators the quadratic parts (reachability bitsets, the
// greedy orders, the exact search) are skipped: their memory and time would
// grow with the square of the graph.
inline constexpr int kMaxOpsForQuadratic = 8192;

// The stored order 0..n-1 when it is topological; otherwise the topological
// order closest to it (Kahn's algorithm, smallest index first).
std::vector<int> StoredOrder(const ScheduleProblem& problem);

// The best of several greedy and depth-first orders.
std::vector<int> HeuristicOrder(const ScheduleProblem& problem);

// A bound every order's peak reaches: at the step of any operator, every
// buffer that must already have been touched (by it or an ancestor, or a graph
// input) and must still be touched (by it or a descendant, or a graph output)
// is live.
uint64_t StaticLowerBound(const ScheduleProblem& problem);

// Operators grouped into units that some optimal order runs back to back
// (exchange arguments, see exact_search.cc). Each unit lists its operators in
// the order they run; every operator is in exactly one unit.
std::vector<std::vector<int>> MergeUnits(const ScheduleProblem& problem);

struct ExactSearchOptions {
  std::chrono::steady_clock::time_point deadline;
  bool has_deadline = false;
  uint64_t memo_limit_bytes = uint64_t{128} << 20;
  uint64_t max_states = 0;  // 0: none
  bool merge_units = true;
};

struct ExactSearchResult {
  std::vector<int> order;
  uint64_t peak_bytes = 0;
  bool optimal = false;
  uint64_t lower_bound_bytes = 0;
  uint64_t states = 0;
  uint64_t memo_bytes = 0;
  bool timed_out = false;  // the deadline, not a work or memory limit, stopped it
};

// Starts from `initial_order` (a topological order with peak `initial_peak`)
// and returns an order whose peak is proven optimal, or, when a limit is hit,
// the best order found with optimal == false.
ExactSearchResult ExactSearch(const ScheduleProblem& problem, std::vector<int> initial_order,
                              uint64_t initial_peak, const ExactSearchOptions& options);

}  // namespace serenity::scheduler::internal

#endif  // SERENITY_SCHEDULER_ORDERING_INTERNAL_H_
