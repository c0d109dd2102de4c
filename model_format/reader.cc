// Model::Load and Model::FromBuffer: FlatBuffers verification, then semantic
// validation of everything downstream code trusts (model.h).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "model_impl.h"
#include "serenity/model_format/model.h"
#include "serenity/platforms/file_map.h"
#include "serenity_generated.h"

namespace serenity {
namespace {

namespace sfb = ::serenity::fb;

// The FlatBuffers library asserts (rather than fails) on buffers of
// FLATBUFFERS_MAX_BUFFER_SIZE bytes or more, so that is capped too.
constexpr uint64_t kMaxReadableBytes =
    std::min<uint64_t>(kMaxFileBytes, FLATBUFFERS_MAX_BUFFER_SIZE - 1);
constexpr size_t kMinFileBytes = 8;  // root offset + identifier
constexpr uint32_t kMaxMetadataEntries = 1 << 12;
constexpr uint32_t kMaxRewrites = kMaxOperators;

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

// The 2.0.8 verifier checks a vector's 4-byte length prefix but not that
// 8-byte elements are 8-byte aligned; reading misaligned ones is undefined
// behaviour (found by the fuzzer), so such vectors are rejected. Empty ones
// are fine: FlatBufferBuilder does not align them, and nothing is read.
template <typename T>
bool ElementsAligned(const flatbuffers::Vector<T>* v) {
  return v == nullptr || v->size() == 0 ||
         reinterpret_cast<uintptr_t>(v->Data()) % alignof(T) == 0;
}

std::string String(const flatbuffers::String* s) {
  return s == nullptr ? std::string() : s->str();
}

// Explains a failed whole-file verification by verifying the pieces one by
// one, so the message can name the missing field or the broken element.
class VerifierDiagnosis {
 public:
  VerifierDiagnosis(const uint8_t* bytes, size_t size)
      : bytes_(bytes), size_(size) {}

  std::string Explain() const {
    flatbuffers::Verifier v(bytes_, size_, kMaxFlatbufferDepth,
                            kMaxFlatbufferTables);
    const flatbuffers::uoffset_t root = v.VerifyOffset(0);
    if (root == 0) return "the root table offset points outside the file";
    const auto* table = reinterpret_cast<const flatbuffers::Table*>(bytes_ + root);
    if (!table->VerifyTableStart(v)) {
      return "the root table or its vtable lies outside the file";
    }
    using M = sfb::Model;
    const std::pair<flatbuffers::voffset_t, const char*> required[] = {
        {M::VT_TENSORS, "tensors"}, {M::VT_OPERATORS, "operators"},
        {M::VT_INPUTS, "inputs"},   {M::VT_OUTPUTS, "outputs"},
        {M::VT_BUFFERS, "buffers"}};
    for (const auto& [field, name] : required) {
      if (!table->CheckField(field)) {
        return StrCat("missing required field '", name, "'");
      }
    }
    const std::pair<flatbuffers::voffset_t, const char*> fields[] = {
        {M::VT_NAME, "name"},         {M::VT_DESCRIPTION, "description"},
        {M::VT_METADATA, "metadata"}, {M::VT_TENSORS, "tensors"},
        {M::VT_OPERATORS, "operators"}, {M::VT_INPUTS, "inputs"},
        {M::VT_OUTPUTS, "outputs"},   {M::VT_BUFFERS, "buffers"},
        {M::VT_PLAN, "plan"}};
    for (const auto& [field, name] : fields) {
      if (!table->VerifyOffset(v, field)) {
        return StrCat("field '", name, "' points outside the file");
      }
    }
    const M* model = reinterpret_cast<const M*>(table);
    if (!v.VerifyString(model->name())) return "field 'name' is malformed";
    if (!v.VerifyString(model->description())) {
      return "field 'description' is malformed";
    }
    if (!v.VerifyVector(model->inputs())) return "field 'inputs' is malformed";
    if (!v.VerifyVector(model->outputs())) {
      return "field 'outputs' is malformed";
    }
    std::string why;
    if (!Elements(model->metadata(), "metadata", "metadata entry",
                  {{sfb::KeyValue::VT_KEY, "key"}}, &why) ||
        !Elements(model->tensors(), "tensors", "tensor",
                  {{sfb::Tensor::VT_SHAPE, "shape"}}, &why) ||
        !Elements(model->buffers(), "buffers", "buffer", {}, &why) ||
        !Elements(model->operators(), "operators", "operator",
                  {{sfb::Operator::VT_INPUTS, "inputs"},
                   {sfb::Operator::VT_OUTPUTS, "outputs"}},
                  &why)) {
      return why;
    }
    if (model->plan() != nullptr) {
      flatbuffers::Verifier pv(bytes_, size_, kMaxFlatbufferDepth,
                               kMaxFlatbufferTables);
      if (!model->plan()->Verify(pv)) return "field 'plan' is malformed";
    }
    return StrCat("it exceeds the FlatBuffers limits (depth ",
                  kMaxFlatbufferDepth, ", ", kMaxFlatbufferTables,
                  " tables) or is otherwise malformed");
  }

