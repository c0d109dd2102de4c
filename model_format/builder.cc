// ModelBuilder and WriteFileAtomically.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "model_impl.h"
#include "serenity/model_format/model.h"
#include "serenity_generated.h"

namespace serenity {
namespace {

namespace sfb = ::serenity::fb;

// Room for everything but the constants: names, shapes, indices, options.
// An over-estimate is harmless; it only guards the builder's hard limit.
uint64_t EstimateOverhead(const std::vector<Tensor>& tensors,
                          const std::vector<Operator>& operators) {
  uint64_t bytes = 4096;
  for (const Tensor& t : tensors) {
    bytes += 128 + t.name.size() + 8 * t.shape.size();
    if (t.quantization) {
      bytes += 16 * (t.quantization->scale.size() +
                     t.quantization->zero_point.size());
    }
  }
  for (const Operator& op : operators) {
    bytes += 256 + op.name.size() + 4 * (op.inputs.size() + op.outputs.size());
  }
  return bytes;
}

// The file stores dimensions and attribute lists as 32-bit ints; values that
// do not fit cannot be written at all (truncating would write another model).
Status CheckInt32(const std::vector<int64_t>& values, const std::string& what) {
  for (int64_t v : values) {
    if (v < std::numeric_limits<int32_t>::min() ||
        v > std::numeric_limits<int32_t>::max()) {
      return InvalidArgumentError(what, " holds ", v,
                                  ", which does not fit the file's 32-bit "
                                  "field");
    }
  }
  return Status::Ok();
}

Status CheckWritable(const std::vector<Tensor>& tensors,
                     const std::vector<Operator>& operators) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    SERENITY_RETURN_IF_ERROR(CheckInt32(
        tensors[i].shape,
        StrCat(DescribeTensorOf(tensors, static_cast<int>(i)), " shape")));
  }
  for (size_t j = 0; j < operators.size(); ++j) {
    const std::string who =
        DescribeOperatorOf(operators, static_cast<int>(j));
    const OpAttrs& attrs = operators[j].attrs;
    if (const auto* a = std::get_if<ReshapeAttrs>(&attrs)) {
      SERENITY_RETURN_IF_ERROR(CheckInt32(a->new_shape, who + " new_shape"));
    } else if (const auto* a = std::get_if<PadAttrs>(&attrs)) {
      SERENITY_RETURN_IF_ERROR(CheckInt32(a->paddings, who + " paddings"));
    } else if (const auto* a = std::get_if<SliceAttrs>(&attrs)) {
      SERENITY_RETURN_IF_ERROR(CheckInt32(a->begin, who + " begin"));
      SERENITY_RETURN_IF_ERROR(CheckInt32(a->size, who + " size"));
    }
  }
  return Status::Ok();
}

std::vector<int32_t> ToInt32(const std::vector<int64_t>& values) {
  std::vector<int32_t> out;
  out.reserve(values.size());
  for (int64_t v : values) out.push_back(static_cast<int32_t>(v));
  return out;
}

sfb::Activation ToFb(Activation a) {
  return static_cast<sfb::Activation>(static_cast<int8_t>(a));
}

