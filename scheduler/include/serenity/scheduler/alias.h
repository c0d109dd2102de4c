// Aliasing (DESIGN.md §2): which activation tensors share a buffer, and where
// inside it each one lives. This is the single rule the memory model
// (scheduling, arena planning) and the runtime (operand views) both obey.
//
// Four kinds of sharing, each decided statically, before any ordering:
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
//   windowed      a Conv2D listed in AliasOptions::windowed_convs (chosen by
//   in place      measurement: the merged buffer is larger than either
//                 tensor) writes its output over its input 0, which obeys the
//                 single-reader rule (a graph input may be overwritten: the
//                 caller writes every input before each run) and whose group
//                 holds no channel slice. The output starts at the buffer's
//                 first byte and the input WindowedConvMinOffsetBytes (rounded
//                 up to the arena alignment) above it: the kernel computes
//                 bands of output rows in increasing order into scratch and
//                 copies each band out only after reading its windows, so the
//                 copy of rows [0, e) must not reach any input row that a
//                 row >= e still reads. Such a group never becomes a concat
//                 slice. Eligible: dense (groups 1) or depthwise, batch 1, at
//                 most OpAliasCapability::windowed_max_positions kernel
//                 positions, and every output row's window starts inside the
//                 input (no row made of bottom padding only).
//
//   last-reader   an in-place kind listed in AliasOptions::last_reader_in_place
//   in place      (chosen under an order by the engine) whose input 0 obeys
//                 the in-place rule except that other operators read it too:
//                 the output is written over input 0, and every other reader
//                 must run first. The plan states that as order edges
//                 (MemoryModel::order_edges, reader -> writer), which every
//                 scheduler keeps. Skipped when the input already has an
//                 alias child, when an edge would close a cycle, and such a
//                 group never becomes a concat slice.
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
  // Conv2D only: largest kernel_h * kernel_w the kernel runs windowed in
  // place (output over input 0 at a lower offset, rows in increasing order);
  // 0: never.
  int64_t windowed_max_positions = 0;
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
  // Model operator indices of Conv2Ds to run windowed in place when they
  // qualify (the engine keeps those that lower the peak); others are skipped.
  std::vector<int> windowed_convs;
  // Model operator indices of in-place kinds to run in place over an input
  // that others read too, after them (last-reader in place, above); those
  // the rules do not allow are skipped.
  std::vector<int> last_reader_in_place;
  // False leaves every MemoryModel::buffers[b].tensors of the plan empty
  // (buffer_of_tensor, the placements and the buffer sizes are as always):
  // for a caller that needs no per-buffer list, such as the engine's check
  // of a cached plan, which then saves one allocation per buffer
  // (ComputeLiveRanges and PeakBytes read buffer_of_tensor only).
  bool buffer_tensor_lists = true;
};

// What the windowed in-place rule needs of one convolution, in rows of the
// height axis (batch 1, dense NHWC: a row is width * channels elements).
struct WindowedConvGeometry {
  int64_t in_rows = 0, in_row_bytes = 0;
  int64_t out_rows = 0, out_row_bytes = 0;
  int64_t stride = 1, pad_top = 0, kernel = 1, dilation = 1;
};

// The smallest distance (bytes) from the output's first byte up to the
// input's first byte such that, for every e in 1..out_rows-1, the first e
// output rows end at or below the first input row that an output row >= e
// reads (row e * stride - pad_top, clamped at 0; later rows read only higher
// rows). Bands of several rows copied out at once need no more: their ends
// are a subset of these, and the kernel copies a band out only once all
// threads have computed it. Exact when row e * stride - pad_top (or row 0)
// is really read; with dilation, a window starting in the top padding may
// first read a lower row, and the offset is then larger than needed (safe).
uint64_t WindowedConvMinOffsetBytes(const WindowedConvGeometry& geometry);

// The oracle for the rule above, written separately from it (in
// arena_plan_validator.cc, by brute force over every band end and every row
// each later output row reads): the input at byte `input_offset` and the
// output at `output_offset` of one arena are safe for a kernel that copies
// out bands of rows in increasing order. kInvalidArgument names the first
// band end and input row that would be overwritten before their last read.
Status ValidateWindowedWrite(const WindowedConvGeometry& geometry, uint64_t input_offset,
                             uint64_t output_offset);

enum class AliasLink : uint8_t {
  kNone,     // owns its buffer (the root of a buffer)
  kInPlace,  // written over `alias_of`, same placement
  kReshape,  // the same bytes as `alias_of`, another shape
  kSlice,    // a channel slice of `alias_of` (zero-copy concat input)
  kWindowed, // a Conv2D's output over its input `alias_of`, a row offset below
};

// Where one graph tensor lives. The address of element [0, .., 0, c] of the
// tensor is arena + buffer_offset[buffer] + byte_offset + c * element_size,
// and consecutive pixels (all dimensions but the last, flattened) are
// `pixel_stride` elements apart. Dense iff pixel_stride == shape.back().
struct TensorPlacement {
  int buffer = -1;              // index in AliasPlan::memory.buffers
  // channel_offset * element size, plus, in a group with a windowed link,
  // the tensor's distance from the buffer's first byte.
  uint64_t byte_offset = 0;
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
  std::vector<int> windowed_convs;     // output over input 0, row offset below
  std::vector<int> last_reader_in_place;  // in place, after input 0's other readers

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

// Model operator indices of the Conv2Ds of `model` that could run windowed in
// place under `capabilities` as far as their own shapes go (the alias plan
// may still skip one whose input sits in a concat's buffer).
std::vector<int> WindowedConvCandidates(const Model& model,
                                        const AliasCapabilities& capabilities);

// Model operator indices of the in-place kinds of `model` that could run in
// place over an input 0 read by other operators too (last-reader in place),
// as far as the model's shapes and readers go: the alias plan may still skip
// one (an input with another alias, a cycle of order edges).
std::vector<int> LastReaderInPlaceCandidates(const Model& model,
                                             const AliasCapabilities& capabilities);

}  // namespace serenity::scheduler

#endif  // SERENITY_SCHEDULER_ALIAS_H_