 private:
  template <typename T>
  bool Elements(
      const flatbuffers::Vector<flatbuffers::Offset<T>>* vec, const char* field,
      const char* element,
      std::vector<std::pair<flatbuffers::voffset_t, const char*>> required,
      std::string* why) const {
    if (vec == nullptr) return true;
    {
      flatbuffers::Verifier v(bytes_, size_, kMaxFlatbufferDepth,
                              kMaxFlatbufferTables);
      if (!v.VerifyVector(vec)) {
        *why = StrCat("field '", field, "' is malformed");
        return false;
      }
    }
    const size_t base = static_cast<size_t>(
        reinterpret_cast<const uint8_t*>(vec->Data()) - bytes_);
    for (flatbuffers::uoffset_t i = 0; i < vec->size(); ++i) {
      flatbuffers::Verifier v(bytes_, size_, kMaxFlatbufferDepth,
                              kMaxFlatbufferTables);
      if (v.VerifyOffset(base + i * sizeof(flatbuffers::uoffset_t)) == 0) {
        *why = StrCat(element, " ", i, " points outside the file");
        return false;
      }
      const T* item = vec->Get(i);
      const auto* table = reinterpret_cast<const flatbuffers::Table*>(item);
      if (!table->VerifyTableStart(v)) {
        *why = StrCat(element, " ", i, ": table lies outside the file");
        return false;
      }
      for (const auto& [vt, name] : required) {
        if (!table->CheckField(vt)) {
          *why = StrCat(element, " ", i, ": missing required field '", name,
                        "'");
          return false;
        }
      }
      flatbuffers::Verifier full(bytes_, size_, kMaxFlatbufferDepth,
                                 kMaxFlatbufferTables);
      if (!item->Verify(full)) {
        const std::string who = StrCat(element, " ", i, NameOf(item));
        if constexpr (std::is_same_v<T, sfb::Operator>) {
          const char* missing = MissingOptionsField(item);
          if (missing != nullptr) {
            *why = StrCat(who, ": options: missing required field '", missing,
                          "'");
            return false;
          }
        }
        *why = StrCat(who, ": a field is malformed or points outside the file");
        return false;
      }
    }
    return true;
  }

  // " ('name')" when the element's table starts well and its name verifies.
  template <typename T>
  std::string NameOf(const T* item) const {
    if constexpr (std::is_same_v<T, sfb::Tensor> ||
                  std::is_same_v<T, sfb::Operator>) {
      flatbuffers::Verifier v(bytes_, size_, kMaxFlatbufferDepth,
                              kMaxFlatbufferTables);
      const auto* table = reinterpret_cast<const flatbuffers::Table*>(item);
      if (table->VerifyTableStart(v) && table->VerifyOffset(v, T::VT_NAME) &&
          v.VerifyString(item->name()) && item->name() != nullptr &&
          item->name()->size() > 0) {
        return StrCat(" ('", item->name()->str(), "')");
      }
    }
    return "";
  }

  // The required field absent from an operator's options table, if any.
  const char* MissingOptionsField(const sfb::Operator* op) const {
    flatbuffers::Verifier v(bytes_, size_, kMaxFlatbufferDepth,
                            kMaxFlatbufferTables);
    const auto* table = reinterpret_cast<const flatbuffers::Table*>(op);
    if (!table->VerifyTableStart(v) ||
        !table->VerifyField<uint8_t>(v, sfb::Operator::VT_OPTIONS_TYPE, 1) ||
        !table->VerifyOffset(v, sfb::Operator::VT_OPTIONS) ||
        op->options() == nullptr) {
      return nullptr;
    }
    const auto* options = reinterpret_cast<const flatbuffers::Table*>(op->options());
    if (!options->VerifyTableStart(v)) return nullptr;
    switch (op->options_type()) {
      case sfb::OpOptions::PadOptions:
        if (!options->CheckField(sfb::PadOptions::VT_PADDINGS)) {
          return "paddings";
        }
        return nullptr;
      case sfb::OpOptions::SliceOptions:
        if (!options->CheckField(sfb::SliceOptions::VT_BEGIN)) return "begin";
        if (!options->CheckField(sfb::SliceOptions::VT_SIZE)) return "size";
        return nullptr;
      default:
        return nullptr;
    }
  }

  const uint8_t* bytes_;
  size_t size_;
};

// The options table each op code takes; NONE for ops without options.
sfb::OpOptions ExpectedOptions(OpType type) {
  switch (type) {
    case OpType::kConv2D:
      return sfb::OpOptions::Conv2DOptions;
    case OpType::kFullyConnected:
      return sfb::OpOptions::FullyConnectedOptions;
    case OpType::kMaxPool2D:
    case OpType::kAveragePool2D:
      return sfb::OpOptions::Pool2DOptions;
    case OpType::kAdd:
    case OpType::kMul:
      return sfb::OpOptions::ElementwiseOptions;
    case OpType::kConcat:
      return sfb::OpOptions::ConcatOptions;
    case OpType::kClamp:
      return sfb::OpOptions::ClampOptions;
    case OpType::kSoftmax:
      return sfb::OpOptions::SoftmaxOptions;
    case OpType::kReshape:
      return sfb::OpOptions::ReshapeOptions;
    case OpType::kPad:
      return sfb::OpOptions::PadOptions;
    case OpType::kSlice:
      return sfb::OpOptions::SliceOptions;
    case OpType::kResizeBilinear:
      return sfb::OpOptions::ResizeBilinearOptions;
    case OpType::kGlobalAveragePool:
    case OpType::kRelu:
    case OpType::kSigmoid:
    case OpType::kHardSwish:
      return sfb::OpOptions::NONE;
  }
  return sfb::OpOptions::NONE;
}

// Ops whose options have required content: a missing table is an error.
bool OptionsRequired(OpType type) {
  return type == OpType::kMaxPool2D || type == OpType::kAveragePool2D ||
         type == OpType::kPad || type == OpType::kSlice;
}

// What a message of the reader names: tensor or operator `index` of the
// model being read, described only when a message is made. The reader
// checks every tensor and every operator several times; describing each up
// front cost more than the checks.
struct Who {
  const Model::Impl* impl = nullptr;
  bool tensor = false;  // else an operator
  int index = 0;
};

std::ostream& operator<<(std::ostream& out, const Who& who) {
  return out << (who.tensor ? DescribeTensorOf(who.impl->tensors, who.index)
                            : DescribeOperatorOf(who.impl->operators, who.index));
}

class Reader {
 public:
  Reader(std::string source, const uint8_t* bytes, size_t size)
      : source_(std::move(source)), bytes_(bytes), size_(size) {}

