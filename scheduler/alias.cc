#include "serenity/scheduler/alias.h"

#include <algorithm>
#include <utility>

#include "rewrite_internal.h"

namespace serenity::scheduler {

AliasCapabilities AliasCapabilities::FromFunction(
    const std::function<OpAliasCapability(OpType)>& capability_of) {
  AliasCapabilities capabilities;
  for (int t = 0; t < kNumOpTypes; ++t) {
    capabilities.ops[t] = capability_of(static_cast<OpType>(t));
  }
  return capabilities;
}

uint64_t WindowedConvMinOffsetBytes(const WindowedConvGeometry& g) {
  int64_t offset = 0;
  for (int64_t e = 1; e < g.out_rows; ++e) {
    const int64_t first_read = std::max<int64_t>(0, e * g.stride - g.pad_top);
    if (first_read >= g.in_rows) break;  // later rows read nothing (not eligible)
    offset = std::max(offset, e * g.out_row_bytes - first_read * g.in_row_bytes);
  }
  return static_cast<uint64_t>(offset);
}

bool AliasPlan::IsNoOp(int model_operator) const {
  return std::binary_search(zero_copy_concats.begin(), zero_copy_concats.end(),
                            model_operator) ||
         std::binary_search(no_op_reshapes.begin(), no_op_reshapes.end(),
                            model_operator);
}

namespace internal {

Graph GraphFromParts(const ModelParts& parts) {
  const std::vector<Tensor>& tensors = *parts.tensors;
  Graph graph;
  // Tensors nothing touches (left behind by a rewrite) are not in the graph,
  // as they are not in the model the parts serialise to.
  std::vector<bool> used(tensors.size(), false);
  for (const Operator& op : *parts.operators) {
    for (int t : op.inputs) {
      if (t >= 0) used[t] = true;
    }
    for (int t : op.outputs) used[t] = true;
  }
  for (int t : *parts.inputs) used[t] = true;
  for (int t : *parts.outputs) used[t] = true;
  std::vector<int> graph_index(tensors.size(), -1);
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].is_constant() || !used[t]) continue;
    graph_index[t] = static_cast<int>(graph.tensors.size());
    GraphTensor tensor;
    tensor.name = tensors[t].name;
    tensor.bytes = tensors[t].num_bytes();
    tensor.model_tensor = static_cast<int>(t);
    graph.tensors.push_back(std::move(tensor));
  }
  for (int input : *parts.inputs) graph.tensors[graph_index[input]].graph_input = true;
  for (int output : *parts.outputs) {
    graph.tensors[graph_index[output]].graph_output = true;
  }
  const std::vector<Operator>& ops = *parts.operators;
  for (size_t o = 0; o < ops.size(); ++o) {
    GraphOp op;
    op.name = ops[o].name;
    op.type = OpTypeName(ops[o].type);
    op.model_operator = static_cast<int>(o);
    for (int input : ops[o].inputs) {
      if (input < 0 || graph_index[input] < 0) continue;
      const int g = graph_index[input];
      if (std::find(op.inputs.begin(), op.inputs.end(), g) != op.inputs.end()) continue;
      op.inputs.push_back(g);
      graph.tensors[g].consumers.push_back(static_cast<int>(o));
    }
    for (int output : ops[o].outputs) {
      const int g = graph_index[output];
      op.outputs.push_back(g);
      graph.tensors[g].producer = static_cast<int>(o);
    }
    graph.ops.push_back(std::move(op));
  }
  return graph;
}

