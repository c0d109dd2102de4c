// Private to scheduler/: the pieces of a model the rewriting pass and the
// alias planner work on, so that trial rewrites are measured without
// serialising a Model each time.
#ifndef SERENITY_SCHEDULER_REWRITE_INTERNAL_H_
#define SERENITY_SCHEDULER_REWRITE_INTERNAL_H_

#include <vector>

#include "serenity/model_format/model.h"
#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/graph.h"
#include "serenity/status.h"

namespace serenity::scheduler::internal {

struct ModelParts {
  const std::vector<Tensor>* tensors = nullptr;
  const std::vector<Operator>* operators = nullptr;
  const std::vector<int>* inputs = nullptr;
  const std::vector<int>* outputs = nullptr;
};

inline ModelParts PartsOf(const Model& model) {
  return {&model.tensors(), &model.operators(), &model.inputs(),
          &model.outputs()};
}

// GraphFromModel for parts: the same graph GraphFromModel builds from the
// model these parts would serialise to (up to tensor numbering).
Graph GraphFromParts(const ModelParts& parts);

Result<AliasPlan> PlanAliasingForParts(const ModelParts& parts,
                                       const Graph& graph,
                                       const AliasCapabilities& capabilities,
                                       const AliasOptions& options);

AliasPlan PlanWithoutAliasingForParts(const ModelParts& parts,
                                      const Graph& graph);

}  // namespace serenity::scheduler::internal

#endif  // SERENITY_SCHEDULER_REWRITE_INTERNAL_H_