  Status Read(Model::Impl& impl) {
    SERENITY_RETURN_IF_ERROR(CheckEnvelope());
    model_ = sfb::GetModel(bytes_);
    SERENITY_RETURN_IF_ERROR(ReadHeader(impl));
    SERENITY_RETURN_IF_ERROR(ReadTensors(impl));
    SERENITY_RETURN_IF_ERROR(ReadGraphInputs(impl));
    SERENITY_RETURN_IF_ERROR(ReadOperators(impl));
    SERENITY_RETURN_IF_ERROR(CheckWriters(impl));
    SERENITY_RETURN_IF_ERROR(CheckOrder(impl));
    SERENITY_RETURN_IF_ERROR(CheckGraphOutputs(impl));
    SERENITY_RETURN_IF_ERROR(CheckShapes(impl));
    SERENITY_RETURN_IF_ERROR(ReadPlan(impl));
    SERENITY_RETURN_IF_ERROR(CheckSupported(impl));
    return Status::Ok();
  }

 private:
  template <typename... Args>
  Status Invalid(const Args&... args) const {
    return InvalidModelError(source_, ": ", args...);
  }

  static Who T(const Model::Impl& impl, int index) { return {&impl, true, index}; }
  static Who Op(const Model::Impl& impl, int index) { return {&impl, false, index}; }

  Status CheckEnvelope() const {
    if (size_ < kMinFileBytes) {
      return Invalid("file is ", size_,
                     " bytes, too short to be a .srn model (truncated?)");
    }
    if (size_ > kMaxReadableBytes) {
      return Invalid("file is ", size_, " bytes, more than the limit of ",
                     kMaxReadableBytes);
    }
    if (!sfb::ModelBufferHasIdentifier(bytes_)) {
      std::string found;
      for (size_t i = 4; i < 8; ++i) {
        const char c = static_cast<char>(bytes_[i]);
        found += (c >= 0x20 && c < 0x7f) ? c : '?';
      }
      return Invalid("file identifier is '", found, "', expected '",
                     sfb::ModelIdentifier(), "' (not a .srn model)");
    }
    flatbuffers::Verifier verifier(bytes_, size_, kMaxFlatbufferDepth,
                                   kMaxFlatbufferTables);
    if (!sfb::VerifyModelBuffer(verifier)) {
      return Invalid("FlatBuffers verification failed: ",
                     VerifierDiagnosis(bytes_, size_).Explain());
    }
    return Status::Ok();
  }

  Status ReadHeader(Model::Impl& impl) {
    if (model_->format_version() != kFormatVersion) {
      return Invalid("field format_version is ", model_->format_version(),
                     "; this reader reads version ", kFormatVersion);
    }
    // The verifier enforces the required fields; this keeps a schema edit
    // that drops "(required)" from turning into a null dereference.
    if (model_->tensors() == nullptr || model_->operators() == nullptr ||
        model_->inputs() == nullptr || model_->outputs() == nullptr ||
        model_->buffers() == nullptr) {
      return Invalid("missing a required field");
    }
    const struct {
      const char* field;
      size_t count;
      size_t limit;
    } counts[] = {
        {"tensors", model_->tensors()->size(), kMaxTensors},
        {"operators", model_->operators()->size(), kMaxOperators},
        {"buffers", model_->buffers()->size(), size_t{kMaxTensors} + 1},
        {"inputs", model_->inputs()->size(), kMaxTensors},
        {"outputs", model_->outputs()->size(), kMaxTensors},
        {"metadata",
         model_->metadata() ? model_->metadata()->size() : size_t{0},
         kMaxMetadataEntries},
    };
    for (const auto& c : counts) {
      if (c.count > c.limit) {
        return Invalid("field ", c.field, " has ", c.count,
                       " entries, more than the limit of ", c.limit);
      }
    }
    impl.name = String(model_->name());
    impl.description = String(model_->description());
    if (model_->metadata() != nullptr) {
      impl.metadata.reserve(model_->metadata()->size());
      for (const sfb::KeyValue* kv : *model_->metadata()) {
        impl.metadata.emplace_back(String(kv->key()), String(kv->value()));
      }
    }
    const auto* buffers = model_->buffers();
    if (buffers->size() == 0) {
      return Invalid("field buffers is empty; buffer 0 must be the empty "
                     "buffer");
    }
    const sfb::Buffer* empty = buffers->Get(0);
    if (empty->data() != nullptr && empty->data()->size() != 0) {
      return Invalid("buffer 0 holds ", empty->data()->size(),
                     " bytes; it must be empty");
    }
    return Status::Ok();
  }

