#include <cstring>
#include <functional>
#include <string_view>
#include <type_traits>
#include <vector>

#include "model_impl.h"
#include "serenity/internal/hash64.h"
#include "serenity/internal/model_assembly.h"
#include "serenity/model_format/model.h"

namespace serenity {
namespace {

// Names are free-form and may be long; messages quote at most this much.
constexpr size_t kMaxQuotedName = 96;

// Messages stay one printable line whatever bytes a name holds.
std::string Quote(const std::string& name) {
  std::string text = name.substr(0, kMaxQuotedName);
  for (char& c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  if (name.size() > kMaxQuotedName) text += "...";
  return "'" + text + "'";
}

// The graph hash (serenity/internal/hash64.h), fed eight bytes at a time so
// that weights (most of the hashed bytes) are hashed at memory speed. Stable
// across platforms: words are assembled little-endian.
class GraphHasher {
 public:
  void Bytes(const uint8_t* data, size_t size) {
    size_t i = 0;
    for (; i + 8 <= size; i += 8) Mix(LittleEndianWord(data + i));
    uint64_t tail = 0;
    for (size_t b = size; b > i; --b) tail = (tail << 8) | data[b - 1];
    Mix(tail ^ (static_cast<uint64_t>(size - i) << 56));
  }
  void U64(uint64_t value) { Mix(value); }
  void I64(int64_t value) { Mix(static_cast<uint64_t>(value)); }
  void F32(float value) {
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof(bits));
    Mix(bits);
  }
  void Ints(const std::vector<int>& values) {
    U64(values.size());
    for (int v : values) I64(v);
  }
  void Int64s(const std::vector<int64_t>& values) {
    U64(values.size());
    for (int64_t v : values) I64(v);
  }
  uint64_t Final() const { return hash_.Final(); }

 private:
  // Eight bytes as a little-endian word: one load (assembling it byte by
  // byte, eight loads and shifts a word, held the hash to about 2 GB/s).
  static uint64_t LittleEndianWord(const uint8_t* bytes) {
    uint64_t word = 0;
    std::memcpy(&word, bytes, sizeof(word));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    word = __builtin_bswap64(word);
#endif
    return word;
  }
  void Mix(uint64_t word) { hash_.Word(word); }
  internal::Hash64 hash_;
};

void HashAttrs(const OpAttrs& attrs, GraphHasher& h) {
  h.U64(attrs.index());
  std::visit(
      [&h](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, Conv2DAttrs>) {
          for (int v : {a.stride_h, a.stride_w, a.dilation_h, a.dilation_w,
                        a.pad_top, a.pad_bottom, a.pad_left, a.pad_right,
                        a.groups}) {
            h.I64(v);
          }
          h.U64(static_cast<uint64_t>(a.activation));
        } else if constexpr (std::is_same_v<T, FullyConnectedAttrs> ||
                             std::is_same_v<T, ElementwiseAttrs>) {
          h.U64(static_cast<uint64_t>(a.activation));
        } else if constexpr (std::is_same_v<T, Pool2DAttrs>) {
          for (int v : {a.filter_h, a.filter_w, a.stride_h, a.stride_w,
                        a.pad_top, a.pad_bottom, a.pad_left, a.pad_right}) {
            h.I64(v);
          }
          h.U64(a.count_include_pad ? 1 : 0);
        } else if constexpr (std::is_same_v<T, ConcatAttrs> ||
                             std::is_same_v<T, SoftmaxAttrs>) {
          h.I64(a.axis);
        } else if constexpr (std::is_same_v<T, ClampAttrs>) {
          h.F32(a.min);
          h.F32(a.max);
        } else if constexpr (std::is_same_v<T, ReshapeAttrs>) {
          h.Int64s(a.new_shape);
        } else if constexpr (std::is_same_v<T, PadAttrs>) {
          h.Int64s(a.paddings);
          h.F32(a.value);
        } else if constexpr (std::is_same_v<T, SliceAttrs>) {
          h.Int64s(a.begin);
          h.Int64s(a.size);
        } else if constexpr (std::is_same_v<T, ResizeBilinearAttrs>) {
          h.U64(a.align_corners ? 1 : 0);
          h.U64(a.half_pixel_centers ? 1 : 0);
          h.I64(a.output_h);
          h.I64(a.output_w);
        }
      },
      attrs);
}

}  // namespace

AlignedBytes AllocateAligned(size_t size) {
  void* memory = ::operator new(size == 0 ? 1 : size,
                                std::align_val_t(kStorageAlignment));
  return AlignedBytes(static_cast<uint8_t*>(memory));
}

std::string DescribeTensorOf(const std::vector<Tensor>& tensors, int index) {
  std::string text = StrCat("tensor ", index);
  if (index >= 0 && static_cast<size_t>(index) < tensors.size() &&
      !tensors[index].name.empty()) {
    text += " (" + Quote(tensors[index].name) + ")";
  }
  return text;
}

