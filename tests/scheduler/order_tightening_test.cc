#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "random_graphs.h"
#include "serenity/scheduler/memory_model.h"
#include "serenity/scheduler/ordering.h"

namespace serenity::scheduler {
namespace {

using testing::AddEdge;
using testing::AddTensor;
using testing::RandomAliasing;
using testing::RandomGraph;
using testing::RandomGraphOptions;
using testing::RandomTopologicalOrder;
using testing::SimulateHeldSteps;
using testing::SimulatePeak;

// Pairs of buffers (with bytes) held at a common step.
std::vector<std::vector<bool>> Conflicts(const Graph& graph, const MemoryModel& memory,
                                         const std::vector<int>& order) {
  const std::vector<std::vector<bool>> held = SimulateHeldSteps(graph, memory, order);
  const size_t n = held.size();
  std::vector<std::vector<bool>> conflict(n, std::vector<bool>(n, false));
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      if (a == b || memory.buffers[a].bytes == 0 || memory.buffers[b].bytes == 0) continue;
      for (size_t s = 0; s < order.size(); ++s) {
        if (held[a][s] && held[b][s]) conflict[a][b] = true;
      }
    }
  }
  return conflict;
}

TEST(TightenLiveRangesTest, PostponesAProducerWhoseInputStaysLiveAnyway) {
  // a: x -> y; c: x -> z; d: z -> q; b: x, y, q -> w (the output). In the
  // order a, c, d, b, y is held from the first step, beside z. x is read by
  // b anyway, so running a just before b holds nothing longer and y no
  // longer meets z.
  Graph graph;
  graph.ops.resize(4);
  const int x = AddTensor(graph, 1000, -1);
  const int y = AddTensor(graph, 100, 0);
  const int z = AddTensor(graph, 100, 1);
  const int q = AddTensor(graph, 100, 2);
  const int w = AddTensor(graph, 100, 3);
  AddEdge(graph, 0, x);
  AddEdge(graph, 1, x);
  AddEdge(graph, 2, z);
  AddEdge(graph, 3, x);
  AddEdge(graph, 3, y);
  AddEdge(graph, 3, q);
  graph.tensors[w].graph_output = true;
  const MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  const std::vector<int> tightened = TightenLiveRanges(graph, memory, {0, 1, 2, 3});
  EXPECT_EQ(tightened, (std::vector<int>{1, 2, 0, 3}));
  const std::vector<LiveRange> ranges = ComputeLiveRanges(graph, memory, tightened);
  EXPECT_EQ(ranges[memory.buffer_of_tensor[y]].first, 2);
  EXPECT_EQ(ranges[memory.buffer_of_tensor[z]].last, 1);
}

TEST(TightenLiveRangesTest, KeepsAProducerWhoseMoveWouldHoldItsInputLonger) {
  // x -> a -> y -> c; u -> b -> v -> c. a is x's last reader: postponing it
  // past b holds x (large) longer while b runs, a new conflict (x, v).
  Graph graph;
  graph.ops.resize(3);
  const int x = AddTensor(graph, 1000, -1);
  const int u = AddTensor(graph, 64, -1);
  const int y = AddTensor(graph, 100, 0);
  const int v = AddTensor(graph, 100, 1);
  const int out = AddTensor(graph, 100, 2);
  AddEdge(graph, 0, x);
  AddEdge(graph, 1, u);
  AddEdge(graph, 2, y);
  AddEdge(graph, 2, v);
  graph.tensors[out].graph_output = true;
  const MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  EXPECT_EQ(TightenLiveRanges(graph, memory, {0, 1, 2}), (std::vector<int>{0, 1, 2}));
}

// Against an independent simulation of the runtime: the result is a
// topological permutation, no two buffers conflict that did not before (so
// every arena plan of the old order is valid for the new one), and the peak
// does not rise.
TEST(TightenLiveRangesTest, RandomGraphsOnlyLoseConflicts) {
  std::mt19937 rng(20261125);
  RandomGraphOptions options;
  options.min_ops = 2;
  options.max_ops = 18;
  int changed = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const Graph graph = RandomGraph(rng, options);
    MemoryModel memory =
        trial % 2 == 0 ? MemoryModel::WithoutAliasing(graph) : RandomAliasing(rng, graph);
    // Every third graph has order edges (MemoryModel::order_edges), which
    // bound the moves as the graph's edges do.
    if (trial % 3 == 0) memory.order_edges = testing::RandomOrderEdges(rng, graph);
    const std::vector<int> order = RandomTopologicalOrder(rng, graph, memory.order_edges);
    ASSERT_TRUE(KeepsOrderEdges(memory, order));
    const std::vector<int> tightened = TightenLiveRanges(graph, memory, order);
    ASSERT_TRUE(IsTopologicalOrder(graph, tightened)) << "trial " << trial;
    ASSERT_TRUE(KeepsOrderEdges(memory, tightened)) << "trial " << trial;
    std::vector<int> sorted_old = order, sorted_new = tightened;
    std::sort(sorted_old.begin(), sorted_old.end());
    std::sort(sorted_new.begin(), sorted_new.end());
    ASSERT_EQ(sorted_old, sorted_new) << "trial " << trial;
    const auto before = Conflicts(graph, memory, order);
    const auto after = Conflicts(graph, memory, tightened);
    for (size_t a = 0; a < before.size(); ++a) {
      for (size_t b = 0; b < before.size(); ++b) {
        ASSERT_TRUE(!after[a][b] || before[a][b])
            << "trial " << trial << ": buffers " << a << " and " << b << " newly conflict";
      }
    }
    EXPECT_LE(SimulatePeak(graph, memory, tightened), SimulatePeak(graph, memory, order))
        << "trial " << trial;
    if (tightened != order) ++changed;
  }
  // The property is not checked vacuously.
  EXPECT_GT(changed, 200);
}

}  // namespace
}  // namespace serenity::scheduler
