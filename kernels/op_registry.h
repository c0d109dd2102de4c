// The op registry's internal interface: what each op kind's file provides.
//
// Adding an op: write ops/<op>.cc defining a `const OpKernel k<Op>Kernel`, and
// add one line for it in op_registry.cc.
#ifndef SERENITY_KERNELS_OP_REGISTRY_H_
#define SERENITY_KERNELS_OP_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "serenity/kernels/op_kernel.h"
#include "serenity/model_format/model.h"
#include "serenity/status.h"

namespace serenity::kernels {

// Everything a kernel sees of one operator. The registry has already checked
// that the operand counts match the operator, that every required operand has
// data and is float32-sized, and that strided views appear only where the op
// kind's capabilities allow them.
struct KernelContext {
  const Operator& op;
  // Index-aligned with op.inputs, or empty when the caller has no tensors.
  const std::vector<const Tensor*>& input_tensors;
  const std::vector<OperandView>& inputs;
  const std::vector<OperandView>& outputs;
  pthreadpool_t pool;
  const std::string& name;  // "operator 3 ('conv')" for error messages
  KernelChoice kernels = KernelChoice::kAuto;
  SharedScratch* scratch = nullptr;  // BindRequest::scratch
  bool input_relu = false;           // BindRequest::input_relu (Conv2D only)
  const OperandView* addend = nullptr;  // BindRequest::addend (Conv2D only), or none

  bool IsConstantInput(size_t i) const {
    return i < input_tensors.size() && input_tensors[i] != nullptr &&
           input_tensors[i]->is_constant();
  }
  bool HasInput(size_t i) const { return i < inputs.size() && inputs[i].data != nullptr; }
};

using BindFunction = Result<std::unique_ptr<BoundOp>> (*)(const KernelContext& context);
using ReferenceFunction = Status (*)(const KernelContext& context);

struct OpKernel {
  OpType type;
  OpCapabilities capabilities;
  int min_inputs;
  int max_inputs;  // -1: unbounded
  BindFunction bind;
  ReferenceFunction reference;
};

// Capability sets the op kinds share.
inline constexpr OpCapabilities kDenseOnly = {false, false, false};
inline constexpr OpCapabilities kDenseInPlace = {false, false, true};
inline constexpr OpCapabilities kStrided = {true, true, false};
inline constexpr OpCapabilities kStridedInPlace = {true, true, true};

// The registered kernel for `type`, or nullptr.
const OpKernel* FindKernel(OpType type);

// One definition per op kind, in ops/*.cc.
extern const OpKernel kConv2DKernel;
extern const OpKernel kFullyConnectedKernel;
extern const OpKernel kMaxPool2DKernel;
extern const OpKernel kAveragePool2DKernel;
extern const OpKernel kGlobalAveragePoolKernel;
extern const OpKernel kAddKernel;
extern const OpKernel kMulKernel;
extern const OpKernel kConcatKernel;
extern const OpKernel kReluKernel;
extern const OpKernel kClampKernel;
extern const OpKernel kSigmoidKernel;
extern const OpKernel kHardSwishKernel;
extern const OpKernel kSoftmaxKernel;
extern const OpKernel kReshapeKernel;
extern const OpKernel kPadKernel;
extern const OpKernel kSliceKernel;
extern const OpKernel kResizeBilinearKernel;

}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_OP_REGISTRY_H_
