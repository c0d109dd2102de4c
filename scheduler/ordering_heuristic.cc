// Fast orders: the stored order, greedy rules and depth-first post-orders. The
// heuristic returns the one with the smallest peak.
#include <algorithm>
#include <functional>
#include <queue>

#include "ordering_internal.h"

namespace serenity::scheduler::internal {
namespace {

std::vector<int> Indegrees(const ScheduleProblem& problem) {
  std::vector<int> indegree(problem.num_ops);
  for (int o = 0; o < problem.num_ops; ++o) {
    indegree[o] = static_cast<int>(problem.op_preds[o].size());
  }
  return indegree;
}

enum class GreedyRule {
  kSmallestFootprint,  // the step with the smallest footprint, then most freed
  kMostFreed,          // the largest decrease of live bytes, then footprint
  kFreedThenRecent,    // a decrease if any; otherwise continue the newest work
};

// Repeatedly runs the ready operator that the rule ranks first; ties go to the
// operator whose inputs were produced most recently, then the smaller index.
std::vector<int> GreedyOrder(const ScheduleProblem& problem, GreedyRule rule) {
  std::vector<int> indegree = Indegrees(problem);
  std::vector<int> ready;
  for (int o = 0; o < problem.num_ops; ++o) {
    if (indegree[o] == 0) ready.push_back(o);
  }
  // Step at which an operator became ready: a proxy for "recent work".
  std::vector<int> ready_since(problem.num_ops, 0);
  Simulator simulator(problem);
  std::vector<int> order;
  order.reserve(problem.num_ops);
  while (!ready.empty()) {
    size_t best = 0;
    uint64_t best_footprint = 0;
    int64_t best_net = 0;
    for (size_t i = 0; i < ready.size(); ++i) {
      const int op = ready[i];
      const uint64_t footprint = simulator.Footprint(op);
      const int64_t net = simulator.NetBytes(op);
      bool better = false;
      if (i == 0) {
        better = true;
      } else {
        const int best_op = ready[best];
        auto tie = [&]() {
          if (ready_since[op] != ready_since[best_op]) {
            return ready_since[op] > ready_since[best_op];
          }
          return op < best_op;
        };
        switch (rule) {
          case GreedyRule::kSmallestFootprint:
            better = footprint != best_footprint ? footprint < best_footprint
                     : net != best_net           ? net < best_net
                                                 : tie();
            break;
          case GreedyRule::kMostFreed:
            better = net != best_net                 ? net < best_net
                     : footprint != best_footprint ? footprint < best_footprint
                                                   : tie();
            break;
          case GreedyRule::kFreedThenRecent: {
            const bool frees = net < 0;
            const bool best_frees = best_net < 0;
            if (frees != best_frees) {
              better = frees;
            } else if (frees) {
              better = net != best_net ? net < best_net : tie();
            } else {
              better = ready_since[op] != ready_since[best_op]
                           ? ready_since[op] > ready_since[best_op]
                       : footprint != best_footprint ? footprint < best_footprint
                                                     : op < best_op;
            }
            break;
          }
        }
      }
      if (better) {
        best = i;
        best_footprint = footprint;
        best_net = net;
      }
    }
    const int op = ready[best];
    ready.erase(ready.begin() + static_cast<std::ptrdiff_t>(best));
    simulator.Do(op);
    order.push_back(op);
    for (int s : problem.op_succs[op]) {
      if (--indegree[s] == 0) {
        ready.push_back(s);
        ready_since[s] = static_cast<int>(order.size());
      }
    }
  }
  return order;
}

// Post-order of a depth-first walk from the sinks towards the inputs: each
// operator runs right after the last of its predecessors' subgraphs. The
// predecessors are visited in `rank` order.
std::vector<int> PostOrder(const ScheduleProblem& problem,
                           const std::function<bool(int, int)>& rank) {
  std::vector<int> sinks;
  for (int o = 0; o < problem.num_ops; ++o) {
    if (problem.op_succs[o].empty()) sinks.push_back(o);
  }
  std::stable_sort(sinks.begin(), sinks.end(), rank);
  std::vector<uint8_t> state(problem.num_ops, 0);  // 0 new, 1 open, 2 done
  std::vector<int> order;
  order.reserve(problem.num_ops);
  std::vector<std::pair<int, size_t>> stack;
  std::vector<std::vector<int>> preds(problem.num_ops);
  for (int o = 0; o < problem.num_ops; ++o) {
    preds[o] = problem.op_preds[o];
    std::stable_sort(preds[o].begin(), preds[o].end(), rank);
  }
  for (int sink : sinks) {
    if (state[sink] != 0) continue;
    stack.push_back({sink, 0});
    state[sink] = 1;
    while (!stack.empty()) {
      auto& [op, next] = stack.back();
      if (next < preds[op].size()) {
        const int p = preds[op][next++];
        if (state[p] == 0) {
          state[p] = 1;
          stack.push_back({p, 0});
        }
      } else {
        state[op] = 2;
        order.push_back(op);
        stack.pop_back();
      }
    }
  }
  return order;
}

}  // namespace

std::vector<int> StoredOrder(const ScheduleProblem& problem) {
  std::vector<int> indegree = Indegrees(problem);
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int o = 0; o < problem.num_ops; ++o) {
    if (indegree[o] == 0) ready.push(o);
  }
  std::vector<int> order;
  order.reserve(problem.num_ops);
  while (!ready.empty()) {
    const int op = ready.top();
    ready.pop();
    order.push_back(op);
    for (int s : problem.op_succs[op]) {
      if (--indegree[s] == 0) ready.push(s);
    }
  }
  return order;
}

std::vector<int> HeuristicOrder(const ScheduleProblem& problem) {
  // Bytes an operator's own buffers take: visiting the heavier subgraph first
  // is the Sethi-Ullman rule for trees.
  std::vector<uint64_t> own_bytes(problem.num_ops, 0);
  for (int o = 0; o < problem.num_ops; ++o) {
    for (int b : problem.op_buffers[o]) own_bytes[o] += problem.buffer_bytes[b];
  }
  std::vector<std::vector<int>> candidates;
  candidates.push_back(StoredOrder(problem));
  if (problem.num_ops <= kMaxOpsForQuadratic) {
    candidates.push_back(GreedyOrder(problem, GreedyRule::kSmallestFootprint));
    candidates.push_back(GreedyOrder(problem, GreedyRule::kMostFreed));
    candidates.push_back(GreedyOrder(problem, GreedyRule::kFreedThenRecent));
  }
  candidates.push_back(PostOrder(problem, [](int a, int b) { return a < b; }));
  candidates.push_back(PostOrder(problem, [](int a, int b) { return a > b; }));
  candidates.push_back(PostOrder(problem, [&](int a, int b) {
    return own_bytes[a] != own_bytes[b] ? own_bytes[a] > own_bytes[b] : a < b;
  }));
  candidates.push_back(PostOrder(problem, [&](int a, int b) {
    return own_bytes[a] != own_bytes[b] ? own_bytes[a] < own_bytes[b] : a < b;
  }));
  size_t best = 0;
  uint64_t best_peak = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const uint64_t peak = ProblemPeak(problem, candidates[i]);
    if (i == 0 || peak < best_peak) {
      best = i;
      best_peak = peak;
    }
  }
  return candidates[best];
}

}  // namespace serenity::scheduler::internal
