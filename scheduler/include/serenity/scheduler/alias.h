// Aliasing (DESIGN.md §2): which activation tensors share a buffer, and where
// inside it each one lives. This is the single rule the memory model
// (scheduling, arena planning) and the runtime (operand views) both obey.
//
// Three kinds of sharing, each decided statically, before any ordering:
//
//   in place      Relu, Clamp, Sigmoid, HardSwish, Add, Mul: the output is
//                 written over input 0 when input 0 has the same shape and
//                 type, is read by this operator only (and only once), and is
//                 neither a graph input nor a graph output. With a single
//                 reader, "this op is its last reader" holds in every order.
//   reshape       a Reshape whose input obeys the same single-reader rule and
//                 fills its buffer densely: the output is the same bytes, and
//                 the Reshape runs as a no-op.
//   zero-copy     a Concat on the last (channel) axis whose inputs all
//   concat        qualify: not a graph input or output, listed once, produced
//                 by an operator that can write a channel slice (or by another
//                 zero-copy concat), and read by nothing else that cannot read
//                 a channel slice. Every input becomes a channel slice of the
//                 concat's buffer; the Concat runs as a no-op.
//
// A last check removes the one hazard those rules leave: an in-place write
// over a concat's buffer while a slice of it still has a reader that the
// in-place operator does not depend on. Such a concat is left as a copy.
//
// What each kernel supports comes from the kernels (kernels::CapabilitiesOf),
// but the scheduler never depends on them: the runtime fills an
// AliasCapabilities from that table.
#ifndef SERENITY_SCHEDULER_ALIAS_H_
#define SERENITY_SCHEDULER_ALIAS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "serenity/model_format/model.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"
#include "serenity/status.h"

namespace serenity::scheduler {

// What an operator kind can do with memory (mirrors kernels::OpCapabilities).
struct OpAliasCapability {
  bool strided_input = false;   // reads a channel slice (pixel stride)
  bool strided_output = false;  // writes a channel slice
  bool in_place = false;        // output may be the memory of input 0
};

struct AliasCapabilities {
  std::array<OpAliasCapability, kNumOpTypes> ops{};

  const OpAliasCapability& operator[](OpType type) const {
    return ops[static_cast<int>(type)];
  }
  OpAliasCapability& operator[](OpType type) {
    return ops[static_cast<int>(type)];
  }

  // Every op false: no aliasing at all.
  static AliasCapabilities None() { return {}; }
  // The runtime passes a wrapper around kernels::CapabilitiesOf.
  static AliasCapabilities FromFunction(
      const std::function<OpAliasCapability(OpType)>& capability_of);
};

struct AliasOptions {
  bool in_place = true;
  bool reshape = true;
  bool zero_copy_concat = true;
  // Model operator indices of Concats to keep as copies even if they qualify
  // (the rewriting pass turns zero-copy off where it raises the peak).
  std::vector<int> copy_concats;
};

enum class AliasLink : uint8_t {
  kNone,     // owns its buffer (the root of a buffer)
  kInPlace,  // written over `alias_of`, same placement
  kReshape,  // the same bytes as `alias_of`, another shape
  kSlice,    // a channel slice of `alias_of` (zero-copy concat input)
};

// Where one graph tensor lives. The address of element [0, .., 0, c] of the
// tensor is arena + buffer_offset[buffer] + byte_offset + c * element_size,
// and consecutive pixels (all dimensions but the last, flattened) are
// `pixel_stride` elements apart. Dense iff pixel_stride == shape.back().
struct TensorPlacement {
  int buffer = -1;              // index in AliasPlan::memory.buffers
  uint64_t byte_offset = 0;     // == channel_offset * element size
  int64_t channel_offset = 0;   // first channel within the buffer's pixels
  int64_t pixel_stride = 0;     // elements per pixel of the buffer's layout
  AliasLink link = AliasLink::kNone;
  int alias_of = -1;            // graph tensor, for kInPlace/kReshape/kSlice
};

struct AliasPlan {
  MemoryModel memory;
  std::vector<TensorPlacement> placements;  // per GraphTensor
  // Model operator indices, ascending.
  std::vector<int> in_place_ops;       // write their output over input 0
  std::vector<int> no_op_reshapes;     // output is the input's bytes
  std::vector<int> zero_copy_concats;  // every input already in place

  // True for a zero-copy Concat or an aliased Reshape: the runtime binds
  // nothing for it.
  bool IsNoOp(int model_operator) const;
};

// Plans aliasing for `model`, whose graph is `graph` (GraphFromModel(model)).
// Never fails on a valid model and graph; kInvalidArgument if they disagree.
Result<AliasPlan> PlanAliasing(const Model& model, const Graph& graph,
                               const AliasCapabilities& capabilities,
                               const AliasOptions& options = {});

// One buffer per tensor, dense: the same memory as
// MemoryModel::WithoutAliasing, with placements for the runtime.
AliasPlan PlanWithoutAliasing(const Model& model, const Graph& graph);

// The same for the compact form of the graph (CompactGraphFromModel(model)).
Result<AliasPlan> PlanAliasing(const Model& model, const CompactGraph& graph,
                               const AliasCapabilities& capabilities,
                               const AliasOptions& options = {});
AliasPlan PlanWithoutAliasing(const Model& model, const CompactGraph& graph);

}  // namespace serenity::scheduler

#endif  // SERENITY_SCHEDULER_ALIAS_H_
