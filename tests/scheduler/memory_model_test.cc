#include "serenity/scheduler/memory_model.h"

#include <gtest/gtest.h>

#include <random>

#include "random_graphs.h"

namespace serenity::scheduler {
namespace {

using testing::RandomAliasing;
using testing::RandomGraph;
using testing::RandomGraphOptions;
using testing::RandomTopologicalOrder;
using testing::SimulateFootprints;

// x(100) -> a -> y(200) -> b -> z(300), z is the output; w(50) is an input
// nobody reads.
Graph ChainGraph() {
  Graph graph;
  graph.ops.resize(2);
  graph.ops[0].name = "a";
  graph.ops[1].name = "b";
  testing::AddTensor(graph, 100, -1);  // 0: x
  testing::AddTensor(graph, 200, 0);   // 1: y
  testing::AddTensor(graph, 300, 1);   // 2: z
  testing::AddTensor(graph, 50, -1);   // 3: w
  testing::AddEdge(graph, 0, 0);
  testing::AddEdge(graph, 1, 1);
  graph.tensors[2].graph_output = true;
  return graph;
}

TEST(MemoryModelTest, WithoutAliasingAlignsEveryTensorIntoItsOwnBuffer) {
  Graph graph = ChainGraph();
  MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  ASSERT_EQ(memory.buffers.size(), 4u);
  EXPECT_EQ(memory.buffers[0].bytes, 128u);
  EXPECT_EQ(memory.buffers[1].bytes, 256u);
  EXPECT_EQ(memory.buffers[2].bytes, 320u);
  EXPECT_EQ(memory.buffers[3].bytes, 64u);
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(memory.buffer_of_tensor[t], t);
    EXPECT_EQ(memory.buffers[t].tensors, std::vector<int>{t});
  }
}

TEST(MemoryModelTest, ChainByHand) {
  Graph graph = ChainGraph();
  MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  std::vector<LiveRange> ranges = ComputeLiveRanges(graph, memory, {0, 1});
  EXPECT_EQ(ranges[0].first, 0);  // input
  EXPECT_EQ(ranges[0].last, 0);
  EXPECT_EQ(ranges[1].first, 0);
  EXPECT_EQ(ranges[1].last, 1);
  EXPECT_EQ(ranges[2].first, 1);  // output
  EXPECT_EQ(ranges[2].last, 1);
  EXPECT_EQ(ranges[3].first, 0);  // unread input: step 0 only
  EXPECT_EQ(ranges[3].last, 0);
  EXPECT_EQ(FootprintPerStep(graph, memory, {0, 1}),
            (std::vector<uint64_t>{128 + 256 + 64, 256 + 320}));
  EXPECT_EQ(PeakBytes(graph, memory, {0, 1}), 576u);
}

TEST(MemoryModelTest, OutputProducedEarlyStaysLiveAndUnreadOutputIsLiveOnlyAtItsStep) {
  // op0: x -> a (graph output), d (nobody reads); op1: x -> b (output).
  Graph graph;
  graph.ops.resize(2);
  testing::AddTensor(graph, 64, -1);   // 0: x
  testing::AddTensor(graph, 128, 0);   // 1: a
  testing::AddTensor(graph, 640, 0);   // 2: d
  testing::AddTensor(graph, 192, 1);   // 3: b
  testing::AddEdge(graph, 0, 0);
  testing::AddEdge(graph, 1, 0);
  graph.tensors[1].graph_output = true;
  graph.tensors[3].graph_output = true;
  MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  EXPECT_EQ(FootprintPerStep(graph, memory, {0, 1}),
            (std::vector<uint64_t>{64 + 128 + 640, 64 + 128 + 192}));
  EXPECT_EQ(FootprintPerStep(graph, memory, {1, 0}),
            (std::vector<uint64_t>{64 + 192, 64 + 192 + 128 + 640}));
}

TEST(MemoryModelTest, AliasedBufferLivesFromFirstWriterToLastReader) {
  Graph graph = ChainGraph();
  MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  // y and z share one buffer of 320 bytes (z written in place over y).
  testing::MergeBuffers(memory, 2, 1, 320);
  ASSERT_EQ(memory.buffers.size(), 3u);
  const int shared = memory.buffer_of_tensor[1];
  EXPECT_EQ(shared, memory.buffer_of_tensor[2]);
  std::vector<LiveRange> ranges = ComputeLiveRanges(graph, memory, {0, 1});
  EXPECT_EQ(ranges[shared].first, 0);
  EXPECT_EQ(ranges[shared].last, 1);
  EXPECT_EQ(FootprintPerStep(graph, memory, {0, 1}),
            (std::vector<uint64_t>{128 + 320 + 64, 320}));
}

TEST(MemoryModelTest, EmptyGraphHasNoSteps) {
  Graph graph;
  testing::AddTensor(graph, 100, -1);
  graph.tensors[0].graph_output = true;
  MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  EXPECT_TRUE(FootprintPerStep(graph, memory, {}).empty());
  EXPECT_EQ(PeakBytes(graph, memory, {}), 0u);
}

TEST(MemoryModelTest, MatchesAllocateFreeSimulationOnRandomGraphs) {
  std::mt19937 rng(1234);
  RandomGraphOptions options;
  options.max_ops = 16;
  for (int trial = 0; trial < 3000; ++trial) {
    Graph graph = RandomGraph(rng, options);
    ASSERT_TRUE(ValidateGraph(graph).ok());
    MemoryModel memory =
        trial % 2 == 0 ? MemoryModel::WithoutAliasing(graph) : RandomAliasing(rng, graph);
    std::vector<int> order = RandomTopologicalOrder(rng, graph);
    ASSERT_TRUE(IsTopologicalOrder(graph, order));
    std::vector<uint64_t> expected = SimulateFootprints(graph, memory, order);
    ASSERT_EQ(FootprintPerStep(graph, memory, order), expected) << "trial " << trial;
    uint64_t peak = 0;
    for (uint64_t f : expected) peak = std::max(peak, f);
    ASSERT_EQ(PeakBytes(graph, memory, order), peak) << "trial " << trial;
  }
}

}  // namespace
}  // namespace serenity::scheduler
