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

// How tensors map onto buffers. Without aliasing every tensor has its own
// buffer. The rewriting pass produces aliasing groups:
//   - in place: an element-wise op's output shares its input's buffer;
//   - zero-copy concat: every concat input is a slice of the output's buffer.
struct MemoryModel {
  std::vector<Buffer> buffers;
  std::vector<int> buffer_of_tensor;  // per GraphTensor

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