namespace {

struct Node {
  int parent = -1;
  AliasLink link = AliasLink::kNone;
  int64_t channel_offset = 0;  // within the parent, for kSlice
  uint64_t shift_bytes = 0;    // the parent lies this far above, for kWindowed
  bool after_other_readers = false;  // kInPlace over an input others read first
};

// The geometry of model operator `op` if it is a Conv2D that could run
// windowed in place under `capabilities`, by its own shapes alone.
bool WindowedGeometryOf(const ModelParts& parts, int op_index,
                        const AliasCapabilities& capabilities, WindowedConvGeometry* geometry) {
  const Operator& op = (*parts.operators)[op_index];
  const int64_t max_positions = capabilities[OpType::kConv2D].windowed_max_positions;
  if (op.type != OpType::kConv2D || max_positions <= 0) return false;
  const auto* attrs = std::get_if<Conv2DAttrs>(&op.attrs);
  if (attrs == nullptr || op.inputs.size() < 2 || op.outputs.size() != 1) return false;
  const std::vector<Tensor>& tensors = *parts.tensors;
  const int xi = op.inputs[0], wi = op.inputs[1], yi = op.outputs[0];
  const int num = static_cast<int>(tensors.size());
  if (xi < 0 || wi < 0 || yi < 0 || xi >= num || wi >= num || yi >= num) return false;
  const Tensor& x = tensors[xi];
  const Tensor& w = tensors[wi];
  const Tensor& y = tensors[yi];
  if (x.is_constant() || y.is_constant() || x.type != y.type) return false;
  if (x.shape.size() != 4 || w.shape.size() != 4 || y.shape.size() != 4) return false;
  if (x.shape[0] != 1 || y.shape[0] != 1) return false;
  const int64_t in_channels = x.shape[3], out_channels = y.shape[3];
  const bool dense = attrs->groups == 1 && w.shape[3] == in_channels;
  const bool depthwise = attrs->groups == in_channels && in_channels > 1 &&
                         out_channels == in_channels && w.shape[3] == 1;
  if (!dense && !depthwise) return false;
  if (w.shape[1] * w.shape[2] > max_positions) return false;
  if (attrs->stride_h < 1 || attrs->dilation_h < 1 || attrs->pad_top < 0) return false;
  const size_t element = DataTypeSize(x.type);
  geometry->in_rows = x.shape[1];
  geometry->in_row_bytes = static_cast<int64_t>(x.shape[2] * in_channels * element);
  geometry->out_rows = y.shape[1];
  geometry->out_row_bytes = static_cast<int64_t>(y.shape[2] * out_channels * element);
  geometry->stride = attrs->stride_h;
  geometry->pad_top = attrs->pad_top;
  geometry->kernel = w.shape[1];
  geometry->dilation = attrs->dilation_h;
  if (geometry->out_rows < 1 || geometry->in_rows < 1) return false;
  // Every output row's window starts inside the input.
  return (geometry->out_rows - 1) * geometry->stride - geometry->pad_top < geometry->in_rows;
}

bool IsInPlaceKind(OpType type) {
  switch (type) {
    case OpType::kRelu:
    case OpType::kClamp:
    case OpType::kSigmoid:
    case OpType::kHardSwish:
    case OpType::kAdd:
    case OpType::kMul:
      return true;
    default:
      return false;
  }
}

// Whether model operator `op` could write its output over its input 0 as an
// element-wise in-place kind, by the shapes alone.
bool InPlaceShapesOf(const ModelParts& parts, int op_index, const AliasCapabilities& capabilities) {
  const Operator& op = (*parts.operators)[op_index];
  if (!IsInPlaceKind(op.type) || !capabilities[op.type].in_place) return false;
  if (op.inputs.empty() || op.outputs.size() != 1) return false;
  const std::vector<Tensor>& tensors = *parts.tensors;
  const int num = static_cast<int>(tensors.size());
  const int xi = op.inputs[0], yi = op.outputs[0];
  if (xi < 0 || yi < 0 || xi >= num || yi >= num) return false;
  const Tensor& x = tensors[xi];
  const Tensor& y = tensors[yi];
  return !x.is_constant() && !y.is_constant() && x.shape == y.shape && x.type == y.type;
}

int64_t LastDim(const Tensor& tensor) {
  return tensor.shape.empty() ? 1 : tensor.shape.back();
}

// G is Graph or CompactGraph.
template <typename G>
class AliasPlanner {
 public:
  AliasPlanner(const ModelParts& parts, const G& graph, const AliasCapabilities& capabilities,
               const AliasOptions& options)
      : parts_(parts), graph_(graph), caps_(capabilities), options_(options) {}

  Status Check() const {
    const std::vector<Operator>& ops = *parts_.operators;
    if (graph_.ops.size() != ops.size()) {
      return InvalidArgumentError("the graph has ", graph_.ops.size(),
                                  " operators, the model ", ops.size());
    }
    for (size_t o = 0; o < ops.size(); ++o) {
      if (graph_.ops[o].model_operator != static_cast<int>(o)) {
        return InvalidArgumentError("graph operator ", o,
                                    " is not model operator ", o);
      }
    }
    for (size_t t = 0; t < graph_.tensors.size(); ++t) {
      const int model_tensor = graph_.tensors[t].model_tensor;
      if (model_tensor < 0 || model_tensor >= static_cast<int>(parts_.tensors->size())) {
        return InvalidArgumentError("graph tensor ", t, " has no model tensor");
      }
    }
    return Status::Ok();
  }

