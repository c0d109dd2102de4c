#include "serenity/scheduler/ordering.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <set>
#include <sstream>

#include "random_graphs.h"

namespace serenity::scheduler {
namespace {

using testing::RandomAliasing;
using testing::RandomGraph;
using testing::RandomGraphOptions;

#if defined(__SANITIZE_ADDRESS__)
#define SERENITY_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SERENITY_SANITIZED 1
#endif
#endif

// Number of topological orders, by dynamic programming over subsets.
uint64_t CountOrders(const Graph& graph) {
  const int n = static_cast<int>(graph.ops.size());
  std::vector<uint32_t> preds(n, 0);
  for (int o = 0; o < n; ++o) {
    for (int t : graph.ops[o].inputs) {
      if (graph.tensors[t].producer >= 0) preds[o] |= 1u << graph.tensors[t].producer;
    }
  }
  std::vector<uint64_t> count(size_t{1} << n, 0);
  count[0] = 1;
  for (uint32_t set = 0; set < (1u << n); ++set) {
    if (count[set] == 0) continue;
    for (int o = 0; o < n; ++o) {
      if (!(set & (1u << o)) && (preds[o] & ~set) == 0) count[set | (1u << o)] += count[set];
    }
  }
  return count[(size_t{1} << n) - 1];
}

// Enumerates every topological order, keeping the footprints of the prefix in
// an allocate/free simulation (the same rules as testing::SimulateFootprints,
// incrementally). Returns the smallest peak.
class BruteForce {
 public:
  BruteForce(const Graph& graph, const MemoryModel& memory) : graph_(graph), memory_(memory) {
    const size_t num_buffers = memory.buffers.size();
    remaining_uses_.assign(num_buffers, 0);
    output_.assign(num_buffers, false);
    allocated_.assign(num_buffers, 0);
    for (size_t b = 0; b < num_buffers; ++b) {
      for (int t : memory.buffers[b].tensors) {
        const GraphTensor& tensor = graph.tensors[t];
        if (tensor.graph_output) output_[b] = true;
        if (tensor.graph_input) allocated_[b] = 1;
        // One use per writer and per reader.
        remaining_uses_[b] += (tensor.producer >= 0 ? 1 : 0) +
                              static_cast<int>(tensor.consumers.size());
      }
      // An input nobody reads (and no output) is live at the first step only.
      if (allocated_[b] && remaining_uses_[b] == 0 && !output_[b]) {
        allocated_[b] = 2;
        first_step_only_ += memory.buffers[b].bytes;
      }
      if (allocated_[b] == 1) live_ += memory.buffers[b].bytes;
    }
    pending_.assign(graph.ops.size(), 0);
    for (size_t o = 0; o < graph.ops.size(); ++o) {
      for (int t : graph.ops[o].inputs) pending_[o] += graph.tensors[t].producer >= 0 ? 1 : 0;
    }
    edge_succs_.resize(graph.ops.size());
    for (const OrderEdge& edge : memory.order_edges) {
      ++pending_[edge.after];
      edge_succs_[edge.before].push_back(edge.after);
    }
  }

  uint64_t Run() {
    best_ = UINT64_MAX;
    orders_ = 0;
    Recurse(0, 0);
    return best_;
  }
  uint64_t orders() const { return orders_; }

 private:
  // Uses of buffer b by op (a buffer may be read through two tensors).
  int Uses(int op, int b) const {
    int uses = 0;
    for (int t : graph_.ops[op].outputs) uses += memory_.buffer_of_tensor[t] == b ? 1 : 0;
    for (int t : graph_.ops[op].inputs) uses += memory_.buffer_of_tensor[t] == b ? 1 : 0;
    return uses;
  }