std::pair<sfb::OpOptions, flatbuffers::Offset<void>> WriteOptions(
    flatbuffers::FlatBufferBuilder& fbb, const OpAttrs& attrs) {
  using R = std::pair<sfb::OpOptions, flatbuffers::Offset<void>>;
  return std::visit(
      [&fbb](const auto& a) -> R {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, Conv2DAttrs>) {
          return {sfb::OpOptions::Conv2DOptions,
                  sfb::CreateConv2DOptions(
                      fbb, a.stride_h, a.stride_w, a.dilation_h, a.dilation_w,
                      a.pad_top, a.pad_bottom, a.pad_left, a.pad_right,
                      a.groups, ToFb(a.activation))
                      .Union()};
        } else if constexpr (std::is_same_v<A, FullyConnectedAttrs>) {
          return {sfb::OpOptions::FullyConnectedOptions,
                  sfb::CreateFullyConnectedOptions(fbb, ToFb(a.activation))
                      .Union()};
        } else if constexpr (std::is_same_v<A, Pool2DAttrs>) {
          return {sfb::OpOptions::Pool2DOptions,
                  sfb::CreatePool2DOptions(fbb, a.filter_h, a.filter_w,
                                           a.stride_h, a.stride_w, a.pad_top,
                                           a.pad_bottom, a.pad_left,
                                           a.pad_right, a.count_include_pad)
                      .Union()};
        } else if constexpr (std::is_same_v<A, ElementwiseAttrs>) {
          return {sfb::OpOptions::ElementwiseOptions,
                  sfb::CreateElementwiseOptions(fbb, ToFb(a.activation))
                      .Union()};
        } else if constexpr (std::is_same_v<A, ConcatAttrs>) {
          return {sfb::OpOptions::ConcatOptions,
                  sfb::CreateConcatOptions(fbb, a.axis).Union()};
        } else if constexpr (std::is_same_v<A, ClampAttrs>) {
          return {sfb::OpOptions::ClampOptions,
                  sfb::CreateClampOptions(fbb, a.min, a.max).Union()};
        } else if constexpr (std::is_same_v<A, SoftmaxAttrs>) {
          return {sfb::OpOptions::SoftmaxOptions,
                  sfb::CreateSoftmaxOptions(fbb, a.axis).Union()};
        } else if constexpr (std::is_same_v<A, ReshapeAttrs>) {
          return {sfb::OpOptions::ReshapeOptions,
                  sfb::CreateReshapeOptions(
                      fbb, fbb.CreateVector(ToInt32(a.new_shape)))
                      .Union()};
        } else if constexpr (std::is_same_v<A, PadAttrs>) {
          return {sfb::OpOptions::PadOptions,
                  sfb::CreatePadOptions(
                      fbb, fbb.CreateVector(ToInt32(a.paddings)), a.value)
                      .Union()};
        } else if constexpr (std::is_same_v<A, SliceAttrs>) {
          auto begin = fbb.CreateVector(ToInt32(a.begin));
          auto size = fbb.CreateVector(ToInt32(a.size));
          return {sfb::OpOptions::SliceOptions,
                  sfb::CreateSliceOptions(fbb, begin, size).Union()};
        } else if constexpr (std::is_same_v<A, ResizeBilinearAttrs>) {
          return {sfb::OpOptions::ResizeBilinearOptions,
                  sfb::CreateResizeBilinearOptions(fbb, a.align_corners,
                                                   a.half_pixel_centers)
                      .Union()};
        } else {
          return {sfb::OpOptions::NONE, 0};
        }
      },
      attrs);
}

// A non-null address for constants with no bytes, so that they still count
// as constants (Tensor::is_constant) and get a (bad, empty) buffer.
const uint8_t kEmptyConstant[1] = {0};

}  // namespace

struct ModelBuilder::Impl {
  std::string name;
  std::string description;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<Tensor> tensors;
  std::vector<Operator> operators;
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::optional<StoredPlan> plan;
  // Stable addresses for constant bytes (Tensor::data points here).
  std::deque<std::vector<uint8_t>> constants;

  int AddTensor(std::string tensor_name, std::vector<int64_t> shape,
                DataType type) {
    Tensor t;
    t.name = std::move(tensor_name);
    t.shape = std::move(shape);
    t.type = type;
    tensors.push_back(std::move(t));
    return static_cast<int>(tensors.size()) - 1;
  }
  void SetData(Tensor& t, std::vector<uint8_t> bytes) {
    constants.push_back(std::move(bytes));
    const std::vector<uint8_t>& stored = constants.back();
    t.data = stored.empty() ? kEmptyConstant : stored.data();
    t.data_bytes = stored.size();
    t.row_stride = 0;
  }
};

ModelBuilder::ModelBuilder(std::string name) : impl_(std::make_unique<Impl>()) {
  impl_->name = std::move(name);
}
ModelBuilder::~ModelBuilder() = default;
ModelBuilder::ModelBuilder(ModelBuilder&&) noexcept = default;
ModelBuilder& ModelBuilder::operator=(ModelBuilder&&) noexcept = default;

void ModelBuilder::SetDescription(std::string description) {
  impl_->description = std::move(description);
}
void ModelBuilder::AddMetadata(std::string key, std::string value) {
  impl_->metadata.emplace_back(std::move(key), std::move(value));
}

int ModelBuilder::AddInput(std::string name, std::vector<int64_t> shape,
                           DataType type) {
  const int index = impl_->AddTensor(std::move(name), std::move(shape), type);
  impl_->inputs.push_back(index);
  return index;
}

int ModelBuilder::AddActivation(std::string name, std::vector<int64_t> shape,
                                DataType type) {
  return impl_->AddTensor(std::move(name), std::move(shape), type);
}

int ModelBuilder::AddConstant(std::string name, std::vector<int64_t> shape,
                              std::vector<float> values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return AddConstantBytes(std::move(name), std::move(shape),
                          DataType::kFloat32, std::move(bytes));
}

int ModelBuilder::AddConstantBytes(std::string name,
                                   std::vector<int64_t> shape, DataType type,
                                   std::vector<uint8_t> bytes) {
  const int index = impl_->AddTensor(std::move(name), std::move(shape), type);
  impl_->SetData(impl_->tensors[index], std::move(bytes));
  return index;
}