  Status ReadTensors(Model::Impl& impl) {
    const auto* tensors = model_->tensors();
    const auto* buffers = model_->buffers();
    impl.tensors.resize(tensors->size());
    for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i) {
      const sfb::Tensor* ft = tensors->Get(i);
      Tensor& t = impl.tensors[i];
      t.name = String(ft->name());
      const Who who = T(impl, static_cast<int>(i));
      const int type = static_cast<int>(ft->type());
      if (type < static_cast<int>(sfb::DataType::MIN) ||
          type > static_cast<int>(sfb::DataType::MAX)) {
        return Invalid(who, ": field type has unknown value ", type);
      }
      t.type = static_cast<DataType>(type);
      const auto* shape = ft->shape();
      if (shape->size() > static_cast<size_t>(kMaxRank)) {
        return Invalid(who, ": field shape has rank ", shape->size(),
                       ", more than the limit of ", kMaxRank);
      }
      t.shape.assign(shape->begin(), shape->end());
      const uint64_t element_size = DataTypeSize(t.type);
      uint64_t bytes = element_size;
      for (int64_t d : t.shape) {
        if (d < 1 || d > kMaxDimension) {
          return Invalid(who, ": field shape ", ShapeString(t.shape),
                         " has dimension ", d, " outside [1, ", kMaxDimension,
                         "]");
        }
        // bytes <= 2^32 and d <= 2^24 before this product: no overflow.
        bytes *= static_cast<uint64_t>(d);
        if (bytes > kMaxTensorBytes) {
          return Invalid(who, ": shape ", ShapeString(t.shape), " of ",
                         DataTypeName(t.type), " needs more than ",
                         kMaxTensorBytes, " bytes");
        }
      }
      const uint32_t buffer = ft->buffer();
      if (buffer >= buffers->size()) {
        return Invalid(who, ": field buffer is ", buffer, ", out of range [0, ",
                       buffers->size(), ")");
      }
      if (buffer > 0) {
        const auto* data = buffers->Get(buffer)->data();
        const size_t have = data == nullptr ? 0 : data->size();
        if (have != bytes) {
          return Invalid(who, ": buffer ", buffer, " holds ", have,
                         " bytes but shape ", ShapeString(t.shape), " of ",
                         DataTypeName(t.type), " needs ", bytes);
        }
        const size_t offset = static_cast<size_t>(data->Data() - bytes_);
        if (offset % kStorageAlignment != 0) {
          return Invalid(who, ": the data of buffer ", buffer,
                         " starts at file offset ", offset,
                         ", which is not ", kStorageAlignment,
                         "-byte aligned");
        }
        t.data = data->Data();
        t.data_bytes = have;
      }
      if (ft->quantization() != nullptr) {
        SERENITY_RETURN_IF_ERROR(ReadQuantization(*ft->quantization(), who, t));
      }
    }
    return Status::Ok();
  }

  Status ReadQuantization(const sfb::Quantization& q, const Who& who, Tensor& t) const {
    const size_t scales = q.scale() ? q.scale()->size() : 0;
    const size_t zeros = q.zero_point() ? q.zero_point()->size() : 0;
    const int rank = static_cast<int>(t.shape.size());
    const int axis = q.quantized_dimension();
    if (scales == 0 || zeros != scales) {
      return Invalid(who, ": quantization has ", scales, " scales and ", zeros,
                     " zero points; it needs the same number, at least 1");
    }
    if (scales > 1) {
      if (axis < 0 || axis >= rank) {
        return Invalid(who, ": quantization field quantized_dimension ", axis,
                       " is out of range for rank ", rank);
      }
      if (static_cast<int64_t>(scales) != t.shape[axis]) {
        return Invalid(who, ": quantization has ", scales,
                       " scales but dimension ", axis, " is ",
                       t.shape[axis]);
      }
    }
    if (!ElementsAligned(q.zero_point()) || !ElementsAligned(q.scale())) {
      return Invalid(who, ": quantization vectors are not aligned to their "
                     "element size");
    }
    Quantization out;
    out.scale.assign(q.scale()->begin(), q.scale()->end());
    out.zero_point.assign(q.zero_point()->begin(), q.zero_point()->end());
    out.quantized_dimension = axis;
    t.quantization = std::make_shared<const Quantization>(std::move(out));
    return Status::Ok();
  }

  Status ReadGraphInputs(Model::Impl& impl) {
    const int num_tensors = static_cast<int>(impl.tensors.size());
    is_graph_input_.assign(impl.tensors.size(), false);
    for (flatbuffers::uoffset_t k = 0; k < model_->inputs()->size(); ++k) {
      const int t = model_->inputs()->Get(k);
      if (t < 0 || t >= num_tensors) {
        return Invalid("graph input ", k, " is tensor index ", t,
                       ", out of range [0, ", num_tensors, ")");
      }
      if (impl.tensors[t].is_constant()) {
        return Invalid("graph input ", k, " is ", T(impl, t),
                       ", a constant");
      }
      if (is_graph_input_[t]) {
        return Invalid("graph input ", k, " repeats ", T(impl, t));
      }
      is_graph_input_[t] = true;
      impl.inputs.push_back(t);
    }
    std::vector<bool> seen(impl.tensors.size(), false);
    for (flatbuffers::uoffset_t k = 0; k < model_->outputs()->size(); ++k) {
      const int t = model_->outputs()->Get(k);
      if (t < 0 || t >= num_tensors) {
        return Invalid("graph output ", k, " is tensor index ", t,
                       ", out of range [0, ", num_tensors, ")");
      }
      if (seen[t]) {
        return Invalid("graph output ", k, " repeats ", T(impl, t));
      }
      seen[t] = true;
      impl.outputs.push_back(t);
    }
    return Status::Ok();
  }

