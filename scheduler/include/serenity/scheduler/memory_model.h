// The memory model of DESIGN.md §2: buffers, aliasing, live ranges, peak.
//
// Everything the scheduler claims must be what the runtime does; this file is
// the single definition both use.
#ifndef SERENITY_SCHEDULER_MEMORY_MODEL_H_
#define SERENITY_SCHEDULER_MEMORY_MODEL_H_

#include <cstdint>
#include <vector>

#include "serenity/export.h"
#include "serenity/scheduler/graph.h"

namespace serenity::scheduler {

// One contiguous byte range in the arena, shared by one or more tensors.
struct Buffer {
  uint64_t bytes = 0;         // aligned to kArenaAlignment
  std::vector<int> tensors;   // GraphTensor indices that live in it
};

// Graph operator `before` must run before `after`: an order constraint that
// no tensor carries, which an aliasing choice adds (an operator that writes
// over its input in place while other operators read that input must run
// after all of them: AliasOptions::last_reader_in_place).
struct OrderEdge {
  int before = -1;
  int after = -1;
  bool operator==(const OrderEdge& o) const { return before == o.before && after == o.after; }
};

// How tensors map onto buffers. Without aliasing every tensor has its own
// buffer. The rewriting pass produces aliasing groups:
//   - in place: an element-wise op's output shares its input's buffer;
//   - zero-copy concat: every concat input is a slice of the output's buffer.
// An order of the graph is valid for the model when it is topological and
// keeps every order edge (KeepsOrderEdges); the schedulers search only such
// orders.
struct MemoryModel {
  std::vector<Buffer> buffers;
  std::vector<int> buffer_of_tensor;  // per GraphTensor
  std::vector<OrderEdge> order_edges;  // graph operator indices

  // One buffer per tensor, sizes aligned: the paper's (and --no-rewrite's)
  // setting.
  static MemoryModel WithoutAliasing(const Graph& graph);
  static MemoryModel WithoutAliasing(const CompactGraph& graph);
};

// A buffer's live range under an order, in steps 0..n-1, inclusive on both
// ends: from the step of its first writer to the step of its last reader.
// Graph inputs are live from step 0, graph outputs until step n-1.
struct LiveRange {
  int first = 0;
  int last = 0;
};

// Whether `order` (a permutation of the graph's operators) runs the `before`
// of every order edge of `memory` ahead of its `after`.
SERENITY_API bool KeepsOrderEdges(const MemoryModel& memory, const std::vector<int>& order);

// Live range of every buffer under `order` (a topological order).
SERENITY_API std::vector<LiveRange> ComputeLiveRanges(const Graph& graph, const MemoryModel& memory,
                                                      const std::vector<int>& order);
SERENITY_API std::vector<LiveRange> ComputeLiveRanges(const CompactGraph& graph,
                                                      const MemoryModel& memory,
                                                      const std::vector<int>& order);

// Bytes live at every step under `order`.
SERENITY_API std::vector<uint64_t> FootprintPerStep(const Graph& graph, const MemoryModel& memory,
                                                    const std::vector<int>& order);

// Largest footprint under `order`: the peak, a lower bound on the arena.
SERENITY_API uint64_t PeakBytes(const Graph& graph, const MemoryModel& memory,
                                const std::vector<int>& order);

// The same from the live ranges ComputeLiveRanges gives for an order of
// `num_steps` steps (for a caller that has them already).
SERENITY_API uint64_t PeakBytes(const MemoryModel& memory, const std::vector<LiveRange>& ranges,
                                int num_steps);

}  // namespace serenity::scheduler

#endif  // SERENITY_SCHEDULER_MEMORY_MODEL_H_