std::string DescribeOperatorOf(const std::vector<Operator>& operators,
                               int index) {
  std::string text = StrCat("operator ", index);
  if (index >= 0 && static_cast<size_t>(index) < operators.size() &&
      !operators[index].name.empty()) {
    text += " (" + Quote(operators[index].name) + ")";
  }
  return text;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const std::string& Model::name() const { return impl_->name; }
const std::string& Model::description() const { return impl_->description; }
const std::vector<std::pair<std::string, std::string>>& Model::metadata()
    const {
  return impl_->metadata;
}
const std::vector<Tensor>& Model::tensors() const { return impl_->tensors; }
const std::vector<Operator>& Model::operators() const {
  return impl_->operators;
}
const std::vector<int>& Model::inputs() const { return impl_->inputs; }
const std::vector<int>& Model::outputs() const { return impl_->outputs; }
const std::optional<StoredPlan>& Model::plan() const { return impl_->plan; }
const uint8_t* Model::bytes() const { return impl_->bytes; }
size_t Model::size_bytes() const { return impl_->size; }

uint64_t Model::GraphHash() const {
  std::call_once(impl_->hash_once, [this] {
    GraphHasher h;
    h.U64(impl_->tensors.size());
    for (const Tensor& t : impl_->tensors) {
      h.U64(static_cast<uint64_t>(t.type));
      h.Int64s(t.shape);
      h.U64(t.is_constant() ? 1 : 0);
      if (t.is_constant() && t.is_dense()) {
        h.U64(t.data_bytes);
        h.Bytes(t.data, t.data_bytes);
      } else if (t.is_constant()) {
        // Hashed as the dense model of the same values hashes.
        const std::vector<uint8_t> dense = t.DenseData();
        h.U64(dense.size());
        h.Bytes(dense.data(), dense.size());
      }
      h.U64(t.quantization != nullptr ? 1 : 0);
      if (t.quantization) {
        h.U64(t.quantization->scale.size());
        for (float s : t.quantization->scale) h.F32(s);
        h.Int64s(t.quantization->zero_point);
        h.I64(t.quantization->quantized_dimension);
      }
    }
    h.U64(impl_->operators.size());
    for (const Operator& op : impl_->operators) {
      h.U64(static_cast<uint64_t>(op.type));
      h.Ints(op.inputs);
      h.Ints(op.outputs);
      HashAttrs(op.attrs, h);
    }
    h.Ints(impl_->inputs);
    h.Ints(impl_->outputs);
    impl_->graph_hash = h.Final();
  });
  return impl_->graph_hash;
}

uint64_t Model::weight_bytes() const {
  uint64_t total = 0;
  for (const Tensor& t : impl_->tensors) {
    if (t.is_constant()) total += t.is_dense() ? t.data_bytes : t.num_bytes();
  }
  return total;
}

std::string Model::DescribeOperator(int index) const {
  return DescribeOperatorOf(impl_->operators, index);
}

std::string Model::DescribeTensor(int index) const {
  return DescribeTensorOf(impl_->tensors, index);
}

namespace model_assembly {

Model AssembleModel(ModelParts parts) {
  auto impl = std::make_unique<Model::Impl>();
  impl->source = std::move(parts.source);
  impl->name = std::move(parts.name);
  impl->description = std::move(parts.description);
  impl->metadata = std::move(parts.metadata);
  impl->tensors = std::move(parts.tensors);
  impl->operators = std::move(parts.operators);
  impl->inputs = std::move(parts.inputs);
  impl->outputs = std::move(parts.outputs);
  impl->retained = std::move(parts.retained);
  if (parts.derived_from != nullptr) impl->derived_from = Model::Impl::Of(*parts.derived_from);
  return Model::Impl::Wrap(std::move(impl));
}

std::shared_ptr<const void> StorageOf(const Model& model) {
  const Model::Impl* impl = Model::Impl::Of(model);
  if (impl->storage != nullptr) return impl->storage;
  return std::make_shared<const std::vector<std::shared_ptr<const void>>>(impl->retained);
}

bool IsDerivedFrom(const Model& model, const Model& source) {
  const Model::Impl* impl = Model::Impl::Of(model);
  return impl->derived_from != nullptr && impl->derived_from == Model::Impl::Of(source);
}

bool HasTensorNamed(const Model& model, std::string_view name, size_t hash) {
  const Model::Impl* impl = Model::Impl::Of(model);
  std::vector<Model::Impl::NameSlot>& slots = impl->name_slots;
  std::call_once(impl->names_once, [&] {
    size_t count = 16;
    while (count < 2 * impl->tensors.size()) count *= 2;
    slots.assign(count, {});
    for (size_t t = 0; t < impl->tensors.size(); ++t) {
      const size_t name_hash = std::hash<std::string_view>{}(impl->tensors[t].name);
      size_t slot = name_hash & (count - 1);
      while (slots[slot].tensor >= 0) slot = (slot + 1) & (count - 1);
      slots[slot] = {name_hash, static_cast<int>(t)};
    }
  });
  const size_t mask = slots.size() - 1;
  for (size_t slot = hash & mask; slots[slot].tensor >= 0; slot = (slot + 1) & mask) {
    if (slots[slot].hash == hash && impl->tensors[slots[slot].tensor].name == name) return true;
  }
  return false;
}

}  // namespace model_assembly
}  // namespace serenity