  Status ReadOperators(Model::Impl& impl) {
    const auto* ops = model_->operators();
    const int num_tensors = static_cast<int>(impl.tensors.size());
    impl.operators.resize(ops->size());
    for (flatbuffers::uoffset_t j = 0; j < ops->size(); ++j) {
      const sfb::Operator* fop = ops->Get(j);
      Operator& op = impl.operators[j];
      op.name = String(fop->name());
      const Who who = Op(impl, static_cast<int>(j));
      const int opcode = static_cast<int>(fop->opcode());
      if (opcode < static_cast<int>(sfb::OpCode::MIN) ||
          opcode > static_cast<int>(sfb::OpCode::MAX)) {
        return Invalid(who, ": field opcode has unknown value ", opcode);
      }
      op.type = static_cast<OpType>(opcode);
      const struct {
        const char* field;
        const flatbuffers::Vector<int32_t>* indices;
        std::vector<int>* out;
        int lowest;
      } lists[] = {{"inputs", fop->inputs(), &op.inputs, -1},
                   {"outputs", fop->outputs(), &op.outputs, 0}};
      for (const auto& list : lists) {
        if (list.indices->size() > kMaxOperandsPerOp) {
          return Invalid(who, ": field ", list.field, " has ",
                         list.indices->size(), " entries, more than the limit "
                         "of ", kMaxOperandsPerOp);
        }
        for (flatbuffers::uoffset_t k = 0; k < list.indices->size(); ++k) {
          const int t = list.indices->Get(k);
          if (t < list.lowest || t >= num_tensors) {
            return Invalid(who, ": ", OpTypeName(op.type), " ", list.field,
                           "[", k, "] is tensor index ", t,
                           ", out of range [", list.lowest, ", ", num_tensors,
                           ")");
          }
          list.out->push_back(t);
        }
      }
      SERENITY_RETURN_IF_ERROR(ReadOptions(*fop, who, op));
    }
    return Status::Ok();
  }

  template <typename... Args>
  Status OpInvalid(const Who& who, const Operator& op, const Args&... args) const {
    return Invalid(who, ": ", OpTypeName(op.type), " ", args...);
  }

  Result<Activation> ReadActivation(sfb::Activation value, const Who& who,
                                    const Operator& op) const {
    const int v = static_cast<int>(value);
    if (v < static_cast<int>(sfb::Activation::MIN) ||
        v > static_cast<int>(sfb::Activation::MAX)) {
      return OpInvalid(who, op, "field activation has unknown value ", v);
    }
    return static_cast<Activation>(v);
  }

  Result<std::vector<int64_t>> ReadInts(const flatbuffers::Vector<int32_t>* v, size_t limit,
                                        const char* field, const Who& who,
                                        const Operator& op) const {
    std::vector<int64_t> out;
    if (v == nullptr) return out;
    if (v->size() > limit) {
      return OpInvalid(who, op, "field ", field, " has ", v->size(),
                       " values, more than the limit of ", limit);
    }
    out.assign(v->begin(), v->end());
    return out;
  }