  void Recurse(int step, uint64_t peak) {
    if (step == static_cast<int>(graph_.ops.size())) {
      ++orders_;
      best_ = std::min(best_, peak);
      return;
    }
    for (size_t o = 0; o < graph_.ops.size(); ++o) {
      if (pending_[o] != 0 || done_.count(static_cast<int>(o))) continue;
      const int op = static_cast<int>(o);
      // Allocate what op writes, count, then free what nobody needs.
      std::vector<int> newly_allocated;
      for (int t : graph_.ops[op].outputs) {
        const int b = memory_.buffer_of_tensor[t];
        if (!allocated_[b]) {
          allocated_[b] = 1;
          live_ += memory_.buffers[b].bytes;
          newly_allocated.push_back(b);
        }
      }
      const uint64_t footprint = live_ + (step == 0 ? first_step_only_ : 0);
      std::vector<int> touched;
      for (size_t b = 0; b < memory_.buffers.size(); ++b) {
        const int uses = Uses(op, static_cast<int>(b));
        if (uses == 0) continue;
        remaining_uses_[b] -= uses;
        touched.push_back(static_cast<int>(b));
      }
      std::vector<int> freed;
      for (int b : touched) {
        if (remaining_uses_[b] == 0 && !output_[b] && allocated_[b] == 1) {
          allocated_[b] = 2;
          live_ -= memory_.buffers[b].bytes;
          freed.push_back(b);
        }
      }
      for (int t : graph_.ops[op].outputs) {
        for (int c : graph_.tensors[t].consumers) --pending_[c];
      }
      for (int s : edge_succs_[op]) --pending_[s];
      done_.insert(op);
      Recurse(step + 1, std::max(peak, footprint));
      done_.erase(op);
      for (int t : graph_.ops[op].outputs) {
        for (int c : graph_.tensors[t].consumers) ++pending_[c];
      }
      for (int s : edge_succs_[op]) ++pending_[s];
      for (int b : freed) {
        allocated_[b] = 1;
        live_ += memory_.buffers[b].bytes;
      }
      for (int b : touched) remaining_uses_[b] += Uses(op, b);
      for (int b : newly_allocated) {
        allocated_[b] = 0;
        live_ -= memory_.buffers[b].bytes;
      }
    }
  }

