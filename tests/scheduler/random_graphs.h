// Random graphs and memory models for the scheduler tests, and a step-by-step
// allocate/free simulation written independently of scheduler/.
#ifndef SERENITY_TESTS_SCHEDULER_RANDOM_GRAPHS_H_
#define SERENITY_TESTS_SCHEDULER_RANDOM_GRAPHS_H_

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"

namespace serenity::scheduler::testing {

struct RandomGraphOptions {
  int min_ops = 1;
  int max_ops = 10;
  int max_inputs_per_op = 3;
  int max_graph_inputs = 3;
  uint64_t max_tensor_bytes = 4000;
  // Probability that an operator reads from anywhere rather than recent work
  // (wide graphs and late reads of graph inputs).
  double far_read = 0.3;
};

inline void AddEdge(Graph& graph, int op, int tensor) {
  graph.ops[op].inputs.push_back(tensor);
  graph.tensors[tensor].consumers.push_back(op);
}

inline int AddTensor(Graph& graph, uint64_t bytes, int producer) {
  GraphTensor tensor;
  tensor.name = "t" + std::to_string(graph.tensors.size());
  tensor.bytes = bytes;
  tensor.producer = producer;
  tensor.graph_input = producer < 0;
  graph.tensors.push_back(tensor);
  const int index = static_cast<int>(graph.tensors.size()) - 1;
  if (producer >= 0) graph.ops[producer].outputs.push_back(index);
  return index;
}

// A DAG whose operator indices are a topological order: multi-consumer
// tensors, operators with several inputs and outputs, graph inputs read late,
// several graph outputs, tensors nobody reads.
inline Graph RandomGraph(std::mt19937& rng, const RandomGraphOptions& options) {
  auto uniform = [&](int lo, int hi) { return lo + static_cast<int>(rng() % (hi - lo + 1)); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto size = [&]() -> uint64_t {
    // Mostly a handful of distinct sizes (as in real networks), sometimes any.
    static constexpr uint64_t kSizes[] = {64, 128, 256, 512, 1024, 192};
    if (chance(0.6)) return kSizes[rng() % 6];
    return 1 + rng() % options.max_tensor_bytes;
  };
  Graph graph;
  const int num_ops = uniform(options.min_ops, options.max_ops);
  const int num_inputs = uniform(1, options.max_graph_inputs);
  for (int i = 0; i < num_inputs; ++i) AddTensor(graph, size(), -1);
  for (int o = 0; o < num_ops; ++o) {
    GraphOp op;
    op.name = "op" + std::to_string(o);
    op.type = "Random";
    graph.ops.push_back(op);
    const int available = static_cast<int>(graph.tensors.size());
    const int num_reads = std::min(available, uniform(1, options.max_inputs_per_op));
    std::vector<int> reads;
    for (int r = 0; r < num_reads; ++r) {
      int t;
      if (chance(options.far_read)) {
        t = uniform(0, available - 1);
      } else {
        t = std::max(0, available - 1 - uniform(0, 2));
      }
      if (std::find(reads.begin(), reads.end(), t) == reads.end()) reads.push_back(t);
    }
    for (int t : reads) AddEdge(graph, o, t);
    const int num_writes = chance(0.2) ? 2 : 1;
    for (int w = 0; w < num_writes; ++w) AddTensor(graph, size(), o);
  }
  for (GraphTensor& tensor : graph.tensors) {
    std::sort(tensor.consumers.begin(), tensor.consumers.end());
    if (tensor.producer >= 0 && tensor.consumers.empty() && chance(0.8)) {
      tensor.graph_output = true;
    } else if (tensor.producer >= 0 && chance(0.08)) {
      tensor.graph_output = true;
    } else if (tensor.graph_input && chance(0.05)) {
      tensor.graph_output = true;
    }
  }
  return graph;
}

// Merges the buffers of `a` and `b` into one of `bytes`.
inline void MergeBuffers(MemoryModel& memory, int tensor_a, int tensor_b, uint64_t bytes) {
  const int keep = memory.buffer_of_tensor[tensor_a];
  const int gone = memory.buffer_of_tensor[tensor_b];
  if (keep == gone) return;
  for (int t : memory.buffers[gone].tensors) {
    memory.buffers[keep].tensors.push_back(t);
    memory.buffer_of_tensor[t] = keep;
  }
  memory.buffers[gone].tensors.clear();
  memory.buffers[keep].bytes = AlignUp(bytes);
  // Keep buffer indices dense: move the last buffer into the hole.
  const int last = static_cast<int>(memory.buffers.size()) - 1;
  if (gone != last) {
    memory.buffers[gone] = memory.buffers[last];
    for (int t : memory.buffers[gone].tensors) memory.buffer_of_tensor[t] = gone;
  }
  memory.buffers.pop_back();
}

// Aliasing groups like the rewrites produce: in place (an output over an
// input), concat-like (inputs as slices of the output), and arbitrary pairs.
inline MemoryModel RandomAliasing(std::mt19937& rng, const Graph& graph) {
  MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  const int groups = static_cast<int>(rng() % 4);
  for (int g = 0; g < groups && !graph.ops.empty(); ++g) {
    const GraphOp& op = graph.ops[rng() % graph.ops.size()];
    const int kind = static_cast<int>(rng() % 3);
    if (kind == 0 && !op.inputs.empty() && !op.outputs.empty()) {
      const int in = op.inputs[rng() % op.inputs.size()];
      const int out = op.outputs[0];
      const uint64_t bytes = std::max(memory.buffers[memory.buffer_of_tensor[in]].bytes,
                                      memory.buffers[memory.buffer_of_tensor[out]].bytes);
      MergeBuffers(memory, out, in, bytes);
    } else if (kind == 1 && op.inputs.size() >= 2 && !op.outputs.empty()) {
      const int out = op.outputs[0];
      uint64_t bytes = memory.buffers[memory.buffer_of_tensor[out]].bytes;
      for (int in : op.inputs) {
        if (memory.buffer_of_tensor[in] != memory.buffer_of_tensor[out]) {
          bytes += memory.buffers[memory.buffer_of_tensor[in]].bytes;
          MergeBuffers(memory, out, in, bytes);
        }
      }
    } else {
      const int a = static_cast<int>(rng() % graph.tensors.size());
      const int b = static_cast<int>(rng() % graph.tensors.size());
      const uint64_t bytes = std::max(memory.buffers[memory.buffer_of_tensor[a]].bytes,
                                      memory.buffers[memory.buffer_of_tensor[b]].bytes) +
                             64 * (rng() % 3);
      MergeBuffers(memory, a, b, bytes);
    }
  }
  return memory;
}

// Per buffer, the steps of `order` at which a runtime holds it, simulated
// the way a runtime would: before a step, allocate every buffer one of whose
// tensors this operator writes (if not yet allocated); after the step, free
// every buffer none of whose tensors will be read again and none of which is
// a graph output. Graph inputs are allocated before step 0; one nobody reads
// is freed after step 0.
inline std::vector<std::vector<bool>> SimulateHeldSteps(const Graph& graph,
                                                        const MemoryModel& memory,
                                                        const std::vector<int>& order) {
  const size_t num_buffers = memory.buffers.size();
  std::vector<std::vector<bool>> held(num_buffers, std::vector<bool>(order.size(), false));
  std::vector<bool> allocated(num_buffers, false);
  std::vector<bool> freed(num_buffers, false);
  std::vector<bool> ran(graph.ops.size(), false);
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    if (graph.tensors[t].graph_input) allocated[memory.buffer_of_tensor[t]] = true;
  }
  for (size_t step = 0; step < order.size(); ++step) {
    const int op = order[step];
    for (int t : graph.ops[op].outputs) allocated[memory.buffer_of_tensor[t]] = true;
    ran[op] = true;
    for (size_t b = 0; b < num_buffers; ++b) held[b][step] = allocated[b] && !freed[b];
    for (size_t b = 0; b < num_buffers; ++b) {
      if (!allocated[b] || freed[b]) continue;
      bool needed = false;
      for (int t : memory.buffers[b].tensors) {
        const GraphTensor& tensor = graph.tensors[t];
        if (tensor.graph_output) needed = true;
        if (tensor.producer >= 0 && !ran[tensor.producer]) needed = true;
        for (int c : tensor.consumers) needed = needed || !ran[c];
      }
      if (!needed) freed[b] = true;
    }
  }
  return held;
}

// The footprint of every step of `order`: the bytes of the buffers held then
// (SimulateHeldSteps).
inline std::vector<uint64_t> SimulateFootprints(const Graph& graph, const MemoryModel& memory,
                                                const std::vector<int>& order) {
  const std::vector<std::vector<bool>> held = SimulateHeldSteps(graph, memory, order);
  std::vector<uint64_t> footprints(order.size(), 0);
  for (size_t b = 0; b < held.size(); ++b) {
    for (size_t step = 0; step < order.size(); ++step) {
      if (held[b][step]) footprints[step] += memory.buffers[b].bytes;
    }
  }
  return footprints;
}

inline uint64_t SimulatePeak(const Graph& graph, const MemoryModel& memory,
                             const std::vector<int>& order) {
  std::vector<uint64_t> footprints = SimulateFootprints(graph, memory, order);
  return footprints.empty() ? 0 : *std::max_element(footprints.begin(), footprints.end());
}

// A random topological order, keeping `edges` too.
inline std::vector<int> RandomTopologicalOrder(std::mt19937& rng, const Graph& graph,
                                               const std::vector<OrderEdge>& edges = {}) {
  std::vector<int> pending(graph.ops.size(), 0);
  std::vector<std::vector<int>> edge_succs(graph.ops.size());
  for (size_t o = 0; o < graph.ops.size(); ++o) {
    for (int t : graph.ops[o].inputs) pending[o] += graph.tensors[t].producer >= 0 ? 1 : 0;
  }
  for (const OrderEdge& edge : edges) {
    ++pending[edge.after];
    edge_succs[edge.before].push_back(edge.after);
  }
  std::vector<int> ready;
  for (size_t o = 0; o < graph.ops.size(); ++o) {
    if (pending[o] == 0) ready.push_back(static_cast<int>(o));
  }
  std::vector<int> order;
  while (!ready.empty()) {
    const size_t pick = rng() % ready.size();
    const int op = ready[pick];
    ready.erase(ready.begin() + static_cast<std::ptrdiff_t>(pick));
    order.push_back(op);
    for (int t : graph.ops[op].outputs) {
      for (int c : graph.tensors[t].consumers) {
        if (--pending[c] == 0) ready.push_back(c);
      }
    }
    for (int s : edge_succs[op]) {
      if (--pending[s] == 0) ready.push_back(s);
    }
  }
  return order;
}

// One to three order edges between operators that a random topological order
// runs in that order (so some order keeps them all), not already implied by
// a tensor between them.
inline std::vector<OrderEdge> RandomOrderEdges(std::mt19937& rng, const Graph& graph) {
  std::vector<OrderEdge> edges;
  const int n = static_cast<int>(graph.ops.size());
  if (n < 2) return edges;
  const std::vector<int> order = RandomTopologicalOrder(rng, graph);
  const int count = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < count; ++e) {
    int i = static_cast<int>(rng() % n), j = static_cast<int>(rng() % n);
    if (i == j) continue;
    if (i > j) std::swap(i, j);
    edges.push_back(OrderEdge{order[i], order[j]});
  }
  return edges;
}

}  // namespace serenity::scheduler::testing

#endif  // SERENITY_TESTS_SCHEDULER_RANDOM_GRAPHS_H_