  Status ReadOptions(const sfb::Operator& fop, const Who& who, Operator& op) const {
    const int tag = static_cast<int>(fop.options_type());
    if (tag > static_cast<int>(sfb::OpOptions::MAX)) {
      return OpInvalid(who, op, "field options has unknown union type ", tag);
    }
    const sfb::OpOptions expected = ExpectedOptions(op.type);
    const sfb::OpOptions actual = fop.options_type();
    if (actual != sfb::OpOptions::NONE && actual != expected) {
      return OpInvalid(who, op, "field options holds ",
                       sfb::EnumNameOpOptions(actual), ", expected ",
                       expected == sfb::OpOptions::NONE
                           ? "no options"
                           : sfb::EnumNameOpOptions(expected));
    }
    if (actual != sfb::OpOptions::NONE && fop.options() == nullptr) {
      return OpInvalid(who, op, "field options has type ",
                       sfb::EnumNameOpOptions(actual), " but no table");
    }
    if (actual == sfb::OpOptions::NONE && OptionsRequired(op.type)) {
      return OpInvalid(who, op, "field options is missing (",
                       sfb::EnumNameOpOptions(expected), " is required)");
    }
    switch (op.type) {
      case OpType::kConv2D: {
        Conv2DAttrs a;
        if (const auto* o = fop.options_as_Conv2DOptions()) {
          a.stride_h = o->stride_h();
          a.stride_w = o->stride_w();
          a.dilation_h = o->dilation_h();
          a.dilation_w = o->dilation_w();
          a.pad_top = o->pad_top();
          a.pad_bottom = o->pad_bottom();
          a.pad_left = o->pad_left();
          a.pad_right = o->pad_right();
          a.groups = o->groups();
          SERENITY_ASSIGN_OR_RETURN(a.activation,
                                    ReadActivation(o->activation(), who, op));
        }
        op.attrs = a;
        break;
      }
      case OpType::kFullyConnected: {
        FullyConnectedAttrs a;
        if (const auto* o = fop.options_as_FullyConnectedOptions()) {
          SERENITY_ASSIGN_OR_RETURN(a.activation,
                                    ReadActivation(o->activation(), who, op));
        }
        op.attrs = a;
        break;
      }
      case OpType::kMaxPool2D:
      case OpType::kAveragePool2D: {
        const auto* o = fop.options_as_Pool2DOptions();
        Pool2DAttrs a;
        a.filter_h = o->filter_h();
        a.filter_w = o->filter_w();
        a.stride_h = o->stride_h();
        a.stride_w = o->stride_w();
        a.pad_top = o->pad_top();
        a.pad_bottom = o->pad_bottom();
        a.pad_left = o->pad_left();
        a.pad_right = o->pad_right();
        a.count_include_pad = o->count_include_pad();
        op.attrs = a;
        break;
      }
      case OpType::kAdd:
      case OpType::kMul: {
        ElementwiseAttrs a;
        if (const auto* o = fop.options_as_ElementwiseOptions()) {
          SERENITY_ASSIGN_OR_RETURN(a.activation,
                                    ReadActivation(o->activation(), who, op));
        }
        op.attrs = a;
        break;
      }
      case OpType::kConcat: {
        ConcatAttrs a;
        if (const auto* o = fop.options_as_ConcatOptions()) a.axis = o->axis();
        op.attrs = a;
        break;
      }
      case OpType::kClamp: {
        ClampAttrs a;
        if (const auto* o = fop.options_as_ClampOptions()) {
          a.min = o->min();
          a.max = o->max();
        }
        op.attrs = a;
        break;
      }
      case OpType::kSoftmax: {
        SoftmaxAttrs a;
        if (const auto* o = fop.options_as_SoftmaxOptions()) a.axis = o->axis();
        op.attrs = a;
        break;
      }
      case OpType::kReshape: {
        ReshapeAttrs a;
        if (const auto* o = fop.options_as_ReshapeOptions()) {
          SERENITY_ASSIGN_OR_RETURN(
              a.new_shape,
              ReadInts(o->new_shape(), kMaxRank, "new_shape", who, op));
        }
        op.attrs = a;
        break;
      }
      case OpType::kPad: {
        const auto* o = fop.options_as_PadOptions();
        PadAttrs a;
        SERENITY_ASSIGN_OR_RETURN(
            a.paddings,
            ReadInts(o->paddings(), 2 * kMaxRank, "paddings", who, op));
        a.value = o->value();
        op.attrs = a;
        break;
      }
      case OpType::kSlice: {
        const auto* o = fop.options_as_SliceOptions();
        SliceAttrs a;
        SERENITY_ASSIGN_OR_RETURN(
            a.begin, ReadInts(o->begin(), kMaxRank, "begin", who, op));
        SERENITY_ASSIGN_OR_RETURN(
            a.size, ReadInts(o->size(), kMaxRank, "size", who, op));
        op.attrs = a;
        break;
      }
      case OpType::kResizeBilinear: {
        ResizeBilinearAttrs a;
        if (const auto* o = fop.options_as_ResizeBilinearOptions()) {
          a.align_corners = o->align_corners();
          a.half_pixel_centers = o->half_pixel_centers();
        }
        op.attrs = a;
        break;
      }
      case OpType::kGlobalAveragePool:
      case OpType::kRelu:
      case OpType::kSigmoid:
      case OpType::kHardSwish:
        op.attrs = NoAttrs{};
        break;
    }
    return Status::Ok();
  }

  Status CheckWriters(const Model::Impl& impl) {
    producer_.assign(impl.tensors.size(), -1);
    for (size_t j = 0; j < impl.operators.size(); ++j) {
      const Operator& op = impl.operators[j];
      const Who who = Op(impl, static_cast<int>(j));
      for (size_t k = 0; k < op.outputs.size(); ++k) {
        const int t = op.outputs[k];
        if (impl.tensors[t].is_constant()) {
          return Invalid(who, ": output ", k, " is ", T(impl, t),
                         ", a constant; operators cannot write constants");
        }
        if (is_graph_input_[t]) {
          return Invalid(who, ": output ", k, " is ", T(impl, t),
                         ", a graph input; operators cannot write graph "
                         "inputs");
        }
        if (producer_[t] >= 0) {
          return Invalid(T(impl, t), " has two producers: ",
                         Op(impl, producer_[t]), " and ", who);
        }
        producer_[t] = static_cast<int>(j);
      }
    }
    return Status::Ok();
  }

  // Finds an operator on a cycle, or -1 when the graph is acyclic (Kahn).
  int FindCycle(const Model::Impl& impl) const {
    const size_t n = impl.operators.size();
    std::vector<int> pending(n, 0);
    std::vector<std::vector<int>> consumers(n);
    for (size_t j = 0; j < n; ++j) {
      for (int t : impl.operators[j].inputs) {
        if (t >= 0 && producer_[t] >= 0) {
          ++pending[j];
          consumers[producer_[t]].push_back(static_cast<int>(j));
        }
      }
    }
    std::vector<int> ready;
    for (size_t j = 0; j < n; ++j) {
      if (pending[j] == 0) ready.push_back(static_cast<int>(j));
    }
    size_t done = 0;
    while (!ready.empty()) {
      const int j = ready.back();
      ready.pop_back();
      ++done;
      for (int c : consumers[j]) {
        if (--pending[c] == 0) ready.push_back(c);
      }
    }
    if (done == n) return -1;
    // Every operator left has a predecessor that is also left; walking
    // predecessors n times from any of them ends on a cycle.
    int at = -1;
    for (size_t j = 0; j < n && at < 0; ++j) {
      if (pending[j] > 0) at = static_cast<int>(j);
    }
    for (size_t step = 0; step < n; ++step) {
      for (int t : impl.operators[at].inputs) {
        if (t >= 0 && producer_[t] >= 0 && pending[producer_[t]] > 0) {
          at = producer_[t];
          break;
        }
      }
    }
    return at;
  }