  const Graph& graph_;
  const MemoryModel& memory_;
  std::vector<int> remaining_uses_;
  std::vector<bool> output_;
  std::vector<int> allocated_;  // 0 not yet, 1 allocated, 2 freed
  std::vector<int> pending_;
  std::vector<std::vector<int>> edge_succs_;  // MemoryModel::order_edges
  std::set<int> done_;
  uint64_t live_ = 0;
  uint64_t first_step_only_ = 0;
  uint64_t best_ = UINT64_MAX;
  uint64_t orders_ = 0;
};


// For failure messages: every operator's reads and writes, and the buffers.
std::string DescribeGraph(const Graph& graph, const MemoryModel& memory) {
  std::ostringstream out;
  for (size_t o = 0; o < graph.ops.size(); ++o) {
    out << "\n  op " << o << ": reads";
    for (int t : graph.ops[o].inputs) out << " t" << t;
    out << " writes";
    for (int t : graph.ops[o].outputs) out << " t" << t;
  }
  for (size_t b = 0; b < memory.buffers.size(); ++b) {
    out << "\n  buffer " << b << " (" << memory.buffers[b].bytes << " B):";
    for (int t : memory.buffers[b].tensors) {
      out << " t" << t << (graph.tensors[t].graph_input ? "(in)" : "")
          << (graph.tensors[t].graph_output ? "(out)" : "");
    }
  }
  return out.str();
}

Schedule MustSchedule(const Graph& graph, const MemoryModel& memory, Algorithm algorithm,
                      double time_limit_seconds = 0) {
  ScheduleOptions options;
  options.algorithm = algorithm;
  options.time_limit_seconds = time_limit_seconds;
  Result<Schedule> schedule = ComputeSchedule(graph, memory, options);
  EXPECT_TRUE(schedule.ok()) << schedule.status().ToString();
  return schedule.ok() ? *std::move(schedule) : Schedule{};
}

// Random DAG whose number of topological orders brute force can enumerate.
Graph EnumerableGraph(std::mt19937& rng, const RandomGraphOptions& options, uint64_t max_orders) {
  while (true) {
    Graph graph = RandomGraph(rng, options);
    if (CountOrders(graph) <= max_orders) return graph;
  }
}

// With `order_edges`, every model also carries random order edges
// (testing::RandomOrderEdges), which the brute force keeps as it keeps the
// graph's edges.
void CheckAgainstBruteForce(int seed, int num_graphs, bool aliasing, bool order_edges = false) {
  std::mt19937 rng(seed);
  RandomGraphOptions options;
  options.min_ops = 2;
  options.max_ops = 12;
  uint64_t total_orders = 0;
  int not_stored_optimal = 0;
  int edges_raised = 0;  // graphs whose order edges raise the optimum
  for (int trial = 0; trial < num_graphs; ++trial) {
    options.far_read = trial % 3 == 0 ? 0.7 : 0.3;
    Graph graph = EnumerableGraph(rng, options, 20000);
    ASSERT_TRUE(ValidateGraph(graph).ok());
    MemoryModel memory =
        aliasing ? RandomAliasing(rng, graph) : MemoryModel::WithoutAliasing(graph);
    if (order_edges) {
      memory.order_edges = testing::RandomOrderEdges(rng, graph);
      MemoryModel free = memory;
      free.order_edges.clear();
      edges_raised += BruteForce(graph, free).Run() < BruteForce(graph, memory).Run() ? 1 : 0;
    }
    BruteForce brute_force(graph, memory);
    const uint64_t optimum = brute_force.Run();
    total_orders += brute_force.orders();
    SCOPED_TRACE(::testing::Message() << "seed " << seed << " trial " << trial << " ops "
                                      << graph.ops.size() << " orders "
                                      << brute_force.orders());

    const Schedule exact = MustSchedule(graph, memory, Algorithm::kOptimal);
    ASSERT_TRUE(IsTopologicalOrder(graph, exact.order));
    ASSERT_TRUE(KeepsOrderEdges(memory, exact.order));
    ASSERT_EQ(exact.peak_bytes, testing::SimulatePeak(graph, memory, exact.order));
    ASSERT_EQ(exact.peak_bytes, optimum) << DescribeGraph(graph, memory);
    ASSERT_TRUE(exact.optimal);
    ASSERT_EQ(exact.lower_bound_bytes, optimum);

    for (Algorithm algorithm : {Algorithm::kHeuristic, Algorithm::kStored}) {
      const Schedule other = MustSchedule(graph, memory, algorithm);
      ASSERT_TRUE(IsTopologicalOrder(graph, other.order));
      ASSERT_TRUE(KeepsOrderEdges(memory, other.order));
      ASSERT_EQ(other.peak_bytes, testing::SimulatePeak(graph, memory, other.order));
      ASSERT_GE(other.peak_bytes, optimum);
      ASSERT_LE(other.lower_bound_bytes, optimum);
      ASSERT_EQ(other.optimal, other.peak_bytes == other.lower_bound_bytes);
      if (algorithm == Algorithm::kStored) {
        std::vector<int> identity(graph.ops.size());
        for (size_t i = 0; i < identity.size(); ++i) identity[i] = static_cast<int>(i);
        if (!order_edges) {
          ASSERT_EQ(other.order, identity);
        }
        not_stored_optimal += other.peak_bytes > optimum ? 1 : 0;
      }
    }
  }
  // The graphs are not trivial: ordering matters on a good share of them.
  EXPECT_GT(not_stored_optimal, num_graphs / 10);
  EXPECT_GT(total_orders, static_cast<uint64_t>(num_graphs) * 50);
  // ... and the order edges are not idle.
  if (order_edges) {
    EXPECT_GT(edges_raised, num_graphs / 10);
  }
}

// Longer runs: -DSERENITY_ORDERING_TEST_SEED=<n> -DSERENITY_ORDERING_TEST_GRAPHS=<n>.
#ifndef SERENITY_ORDERING_TEST_SEED
#define SERENITY_ORDERING_TEST_SEED 0
#endif
#ifdef SERENITY_ORDERING_TEST_GRAPHS
constexpr int kGraphsPerCase = SERENITY_ORDERING_TEST_GRAPHS;
#elif defined(SERENITY_SANITIZED)
constexpr int kGraphsPerCase = 400;
#else
constexpr int kGraphsPerCase = 1250;
#endif

TEST(OrderingTest, ExactMatchesBruteForceWithoutAliasing) {
  CheckAgainstBruteForce(1 + SERENITY_ORDERING_TEST_SEED, kGraphsPerCase, false);
}

TEST(OrderingTest, ExactMatchesBruteForceWithAliasing) {
  CheckAgainstBruteForce(2 + SERENITY_ORDERING_TEST_SEED, kGraphsPerCase, true);
}

// Order edges (MemoryModel::order_edges, which last-reader in-place aliasing
// adds) constrain every algorithm as the graph's edges do.
TEST(OrderingTest, ExactMatchesBruteForceWithOrderEdges) {
  CheckAgainstBruteForce(7 + SERENITY_ORDERING_TEST_SEED, kGraphsPerCase / 2, true, true);
}

// Long chains and wide fans: the shapes where units are merged.
TEST(OrderingTest, ExactMatchesBruteForceOnChainyGraphs) {
  std::mt19937 rng(3 + SERENITY_ORDERING_TEST_SEED);
  RandomGraphOptions options;
  options.min_ops = 6;
  options.max_ops = 12;
  options.max_inputs_per_op = 1;
  options.far_read = 0.25;
  for (int trial = 0; trial < kGraphsPerCase / 2; ++trial) {
    Graph graph = EnumerableGraph(rng, options, 20000);
    MemoryModel memory =
        trial % 2 ? RandomAliasing(rng, graph) : MemoryModel::WithoutAliasing(graph);
    BruteForce brute_force(graph, memory);
    const uint64_t optimum = brute_force.Run();
    const Schedule exact = MustSchedule(graph, memory, Algorithm::kOptimal);
    ASSERT_TRUE(IsTopologicalOrder(graph, exact.order)) << "trial " << trial;
    ASSERT_EQ(exact.peak_bytes, optimum) << "trial " << trial;
    ASSERT_TRUE(exact.optimal) << "trial " << trial;
  }
}

// Graphs shaped like the aliasing the engine plans (alias.h): RandWire-like
// nodes (each input scaled by a Mul, then an n-input Add over the first
// scaled input, in place), in-place element-wise chains, convolutions that
// change the size, and zero-copy concats whose inputs are slices of the
// output. Sizes come from a few values, as in real networks.
struct AliasedGraph {
  Graph graph;
  MemoryModel memory;
};

AliasedGraph RandomAliasedGraph(std::mt19937& rng, int max_ops) {
  static constexpr uint64_t kSizes[] = {64, 128, 256, 512};
  auto size = [&]() { return kSizes[rng() % 4]; };
  AliasedGraph result;
  Graph& graph = result.graph;
  std::vector<std::pair<int, int>> in_place;           // (output, input 0)
  std::vector<std::vector<int>> concats;               // output, then inputs
  auto add_op = [&](const std::vector<int>& inputs) {
    GraphOp op;
    op.name = "op" + std::to_string(graph.ops.size());
    op.type = "Random";
    graph.ops.push_back(op);
    const int o = static_cast<int>(graph.ops.size()) - 1;
    for (int t : inputs) testing::AddEdge(graph, o, t);
    return o;
  };
  auto pick = [&]() {
    // Mostly recent tensors, sometimes any (fan-out, late reads).
    const int n = static_cast<int>(graph.tensors.size());
    if (rng() % 3 == 0) return static_cast<int>(rng() % n);
    return std::max(0, n - 1 - static_cast<int>(rng() % 3));
  };
  const int num_inputs = 1 + static_cast<int>(rng() % 2);
  for (int i = 0; i < num_inputs; ++i) testing::AddTensor(graph, size(), -1);
  while (static_cast<int>(graph.ops.size()) < max_ops) {
    const int room = max_ops - static_cast<int>(graph.ops.size());
    const int kind = static_cast<int>(rng() % 4);
    if (kind == 0 && room >= 3) {
      // Weighted sum: Mul per input, then an Add over the scaled inputs.
      const int fan_in = std::min(room - 1, 2 + static_cast<int>(rng() % 2));
      std::vector<int> scaled;
      for (int i = 0; i < fan_in; ++i) {
        const int x = pick();
        if (std::find(scaled.begin(), scaled.end(), x) != scaled.end()) continue;
        const int mul = add_op({x});
        const int y = testing::AddTensor(graph, graph.tensors[x].bytes, mul);
        in_place.push_back({y, x});
        scaled.push_back(y);
      }
      const int add = add_op(scaled);
      const int sum = testing::AddTensor(graph, graph.tensors[scaled[0]].bytes, add);
      in_place.push_back({sum, scaled[0]});
    } else if (kind == 1) {
      // Element-wise (Relu): in place when its input has no other reader.
      const int x = pick();
      const int relu = add_op({x});
      in_place.push_back({testing::AddTensor(graph, graph.tensors[x].bytes, relu), x});
    } else if (kind == 2 && room >= 3) {
      // Two producers writing slices of a concat.
      std::vector<int> parts;
      for (int i = 0; i < 2; ++i) {
        const int conv = add_op({pick()});
        parts.push_back(testing::AddTensor(graph, size(), conv));
      }
      const int concat = add_op(parts);
      uint64_t bytes = 0;
      for (int t : parts) bytes += graph.tensors[t].bytes;
      std::vector<int> group = {testing::AddTensor(graph, bytes, concat)};
      group.insert(group.end(), parts.begin(), parts.end());
      concats.push_back(group);
    } else {
      // Convolution: a new buffer of another size.
      const int conv = add_op({pick()});
      testing::AddTensor(graph, size(), conv);
    }
  }
  for (GraphTensor& tensor : graph.tensors) {
    std::sort(tensor.consumers.begin(), tensor.consumers.end());
    if (tensor.producer >= 0 && (tensor.consumers.empty() || rng() % 16 == 0)) {
      tensor.graph_output = true;
    }
  }
  // The aliasing rules: input 0 overwritten only when this op is its one
  // reader and it is neither a graph input nor an output; concat inputs
  // become slices when the concat is their one reader.
  auto single_reader = [&](int t) {
    const GraphTensor& tensor = graph.tensors[t];
    return !tensor.graph_input && !tensor.graph_output && tensor.consumers.size() == 1;
  };
  result.memory = MemoryModel::WithoutAliasing(graph);
  for (const std::vector<int>& group : concats) {
    bool ok = true;
    for (size_t i = 1; i < group.size(); ++i) ok = ok && single_reader(group[i]);
    if (!ok || graph.tensors[group[0]].graph_output) continue;
    for (size_t i = 1; i < group.size(); ++i) {
      testing::MergeBuffers(result.memory, group[0], group[i], graph.tensors[group[0]].bytes);
    }
  }
  for (const auto& [out, in] : in_place) {
    if (!single_reader(in) || graph.tensors[out].graph_output) continue;
    const MemoryModel& m = result.memory;
    const uint64_t bytes = std::max(m.buffers[m.buffer_of_tensor[in]].bytes,
                                    m.buffers[m.buffer_of_tensor[out]].bytes);
    testing::MergeBuffers(result.memory, out, in, bytes);
  }
  return result;
}

TEST(OrderingTest, ExactMatchesBruteForceOnAliasedNetworks) {
  std::mt19937 rng(4 + SERENITY_ORDERING_TEST_SEED);
  int not_stored_optimal = 0;
  int merged = 0;
  for (int trial = 0; trial < kGraphsPerCase; ++trial) {
    AliasedGraph aliased;
    do {
      aliased = RandomAliasedGraph(rng, 6 + static_cast<int>(rng() % 7));
    } while (CountOrders(aliased.graph) > 20000);
    const Graph& graph = aliased.graph;
    const MemoryModel& memory = aliased.memory;
    ASSERT_TRUE(ValidateGraph(graph).ok());
    merged += memory.buffers.size() < graph.tensors.size() ? 1 : 0;
    BruteForce brute_force(graph, memory);
    const uint64_t optimum = brute_force.Run();
    const Schedule exact = MustSchedule(graph, memory, Algorithm::kOptimal);
    ASSERT_TRUE(IsTopologicalOrder(graph, exact.order)) << "trial " << trial;
    ASSERT_EQ(exact.peak_bytes, testing::SimulatePeak(graph, memory, exact.order));
    ASSERT_EQ(exact.peak_bytes, optimum) << "trial " << trial << DescribeGraph(graph, memory);
    ASSERT_TRUE(exact.optimal) << "trial " << trial;
    ASSERT_EQ(exact.lower_bound_bytes, optimum);
    const Schedule stored = MustSchedule(graph, memory, Algorithm::kStored);
    not_stored_optimal += stored.peak_bytes > optimum ? 1 : 0;
  }
  // Aliasing happens on most graphs, and the order matters on a good share.
  EXPECT_GT(merged, kGraphsPerCase / 2);
  EXPECT_GT(not_stored_optimal, kGraphsPerCase / 10);
}

// Hand-made: two branches from one input; finishing one before starting the
// other never holds both big tensors.
TEST(OrderingTest, TwoBranchesByHand) {
  // x -> a1 (big) -> a2 (small) ; x -> b1 (big) -> b2 (small); both outputs.
  Graph graph;
  graph.ops.resize(4);
  testing::AddTensor(graph, 64, -1);     // 0: x
  testing::AddTensor(graph, 1024, 0);    // 1: a1
  testing::AddTensor(graph, 64, 1);      // 2: a2
  testing::AddTensor(graph, 1024, 2);    // 3: b1
  testing::AddTensor(graph, 64, 3);      // 4: b2
  testing::AddEdge(graph, 0, 0);
  testing::AddEdge(graph, 1, 1);
  testing::AddEdge(graph, 2, 0);
  testing::AddEdge(graph, 3, 3);
  graph.tensors[2].graph_output = true;
  graph.tensors[4].graph_output = true;
  MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  const Schedule stored = MustSchedule(graph, memory, Algorithm::kStored);
  EXPECT_EQ(stored.peak_bytes, 64u + 1024 + 64);  // x, a1, a2 at op 1
  const Schedule exact = MustSchedule(graph, memory, Algorithm::kOptimal);
  EXPECT_TRUE(exact.optimal);
  EXPECT_EQ(exact.peak_bytes, 64u + 1024 + 64);
  // Order 0,2,1,3 holds both big tensors at once.
  EXPECT_EQ(PeakBytes(graph, memory, {0, 2, 1, 3}), 64u + 1024 + 1024);
}

TEST(OrderingTest, EmptyAndSingleOperatorGraphs) {
  Graph empty;
  MemoryModel memory = MemoryModel::WithoutAliasing(empty);
  for (Algorithm algorithm : {Algorithm::kStored, Algorithm::kHeuristic, Algorithm::kOptimal}) {
    const Schedule schedule = MustSchedule(empty, memory, algorithm);
    EXPECT_TRUE(schedule.order.empty());
    EXPECT_EQ(schedule.peak_bytes, 0u);
    EXPECT_TRUE(schedule.optimal);
  }
  Graph one;
  one.ops.resize(1);
  testing::AddTensor(one, 100, -1);
  testing::AddTensor(one, 100, 0);
  testing::AddEdge(one, 0, 0);
  one.tensors[1].graph_output = true;
  const Schedule schedule =
      MustSchedule(one, MemoryModel::WithoutAliasing(one), Algorithm::kOptimal);
  EXPECT_EQ(schedule.order, std::vector<int>{0});
  EXPECT_EQ(schedule.peak_bytes, 256u);
  EXPECT_TRUE(schedule.optimal);
}

TEST(OrderingTest, StoredOrderThatIsNotTopologicalIsRepaired) {
  // op 0 reads what op 1 writes.
  Graph graph;
  graph.ops.resize(2);
  testing::AddTensor(graph, 64, -1);   // 0: x
  testing::AddTensor(graph, 64, 1);    // 1: y (op 1)
  testing::AddTensor(graph, 64, 0);    // 2: z (op 0)
  testing::AddEdge(graph, 1, 0);
  testing::AddEdge(graph, 0, 1);
  graph.tensors[2].graph_output = true;
  ASSERT_TRUE(ValidateGraph(graph).ok());
  const Schedule stored =
      MustSchedule(graph, MemoryModel::WithoutAliasing(graph), Algorithm::kStored);
  EXPECT_EQ(stored.order, (std::vector<int>{1, 0}));
}

TEST(OrderingTest, InvalidInputsAreRejected) {
  Graph graph;
  graph.ops.resize(2);
  testing::AddTensor(graph, 64, 0);
  testing::AddTensor(graph, 64, 1);
  testing::AddEdge(graph, 0, 1);
  testing::AddEdge(graph, 1, 0);  // a cycle
  Result<Schedule> cyclic =
      ComputeSchedule(graph, MemoryModel::WithoutAliasing(graph), ScheduleOptions{});
  ASSERT_FALSE(cyclic.ok());
  EXPECT_EQ(cyclic.status().code(), StatusCode::kInvalidArgument);

  Graph ok;
  ok.ops.resize(1);
  testing::AddTensor(ok, 64, -1);
  testing::AddTensor(ok, 64, 0);
  testing::AddEdge(ok, 0, 0);
  MemoryModel memory = MemoryModel::WithoutAliasing(ok);
  memory.buffer_of_tensor.pop_back();
  Result<Schedule> mismatched = ComputeSchedule(ok, memory, ScheduleOptions{});
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.status().code(), StatusCode::kInvalidArgument);
}

TEST(OrderingTest, OrderEdgesThatNoOrderKeepsAreRejected) {
  // op 0 writes t1, op 1 reads it; op 2 reads t1 too.
  Graph graph;
  graph.ops.resize(3);
  testing::AddTensor(graph, 64, -1);  // 0: x
  testing::AddTensor(graph, 64, 0);   // 1: op 0
  testing::AddTensor(graph, 64, 1);   // 2: op 1
  testing::AddTensor(graph, 64, 2);   // 3: op 2
  testing::AddEdge(graph, 0, 0);
  testing::AddEdge(graph, 1, 1);
  testing::AddEdge(graph, 2, 1);
  graph.tensors[2].graph_output = true;
  graph.tensors[3].graph_output = true;
  ASSERT_TRUE(ValidateGraph(graph).ok());
  for (Algorithm algorithm : {Algorithm::kStored, Algorithm::kHeuristic, Algorithm::kOptimal}) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    ScheduleOptions options;
    options.algorithm = algorithm;
    MemoryModel memory = MemoryModel::WithoutAliasing(graph);
    memory.order_edges = {OrderEdge{2, 1}};
    Result<Schedule> kept = ComputeSchedule(graph, memory, options);
    ASSERT_TRUE(kept.ok()) << kept.status().ToString();
    EXPECT_EQ(kept->order, (std::vector<int>{0, 2, 1}));
    for (const std::vector<OrderEdge>& bad :
         {std::vector<OrderEdge>{{1, 0}},          // against op 0 -> op 1
          std::vector<OrderEdge>{{2, 1}, {1, 2}},  // a cycle of two edges
          std::vector<OrderEdge>{{1, 1}},          // onto itself
          std::vector<OrderEdge>{{0, 3}},          // no operator 3
          std::vector<OrderEdge>{{-1, 2}}}) {
      memory.order_edges = bad;
      Result<Schedule> refused = ComputeSchedule(graph, memory, options);
      ASSERT_FALSE(refused.ok()) << bad[0].before << " -> " << bad[0].after;
      EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    }
  }
  // KeepsOrderEdges: the oracle the engine checks a cached plan with.
  MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  memory.order_edges = {OrderEdge{2, 1}};
  EXPECT_TRUE(KeepsOrderEdges(memory, {0, 2, 1}));
  EXPECT_FALSE(KeepsOrderEdges(memory, {0, 1, 2}));
  EXPECT_FALSE(KeepsOrderEdges(memory, {0, 2}));
}