  // Returns the plan, or in `hazard_concat` a concat that must stay a copy
  // (and then an empty plan).
  AliasPlan Build(const std::vector<int>& copy_concats, int* hazard_concat) {
    const int num_tensors = static_cast<int>(graph_.tensors.size());
    const int num_ops = static_cast<int>(graph_.ops.size());
    graph_of_model_.assign(parts_.tensors->size(), -1);
    for (int t = 0; t < num_tensors; ++t) {
      graph_of_model_[graph_.tensors[t].model_tensor] = t;
    }
    nodes_.assign(num_tensors, Node{});
    first_child_.assign(num_tensors, -1);
    last_child_.assign(num_tensors, -1);
    next_sibling_.assign(num_tensors, -1);
    zero_copy_.assign(num_ops, false);
    no_op_reshape_.assign(num_ops, false);
    in_place_.assign(num_ops, false);
    windowed_.assign(num_ops, false);

    last_reader_.assign(num_ops, false);
    order_edges_.clear();

    if (options_.in_place) PlanInPlace();
    if (options_.in_place && !options_.last_reader_in_place.empty()) PlanLastReaderInPlace();
    if (!options_.windowed_convs.empty()) PlanWindowed();
    if (options_.zero_copy_concat) PlanConcats(copy_concats);
    if (options_.reshape) PlanReshapes();
    *hazard_concat = FindHazard();
    if (*hazard_concat >= 0) return AliasPlan{};  // another round follows
    return Materialise();
  }

 private:
  const Tensor& ModelTensor(int graph_tensor) const {
    return (*parts_.tensors)[graph_.tensors[graph_tensor].model_tensor];
  }
  OpType TypeOf(int op) const { return (*parts_.operators)[op].type; }
  int GraphTensorOf(int model_tensor) const {
    if (model_tensor < 0) return -1;
    return graph_of_model_[model_tensor];
  }

  // Appends `child` to the children of `parent` (a tensor is attached once:
  // only a root gets a parent).
  void Attach(int child, int parent, AliasLink link, int64_t channel_offset) {
    nodes_[child] = Node{parent, link, channel_offset};
    if (last_child_[parent] < 0) {
      first_child_[parent] = child;
    } else {
      next_sibling_[last_child_[parent]] = child;
    }
    last_child_[parent] = child;
  }

  // The tensor's input 0 may be overwritten by `op` in every order.
  bool SingleReaderIntermediate(int graph_tensor, int op) const {
    const auto& tensor = graph_.tensors[graph_tensor];
    if (tensor.graph_input || tensor.graph_output) return false;
    if (tensor.consumers.size() != 1 || tensor.consumers[0] != op) return false;
    const std::vector<int>& inputs = (*parts_.operators)[op].inputs;
    const int model_tensor = tensor.model_tensor;
    return std::count(inputs.begin(), inputs.end(), model_tensor) == 1;
  }

  void PlanInPlace() {
    const std::vector<Operator>& ops = *parts_.operators;
    for (int o = 0; o < static_cast<int>(ops.size()); ++o) {
      if (!InPlaceShapesOf(parts_, o, caps_)) continue;
      const int x = GraphTensorOf(ops[o].inputs[0]);
      const int y = GraphTensorOf(ops[o].outputs[0]);
      if (x < 0 || y < 0 || !SingleReaderIntermediate(x, o)) continue;
      Attach(y, x, AliasLink::kInPlace, 0);
      in_place_[o] = true;
    }
  }

  // Last-reader in place: the listed operators whose input 0 is read by
  // others too, each with an order edge from every other reader. Their
  // edges are checked for a cycle all at once, and only when they close one
  // operator by operator (each check is a pass over the graph).
  void PlanLastReaderInPlace() {
    std::vector<int> ops = options_.last_reader_in_place;
    std::sort(ops.begin(), ops.end());
    ops.erase(std::unique(ops.begin(), ops.end()), ops.end());
    const int num_ops = static_cast<int>(parts_.operators->size());
    std::vector<int> eligible;
    std::vector<bool> claimed(graph_.tensors.size(), false);
    for (int o : ops) {
      if (o < 0 || o >= num_ops || in_place_[o] || !InPlaceShapesOf(parts_, o, caps_)) continue;
      const Operator& op = (*parts_.operators)[o];
      const int x = GraphTensorOf(op.inputs[0]);
      const int y = GraphTensorOf(op.outputs[0]);
      if (x < 0 || y < 0 || claimed[x] || nodes_[y].parent >= 0 || first_child_[x] >= 0) continue;
      const auto& tensor = graph_.tensors[x];
      if (tensor.graph_input || tensor.graph_output || tensor.consumers.size() < 2) continue;
      if (std::count(op.inputs.begin(), op.inputs.end(), op.inputs[0]) != 1) continue;
      claimed[x] = true;
      eligible.push_back(o);
    }
    auto add_edges = [&](int o) {
      const int x = GraphTensorOf((*parts_.operators)[o].inputs[0]);
      for (int reader : graph_.tensors[x].consumers) {
        if (reader != o) order_edges_.push_back(OrderEdge{reader, o});
      }
    };
    for (int o : eligible) add_edges(o);
    if (ClosesCycle()) {
      order_edges_.clear();
      std::vector<int> kept;
      for (int o : eligible) {
        const size_t first_edge = order_edges_.size();
        add_edges(o);
        if (ClosesCycle()) {
          order_edges_.resize(first_edge);
        } else {
          kept.push_back(o);
        }
      }
      eligible = std::move(kept);
    }
    for (int o : eligible) {
      const Operator& op = (*parts_.operators)[o];
      const int y = GraphTensorOf(op.outputs[0]);
      Attach(y, GraphTensorOf(op.inputs[0]), AliasLink::kInPlace, 0);
      nodes_[y].after_other_readers = true;
      in_place_[o] = true;
      last_reader_[o] = true;
    }
  }

