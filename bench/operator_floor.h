// The operator floor of a plan: the largest number of arena bytes one
// operator's own activations (its inputs and outputs, each from its offset
// to the end of its last pixel) cover, overlaps counted once. Worked out
// from the placements alone, it is a lower bound of the peak of the plan's
// graph under its aliasing, in any order: memory_report prints it beside the
// peak, and a test checks every plan's peak against it. The extent of a
// placed tensor is worked out here, not with the engine's own helper, so
// that the bound checks the engine instead of repeating it.
#ifndef SERENITY_BENCH_OPERATOR_FLOOR_H_
#define SERENITY_BENCH_OPERATOR_FLOOR_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "serenity/engine.h"
#include "serenity/model_format/model.h"

namespace serenity::bench {

struct OperatorFloor {
  uint64_t bytes = 0;
  std::string op;  // the first operator in the order that sets it
};

// Bytes a placed activation spans in the arena: from its offset to the end
// of its last pixel (pixels `placement.pixel_stride` elements apart).
inline uint64_t PlacedSpanBytes(const Tensor& tensor, const TensorPlacement& placement) {
  const int64_t channels = tensor.shape.empty() ? 1 : tensor.shape.back();
  const int64_t pixels = channels == 0 ? 0 : tensor.num_elements() / channels;
  if (pixels == 0) return 0;
  return static_cast<uint64_t>((pixels - 1) * placement.pixel_stride + channels) *
         DataTypeSize(tensor.type);
}

// `run_model` is the model the plan runs (its rewritten model, if any).
inline OperatorFloor FloorOf(const ExecutionPlan& plan, const Model& run_model) {
  const std::vector<Tensor>& tensors = run_model.tensors();
  OperatorFloor floor;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (int op_index : plan.order) {
    const Operator& op = run_model.operators()[op_index];
    spans.clear();
    auto add = [&](int t) {
      if (t < 0 || plan.placements[t].offset < 0) return;
      const uint64_t bytes = PlacedSpanBytes(tensors[t], plan.placements[t]);
      if (bytes == 0) return;
      const uint64_t begin = static_cast<uint64_t>(plan.placements[t].offset);
      spans.push_back({begin, begin + bytes});
    };
    for (int t : op.inputs) add(t);
    for (int t : op.outputs) add(t);
    std::sort(spans.begin(), spans.end());
    uint64_t covered = 0, reach = 0;
    for (const auto& [begin, end] : spans) {
      if (end <= reach) continue;
      covered += end - std::max(begin, reach);
      reach = end;
    }
    if (covered > floor.bytes) floor = {covered, op.name};
  }
  return floor;
}

}  // namespace serenity::bench

#endif  // SERENITY_BENCH_OPERATOR_FLOOR_H_