TEST(OrderingTest, AlgorithmNamesRoundTrip) {
  for (Algorithm algorithm : {Algorithm::kStored, Algorithm::kHeuristic, Algorithm::kOptimal}) {
    Result<Algorithm> parsed = ParseAlgorithm(AlgorithmName(algorithm));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, algorithm);
  }
  Result<Algorithm> bad = ParseAlgorithm("fastest");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("fastest"), std::string::npos);
}

// A wide random graph of 300 operators: far too many signatures to finish.
Graph HugeGraph() {
  std::mt19937 rng(77);
  RandomGraphOptions options;
  options.min_ops = 300;
  options.max_ops = 300;
  options.max_graph_inputs = 8;
  options.far_read = 0.9;
  options.max_tensor_bytes = 1 << 20;
  return RandomGraph(rng, options);
}

TEST(OrderingTest, TimeLimitReturnsBestOrderSoFar) {
  Graph graph = HugeGraph();
  MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  const Schedule heuristic = MustSchedule(graph, memory, Algorithm::kHeuristic);
  const auto start = std::chrono::steady_clock::now();
  const Schedule schedule = MustSchedule(graph, memory, Algorithm::kOptimal, 0.05);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  EXPECT_FALSE(schedule.optimal);
  EXPECT_TRUE(IsTopologicalOrder(graph, schedule.order));
  EXPECT_EQ(schedule.peak_bytes, PeakBytes(graph, memory, schedule.order));
  EXPECT_LE(schedule.peak_bytes, heuristic.peak_bytes);
  EXPECT_LT(schedule.lower_bound_bytes, schedule.peak_bytes);
  EXPECT_GT(schedule.lower_bound_bytes, 0u);
}