  // Whether the graph's edges and order_edges_ together have a cycle (Kahn's
  // algorithm, O(operators + edges)).
  bool ClosesCycle() const {
    const int num_ops = static_cast<int>(graph_.ops.size());
    std::vector<int>& indegree = scratch_indegree_;
    indegree.assign(num_ops, 0);
    // The edges' successors of operator o: edge_succs[first_edge[o] ..
    // first_edge[o + 1]) (one flat array, not a list per operator).
    std::vector<int>& first_edge = scratch_first_edge_;
    first_edge.assign(num_ops + 1, 0);
    for (const OrderEdge& edge : order_edges_) ++first_edge[edge.before + 1];
    for (int o = 0; o < num_ops; ++o) first_edge[o + 1] += first_edge[o];
    std::vector<int>& edge_succs = scratch_edge_succs_;
    edge_succs.resize(order_edges_.size());
    std::vector<int>& filled = scratch_filled_;
    filled.assign(first_edge.begin(), first_edge.end() - 1);
    for (const OrderEdge& edge : order_edges_) {
      edge_succs[filled[edge.before]++] = edge.after;
      ++indegree[edge.after];
    }
    for (int o = 0; o < num_ops; ++o) {
      for (int t : graph_.ops[o].inputs) indegree[o] += graph_.tensors[t].producer >= 0 ? 1 : 0;
    }
    std::vector<int>& ready = scratch_stack_;
    ready.clear();
    for (int o = 0; o < num_ops; ++o) {
      if (indegree[o] == 0) ready.push_back(o);
    }
    int done = 0;
    while (!ready.empty()) {
      const int o = ready.back();
      ready.pop_back();
      ++done;
      for (int t : graph_.ops[o].outputs) {
        for (int consumer : graph_.tensors[t].consumers) {
          if (--indegree[consumer] == 0) ready.push_back(consumer);
        }
      }
      for (int e = first_edge[o]; e < first_edge[o + 1]; ++e) {
        if (--indegree[edge_succs[e]] == 0) ready.push_back(edge_succs[e]);
      }
    }
    return done != num_ops;
  }

  void PlanWindowed() {
    std::vector<int> ops = options_.windowed_convs;
    std::sort(ops.begin(), ops.end());
    ops.erase(std::unique(ops.begin(), ops.end()), ops.end());
    for (int o : ops) {
      if (o < 0 || o >= static_cast<int>(parts_.operators->size())) continue;
      WindowedConvGeometry geometry;
      if (!WindowedGeometryOf(parts_, o, caps_, &geometry)) continue;
      const Operator& op = (*parts_.operators)[o];
      const int x = GraphTensorOf(op.inputs[0]);
      const int y = GraphTensorOf(op.outputs[0]);
      if (x < 0 || y < 0 || nodes_[y].parent >= 0) continue;
      const auto& tensor = graph_.tensors[x];
      if (tensor.graph_output || tensor.consumers.size() != 1 || tensor.consumers[0] != o) {
        continue;
      }
      if (std::count(op.inputs.begin(), op.inputs.end(), op.inputs[0]) != 1) continue;
      if (first_child_[x] >= 0) continue;
      // Dense: no slice link on the way up (concats are planned later and
      // skip windowed groups).
      if (nodes_[GroupRoot(x)].parent >= 0) continue;
      const uint64_t shift = AlignUp(WindowedConvMinOffsetBytes(geometry));
      Attach(y, x, AliasLink::kWindowed, 0);
      nodes_[y].shift_bytes = shift;
      windowed_[o] = true;
    }
  }

  bool HasWindowedLink(int root) const {
    std::vector<int>& members = scratch_members_;
    members.clear();
    Subtree(root, &members);
    for (int u : members) {
      if (nodes_[u].link == AliasLink::kWindowed) return true;
    }
    return false;
  }

