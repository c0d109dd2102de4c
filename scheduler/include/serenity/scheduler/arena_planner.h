// Arena planning: give every buffer an offset in one static arena.
//
// Input: buffers with a size, an inclusive live range [first, last] in steps,
// and an alignment. Output: offsets such that two buffers whose live ranges
// intersect never intersect in bytes. The lower bound for any plan is the
// largest total size live at one step (the peak); `kBest` reaches it whenever
// it can.
#ifndef SERENITY_SCHEDULER_ARENA_PLANNER_H_
#define SERENITY_SCHEDULER_ARENA_PLANNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "serenity/status.h"

namespace serenity::scheduler {

struct PlanBuffer {
  uint64_t size = 0;
  int first = 0;  // first live step, inclusive
  int last = 0;   // last live step, inclusive
  uint64_t alignment = 64;
};

enum class PlannerKind {
  // TensorFlow Lite's rule (DESIGN.md §3 baseline): largest first, each into
  // the smallest gap among already placed buffers whose live ranges overlap.
  kGreedy,
  // Greedy in three orders (size, lifetime, size x lifetime; the smallest
  // wins); only when above the lower bound, a time-boxed search (three exact
  // searches and a heuristic one, taking turns) that stops as soon as it
  // reaches the bound. Never above greedy.
  // Deterministic unless the time limit hits (PlanOptions::node_limit
  // bounds it deterministically).
  kBest,
};

const char* PlannerKindName(PlannerKind kind);
Result<PlannerKind> ParsePlannerKind(const std::string& name);

struct PlanOptions {
  PlannerKind kind = PlannerKind::kBest;
  // Wall-clock limit of kBest's search, a safety net; <= 0: none. A search
  // it stops depends on the machine (ArenaPlan::time_limited).
  double time_limit_seconds = 10.0;
  // Work budget of kBest's search: nodes of its searches together, over
  // every target (ArenaPlan::nodes); 0: none. Deterministic: when it binds
  // first, every machine gets the same plan.
  uint64_t node_limit = 0;
  // Fail with kResourceExhausted when the arena would exceed this (0: none).
  uint64_t capacity_bytes = 0;
  // Bytes that may be read (never written) past the end of a buffer
  // (XNNPACK_EXTRA_BYTES). The planner guarantees such reads stay inside the
  // arena by adding this margin to the reported arena size, not to every
  // buffer: reading past a buffer into a neighbour is harmless, reading past
  // the arena is not.
  //
  //   0                                   max(offset + size)   arena_bytes
  //   |  buffers (placed to minimise this) |  read_past_bytes  |
  //
  // So for every buffer, offset + size + read_past_bytes <= arena_bytes; the
  // slack is never written and never handed to a buffer. Offsets and the
  // lower bound ignore the margin; `capacity_bytes` counts it.
  uint64_t read_past_bytes = 0;
};

struct ArenaPlan {
  std::vector<uint64_t> offsets;   // per buffer
  uint64_t arena_bytes = 0;        // max(offset + size) + read_past_bytes
  uint64_t lower_bound_bytes = 0;  // largest total size live at one step
  bool optimal = false;            // arena_bytes - read_past == lower bound
  double time_ms = 0.0;
  // kBest's search was stopped by the time limit: another run (on a faster
  // or less loaded machine) may find a smaller arena.
  bool time_limited = false;
  uint64_t nodes = 0;  // nodes kBest's search explored
};

// Largest total size live at one step.
uint64_t ArenaLowerBound(const std::vector<PlanBuffer>& buffers);

// Errors: kInvalidArgument for a buffer with alignment 0 or first > last (the
// message names the buffer), or sizes summing past 2^62; kResourceExhausted
// when `capacity_bytes` is set and the lower bound + read_past, or the arena
// the planner reached in its time, exceeds it. kBest is deterministic when its
// search finishes within the time limit; on a timeout it returns the best
// plan found so far (at worst the smallest of its greedy plans, never above
// kGreedy's) with optimal = false. The search for the bound itself gets at
// most half of the time, bisection towards it the rest. When
// `capacity_bytes` lies above the bound, kBest first searches for a plan that
// fits the capacity, then spends at most a quarter of the time limit trying
// to reach the bound. Debug builds check every plan with ValidateArenaPlan
// (kInternal on failure).
Result<ArenaPlan> PlanArena(const std::vector<PlanBuffer>& buffers, const PlanOptions& options);

// Written separately from the planners: checks alignment, that no two
// buffers live at the same step overlap in bytes, and that every buffer (plus
// `read_past_bytes`) lies inside `plan.arena_bytes`. The error names the
// offending buffer indices.
Status ValidateArenaPlan(const std::vector<PlanBuffer>& buffers, const ArenaPlan& plan,
                         uint64_t read_past_bytes);

}  // namespace serenity::scheduler

#endif  // SERENITY_SCHEDULER_ARENA_PLANNER_H_