int ModelBuilder::AddOperator(OpType type, std::string name,
                              std::vector<int> inputs, std::vector<int> outputs,
                              OpAttrs attrs) {
  Operator op;
  op.type = type;
  op.name = std::move(name);
  op.inputs = std::move(inputs);
  op.outputs = std::move(outputs);
  op.attrs = std::move(attrs);
  impl_->operators.push_back(std::move(op));
  return static_cast<int>(impl_->operators.size()) - 1;
}

void ModelBuilder::MarkOutput(int tensor) { impl_->outputs.push_back(tensor); }
void ModelBuilder::SetPlan(StoredPlan plan) { impl_->plan = std::move(plan); }

std::vector<Tensor>& ModelBuilder::tensors() { return impl_->tensors; }
std::vector<Operator>& ModelBuilder::operators() { return impl_->operators; }
std::vector<int>& ModelBuilder::inputs() { return impl_->inputs; }
std::vector<int>& ModelBuilder::outputs() { return impl_->outputs; }

ModelBuilder ModelBuilder::FromModel(const Model& model) {
  ModelBuilder b(model.name());
  b.impl_->description = model.description();
  b.impl_->metadata = model.metadata();
  b.impl_->inputs = model.inputs();
  b.impl_->outputs = model.outputs();
  b.impl_->operators = model.operators();
  b.impl_->plan = model.plan();
  // The copy owns its constants: the builder may outlive the model.
  for (const Tensor& source : model.tensors()) {
    b.impl_->tensors.push_back(source);
    Tensor& t = b.impl_->tensors.back();
    if (source.is_constant()) {
      b.impl_->SetData(t, source.DenseData());
    }
  }
  return b;
}