  // Follows in-place and reshape links up to the tensor that owns the
  // placement of `t`.
  int GroupRoot(int t) const {
    while (nodes_[t].parent >= 0 && nodes_[t].link != AliasLink::kSlice) {
      t = nodes_[t].parent;
    }
    return t;
  }

  void Subtree(int root, std::vector<int>* out) const {
    out->push_back(root);
    for (size_t i = out->size() - 1; i < out->size(); ++i) {
      for (int child = first_child_[(*out)[i]]; child >= 0; child = next_sibling_[child]) {
        out->push_back(child);
      }
    }
  }

  // Whether the whole subtree under `root` can move into a channel slice.
  bool CanBecomeSlice(int root, int concat_op) const {
    std::vector<int>& members = scratch_members_;
    members.clear();
    Subtree(root, &members);
    for (int u : members) {
      const auto& tensor = graph_.tensors[u];
      if (tensor.graph_input || tensor.graph_output) return false;
      if (nodes_[u].link == AliasLink::kReshape) return false;
      if (nodes_[u].link == AliasLink::kWindowed || nodes_[u].after_other_readers) return false;
      const int producer = tensor.producer;
      if (producer < 0) return false;
      const OpAliasCapability& writer = caps_[TypeOf(producer)];
      if (nodes_[u].link == AliasLink::kInPlace) {
        if (!writer.strided_input || !writer.strided_output) return false;
      } else if (!zero_copy_[producer] && !writer.strided_output) {
        return false;
      }
      for (int consumer : tensor.consumers) {
        if (consumer == concat_op || zero_copy_[consumer]) continue;
        if (!caps_[TypeOf(consumer)].strided_input) return false;
      }
    }
    return true;
  }

  void PlanConcats(const std::vector<int>& copy_concats) {
    const std::vector<Operator>& ops = *parts_.operators;
    for (int o = 0; o < static_cast<int>(ops.size()); ++o) {
      const Operator& op = ops[o];
      if (op.type != OpType::kConcat || op.outputs.size() != 1) continue;
      if (std::find(copy_concats.begin(), copy_concats.end(), o) !=
          copy_concats.end()) {
        continue;
      }
      const int c = GraphTensorOf(op.outputs[0]);
      if (c < 0 || HasWindowedLink(c)) continue;
      const Tensor& ct = ModelTensor(c);
      const auto* attrs = std::get_if<ConcatAttrs>(&op.attrs);
      if (attrs == nullptr || ct.shape.empty() ||
          attrs->axis != static_cast<int>(ct.shape.size()) - 1) {
        continue;
      }
      bool ok = !op.inputs.empty();
      std::vector<int>& roots = scratch_roots_;
      std::vector<int64_t>& offsets = scratch_offsets_;
      roots.clear();
      offsets.clear();
      int64_t offset = 0;
      for (size_t i = 0; ok && i < op.inputs.size(); ++i) {
        const int x = GraphTensorOf(op.inputs[i]);
        if (x < 0 || std::count(op.inputs.begin(), op.inputs.end(), op.inputs[i]) != 1 ||
            ModelTensor(x).type != ct.type) {
          ok = false;
          break;
        }
        const int root = GroupRoot(x);
        if (nodes_[root].parent >= 0 || root == c || !CanBecomeSlice(root, o)) {
          ok = false;
          break;
        }
        roots.push_back(root);
        offsets.push_back(offset);
        offset += LastDim(ModelTensor(x));
      }
      if (!ok || offset != LastDim(ct)) continue;
      for (size_t i = 0; i < roots.size(); ++i) {
        Attach(roots[i], c, AliasLink::kSlice, offsets[i]);
      }
      zero_copy_[o] = true;
    }
  }

  void PlanReshapes() {
    if (!caps_[OpType::kReshape].in_place) return;
    const std::vector<Operator>& ops = *parts_.operators;
    for (int o = 0; o < static_cast<int>(ops.size()); ++o) {
      const Operator& op = ops[o];
      if (op.type != OpType::kReshape || op.inputs.empty() || op.outputs.size() != 1) {
        continue;
      }
      const int x = GraphTensorOf(op.inputs[0]);
      const int y = GraphTensorOf(op.outputs[0]);
      if (x < 0 || y < 0 || nodes_[y].parent >= 0) continue;
      if (ModelTensor(x).type != ModelTensor(y).type) continue;
      if (!SingleReaderIntermediate(x, o)) continue;
      // Dense over its whole buffer: no slice link on the way up.
      if (nodes_[GroupRoot(x)].parent >= 0) continue;
      Attach(y, x, AliasLink::kReshape, 0);
      no_op_reshape_[o] = true;
    }
  }

