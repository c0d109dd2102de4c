#include "serenity/scheduler/ordering.h"

#include <chrono>

#include "ordering_internal.h"

namespace serenity::scheduler {

const char* AlgorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kStored:
      return "stored";
    case Algorithm::kHeuristic:
      return "heuristic";
    case Algorithm::kOptimal:
      return "optimal";
  }
  return "unknown";
}

Result<Algorithm> ParseAlgorithm(const std::string& name) {
  if (name == "stored") return Algorithm::kStored;
  if (name == "heuristic") return Algorithm::kHeuristic;
  if (name == "optimal") return Algorithm::kOptimal;
  return InvalidArgumentError("unknown scheduling algorithm '", name,
                              "' (expected stored, heuristic or optimal)");
}

Result<Schedule> ComputeSchedule(const Graph& graph, const MemoryModel& memory,
                                 const ScheduleOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  SERENITY_RETURN_IF_ERROR(ValidateGraph(graph));
  if (memory.buffer_of_tensor.size() != graph.tensors.size()) {
    return InvalidArgumentError("memory model maps ", memory.buffer_of_tensor.size(),
                                " tensors but the graph has ", graph.tensors.size());
  }
  std::vector<int> seen(graph.tensors.size(), 0);
  for (size_t b = 0; b < memory.buffers.size(); ++b) {
    for (int t : memory.buffers[b].tensors) {
      if (t < 0 || static_cast<size_t>(t) >= graph.tensors.size()) {
        return InvalidArgumentError("buffer ", b, " holds tensor ", t, " which does not exist");
      }
      if (memory.buffer_of_tensor[t] != static_cast<int>(b) || seen[t]++ != 0) {
        return InvalidArgumentError("tensor ", t, " ('", graph.tensors[t].name,
                                    "'): buffer_of_tensor disagrees with buffer ", b);
      }
    }
  }
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    if (!seen[t]) {
      return InvalidArgumentError("tensor ", t, " ('", graph.tensors[t].name,
                                  "') is in no buffer");
    }
  }

  const int num_ops = static_cast<int>(graph.ops.size());
  for (const OrderEdge& edge : memory.order_edges) {
    if (edge.before < 0 || edge.after < 0 || edge.before >= num_ops || edge.after >= num_ops ||
        edge.before == edge.after) {
      return InvalidArgumentError("memory model has an order edge from operator ", edge.before,
                                  " to ", edge.after, " of ", num_ops);
    }
  }
  const internal::ScheduleProblem problem = internal::BuildProblem(graph, memory);
  if (!memory.order_edges.empty() &&
      static_cast<int>(internal::StoredOrder(problem).size()) != num_ops) {
    return InvalidArgumentError(
        "the memory model's order edges and the graph's edges form a "
        "cycle: no order keeps them all");
  }
  Schedule schedule;
  schedule.algorithm = options.algorithm;
  switch (options.algorithm) {
    case Algorithm::kStored:
      schedule.order = internal::StoredOrder(problem);
      break;
    case Algorithm::kHeuristic:
      schedule.order = internal::HeuristicOrder(problem);
      break;
    case Algorithm::kOptimal: {
      std::vector<int> initial = internal::HeuristicOrder(problem);
      const uint64_t initial_peak = internal::ProblemPeak(problem, initial);
      internal::ExactSearchOptions search_options;
      if (options.time_limit_seconds > 0) {
        search_options.has_deadline = true;
        search_options.deadline =
            start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(options.time_limit_seconds));
      }
      search_options.memo_limit_bytes = options.memo_limit_bytes;
      search_options.max_states = options.state_limit;
      internal::ExactSearchResult result =
          internal::ExactSearch(problem, std::move(initial), initial_peak, search_options);
      schedule.order = std::move(result.order);
      schedule.stats.states = result.states;
      schedule.stats.memo_bytes = result.memo_bytes;
      schedule.stats.time_limited = result.timed_out;
      schedule.lower_bound_bytes = result.lower_bound_bytes;
      break;
    }
  }
  schedule.peak_bytes = PeakBytes(graph, memory, schedule.order);
  if (options.algorithm != Algorithm::kOptimal) {
    schedule.lower_bound_bytes = internal::StaticLowerBound(problem);
  }
  schedule.optimal = schedule.peak_bytes <= schedule.lower_bound_bytes;
  schedule.stats.time_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
          .count();
  return schedule;
}

}  // namespace serenity::scheduler
