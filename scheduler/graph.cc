#include "serenity/scheduler/graph.h"

#include <algorithm>
#include <queue>

#include "serenity/model_format/model.h"

namespace serenity::scheduler {

Graph GraphFromModel(const Model& model, GraphNames names) {
  const std::vector<Tensor>& tensors = model.tensors();
  Graph graph;
  graph.tensors.reserve(tensors.size());
  graph.ops.reserve(model.operators().size());
  std::vector<int> graph_index(tensors.size(), -1);
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].is_constant()) continue;
    graph_index[t] = static_cast<int>(graph.tensors.size());
    GraphTensor tensor;
    if (names == GraphNames::kCopied) tensor.name = tensors[t].name;
    tensor.bytes = tensors[t].num_bytes();
    tensor.model_tensor = static_cast<int>(t);
    graph.tensors.push_back(std::move(tensor));
  }
  for (int input : model.inputs()) graph.tensors[graph_index[input]].graph_input = true;
  for (int output : model.outputs()) {
    graph.tensors[graph_index[output]].graph_output = true;
  }
  const std::vector<Operator>& ops = model.operators();
  std::vector<int> reads(graph.tensors.size(), 0);  // an upper bound, to size consumers once
  for (const Operator& op : ops) {
    for (int input : op.inputs) {
      if (input >= 0 && graph_index[input] >= 0) ++reads[graph_index[input]];
    }
  }
  for (size_t g = 0; g < graph.tensors.size(); ++g) graph.tensors[g].consumers.reserve(reads[g]);
  for (size_t o = 0; o < ops.size(); ++o) {
    GraphOp op;
    if (names == GraphNames::kCopied) op.name = ops[o].name;
    op.type = OpTypeName(ops[o].type);
    op.model_operator = static_cast<int>(o);
    op.inputs.reserve(ops[o].inputs.size());
    op.outputs.reserve(ops[o].outputs.size());
    for (int input : ops[o].inputs) {
      if (input < 0 || graph_index[input] < 0) continue;
      int g = graph_index[input];
      if (std::find(op.inputs.begin(), op.inputs.end(), g) != op.inputs.end()) continue;
      op.inputs.push_back(g);
      graph.tensors[g].consumers.push_back(static_cast<int>(o));
    }
    for (int output : ops[o].outputs) {
      int g = graph_index[output];
      op.outputs.push_back(g);
      graph.tensors[g].producer = static_cast<int>(o);
    }
    graph.ops.push_back(std::move(op));
  }
  return graph;
}

Status ValidateGraph(const Graph& graph) {
  const int num_ops = static_cast<int>(graph.ops.size());
  const int num_tensors = static_cast<int>(graph.tensors.size());
  std::vector<int> producer(num_tensors, -1);
  std::vector<std::vector<int>> consumers(num_tensors);
  for (int o = 0; o < num_ops; ++o) {
    const GraphOp& op = graph.ops[o];
    for (int t : op.inputs) {
      if (t < 0 || t >= num_tensors) {
        return InvalidArgumentError("operator ", o, " ('", op.name,
                                    "') reads tensor ", t, " which does not exist");
      }
      if (!consumers[t].empty() && consumers[t].back() == o) {
        return InvalidArgumentError("operator ", o, " ('", op.name,
                                    "') lists input tensor ", t, " twice");
      }
      consumers[t].push_back(o);
    }
    for (int t : op.outputs) {
      if (t < 0 || t >= num_tensors) {
        return InvalidArgumentError("operator ", o, " ('", op.name,
                                    "') writes tensor ", t, " which does not exist");
      }
      if (producer[t] != -1) {
        return InvalidArgumentError("tensor ", t, " ('", graph.tensors[t].name,
                                    "') has two producers: operators ", producer[t],
                                    " and ", o);
      }
      producer[t] = o;
    }
  }
  for (int t = 0; t < num_tensors; ++t) {
    const GraphTensor& tensor = graph.tensors[t];
    if (tensor.producer != producer[t]) {
      return InvalidArgumentError("tensor ", t, " ('", tensor.name,
                                  "'): producer field says ", tensor.producer,
                                  " but operator ", producer[t], " writes it");
    }
    if (tensor.graph_input && producer[t] != -1) {
      return InvalidArgumentError("tensor ", t, " ('", tensor.name,
                                  "') is a graph input but operator ", producer[t],
                                  " writes it");
    }
    if (!tensor.graph_input && producer[t] == -1) {
      return InvalidArgumentError("tensor ", t, " ('", tensor.name,
                                  "') is neither a graph input nor produced");
    }
    std::vector<int> sorted = tensor.consumers;
    if (!std::is_sorted(sorted.begin(), sorted.end()) || sorted != consumers[t]) {
      return InvalidArgumentError("tensor ", t, " ('", tensor.name,
                                  "'): consumer list disagrees with the operators");
    }
  }
  // Kahn's algorithm: a DAG schedules every operator.
  std::vector<int> pending(num_ops, 0);
  for (int o = 0; o < num_ops; ++o) {
    for (int t : graph.ops[o].inputs) pending[o] += producer[t] != -1 ? 1 : 0;
  }
  std::queue<int> ready;
  for (int o = 0; o < num_ops; ++o) {
    if (pending[o] == 0) ready.push(o);
  }
  int scheduled = 0;
  while (!ready.empty()) {
    int o = ready.front();
    ready.pop();
    ++scheduled;
    for (int t : graph.ops[o].outputs) {
      for (int c : consumers[t]) {
        if (--pending[c] == 0) ready.push(c);
      }
    }
  }
  if (scheduled != num_ops) {
    return InvalidArgumentError("the graph has a cycle (", num_ops - scheduled,
                                " operators can never run)");
  }
  return Status::Ok();
}

