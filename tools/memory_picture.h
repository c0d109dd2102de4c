// The memory picture of serenity_run --memory-svg: footprint curves over the
// execution steps and the arena layout, drawn as one self-contained SVG.
//
// Two halves on purpose: BuildMemoryPicture gathers plain numbers from a
// model and its plan (and, when asked, from the rewriting pass), and
// RenderMemorySvg draws any MemoryPicture, so the drawing can be tested on
// numbers chosen by hand.
#ifndef SERENITY_TOOLS_MEMORY_PICTURE_H_
#define SERENITY_TOOLS_MEMORY_PICTURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "serenity/engine.h"
#include "serenity/model_format/model.h"
#include "serenity/status.h"

namespace serenity::tools {

// Bytes in use at every step of one order.
struct FootprintCurve {
  std::string label;            // "stored order", "optimal order", ...
  std::vector<uint64_t> bytes;  // one entry per step
};

// One activation tensor in the arena: a rectangle over its live steps.
struct ArenaBlock {
  std::string tensor;       // name (or "tensor 12")
  std::string op_type;      // producer's OpTypeName, or "graph input"
  int first = 0;            // first live step (inclusive)
  int last = 0;             // last live step (inclusive)
  uint64_t offset = 0;      // bytes from the arena start
  uint64_t bytes = 0;       // extent in the arena (aligned when dense)
};

struct MemoryPicture {
  std::string title;                // the model's name
  std::vector<std::string> notes;   // one line each, under the title
  std::vector<FootprintCurve> curves;
  std::vector<ArenaBlock> blocks;   // under the plan's order
  int steps = 0;                    // of the plan's order
  uint64_t arena_bytes = 0;         // with the read margin
  uint64_t peak_bytes = 0;          // of the plan's order
};

struct PictureOptions {
  // Add the curve of the optimal order alone (no aliasing, no rewrites),
  // searching for at most this long, to compare the plan with; <= 0: no such
  // curve (for a plan that is the order alone, the two coincide).
  double order_time_limit_seconds = 0;
};

// A tensor's name, or "tensor N" when it has none: how the picture and
// serenity_run --arena-csv name tensors.
std::string TensorLabel(const Model& model, int t);

// The curves (stored order; the optimal order alone when asked; the plan,
// with its aliasing and rewrites) and the blocks of `plan`, which must come
// from Engine::Prepare(model, ...): they are drawn on the model the plan runs
// (its rewritten_model when it has one). Errors: kInvalidArgument when the
// plan does not fit the model.
Result<MemoryPicture> BuildMemoryPicture(const Model& model, const ExecutionPlan& plan,
                                         const PictureOptions& options);

// The SVG document: (a) the curves over the steps, each curve's peak marked
// and labelled; (b) the arena layout, one <rect class="buffer"> per block
// (x: live steps, y: offset .. offset + bytes) coloured by op_type with a
// <title> naming the tensor, the arena size and the peak drawn as lines; a
// legend of the colours. Self-contained: no scripts, fonts or links.
std::string RenderMemorySvg(const MemoryPicture& picture);

}  // namespace serenity::tools

#endif  // SERENITY_TOOLS_MEMORY_PICTURE_H_
