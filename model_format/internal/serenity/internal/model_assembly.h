// Internal to Serenity, never installed (model_format/internal is a
// build-tree include directory only): a Model assembled from in-memory parts,
// for code that derives a model from a validated one by edits that keep it
// valid (scheduler::ReplayRewrites), where serialising it and running the
// reader again would cost more than the edits.
#ifndef SERENITY_INTERNAL_MODEL_ASSEMBLY_H_
#define SERENITY_INTERNAL_MODEL_ASSEMBLY_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serenity/model_format/model.h"

namespace serenity::model_assembly {

struct ModelParts {
  std::string source;  // in messages in place of a path, like FromBuffer's
  std::string name;
  std::string description;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<Tensor> tensors;
  std::vector<Operator> operators;
  std::vector<int> inputs;
  std::vector<int> outputs;
  // What constant tensors point into, when it is not memory that outlives
  // the Model anyway: the Model keeps these alive (shared, never modified).
  // A constant may borrow strided rows of another (Tensor::row_stride).
  std::vector<std::shared_ptr<const void>> retained;
  // The model these parts were derived from (and whose constants they may
  // borrow), if any: see IsDerivedFrom.
  const Model* derived_from = nullptr;
};

// The Model made of `parts`, as they are: nothing is copied, serialised or
// validated. The caller guarantees everything the reader would check
// (model.h: indices in range, one producer per activation, operators in a
// topological order, shapes as InferOutputShapes gives them, normalised
// attributes, the reader's limits) and that constants not covered by
// `retained` outlive the Model (put StorageOf(source) in `retained` when
// borrowing a source model's constants). The result has no file: bytes() is null,
// size_bytes() 0, plan() empty. GraphHash() is computed, as for any model,
// on first use.
Model AssembleModel(ModelParts parts);

// What keeps every constant of `model` alive: its file's bytes (copied or
// mapped), or, for an assembled model, its retained memory and the storage
// of the model it was derived from. A model derived from `model` that
// borrows its constants puts this in ModelParts::retained, so it stays valid
// however long it outlives `model` (an ExecutionPlan may).
std::shared_ptr<const void> StorageOf(const Model& model);

// Whether `model` was assembled with ModelParts::derived_from naming
// `source` (the same Model object, or the one it has since been moved to):
// an identity check, O(1), that needs no graph hash. Only meaningful while
// that source is alive (a later Model may reuse its address).
bool IsDerivedFrom(const Model& model, const Model& source);

// Whether one of `model`'s tensors is named `name`, where `hash` is
// std::hash<std::string_view>{}(name). The names are indexed on the first
// call for a Model (thread-safe, once) and the index lives as long as the
// Model, so code that names many new tensors after a model's (a replay of
// rewrites, on every plan cache hit) neither scans nor re-hashes them.
bool HasTensorNamed(const Model& model, std::string_view name, size_t hash);

}  // namespace serenity::model_assembly

#endif  // SERENITY_INTERNAL_MODEL_ASSEMBLY_H_
