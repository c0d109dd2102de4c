#include "serenity/scheduler/memory_model.h"

#include <algorithm>

namespace serenity::scheduler {

namespace {

template <typename G>
MemoryModel WithoutAliasingOf(const G& graph) {
  MemoryModel memory;
  memory.buffers.resize(graph.tensors.size());
  memory.buffer_of_tensor.resize(graph.tensors.size());
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    memory.buffers[t].bytes = AlignUp(graph.tensors[t].bytes);
    memory.buffers[t].tensors = {static_cast<int>(t)};
    memory.buffer_of_tensor[t] = static_cast<int>(t);
  }
  return memory;
}

}  // namespace

MemoryModel MemoryModel::WithoutAliasing(const Graph& graph) { return WithoutAliasingOf(graph); }
MemoryModel MemoryModel::WithoutAliasing(const CompactGraph& graph) {
  return WithoutAliasingOf(graph);
}

bool KeepsOrderEdges(const MemoryModel& memory, const std::vector<int>& order) {
  if (memory.order_edges.empty()) return true;
  std::vector<int> step_of_op(order.size(), -1);
  for (size_t step = 0; step < order.size(); ++step) {
    const int op = order[step];
    if (op < 0 || op >= static_cast<int>(order.size())) return false;
    step_of_op[op] = static_cast<int>(step);
  }
  const int num_ops = static_cast<int>(order.size());
  for (const OrderEdge& edge : memory.order_edges) {
    if (edge.before < 0 || edge.after < 0 || edge.before >= num_ops || edge.after >= num_ops ||
        step_of_op[edge.before] < 0 || step_of_op[edge.after] < 0 ||
        step_of_op[edge.before] >= step_of_op[edge.after]) {
      return false;
    }
  }
  return true;
}

namespace {

template <typename G>
std::vector<LiveRange> LiveRangesOf(const G& graph, const MemoryModel& memory,
                                    const std::vector<int>& order) {
  const int num_steps = static_cast<int>(order.size());
  std::vector<int> step_of_op(graph.ops.size(), 0);
  for (int step = 0; step < num_steps; ++step) step_of_op[order[step]] = step;

  // A buffer with no tensors is never live: first > last. Tensors are
  // visited through buffer_of_tensor, not the buffers' lists, which a plan
  // may leave empty (AliasOptions::buffer_tensor_lists).
  std::vector<LiveRange> ranges(memory.buffers.size(), LiveRange{num_steps, -1});
  if (num_steps == 0) {
    std::fill(ranges.begin(), ranges.end(), LiveRange{0, -1});
    return ranges;
  }
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    const auto& tensor = graph.tensors[t];
    // First writer: the producer, or step 0 for a graph input.
    const int written = tensor.graph_input || tensor.producer < 0 ? 0 : step_of_op[tensor.producer];
    // Last reader; a tensor nobody reads lives only where it is written.
    int last_read = written;
    for (int consumer : tensor.consumers) {
      last_read = std::max(last_read, step_of_op[consumer]);
    }
    if (tensor.graph_output) last_read = std::max(last_read, num_steps - 1);
    LiveRange& range = ranges[memory.buffer_of_tensor[t]];
    range.first = std::min(range.first, written);
    range.last = std::max(range.last, last_read);
  }
  return ranges;
}

}  // namespace

std::vector<LiveRange> ComputeLiveRanges(const Graph& graph, const MemoryModel& memory,
                                         const std::vector<int>& order) {
  return LiveRangesOf(graph, memory, order);
}

std::vector<LiveRange> ComputeLiveRanges(const CompactGraph& graph, const MemoryModel& memory,
                                         const std::vector<int>& order) {
  return LiveRangesOf(graph, memory, order);
}

namespace {

std::vector<uint64_t> FootprintOfRanges(const MemoryModel& memory,
                                        const std::vector<LiveRange>& ranges, int num_steps) {
  // Difference array: +bytes at first, -bytes after last.
  std::vector<int64_t> delta(num_steps + 1, 0);
  for (size_t b = 0; b < ranges.size(); ++b) {
    if (ranges[b].first > ranges[b].last) continue;
    delta[ranges[b].first] += static_cast<int64_t>(memory.buffers[b].bytes);
    delta[ranges[b].last + 1] -= static_cast<int64_t>(memory.buffers[b].bytes);
  }
  std::vector<uint64_t> footprint(num_steps, 0);
  int64_t running = 0;
  for (int step = 0; step < num_steps; ++step) {
    running += delta[step];
    footprint[step] = static_cast<uint64_t>(running);
  }
  return footprint;
}

}  // namespace

std::vector<uint64_t> FootprintPerStep(const Graph& graph, const MemoryModel& memory,
                                       const std::vector<int>& order) {
  return FootprintOfRanges(memory, ComputeLiveRanges(graph, memory, order),
                           static_cast<int>(order.size()));
}

uint64_t PeakBytes(const MemoryModel& memory, const std::vector<LiveRange>& ranges, int num_steps) {
  uint64_t peak = 0;
  for (uint64_t bytes : FootprintOfRanges(memory, ranges, num_steps)) peak = std::max(peak, bytes);
  return peak;
}

uint64_t PeakBytes(const Graph& graph, const MemoryModel& memory, const std::vector<int>& order) {
  return PeakBytes(memory, ComputeLiveRanges(graph, memory, order), static_cast<int>(order.size()));
}

}  // namespace serenity::scheduler