  Status CheckOrder(const Model::Impl& impl) const {
    std::vector<bool> available(impl.tensors.size(), false);
    for (size_t t = 0; t < impl.tensors.size(); ++t) {
      available[t] = is_graph_input_[t] || impl.tensors[t].is_constant();
    }
    for (size_t j = 0; j < impl.operators.size(); ++j) {
      const Operator& op = impl.operators[j];
      for (size_t k = 0; k < op.inputs.size(); ++k) {
        const int t = op.inputs[k];
        if (t < 0 || available[t]) continue;
        const Who who = Op(impl, static_cast<int>(j));
        if (producer_[t] < 0) {
          return Invalid(who, ": input ", k, " is ", T(impl, t),
                         ", which no operator produces and which is neither "
                         "a graph input nor a constant");
        }
        const int cycle = FindCycle(impl);
        if (cycle >= 0) {
          return Invalid("the graph has a cycle through ", Op(impl, cycle));
        }
        return Invalid(who, ": input ", k, " is ", T(impl, t),
                       ", produced later by ", Op(impl, producer_[t]),
                       "; operators must be stored in a topological order");
      }
      for (int t : op.outputs) available[t] = true;
    }
    return Status::Ok();
  }

  Status CheckGraphOutputs(const Model::Impl& impl) const {
    for (size_t k = 0; k < impl.outputs.size(); ++k) {
      const int t = impl.outputs[k];
      if (producer_[t] < 0) {
        return Invalid("graph output ", k, " is ", T(impl, t),
                       ", which no operator produces");
      }
    }
    return Status::Ok();
  }

  Status CheckShapes(Model::Impl& impl) const {
    for (size_t j = 0; j < impl.operators.size(); ++j) {
      Operator& op = impl.operators[j];
      const Who who = Op(impl, static_cast<int>(j));
      std::vector<std::vector<int64_t>> shapes(op.inputs.size());
      std::vector<const Tensor*> inputs(op.inputs.size(), nullptr);
      for (size_t k = 0; k < op.inputs.size(); ++k) {
        if (op.inputs[k] < 0) continue;
        inputs[k] = &impl.tensors[op.inputs[k]];
        shapes[k] = inputs[k]->shape;
      }
      // Attributes the file leaves to the output tensor are filled in first.
      const std::vector<int64_t>* out_shape =
          op.outputs.empty() ? nullptr : &impl.tensors[op.outputs[0]].shape;
      if (auto* a = std::get_if<ReshapeAttrs>(&op.attrs);
          a != nullptr && a->new_shape.empty() && out_shape != nullptr) {
        a->new_shape = *out_shape;
      }
      if (auto* a = std::get_if<ResizeBilinearAttrs>(&op.attrs);
          a != nullptr && out_shape != nullptr && out_shape->size() == 4) {
        a->output_h = (*out_shape)[1];
        a->output_w = (*out_shape)[2];
      }
      Result<std::vector<std::vector<int64_t>>> inferred =
          InferOutputShapes(op, shapes, inputs);
      if (!inferred.ok()) {
        return Status(inferred.status().code(),
                      StrCat(source_, ": ", who, ": ",
                             inferred.status().message()));
      }
      if (inferred->size() != op.outputs.size()) {
        return Invalid(who, ": ", OpTypeName(op.type), " produces ",
                       inferred->size(), " outputs but lists ",
                       op.outputs.size());
      }
      for (size_t k = 0; k < op.outputs.size(); ++k) {
        const Tensor& out = impl.tensors[op.outputs[k]];
        if ((*inferred)[k] != out.shape) {
          return Invalid(who, ": output ", k, " is ",
                         T(impl, op.outputs[k]), " of shape ",
                         ShapeString(out.shape), " but ", OpTypeName(op.type),
                         " produces ", ShapeString((*inferred)[k]));
        }
      }
      Normalize(op, shapes);
    }
    return Status::Ok();
  }

  // The IR promises normalised axes and resolved slice sizes (model.h).
  static void Normalize(Operator& op,
                        const std::vector<std::vector<int64_t>>& shapes) {
    const int rank = shapes.empty() ? 0 : static_cast<int>(shapes[0].size());
    if (auto* a = std::get_if<ConcatAttrs>(&op.attrs); a && a->axis < 0) {
      a->axis += rank;
    }
    if (auto* a = std::get_if<SoftmaxAttrs>(&op.attrs); a && a->axis < 0) {
      a->axis += rank;
    }
    if (auto* a = std::get_if<SliceAttrs>(&op.attrs)) {
      for (size_t d = 0; d < a->size.size(); ++d) {
        if (a->size[d] == -1) a->size[d] = shapes[0][d] - a->begin[d];
      }
    }
  }

