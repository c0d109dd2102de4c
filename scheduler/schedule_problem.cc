#include "schedule_problem.h"

#include <algorithm>

namespace serenity::scheduler::internal {
namespace {

void SortUnique(std::vector<int>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

}  // namespace

ScheduleProblem BuildProblem(const Graph& graph, const MemoryModel& memory) {
  ScheduleProblem problem;
  const int num_ops = static_cast<int>(graph.ops.size());
  const int num_buffers = static_cast<int>(memory.buffers.size());
  problem.num_ops = num_ops;
  problem.buffer_bytes.resize(num_buffers);
  problem.buffer_touchers.resize(num_buffers);
  problem.pinned_start.assign(num_buffers, 0);
  problem.pinned_end.assign(num_buffers, 0);
  problem.op_buffers.resize(num_ops);
  problem.op_preds.resize(num_ops);
  problem.op_succs.resize(num_ops);
  for (int b = 0; b < num_buffers; ++b) {
    problem.buffer_bytes[b] = memory.buffers[b].bytes;
    for (int t : memory.buffers[b].tensors) {
      const GraphTensor& tensor = graph.tensors[t];
      if (tensor.graph_input || tensor.producer < 0) problem.pinned_start[b] = 1;
      if (tensor.graph_output) problem.pinned_end[b] = 1;
      if (tensor.producer >= 0) problem.buffer_touchers[b].push_back(tensor.producer);
      for (int c : tensor.consumers) problem.buffer_touchers[b].push_back(c);
    }
    SortUnique(problem.buffer_touchers[b]);
    for (int op : problem.buffer_touchers[b]) problem.op_buffers[op].push_back(b);
    if (problem.pinned_start[b]) {
      if (!problem.buffer_touchers[b].empty() || problem.pinned_end[b]) {
        problem.initial_live_bytes += problem.buffer_bytes[b];
      } else {
        problem.first_step_only_bytes += problem.buffer_bytes[b];
      }
    }
  }
  for (int o = 0; o < num_ops; ++o) {
    for (int t : graph.ops[o].inputs) {
      int p = graph.tensors[t].producer;
      if (p >= 0 && p != o) {
        problem.op_preds[o].push_back(p);
        problem.op_succs[p].push_back(o);
      }
    }
  }
  // Valid edges (ComputeSchedule, the only caller, checks them first).
  for (const OrderEdge& edge : memory.order_edges) {
    problem.op_preds[edge.after].push_back(edge.before);
    problem.op_succs[edge.before].push_back(edge.after);
  }
  for (int o = 0; o < num_ops; ++o) {
    SortUnique(problem.op_preds[o]);
    SortUnique(problem.op_succs[o]);
  }
  return problem;
}

Simulator::Simulator(const ScheduleProblem& problem)
    : problem_(problem),
      touched_(problem.buffer_bytes.size(), 0),
      live_bytes_(problem.initial_live_bytes) {}

uint64_t Simulator::Footprint(int op) const {
  uint64_t footprint = live_bytes_;
  if (steps_ == 0) footprint += problem_.first_step_only_bytes;
  for (int b : problem_.op_buffers[op]) {
    if (touched_[b] == 0 && !problem_.pinned_start[b]) footprint += problem_.buffer_bytes[b];
  }
  return footprint;
}

int64_t Simulator::NetBytes(int op) const {
  int64_t net = 0;
  for (int b : problem_.op_buffers[op]) {
    const int64_t bytes = static_cast<int64_t>(problem_.buffer_bytes[b]);
    const bool starts = touched_[b] == 0 && !problem_.pinned_start[b];
    const bool ends = touched_[b] + 1 == static_cast<int>(problem_.buffer_touchers[b].size()) &&
                      !problem_.pinned_end[b];
    if (starts) net += bytes;
    if (ends) net -= bytes;
  }
  return net;
}

bool Simulator::EndsAny(int op) const {
  for (int b : problem_.op_buffers[op]) {
    if (touched_[b] + 1 == static_cast<int>(problem_.buffer_touchers[b].size()) &&
        !problem_.pinned_end[b]) {
      return true;
    }
  }
  return false;
}

uint64_t Simulator::Do(int op) {
  const uint64_t footprint = Footprint(op);
  for (int b : problem_.op_buffers[op]) {
    if (touched_[b] == 0 && !problem_.pinned_start[b]) live_bytes_ += problem_.buffer_bytes[b];
    ++touched_[b];
    if (touched_[b] == static_cast<int>(problem_.buffer_touchers[b].size()) &&
        !problem_.pinned_end[b]) {
      live_bytes_ -= problem_.buffer_bytes[b];
    }
  }
  ++steps_;
  return footprint;
}

void Simulator::Undo(int op) {
  --steps_;
  for (int b : problem_.op_buffers[op]) {
    if (touched_[b] == static_cast<int>(problem_.buffer_touchers[b].size()) &&
        !problem_.pinned_end[b]) {
      live_bytes_ += problem_.buffer_bytes[b];
    }
    --touched_[b];
    if (touched_[b] == 0 && !problem_.pinned_start[b]) live_bytes_ -= problem_.buffer_bytes[b];
  }
}

uint64_t ProblemPeak(const ScheduleProblem& problem, const std::vector<int>& order) {
  Simulator simulator(problem);
  uint64_t peak = 0;
  for (int op : order) peak = std::max(peak, simulator.Do(op));
  return peak;
}

}  // namespace serenity::scheduler::internal
