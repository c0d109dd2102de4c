// Private to model_format/: the representation behind Model.
#ifndef SERENITY_MODEL_FORMAT_MODEL_IMPL_H_
#define SERENITY_MODEL_FORMAT_MODEL_IMPL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "serenity/model_format/model.h"
#include "serenity/platforms/file_map.h"

namespace serenity {

// Constants and the verifier both want 64-byte aligned storage.
inline constexpr size_t kStorageAlignment = 64;

struct AlignedDelete {
  void operator()(uint8_t* pointer) const {
    ::operator delete(pointer, std::align_val_t(kStorageAlignment));
  }
};
using AlignedBytes = std::unique_ptr<uint8_t[], AlignedDelete>;

// Allocates `size` bytes (at least one) aligned to kStorageAlignment.
AlignedBytes AllocateAligned(size_t size);

struct Model::Impl {
  // What holds the file's bytes (a copy, or the mapped file), shared so that
  // a model derived from this one can keep them alive
  // (model_assembly::StorageOf); null for an assembled model.
  std::shared_ptr<const void> storage;
  const uint8_t* bytes = nullptr;
  size_t size = 0;
  // Memory constants point into besides the file's bytes (assembled models).
  std::vector<std::shared_ptr<const void>> retained;
  // The Impl of the model an assembled model was derived from, or null.
  const Impl* derived_from = nullptr;

  std::string source;  // file path or "<buffer>", for messages
  std::string name;
  std::string description;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<Tensor> tensors;
  std::vector<Operator> operators;
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::optional<StoredPlan> plan;

  mutable std::once_flag hash_once;
  mutable uint64_t graph_hash = 0;

  // model_assembly::HasTensorNamed's index, built once on first use: open
  // addressing over a power-of-two number of slots, each the hash of a name
  // and its tensor's index (-1: empty).
  struct NameSlot {
    size_t hash = 0;
    int tensor = -1;
  };
  mutable std::once_flag names_once;
  mutable std::vector<NameSlot> name_slots;

  // Model's constructor and impl_ are private; Impl, a member, may use them.
  static Model Wrap(std::unique_ptr<Impl> impl) { return Model(std::move(impl)); }
  static const Impl* Of(const Model& model) { return model.impl_.get(); }
};

// "tensor 3 ('conv/w')" or "tensor 3" when the name is empty.
std::string DescribeTensorOf(const std::vector<Tensor>& tensors, int index);
std::string DescribeOperatorOf(const std::vector<Operator>& operators,
                               int index);

}  // namespace serenity

#endif  // SERENITY_MODEL_FORMAT_MODEL_IMPL_H_