  Status ReadPlan(Model::Impl& impl) const {
    const sfb::ExecutionPlan* p = model_->plan();
    if (p == nullptr) return Status::Ok();
    StoredPlan plan;
    plan.graph_hash = p->graph_hash();
    plan.plan_format_version = p->plan_format_version();
    plan.arena_bytes = p->arena_bytes();
    plan.peak_bytes = p->peak_bytes();
    plan.optimal = p->optimal();
    plan.options_hash = p->options_hash();
    if (p->order() != nullptr) {
      if (p->order()->size() > kMaxOperators) {
        return Invalid("plan field order has ", p->order()->size(),
                       " entries, more than the limit of ", kMaxOperators);
      }
      plan.order.assign(p->order()->begin(), p->order()->end());
    }
    if (!ElementsAligned(p->tensor_offsets()) ||
        !ElementsAligned(p->order())) {
      return Invalid("plan fields order and tensor_offsets must be aligned to "
                     "their element size");
    }
    if (!ElementsAligned(p->pixel_strides())) {
      return Invalid("plan field pixel_strides must be aligned to its element "
                     "size");
    }
    if (p->tensor_offsets() != nullptr) {
      if (p->tensor_offsets()->size() > kMaxTensors) {
        return Invalid("plan field tensor_offsets has ",
                       p->tensor_offsets()->size(),
                       " entries, more than the limit of ", kMaxTensors);
      }
      plan.tensor_offsets.assign(p->tensor_offsets()->begin(),
                                 p->tensor_offsets()->end());
    }
    if (p->pixel_strides() != nullptr) {
      if (p->pixel_strides()->size() > kMaxTensors) {
        return Invalid("plan field pixel_strides has ",
                       p->pixel_strides()->size(),
                       " entries, more than the limit of ", kMaxTensors);
      }
      plan.pixel_strides.assign(p->pixel_strides()->begin(),
                                p->pixel_strides()->end());
    }
    if (p->rewrites() != nullptr) {
      if (p->rewrites()->size() > kMaxRewrites) {
        return Invalid("plan field rewrites has ", p->rewrites()->size(),
                       " entries, more than the limit of ", kMaxRewrites);
      }
      for (flatbuffers::uoffset_t i = 0; i < p->rewrites()->size(); ++i) {
        const sfb::RewriteDecision* r = p->rewrites()->Get(i);
        std::vector<uint32_t> ops;
        if (r->operators() != nullptr) {
          if (r->operators()->size() > kMaxOperators) {
            return Invalid("plan rewrite ", i, " field operators has ",
                           r->operators()->size(),
                           " entries, more than the limit of ", kMaxOperators);
          }
          ops.assign(r->operators()->begin(), r->operators()->end());
        }
        plan.rewrites.emplace_back(String(r->kind()), std::move(ops));
      }
    }
    impl.plan = std::move(plan);
    return Status::Ok();
  }

  // Well-formed but beyond what Serenity runs today: reported only once the
  // model has passed every validity check.
  Status CheckSupported(const Model::Impl& impl) const {
    for (size_t t = 0; t < impl.tensors.size(); ++t) {
      const Tensor& tensor = impl.tensors[t];
      if (!tensor.is_constant() && tensor.type != DataType::kFloat32) {
        return UnsupportedError(source_, ": ", T(impl, static_cast<int>(t)),
                                " is a ", DataTypeName(tensor.type),
                                " activation; only float32 activations are "
                                "supported");
      }
    }
    for (size_t j = 0; j < impl.operators.size(); ++j) {
      const Operator& op = impl.operators[j];
      for (size_t k = 0; k < op.inputs.size(); ++k) {
        const int t = op.inputs[k];
        if (t >= 0 && impl.tensors[t].type != DataType::kFloat32) {
          return UnsupportedError(
              source_, ": ", Op(impl, static_cast<int>(j)), ": ",
              OpTypeName(op.type), " input ", k, " is ", T(impl, t), " of type ",
              DataTypeName(impl.tensors[t].type),
              "; only float32 is supported");
        }
      }
    }
    return Status::Ok();
  }

  const std::string source_;
  const uint8_t* const bytes_;
  const size_t size_;
  const sfb::Model* model_ = nullptr;
  std::vector<bool> is_graph_input_;
  std::vector<int> producer_;
};

}  // namespace

Result<Model> Model::FromBuffer(const uint8_t* bytes, size_t size,
                                const std::string& source_name) {
  if (bytes == nullptr && size > 0) {
    return InvalidArgumentError(source_name, ": null buffer of ", size,
                                " bytes");
  }
  if (size > kMaxReadableBytes) {
    return InvalidModelError(source_name, ": file is ", size,
                             " bytes, more than the limit of ",
                             kMaxReadableBytes);
  }
  auto impl = std::make_unique<Impl>();
  std::shared_ptr<uint8_t[]> owned = AllocateAligned(size);
  if (size > 0) std::memcpy(owned.get(), bytes, size);
  impl->bytes = owned.get();
  impl->storage = std::move(owned);
  impl->size = size;
  impl->source = source_name;
  Reader reader(source_name, impl->bytes, size);
  SERENITY_RETURN_IF_ERROR(reader.Read(*impl));
  return Model(std::move(impl));
}

Result<Model> Model::Load(const std::string& path) {
  Result<platforms::MappedFile> file =
      platforms::MappedFile::Open(path, kMaxReadableBytes);
  if (!file.ok()) {
    // Too large is a property of the file, not of the call.
    if (file.status().code() == StatusCode::kInvalidArgument) {
      return InvalidModelError(file.status().message());
    }
    return file.status();
  }
  auto impl = std::make_unique<Impl>();
  auto mapped = std::make_shared<const platforms::MappedFile>(std::move(file).value());
  impl->bytes = mapped->data();
  impl->size = mapped->size();
  impl->storage = std::move(mapped);
  impl->source = path;
  // An empty file maps to nullptr; the size check rejects it first.
  static const uint8_t kNothing[kMinFileBytes] = {};
  Reader reader(path, impl->bytes != nullptr ? impl->bytes : kNothing,
                impl->size);
  SERENITY_RETURN_IF_ERROR(reader.Read(*impl));
  return Model(std::move(impl));
}

}  // namespace serenity
