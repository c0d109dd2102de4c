#include <algorithm>

#include "serenity/scheduler/ordering.h"

namespace serenity::scheduler {
namespace {

bool Overlap(const LiveRange& a, const LiveRange& b) {
  return a.first <= a.last && b.first <= b.last && a.first <= b.last && b.first <= a.last;
}

}  // namespace

std::vector<int> TightenLiveRanges(const Graph& graph, const MemoryModel& memory,
                                   const std::vector<int>& order, int max_passes) {
  const int n = static_cast<int>(order.size());
  const size_t num_buffers = memory.buffers.size();
  std::vector<int> current = order;
  // The positions and live ranges of `current`, recomputed only when a move
  // is kept (they are the same for every operator tried until then).
  std::vector<int> position(graph.ops.size(), 0);
  for (int i = 0; i < n; ++i) position[current[i]] = i;
  std::vector<LiveRange> before = ComputeLiveRanges(graph, memory, current);
  // Order edges (MemoryModel::order_edges) bound the moves as tensors do.
  std::vector<std::vector<int>> edge_preds(graph.ops.size()), edge_succs(graph.ops.size());
  for (const OrderEdge& edge : memory.order_edges) {
    edge_preds[edge.after].push_back(edge.before);
    edge_succs[edge.before].push_back(edge.after);
  }
  std::vector<int> touched;
  std::vector<char> is_touched(num_buffers, 0);
  for (int pass = 0; pass < max_passes; ++pass) {
    bool moved = false;
    for (int p = n - 1; p >= 0; --p) {
      const int op = current[p];
      const GraphOp& g = graph.ops[op];
      // The latest step it can run at (just before its first reader) and the
      // earliest (just after the last producer of its inputs).
      int latest = n - 1;
      for (int t : g.outputs) {
        for (int c : graph.tensors[t].consumers) latest = std::min(latest, position[c] - 1);
      }
      for (int s : edge_succs[op]) latest = std::min(latest, position[s] - 1);
      int earliest = 0;
      for (int t : g.inputs) {
        const int producer = graph.tensors[t].producer;
        if (producer >= 0) earliest = std::max(earliest, position[producer] + 1);
      }
      for (int b : edge_preds[op]) earliest = std::max(earliest, position[b] + 1);
      touched.clear();
      for (const std::vector<int>* list : {&g.inputs, &g.outputs}) {
        for (int t : *list) {
          const int b = memory.buffer_of_tensor[t];
          if (b < 0 || is_touched[b] || memory.buffers[b].bytes == 0) continue;
          is_touched[b] = 1;
          touched.push_back(b);
        }
      }
      for (int target : {latest, earliest}) {
        if (target == p) continue;
        std::vector<int> trial = current;
        trial.erase(trial.begin() + p);
        trial.insert(trial.begin() + target, op);
        std::vector<LiveRange> after = ComputeLiveRanges(graph, memory, trial);
        // Ranges pinned to the first or last step (graph inputs and outputs)
        // compare with steps, not operators: they are compared too.
        std::vector<int> compared = touched;
        for (size_t b = 0; b < num_buffers; ++b) {
          if (is_touched[b] || memory.buffers[b].bytes == 0) continue;
          if (before[b].first == 0 || after[b].first == 0 || before[b].last == n - 1 ||
              after[b].last == n - 1) {
            compared.push_back(static_cast<int>(b));
          }
        }
        // Keep the move only when no two buffers overlap that did not
        // before, and some pair stops overlapping. Pairs of buffers that do
        // not touch `op` keep their relation (the other operators keep their
        // relative order), so only the touched ones are compared.
        bool grows = false, shrinks = false;
        for (int b : compared) {
          for (size_t c = 0; c < num_buffers && !grows; ++c) {
            if (static_cast<int>(c) == b || memory.buffers[c].bytes == 0) continue;
            const bool was = Overlap(before[b], before[c]);
            const bool is = Overlap(after[b], after[c]);
            if (is && !was) grows = true;
            if (was && !is) shrinks = true;
          }
          if (grows) break;
        }
        if (!grows && shrinks) {
          current = std::move(trial);
          for (int i = 0; i < n; ++i) position[current[i]] = i;
          before = std::move(after);
          moved = true;
          break;
        }
      }
      for (int b : touched) is_touched[b] = 0;
    }
    if (!moved) break;
  }
  return current;
}

}  // namespace serenity::scheduler
