// The Model-facing entry points of the registry. Kept apart from
// op_registry.cc so that code binding operators without a Model does not link
// the model reader.
#include <cstring>
#include <utility>
#include <variant>

#include "op_registry.h"
#include "serenity/kernels/op_kernel.h"

namespace serenity::kernels {
namespace {

Status CheckOpIndex(const Model* model, int op_index) {
  if (model == nullptr) return InvalidArgumentError("BindOp: no model");
  if (op_index < 0 || op_index >= static_cast<int>(model->operators().size())) {
    return InvalidArgumentError("operator index ", op_index, " out of range [0, ",
                                model->operators().size(), ")");
  }
  return Status::Ok();
}

std::vector<const Tensor*> InputTensors(const Model& model, const Operator& op) {
  std::vector<const Tensor*> tensors;
  tensors.reserve(op.inputs.size());
  for (int index : op.inputs) {
    tensors.push_back(index < 0 ? nullptr : &model.tensors()[index]);
  }
  return tensors;
}

}  // namespace

Result<std::unique_ptr<BoundOp>> BindOp(const BindRequest& request) {
  SERENITY_RETURN_IF_ERROR(CheckOpIndex(request.model, request.op_index));
  const Operator& op = request.model->operators()[request.op_index];
  // With a fused activation, a copy of the operator that has it (BindOp
  // keeps no reference to either).
  Operator fused;
  const Operator* bound = &op;
  if (request.fused_activation != Activation::kNone) {
    const Conv2DAttrs* attrs = std::get_if<Conv2DAttrs>(&op.attrs);
    if (op.type != OpType::kConv2D || attrs == nullptr || attrs->activation != Activation::kNone) {
      return InvalidArgumentError(request.model->DescribeOperator(request.op_index),
                                  ": only a Conv2D without an activation takes a fused ",
                                  ActivationName(request.fused_activation));
    }
    fused = op;
    std::get<Conv2DAttrs>(fused.attrs).activation = request.fused_activation;
    bound = &fused;
  }
  return BindOp(*bound, InputTensors(*request.model, op), request.inputs, request.outputs,
                request.pool, request.model->DescribeOperator(request.op_index), request.kernels,
                request.scratch, request.input_relu,
                request.addend.data != nullptr ? &request.addend : nullptr);
}

Status RunReferenceOp(const Model& model, int op_index, const std::vector<OperandView>& inputs,
                      const std::vector<OperandView>& outputs) {
  SERENITY_RETURN_IF_ERROR(CheckOpIndex(&model, op_index));
  return RunReferenceOp(model.operators()[op_index], inputs, outputs,
                        model.DescribeOperator(op_index));
}

Result<std::vector<std::vector<float>>> RunModelReference(
    const Model& model, const std::vector<std::vector<float>>& inputs) {
  const std::vector<Tensor>& tensors = model.tensors();
  if (inputs.size() != model.inputs().size()) {
    return InvalidArgumentError("RunModelReference: ", inputs.size(), " inputs for a model with ",
                                model.inputs().size());
  }
  std::vector<std::vector<float>> buffers(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].type != DataType::kFloat32) {
      return UnsupportedError("RunModelReference: ", model.DescribeTensor(static_cast<int>(i)),
                              " is ", DataTypeName(tensors[i].type));
    }
    if (!tensors[i].is_constant()) {
      buffers[i].assign(tensors[i].num_elements(), 0.0f);
    } else if (!tensors[i].is_dense()) {  // the reference reads constants dense
      const std::vector<uint8_t> dense = tensors[i].DenseData();
      buffers[i].resize(tensors[i].num_elements());
      std::memcpy(buffers[i].data(), dense.data(), dense.size());
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int tensor = model.inputs()[i];
    if (static_cast<int64_t>(inputs[i].size()) != tensors[tensor].num_elements()) {
      return InvalidArgumentError("RunModelReference: input ", i, " has ", inputs[i].size(),
                                  " values, ", model.DescribeTensor(tensor), " needs ",
                                  tensors[tensor].num_elements());
    }
    buffers[tensor] = inputs[i];
  }
  auto view_of = [&](int index) {
    OperandView view;
    if (index < 0) return view;
    const Tensor& tensor = tensors[index];
    view.data = tensor.is_constant() && tensor.is_dense()
                    ? const_cast<float*>(reinterpret_cast<const float*>(tensor.data))
                    : buffers[index].data();
    view.shape = tensor.shape;
    view.pixel_stride = tensor.shape.empty() ? 1 : tensor.shape.back();
    return view;
  };
  for (size_t op_index = 0; op_index < model.operators().size(); ++op_index) {
    const Operator& op = model.operators()[op_index];
    std::vector<OperandView> in_views, out_views;
    for (int index : op.inputs) in_views.push_back(view_of(index));
    for (int index : op.outputs) out_views.push_back(view_of(index));
    SERENITY_RETURN_IF_ERROR(RunReferenceOp(op, in_views, out_views,
                                            model.DescribeOperator(static_cast<int>(op_index))));
  }
  std::vector<std::vector<float>> outputs;
  for (int index : model.outputs()) {
    if (tensors[index].is_constant() && tensors[index].is_dense()) {
      const float* data = reinterpret_cast<const float*>(tensors[index].data);
      outputs.emplace_back(data, data + tensors[index].num_elements());
    } else {
      outputs.push_back(buffers[index]);
    }
  }
  return outputs;
}

}  // namespace serenity::kernels
