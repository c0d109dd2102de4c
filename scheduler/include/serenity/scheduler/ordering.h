// Operator orderings behind one interface: the stored order, a fast
// heuristic, and the exact (provably peak-optimal) search.
#ifndef SERENITY_SCHEDULER_ORDERING_H_
#define SERENITY_SCHEDULER_ORDERING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "serenity/export.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"
#include "serenity/status.h"

namespace serenity::scheduler {

enum class Algorithm { kStored, kHeuristic, kOptimal };

// "stored", "heuristic", "optimal".
SERENITY_API const char* AlgorithmName(Algorithm algorithm);
SERENITY_API Result<Algorithm> ParseAlgorithm(const std::string& name);

struct ScheduleOptions {
  Algorithm algorithm = Algorithm::kOptimal;
  // Wall-clock budget for the exact search; <= 0 means none. A search it
  // stops has a result that depends on the machine's speed and load
  // (ScheduleStats::time_limited says so).
  double time_limit_seconds = 10.0;
  // Work budget for the exact search: partial schedules explored
  // (ScheduleStats::states); 0 means none. When it binds first, the result
  // is the same on every machine.
  uint64_t state_limit = 0;
  // Cap on the memory the exact search may hold in its tables. 128 MiB
  // proves every zoo model with aliasing (and their rewritten versions) that
  // the time limit allows; when the cap is hit, the best order so far is
  // returned with optimal == false.
  uint64_t memo_limit_bytes = uint64_t{128} << 20;
};

struct ScheduleStats {
  uint64_t states = 0;       // signatures (partial schedules) explored
  uint64_t memo_bytes = 0;   // high-water mark of search tables
  double time_ms = 0.0;
  // The wall-clock limit (not the state or memory limit, both deterministic)
  // stopped the exact search: another run may find another order.
  bool time_limited = false;
};

struct Schedule {
  Algorithm algorithm = Algorithm::kOptimal;
  std::vector<int> order;    // a topological order of all operators
  uint64_t peak_bytes = 0;   // PeakBytes of `order`
  // True only when the search proved that no order has a smaller peak.
  bool optimal = false;
  // A proven lower bound on every order's peak (== peak_bytes when optimal).
  uint64_t lower_bound_bytes = 0;
  ScheduleStats stats;
};

// Computes an order for `graph` under `memory`. Never fails on a valid graph:
// when a limit is hit the exact search returns its best order so far with
// optimal == false. Errors only for an invalid graph (kInvalidArgument).
SERENITY_API Result<Schedule> ComputeSchedule(const Graph& graph, const MemoryModel& memory,
                                              const ScheduleOptions& options);

// The same operators in an order where no two buffers are live at a common
// step unless they were under `order`, and some pairs no longer are: an
// operator moves to just before the first reader of its outputs, or just
// after the last producer of its inputs, when that only shortens live
// ranges (an operator whose inputs are read later anyway runs when its
// output is needed). So every arena plan valid for `order`
// stays valid, the peak never rises, and the arena planner has fewer
// conflicts to respect. Up to `max_passes` passes over the operators, each
// O(operators x (operators + buffers)). `order` must be topological; so is
// the result.
SERENITY_API std::vector<int> TightenLiveRanges(const Graph& graph, const MemoryModel& memory,
                                                const std::vector<int>& order, int max_passes = 4);

}  // namespace serenity::scheduler

#endif  // SERENITY_SCHEDULER_ORDERING_H_
