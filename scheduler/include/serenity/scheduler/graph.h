// The scheduler's view of a model: operators and the activation tensors
// between them, with byte sizes. Constants (weights) are not part of it.
//
// The scheduler is pure computation on this struct. It is built from a Model
// (GraphFromModel) or directly by tests (random DAGs) and benchmarks.
#ifndef SERENITY_SCHEDULER_GRAPH_H_
#define SERENITY_SCHEDULER_GRAPH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "serenity/export.h"
#include "serenity/status.h"

namespace serenity {
class Model;
}

namespace serenity::scheduler {

// Activation buffers are rounded up to this many bytes (DESIGN.md §2).
inline constexpr uint64_t kArenaAlignment = 64;

inline uint64_t AlignUp(uint64_t bytes, uint64_t alignment = kArenaAlignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

struct GraphTensor {
  std::string name;
  uint64_t bytes = 0;         // unaligned size
  int producer = -1;          // operator index; -1 for a graph input
  std::vector<int> consumers;  // operator indices, each once, ascending
  bool graph_input = false;
  bool graph_output = false;
  int model_tensor = -1;      // index in Model::tensors(), -1 if synthetic
};

struct GraphOp {
  std::string name;
  std::string type;           // OpTypeName(), or free text in tests
  std::vector<int> inputs;    // GraphTensor indices (activations only), each once
  std::vector<int> outputs;   // GraphTensor indices
  int model_operator = -1;    // index in Model::operators(), -1 if synthetic
};

// Invariants (checked by ValidateGraph): every tensor has exactly one
// producer or is a graph input; consumer and producer lists agree with the
// operators' inputs and outputs; the operators form a DAG. Operator indices
// 0..n-1 are the stored order, which need not be topological only if the
// file lists operators out of order (the reader rejects that, so for a
// loaded model it is).
struct Graph {
  std::vector<GraphTensor> tensors;
  std::vector<GraphOp> ops;
};

// Whether GraphFromModel copies the model's tensor and operator names.
enum class GraphNames {
  kCopied,
  // GraphTensor::name and GraphOp::name stay empty (model_tensor and
  // model_operator still lead to them): for code that reports through the
  // model's own names, such as the runtime's check of a cached plan, where
  // copying every name would be a large part of the graph's cost.
  kOmitted,
};

// Builds the graph of a validated model. Operators keep their stored order.
SERENITY_API Graph GraphFromModel(const Model& model, GraphNames names = GraphNames::kCopied);

// The graph GraphFromModel(model, GraphNames::kOmitted) builds, in three
// allocations (tensors, operators, and one pool of indices that every list
// points into) instead of one per tensor and two per operator: for a graph
// built on a hot path, such as the runtime's check of a cached plan. The
// functions that take one (IsTopologicalOrder, ComputeLiveRanges,
// MemoryModel::WithoutAliasing, PlanAliasing, PlanWithoutAliasing) give what
// they give for the Graph. Move-only: the lists point into `indices`, whose
// buffer a move keeps and a copy would not.
class SERENITY_API IndexList {
 public:
  IndexList() = default;
  IndexList(const int* first, size_t size) : first_(first), size_(size) {}
  const int* begin() const { return first_; }
  const int* end() const { return first_ + size_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int operator[](size_t i) const { return first_[i]; }

 private:
  const int* first_ = nullptr;
  size_t size_ = 0;
};

struct CompactTensor {
  uint64_t bytes = 0;
  int producer = -1;
  IndexList consumers;  // ascending, each once
  bool graph_input = false;
  bool graph_output = false;
  int model_tensor = -1;
};

struct CompactOp {
  IndexList inputs;  // activations only, each once
  IndexList outputs;
  int model_operator = -1;
};

struct CompactGraph {
  CompactGraph() = default;
  CompactGraph(CompactGraph&&) noexcept = default;
  CompactGraph& operator=(CompactGraph&&) noexcept = default;
  CompactGraph(const CompactGraph&) = delete;
  CompactGraph& operator=(const CompactGraph&) = delete;

  std::vector<CompactTensor> tensors;
  std::vector<CompactOp> ops;
  std::vector<int> indices;  // what the lists point into
};

SERENITY_API CompactGraph CompactGraphFromModel(const Model& model);

// Checks the invariants above; the message names the offending tensor or op.
SERENITY_API Status ValidateGraph(const Graph& graph);

// True if `order` is a permutation of 0..n-1 that respects every edge.
SERENITY_API bool IsTopologicalOrder(const Graph& graph, const std::vector<int>& order);
SERENITY_API bool IsTopologicalOrder(const CompactGraph& graph, const std::vector<int>& order);

}  // namespace serenity::scheduler

#endif  // SERENITY_SCHEDULER_GRAPH_H_