Result<std::vector<uint8_t>> ModelBuilder::Finish() const {
  const Impl& m = *impl_;
  SERENITY_RETURN_IF_ERROR(CheckWritable(m.tensors, m.operators));
  uint64_t total = EstimateOverhead(m.tensors, m.operators);
  for (const Tensor& t : m.tensors) {
    if (t.is_constant()) total += t.data_bytes + 2 * kStorageAlignment;
  }
  for (const auto& [key, value] : m.metadata) total += key.size() + value.size() + 64;
  total += m.name.size() + m.description.size();
  if (m.plan) {
    total += 64 + 4 * m.plan->order.size() + 8 * m.plan->tensor_offsets.size() +
             8 * m.plan->pixel_strides.size();
    for (const auto& r : m.plan->rewrites) {
      total += 64 + r.first.size() + 4 * r.second.size();
    }
  }
  const uint64_t limit =
      std::min<uint64_t>(kMaxFileBytes, FLATBUFFERS_MAX_BUFFER_SIZE - 1);
  if (total > limit) {
    return ResourceExhaustedError("model '", m.name, "' would need about ",
                                  total, " bytes, more than the limit of ",
                                  limit);
  }

  flatbuffers::FlatBufferBuilder fbb(
      static_cast<size_t>(std::min<uint64_t>(total, 1 << 20)));
  // Buffer 0 is the empty buffer; constant i gets buffer i + 1 in tensor
  // order. Large vectors go first, the alignment padding stays small.
  std::vector<flatbuffers::Offset<sfb::Buffer>> buffers;
  buffers.push_back(sfb::CreateBuffer(fbb));
  std::vector<uint32_t> buffer_of(m.tensors.size(), 0);
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const Tensor& t = m.tensors[i];
    if (!t.is_constant()) continue;
    // Not ForceVectorAlignment: FlatBuffers 2.0.8 asserts (in debug builds)
    // that alignments stay <= 32 (FLATBUFFERS_MAX_ALIGNMENT), yet PreAlign
    // and Finish honour 64: the padding puts the start of the data a multiple
    // of 64 bytes before the end of the buffer, and Finish pads the whole
    // buffer to a multiple of 64, so the offset from the start is one too.
    std::vector<uint8_t> dense;  // a strided constant's values (Tensor::row_stride)
    if (!t.is_dense()) dense = t.DenseData();
    const uint8_t* bytes = t.is_dense() ? t.data : dense.data();
    const size_t size = t.is_dense() ? t.data_bytes : dense.size();
    fbb.PreAlign(size, kStorageAlignment);
    auto data = fbb.CreateVector(bytes, size);
    buffer_of[i] = static_cast<uint32_t>(buffers.size());
    buffers.push_back(sfb::CreateBuffer(fbb, data));
  }
  auto buffers_vec = fbb.CreateVector(buffers);

  std::vector<flatbuffers::Offset<sfb::Tensor>> tensors;
  tensors.reserve(m.tensors.size());
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const Tensor& t = m.tensors[i];
    auto name = fbb.CreateString(t.name);
    auto shape = fbb.CreateVector(ToInt32(t.shape));
    flatbuffers::Offset<sfb::Quantization> quantization = 0;
    if (t.quantization) {
      auto scale = fbb.CreateVector(t.quantization->scale);
      auto zero_point = fbb.CreateVector(t.quantization->zero_point);
      quantization = sfb::CreateQuantization(
          fbb, scale, zero_point, t.quantization->quantized_dimension);
    }
    tensors.push_back(sfb::CreateTensor(
        fbb, name, shape, static_cast<sfb::DataType>(t.type), buffer_of[i],
        quantization));
  }
  auto tensors_vec = fbb.CreateVector(tensors);

  std::vector<flatbuffers::Offset<sfb::Operator>> operators;
  operators.reserve(m.operators.size());
  for (const Operator& op : m.operators) {
    auto name = fbb.CreateString(op.name);
    auto inputs = fbb.CreateVector(op.inputs);
    auto outputs = fbb.CreateVector(op.outputs);
    auto [options_type, options] = WriteOptions(fbb, op.attrs);
    operators.push_back(sfb::CreateOperator(
        fbb, static_cast<sfb::OpCode>(op.type), name, inputs, outputs,
        options_type, options));
  }
  auto operators_vec = fbb.CreateVector(operators);

  std::vector<flatbuffers::Offset<sfb::KeyValue>> metadata;
  for (const auto& [key, value] : m.metadata) {
    auto k = fbb.CreateString(key);
    auto v = fbb.CreateString(value);
    metadata.push_back(sfb::CreateKeyValue(fbb, k, v));
  }
  auto metadata_vec = metadata.empty() ? 0 : fbb.CreateVector(metadata);

  flatbuffers::Offset<sfb::ExecutionPlan> plan = 0;
  if (m.plan) {
    const StoredPlan& p = *m.plan;
    auto order = fbb.CreateVector(p.order);
    std::vector<flatbuffers::Offset<sfb::RewriteDecision>> rewrites;
    for (const auto& [kind, ops] : p.rewrites) {
      auto k = fbb.CreateString(kind);
      auto o = fbb.CreateVector(ops);
      rewrites.push_back(sfb::CreateRewriteDecision(fbb, k, o));
    }
    auto rewrites_vec = fbb.CreateVector(rewrites);
    auto offsets = fbb.CreateVector(p.tensor_offsets);
    auto strides = p.pixel_strides.empty() ? 0 : fbb.CreateVector(p.pixel_strides);
    plan = sfb::CreateExecutionPlan(fbb, p.graph_hash, p.plan_format_version,
                                    order, rewrites_vec, offsets,
                                    p.arena_bytes, p.peak_bytes, p.optimal,
                                    p.options_hash, strides);
  }

  auto name = fbb.CreateString(m.name);
  auto description = fbb.CreateString(m.description);
  auto inputs = fbb.CreateVector(m.inputs);
  auto outputs = fbb.CreateVector(m.outputs);
  auto root = sfb::CreateModel(fbb, kFormatVersion, name, description,
                               metadata_vec, tensors_vec, operators_vec,
                               inputs, outputs, buffers_vec, plan);
  sfb::FinishModelBuffer(fbb, root);
  return std::vector<uint8_t>(fbb.GetBufferPointer(),
                              fbb.GetBufferPointer() + fbb.GetSize());
}

Status WriteFileAtomically(const std::string& path,
                           const std::vector<uint8_t>& bytes) {
  // The temporary file sits in the same directory so that rename() stays
  // within one file system and is atomic.
  std::string temp = path + ".tmpXXXXXX";
  std::vector<char> temp_name(temp.begin(), temp.end());
  temp_name.push_back('\0');
  const int fd = ::mkstemp(temp_name.data());
  if (fd < 0) {
    return IoError(path, ": cannot create a temporary file: ",
                   std::strerror(errno));
  }
  temp.assign(temp_name.data());
  auto fail = [&](const char* what) {
    const int error = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return IoError(path, ": ", what, ": ", std::strerror(error));
  };
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    written += static_cast<size_t>(n);
  }
  // mkstemp creates the file 0600; a model is an ordinary file.
  if (::fchmod(fd, 0644) != 0) return fail("cannot set permissions");
  if (::fsync(fd) != 0) return fail("cannot sync");
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    return IoError(path, ": cannot close: ", std::strerror(error));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    return IoError(path, ": cannot rename into place: ", std::strerror(error));
  }
  // The rename itself is durable only once the directory is synced.
  const size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    const bool synced = ::fsync(dir_fd) == 0;
    const int error = errno;
    ::close(dir_fd);
    if (!synced && error != EINVAL) {
      return IoError(path, ": cannot sync the directory: ",
                     std::strerror(error));
    }
  }
  return Status::Ok();
}

}  // namespace serenity