  // Marks (ancestor_mark_[o] == mark) the operators that run before `op` in
  // every order, of those numbered `lowest` or more. When the operators are
  // numbered in a topological order, every operator on a path from such an
  // ancestor to `op` is numbered above it, so the search never goes below
  // `lowest` and finds them all: a hazard check asks only about the readers
  // of a few slices, near the writer, not about the whole graph above it.
  void MarkAncestors(int op, int lowest, int mark) const {
    if (ancestor_mark_.size() != graph_.ops.size()) ancestor_mark_.assign(graph_.ops.size(), -1);
    std::vector<int>& stack = scratch_stack_;
    stack.assign(1, op);
    while (!stack.empty()) {
      const int o = stack.back();
      stack.pop_back();
      for (int t : graph_.ops[o].inputs) {
        const int producer = graph_.tensors[t].producer;
        if (producer >= lowest && ancestor_mark_[producer] != mark) {
          ancestor_mark_[producer] = mark;
          stack.push_back(producer);
        }
      }
    }
  }

  // Whether every operator's inputs are produced by lower-numbered operators.
  bool NumberedTopologically() const {
    for (int o = 0; o < static_cast<int>(graph_.ops.size()); ++o) {
      for (int t : graph_.ops[o].inputs) {
        if (graph_.tensors[t].producer >= o) return false;
      }
    }
    return true;
  }

  // An in-place write over a region that holds concat slices is safe only if
  // every reader of those slices runs before the writer in every order.
  int FindHazard() const {
    const bool topological = NumberedTopologically();
    std::vector<int>& side = scratch_side_;
    for (int y = 0; y < static_cast<int>(nodes_.size()); ++y) {
      if (nodes_[y].link != AliasLink::kInPlace) continue;
      const int writer = graph_.tensors[y].producer;
      side.clear();
      int below = y;
      int a = nodes_[y].parent;
      while (a >= 0) {
        for (int child = first_child_[a]; child >= 0; child = next_sibling_[child]) {
          if (child != below) Subtree(child, &side);
        }
        if (nodes_[a].link == AliasLink::kSlice || nodes_[a].parent < 0) break;
        below = a;
        a = nodes_[a].parent;
      }
      if (side.empty()) continue;
      int lowest = 0;
      if (topological) {
        lowest = writer;
        for (int u : side) {
          for (int consumer : graph_.tensors[u].consumers) lowest = std::min(lowest, consumer);
        }
      }
      const int mark = ++ancestor_round_;
      MarkAncestors(writer, lowest, mark);
      for (int u : side) {
        for (int consumer : graph_.tensors[u].consumers) {
          if (consumer == writer || ancestor_mark_[consumer] == mark) continue;
          // Keep the concat that put `u` into this region as a copy.
          int t = u;
          while (nodes_[t].link != AliasLink::kSlice) t = nodes_[t].parent;
          return graph_.tensors[nodes_[t].parent].producer;
        }
      }
    }
    return -1;
  }