TEST(OrderingTest, MemoLimitReturnsBestOrderSoFar) {
  Graph graph = HugeGraph();
  MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  ScheduleOptions options;
  options.time_limit_seconds = 60;  // a safety net: the memo cap stops it first
  options.memo_limit_bytes = 256 << 10;
  const auto start = std::chrono::steady_clock::now();
  Result<Schedule> schedule = ComputeSchedule(graph, memory, options);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
            30.0);
  ASSERT_TRUE(schedule.ok());
  EXPECT_FALSE(schedule->optimal);
  EXPECT_LE(schedule->stats.memo_bytes, options.memo_limit_bytes);
  EXPECT_TRUE(IsTopologicalOrder(graph, schedule->order));
  EXPECT_LT(schedule->lower_bound_bytes, schedule->peak_bytes);
}

// Beyond a few thousand operators the quadratic parts are skipped; the
// answer is still a valid order with a proven (weaker) bound, quickly.
TEST(OrderingTest, VeryLargeGraphStaysFastAndValid) {
  std::mt19937 rng(99);
  RandomGraphOptions options;
  options.min_ops = 10000;
  options.max_ops = 10000;
  const Graph graph = RandomGraph(rng, options);
  const MemoryModel memory = MemoryModel::WithoutAliasing(graph);
  const auto start = std::chrono::steady_clock::now();
  const Schedule schedule = MustSchedule(graph, memory, Algorithm::kOptimal, 1.0);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
            10.0);
  EXPECT_TRUE(IsTopologicalOrder(graph, schedule.order));
  EXPECT_EQ(schedule.peak_bytes, PeakBytes(graph, memory, schedule.order));
  EXPECT_LE(schedule.lower_bound_bytes, schedule.peak_bytes);
  EXPECT_GT(schedule.lower_bound_bytes, 0u);
}

}  // namespace
}  // namespace serenity::scheduler