CompactGraph CompactGraphFromModel(const Model& model) {
  const std::vector<Tensor>& tensors = model.tensors();
  const std::vector<Operator>& ops = model.operators();
  CompactGraph graph;
  std::vector<int> graph_index(tensors.size(), -1);
  size_t activations = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (!tensors[t].is_constant()) graph_index[t] = static_cast<int>(activations++);
  }
  graph.tensors.resize(activations);
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (graph_index[t] < 0) continue;
    CompactTensor& tensor = graph.tensors[graph_index[t]];
    tensor.bytes = tensors[t].num_bytes();
    tensor.model_tensor = static_cast<int>(t);
  }
  for (int input : model.inputs()) graph.tensors[graph_index[input]].graph_input = true;
  for (int output : model.outputs()) graph.tensors[graph_index[output]].graph_output = true;

  // An operator's input i is listed if it is an activation not listed before.
  auto listed = [&](const std::vector<int>& inputs, size_t i) {
    return inputs[i] >= 0 && graph_index[inputs[i]] >= 0 &&
           std::find(inputs.begin(), inputs.begin() + i, inputs[i]) == inputs.begin() + i;
  };
  // Each operator's listed inputs and its outputs, then each tensor's
  // consumers, all in `indices`: counted first so that it is allocated once
  // and the lists can point into it.
  std::vector<uint32_t> input_count(ops.size(), 0);
  std::vector<uint32_t> consumer_count(activations, 0);
  size_t total = 0;
  for (size_t o = 0; o < ops.size(); ++o) {
    const std::vector<int>& inputs = ops[o].inputs;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!listed(inputs, i)) continue;
      ++input_count[o];
      ++consumer_count[graph_index[inputs[i]]];
    }
    total += 2 * input_count[o] + ops[o].outputs.size();
  }
  graph.indices.resize(total);
  int* next = graph.indices.data();
  graph.ops.resize(ops.size());
  for (size_t o = 0; o < ops.size(); ++o) {
    CompactOp& op = graph.ops[o];
    op.model_operator = static_cast<int>(o);
    int* first = next;
    const std::vector<int>& inputs = ops[o].inputs;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (listed(inputs, i)) *next++ = graph_index[inputs[i]];
    }
    op.inputs = IndexList(first, input_count[o]);
    first = next;
    for (int output : ops[o].outputs) {
      const int g = graph_index[output];
      *next++ = g;
      graph.tensors[g].producer = static_cast<int>(o);
    }
    op.outputs = IndexList(first, ops[o].outputs.size());
  }
  // Consumers: operators in ascending order append to their inputs' lists.
  std::vector<int*> fill(activations);
  for (size_t g = 0; g < activations; ++g) {
    fill[g] = next;
    graph.tensors[g].consumers = IndexList(next, consumer_count[g]);
    next += consumer_count[g];
  }
  for (size_t o = 0; o < ops.size(); ++o) {
    for (int g : graph.ops[o].inputs) *fill[g]++ = static_cast<int>(o);
  }
  return graph;
}

namespace {

template <typename G>
bool IsTopologicalOrderOf(const G& graph, const std::vector<int>& order) {
  const int num_ops = static_cast<int>(graph.ops.size());
  if (static_cast<int>(order.size()) != num_ops) return false;
  std::vector<int> position(num_ops, -1);
  for (int step = 0; step < num_ops; ++step) {
    int o = order[step];
    if (o < 0 || o >= num_ops || position[o] != -1) return false;
    position[o] = step;
  }
  for (int o = 0; o < num_ops; ++o) {
    for (int t : graph.ops[o].inputs) {
      int p = graph.tensors[t].producer;
      if (p != -1 && position[p] > position[o]) return false;
    }
  }
  return true;
}

}  // namespace

bool IsTopologicalOrder(const Graph& graph, const std::vector<int>& order) {
  return IsTopologicalOrderOf(graph, order);
}

bool IsTopologicalOrder(const CompactGraph& graph, const std::vector<int>& order) {
  return IsTopologicalOrderOf(graph, order);
}

}  // namespace serenity::scheduler