  AliasPlan Materialise() const {
    const int num_tensors = static_cast<int>(graph_.tensors.size());
    AliasPlan plan;
    plan.placements.assign(num_tensors, TensorPlacement{});
    plan.memory.buffer_of_tensor.assign(num_tensors, -1);
    std::vector<int> order;
    order.reserve(num_tensors);
    int roots = 0;
    for (int t = 0; t < num_tensors; ++t) {
      if (nodes_[t].parent < 0) {
        Subtree(t, &order);
        ++roots;
      }
    }
    plan.memory.buffers.reserve(roots);
    for (int t : order) {
      TensorPlacement& placement = plan.placements[t];
      const Node& node = nodes_[t];
      const Tensor& tensor = ModelTensor(t);
      const size_t element_size = DataTypeSize(tensor.type);
      if (node.parent < 0) {
        placement.buffer = static_cast<int>(plan.memory.buffers.size());
        placement.pixel_stride = LastDim(tensor);
        Buffer buffer;
        buffer.bytes = AlignUp(graph_.tensors[t].bytes);
        plan.memory.buffers.push_back(std::move(buffer));
      } else {
        const TensorPlacement& parent = plan.placements[node.parent];
        placement.buffer = parent.buffer;
        placement.alias_of = node.parent;
        placement.link = node.link;
        switch (node.link) {
          case AliasLink::kInPlace:
            placement.channel_offset = parent.channel_offset;
            placement.pixel_stride = parent.pixel_stride;
            break;
          case AliasLink::kWindowed:  // dense, placed below (after this loop)
            placement.channel_offset = 0;
            placement.pixel_stride = LastDim(tensor);
            break;
          case AliasLink::kReshape:
            placement.channel_offset = 0;
            placement.pixel_stride = LastDim(tensor);
            break;
          case AliasLink::kSlice:
          case AliasLink::kNone:
            placement.channel_offset = parent.channel_offset + node.channel_offset;
            placement.pixel_stride = parent.pixel_stride;
            break;
        }
        placement.byte_offset =
            static_cast<uint64_t>(placement.channel_offset) * element_size;
      }
      plan.memory.buffer_of_tensor[t] = placement.buffer;
    }
    // Each buffer's tensors, ascending, in one allocation per buffer (a plan
    // cache hit plans the aliasing of a model of a thousand tensors again to
    // check the plan, and growing the lists one tensor at a time was most of
    // its allocations).
    if (options_.buffer_tensor_lists) {
      std::vector<int> tensors_in(plan.memory.buffers.size(), 0);
      for (int t = 0; t < num_tensors; ++t) ++tensors_in[plan.memory.buffer_of_tensor[t]];
      for (size_t b = 0; b < plan.memory.buffers.size(); ++b) {
        plan.memory.buffers[b].tensors.reserve(tensors_in[b]);
      }
      for (int t = 0; t < num_tensors; ++t) {
        plan.memory.buffers[plan.memory.buffer_of_tensor[t]].tensors.push_back(t);
      }
    }
    // Windowed links: each output lies shift_bytes below its input. Place
    // every tensor of such a group at its distance from the lowest one, and
    // size the buffer to hold them all.
    // (Skipped, with its three arrays, when no operator runs windowed.)
    if (std::find(windowed_.begin(), windowed_.end(), true) != windowed_.end()) {
      std::vector<int64_t> position(num_tensors, 0);
      std::vector<int64_t> lowest(plan.memory.buffers.size(), 0);
      std::vector<bool> windowed_buffer(plan.memory.buffers.size(), false);
      for (int t : order) {
        const Node& node = nodes_[t];
        if (node.parent < 0) continue;
        position[t] = position[node.parent] -
                      (node.link == AliasLink::kWindowed ? static_cast<int64_t>(node.shift_bytes)
                                                         : 0);
        const int b = plan.placements[t].buffer;
        lowest[b] = std::min(lowest[b], position[t]);
        if (node.link == AliasLink::kWindowed) windowed_buffer[b] = true;
      }
      for (int t : order) {
        const int b = plan.placements[t].buffer;
        if (!windowed_buffer[b]) continue;
        TensorPlacement& placement = plan.placements[t];
        placement.byte_offset += static_cast<uint64_t>(position[t] - lowest[b]);
        Buffer& buffer = plan.memory.buffers[b];
        buffer.bytes = std::max(buffer.bytes,
                                AlignUp(placement.byte_offset + graph_.tensors[t].bytes));
      }
    }
    for (int o = 0; o < static_cast<int>(graph_.ops.size()); ++o) {
      if (in_place_[o]) plan.in_place_ops.push_back(o);
      if (no_op_reshape_[o]) plan.no_op_reshapes.push_back(o);
      if (zero_copy_[o]) plan.zero_copy_concats.push_back(o);
      if (windowed_[o]) plan.windowed_convs.push_back(o);
      if (last_reader_[o]) plan.last_reader_in_place.push_back(o);
    }
    plan.memory.order_edges = order_edges_;
    return plan;
  }

  const ModelParts& parts_;
  const G& graph_;
  const AliasCapabilities& caps_;
  const AliasOptions& options_;
  std::vector<int> graph_of_model_;
  std::vector<Node> nodes_;
  // Each tensor's children in the order they were attached, as a list:
  // first_child_ and last_child_ per parent, next_sibling_ per child.
  std::vector<int> first_child_;
  std::vector<int> last_child_;
  std::vector<int> next_sibling_;
  // Scratch space reused from concat to concat.
  mutable std::vector<int> scratch_members_;
  std::vector<int> scratch_roots_;
  mutable std::vector<int> scratch_side_;
  mutable std::vector<int> scratch_stack_;
  mutable std::vector<int> ancestor_mark_;  // per operator (MarkAncestors)
  mutable int ancestor_round_ = 0;
  std::vector<int64_t> scratch_offsets_;
  std::vector<bool> zero_copy_;
  std::vector<bool> no_op_reshape_;
  std::vector<bool> in_place_;
  std::vector<bool> windowed_;
  std::vector<bool> last_reader_;
  std::vector<OrderEdge> order_edges_;
  mutable std::vector<int> scratch_indegree_;
  mutable std::vector<int> scratch_first_edge_;  // ClosesCycle
  mutable std::vector<int> scratch_edge_succs_;
  mutable std::vector<int> scratch_filled_;
};

}  // namespace

