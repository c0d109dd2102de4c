#include "op_registry.h"

#include "dense_conv.h"

#include <new>

#include "kernel_util.h"
#include "serenity/kernels/xnnpack_util.h"

namespace serenity::kernels {
namespace {

// The supported operators: one line per op kind.
const OpKernel* const kKernels[] = {
    &kConv2DKernel,
    &kFullyConnectedKernel,
    &kMaxPool2DKernel,
    &kAveragePool2DKernel,
    &kGlobalAveragePoolKernel,
    &kAddKernel,
    &kMulKernel,
    &kConcatKernel,
    &kReluKernel,
    &kClampKernel,
    &kSigmoidKernel,
    &kHardSwishKernel,
    &kSoftmaxKernel,
    &kReshapeKernel,
    &kPadKernel,
    &kSliceKernel,
    &kResizeBilinearKernel,
};

std::string DefaultName(const Operator& op, const std::string& name) {
  if (!name.empty()) return name;
  if (!op.name.empty()) return StrCat("operator '", op.name, "'");
  return "operator";
}

Status CheckView(const std::string& name, const Operator& op, const char* kind, size_t index,
                 const OperandView& view, bool strided_allowed) {
  if (view.data == nullptr) {
    return InvalidArgumentError(name, " (", OpTypeName(op.type), "): ", kind, " ", index,
                                " has no data");
  }
  if (view.shape.empty()) return Status::Ok();
  if (view.pixel_stride < view.shape.back()) {
    return InvalidArgumentError(name, " (", OpTypeName(op.type), "): ", kind, " ", index,
                                " has pixel stride ", view.pixel_stride, " below its ",
                                view.shape.back(), " channels");
  }
  if (!view.dense() && !strided_allowed) {
    return UnsupportedError(name, " (", OpTypeName(op.type), "): ", kind, " ", index,
                            " is a channel slice (", view.shape.back(), " channels, pixel stride ",
                            view.pixel_stride, ") but ", OpTypeName(op.type),
                            " takes dense operands only");
  }
  return Status::Ok();
}

// Checks what every kernel relies on; `enforce_capabilities` is false for the
// reference kernels, which read and write any view.
Status CheckOperands(const OpKernel& kernel, const Operator& op,
                     const std::vector<const Tensor*>& input_tensors,
                     const std::vector<OperandView>& inputs,
                     const std::vector<OperandView>& outputs, const std::string& name,
                     bool enforce_capabilities) {
  const int count = static_cast<int>(op.inputs.size());
  if (inputs.size() != op.inputs.size() || outputs.size() != op.outputs.size()) {
    return InvalidArgumentError(name, " (", OpTypeName(op.type), "): got ", inputs.size(),
                                " input and ", outputs.size(), " output views for ",
                                op.inputs.size(), " inputs and ", op.outputs.size(), " outputs");
  }
  if (count < kernel.min_inputs || (kernel.max_inputs >= 0 && count > kernel.max_inputs)) {
    return UnsupportedError(name, " (", OpTypeName(op.type), "): ", count,
                            " inputs is not supported");
  }
  if (outputs.size() != 1) {
    return UnsupportedError(name, " (", OpTypeName(op.type), "): ", outputs.size(),
                            " outputs is not supported");
  }
  if (!input_tensors.empty() && input_tensors.size() != op.inputs.size()) {
    return InvalidArgumentError(name, " (", OpTypeName(op.type), "): got ", input_tensors.size(),
                                " input tensors for ", op.inputs.size(), " inputs");
  }
  for (size_t i = 0; i < input_tensors.size(); ++i) {
    if (input_tensors[i] != nullptr && input_tensors[i]->type != DataType::kFloat32) {
      return UnsupportedError(name, " (", OpTypeName(op.type), "): input ", i, " is ",
                              DataTypeName(input_tensors[i]->type), "; only float32 is supported");
    }
  }
  for (size_t i = 0; i < input_tensors.size() && i < inputs.size(); ++i) {
    // A strided constant (Tensor::row_stride) reaches a kernel as a strided
    // view; of the kernels that copy or pack constants, only the
    // convolution's weights handle one (conv2d.cc gathers them).
    const bool strided_constant =
        input_tensors[i] != nullptr && input_tensors[i]->is_constant() && !inputs[i].dense();
    if (strided_constant && !(op.type == OpType::kConv2D && i == 1)) {
      return UnsupportedError(name, " (", OpTypeName(op.type), "): input ", i,
                              " is a constant with strided rows, which only a Conv2D's "
                              "weights may be");
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (op.inputs[i] < 0 && inputs[i].data == nullptr) continue;  // absent optional
    SERENITY_RETURN_IF_ERROR(CheckView(name, op, "input", i, inputs[i],
                                       !enforce_capabilities || kernel.capabilities.strided_input));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    SERENITY_RETURN_IF_ERROR(
        CheckView(name, op, "output", i, outputs[i],
                  !enforce_capabilities || kernel.capabilities.strided_output));
  }
  return Status::Ok();
}

const std::vector<const Tensor*>& NoTensors() {
  static const std::vector<const Tensor*>* const empty = new std::vector<const Tensor*>();
  return *empty;
}

}  // namespace

const OpKernel* FindKernel(OpType type) {
  for (const OpKernel* kernel : kKernels) {
    if (kernel->type == type) return kernel;
  }
  return nullptr;
}

OpCapabilities CapabilitiesOf(OpType type) {
  const OpKernel* kernel = FindKernel(type);
  if (kernel == nullptr) return OpCapabilities{};
  OpCapabilities capabilities = kernel->capabilities;
  // Only Serenity's own dense and depthwise kernels run windowed in place
  // (WindowedConvBoundOp); XNNPACK's tiled GEMMs cannot read and write
  // overlapping memory, so builds and CPUs without them keep it off.
  if (type == OpType::kConv2D && DenseConvAvailable()) {
    capabilities.windowed_max_positions = kDenseConvMaxPositions;
  }
  return capabilities;
}

Result<std::unique_ptr<BoundOp>> BindOp(const Operator& op,
                                        const std::vector<const Tensor*>& input_tensors,
                                        const std::vector<OperandView>& inputs,
                                        const std::vector<OperandView>& outputs, pthreadpool_t pool,
                                        const std::string& name, KernelChoice kernels,
                                        SharedScratch* scratch, bool input_relu,
                                        const OperandView* addend) {
  const std::string full_name = DefaultName(op, name);
  const OpKernel* kernel = FindKernel(op.type);
  if (kernel == nullptr) {
    return UnsupportedError(full_name, ": no kernel for ", OpTypeName(op.type));
  }
  if (input_relu && op.type != OpType::kConv2D) {
    return UnsupportedError(full_name, ": only a Conv2D reads its input through a Relu");
  }
  if (addend != nullptr && op.type != OpType::kConv2D) {
    return UnsupportedError(full_name, ": only a Conv2D adds an addend to its output");
  }
  SERENITY_RETURN_IF_ERROR(
      CheckOperands(*kernel, op, input_tensors, inputs, outputs, full_name, true));
  SERENITY_RETURN_IF_ERROR(InitializeXnnpack());
  KernelContext context{op,        input_tensors, inputs,  outputs,    pool,
                        full_name, kernels,       scratch, input_relu, addend};
  return kernel->bind(context);
}

Status SharedScratch::Allocate() {
  if (data_ != nullptr || floats_ == 0) return Status::Ok();
  data_.reset(new (std::nothrow) float[floats_]);
  if (data_ == nullptr) {
    return ResourceExhaustedError("cannot allocate ", bytes(), " bytes of kernel scratch");
  }
  return Status::Ok();
}

Status RunReferenceOp(const Operator& op, const std::vector<OperandView>& inputs,
                      const std::vector<OperandView>& outputs, const std::string& name) {
  const std::string full_name = DefaultName(op, name);
  const OpKernel* kernel = FindKernel(op.type);
  if (kernel == nullptr) {
    return UnsupportedError(full_name, ": no reference kernel for ", OpTypeName(op.type));
  }
  SERENITY_RETURN_IF_ERROR(
      CheckOperands(*kernel, op, NoTensors(), inputs, outputs, full_name, false));
  KernelContext context{op, NoTensors(), inputs, outputs, nullptr, full_name};
  return kernel->reference(context);
}

}  // namespace serenity::kernels
