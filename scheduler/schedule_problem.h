// Internal to scheduler/: the memory model reduced to what ordering needs.
//
// Every buffer is "touched" (written or read) by a set of operators. Under an
// order it is live from the step of its first toucher to the step of its last
// toucher; a graph input pins the start to step 0, a graph output pins the end
// to the last step. This is DESIGN.md §2 restated: a reader never precedes the
// first writer, and a tensor nobody reads is touched only by its producer.
#ifndef SERENITY_SCHEDULER_SCHEDULE_PROBLEM_H_
#define SERENITY_SCHEDULER_SCHEDULE_PROBLEM_H_

#include <cstdint>
#include <vector>

#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"

namespace serenity::scheduler::internal {

struct ScheduleProblem {
  int num_ops = 0;
  std::vector<uint64_t> buffer_bytes;
  std::vector<std::vector<int>> buffer_touchers;  // ascending, unique
  std::vector<uint8_t> pinned_start;
  std::vector<uint8_t> pinned_end;
  std::vector<std::vector<int>> op_buffers;  // ascending, unique
  std::vector<std::vector<int>> op_preds;    // ascending, unique
  std::vector<std::vector<int>> op_succs;    // ascending, unique
  // Pinned at the start and touched later (or pinned at both ends): live
  // before anything runs.
  uint64_t initial_live_bytes = 0;
  // Graph inputs nothing reads and that are not outputs: live at step 0 only.
  uint64_t first_step_only_bytes = 0;
};

// `memory`'s order edges must name two distinct operators of `graph`.
ScheduleProblem BuildProblem(const Graph& graph, const MemoryModel& memory);

// Footprints along a schedule that grows and shrinks at its end (Do / Undo),
// in O(buffers touched) per call.
class Simulator {
 public:
  explicit Simulator(const ScheduleProblem& problem);

  // Footprint of the step at which `op` would run next.
  uint64_t Footprint(int op) const;
  // Change of the live bytes if `op` ran next (after minus before).
  int64_t NetBytes(int op) const;
  // Whether running `op` next would end a buffer (touch it for the last time,
  // not a graph output): true also for a buffer only `op` touches.
  bool EndsAny(int op) const;
  // Runs `op` next and returns the footprint of its step.
  uint64_t Do(int op);
  // Reverts the last Do, which must have been of `op`.
  void Undo(int op);

  uint64_t live_bytes() const { return live_bytes_; }
  int steps() const { return steps_; }

 private:
  const ScheduleProblem& problem_;
  std::vector<int> touched_;  // per buffer: touchers run so far
  uint64_t live_bytes_ = 0;
  int steps_ = 0;
};

// The peak of `order` (a topological order) under the problem's model.
uint64_t ProblemPeak(const ScheduleProblem& problem, const std::vector<int>& order);

}  // namespace serenity::scheduler::internal

#endif  // SERENITY_SCHEDULER_SCHEDULE_PROBLEM_H_