namespace {

template <typename G>
Result<AliasPlan> PlanAliasingOf(const ModelParts& parts, const G& graph,
                                 const AliasCapabilities& capabilities,
                                 const AliasOptions& options) {
  AliasPlanner<G> planner(parts, graph, capabilities, options);
  SERENITY_RETURN_IF_ERROR(planner.Check());
  std::vector<int> copy_concats = options.copy_concats;
  // Each round keeps one more concat as a copy, so this ends.
  while (true) {
    int hazard = -1;
    AliasPlan plan = planner.Build(copy_concats, &hazard);
    if (hazard < 0) return plan;
    copy_concats.push_back(hazard);
  }
}

template <typename G>
AliasPlan PlanWithoutAliasingOf(const ModelParts& parts, const G& graph) {
  AliasPlan plan;
  plan.memory = MemoryModel();
  plan.memory.buffers.reserve(graph.tensors.size());
  plan.memory.buffer_of_tensor.reserve(graph.tensors.size());
  plan.placements.reserve(graph.tensors.size());
  for (size_t t = 0; t < graph.tensors.size(); ++t) {
    Buffer buffer;
    buffer.bytes = AlignUp(graph.tensors[t].bytes);
    buffer.tensors = {static_cast<int>(t)};
    plan.memory.buffers.push_back(std::move(buffer));
    plan.memory.buffer_of_tensor.push_back(static_cast<int>(t));
    TensorPlacement placement;
    placement.buffer = static_cast<int>(t);
    const Tensor& tensor = (*parts.tensors)[graph.tensors[t].model_tensor];
    placement.pixel_stride = LastDim(tensor);
    plan.placements.push_back(placement);
  }
  return plan;
}

}  // namespace

Result<AliasPlan> PlanAliasingForParts(const ModelParts& parts, const Graph& graph,
                                       const AliasCapabilities& capabilities,
                                       const AliasOptions& options) {
  return PlanAliasingOf(parts, graph, capabilities, options);
}

AliasPlan PlanWithoutAliasingForParts(const ModelParts& parts, const Graph& graph) {
  return PlanWithoutAliasingOf(parts, graph);
}

}  // namespace internal

Result<AliasPlan> PlanAliasing(const Model& model, const Graph& graph,
                               const AliasCapabilities& capabilities,
                               const AliasOptions& options) {
  return internal::PlanAliasingForParts(internal::PartsOf(model), graph,
                                        capabilities, options);
}

AliasPlan PlanWithoutAliasing(const Model& model, const Graph& graph) {
  return internal::PlanWithoutAliasingForParts(internal::PartsOf(model), graph);
}

Result<AliasPlan> PlanAliasing(const Model& model, const CompactGraph& graph,
                               const AliasCapabilities& capabilities, const AliasOptions& options) {
  return internal::PlanAliasingOf(internal::PartsOf(model), graph, capabilities, options);
}

AliasPlan PlanWithoutAliasing(const Model& model, const CompactGraph& graph) {
  return internal::PlanWithoutAliasingOf(internal::PartsOf(model), graph);
}

std::vector<int> LastReaderInPlaceCandidates(const Model& model,
                                             const AliasCapabilities& capabilities) {
  const internal::ModelParts parts = internal::PartsOf(model);
  const std::vector<Operator>& ops = model.operators();
  const int num_tensors = static_cast<int>(model.tensors().size());
  // Distinct operators reading each tensor.
  std::vector<int> readers(num_tensors, 0);
  for (const Operator& op : ops) {
    for (size_t i = 0; i < op.inputs.size(); ++i) {
      const int t = op.inputs[i];
      if (t < 0 || t >= num_tensors) continue;
      if (std::find(op.inputs.begin(), op.inputs.begin() + i, t) == op.inputs.begin() + i) {
        ++readers[t];
      }
    }
  }
  std::vector<bool> boundary(num_tensors, false);
  for (int t : model.inputs()) boundary[t] = true;
  for (int t : model.outputs()) boundary[t] = true;
  std::vector<int> candidates;
  for (int o = 0; o < static_cast<int>(ops.size()); ++o) {
    if (!internal::InPlaceShapesOf(parts, o, capabilities)) continue;
    const std::vector<int>& inputs = ops[o].inputs;
    const int x = inputs[0];
    if (boundary[x] || readers[x] < 2 || std::count(inputs.begin(), inputs.end(), x) != 1) {
      continue;
    }
    candidates.push_back(o);
  }
  return candidates;
}

std::vector<int> WindowedConvCandidates(const Model& model,
                                        const AliasCapabilities& capabilities) {
  const internal::ModelParts parts = internal::PartsOf(model);
  std::vector<int> ops;
  for (int o = 0; o < static_cast<int>(model.operators().size()); ++o) {
    WindowedConvGeometry geometry;
    if (internal::WindowedGeometryOf(parts, o, capabilities, &geometry)) ops.push_back(o);
  }
  return ops;
}

}  // namespace serenity::scheduler
