// Relu, Clamp, Sigmoid, HardSwish and Softmax: XNNPACK's *_nc_f32 operators
// over rows of the last dimension, which take input and output row strides;
// Relu and Clamp on OwnElementwiseOp where WorkPoolPreferred.
#include <algorithm>
#include <cmath>

#include "kernel_util.h"
#include "reference_util.h"

namespace serenity::kernels {
namespace {

enum class Unary { kRelu, kClamp, kSigmoid, kHardSwish, kSoftmax };

int64_t StrideOf(const OperandView& view) { return view.shape.empty() ? 1 : view.pixel_stride; }

Result<std::unique_ptr<BoundOp>> BindUnary(const KernelContext& c, Unary kind) {
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  if (x.shape != y.shape) {
    return Unsupported(c, "input ", ShapeString(x.shape), " and output ", ShapeString(y.shape),
                       " differ");
  }
  const size_t channels = ChannelsOf(x);
  const size_t input_stride = StrideOf(x), output_stride = StrideOf(y);
  if ((kind == Unary::kRelu || kind == Unary::kClamp) && WorkPoolPreferred(c)) {
    float output_min = 0.0f, output_max = INFINITY;
    if (kind == Unary::kClamp) {
      SERENITY_ASSIGN_OR_RETURN(const ClampAttrs* attrs, AttrsOf<ClampAttrs>(c));
      if (!(attrs->min < attrs->max)) {
        return Unsupported(c, "clamp range [", attrs->min, ", ", attrs->max, "] is empty");
      }
      output_min = attrs->min;
      output_max = attrs->max;
    }
    return std::unique_ptr<BoundOp>(std::make_unique<OwnElementwiseOp>(
        std::vector<OwnElementwiseOp::Operand>{{x.data, StrideOf(x)}}, y.data, StrideOf(y),
        RowsOf(x), ChannelsOf(x), output_min, output_max, c.pool));
  }
  auto bound = std::make_unique<XnnBoundOp>(c.name);
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_status_success;
  const char* create_name = "";
  switch (kind) {
    case Unary::kRelu:
      create_name = "xnn_create_clamp_nc_f32";
      status =
          xnn_create_clamp_nc_f32(channels, input_stride, output_stride, 0.0f, INFINITY, 0, &op);
      break;
    case Unary::kClamp: {
      SERENITY_ASSIGN_OR_RETURN(const ClampAttrs* attrs, AttrsOf<ClampAttrs>(c));
      if (!(attrs->min < attrs->max)) {
        return Unsupported(c, "clamp range [", attrs->min, ", ", attrs->max, "] is empty");
      }
      create_name = "xnn_create_clamp_nc_f32";
      status = xnn_create_clamp_nc_f32(channels, input_stride, output_stride, attrs->min,
                                       attrs->max, 0, &op);
      break;
    }
    case Unary::kSigmoid:
      create_name = "xnn_create_sigmoid_nc_f32";
      status = xnn_create_sigmoid_nc_f32(channels, input_stride, output_stride, 0, &op);
      break;
    case Unary::kHardSwish:
      create_name = "xnn_create_hardswish_nc_f32";
      status = xnn_create_hardswish_nc_f32(channels, input_stride, output_stride, 0, &op);
      break;
    case Unary::kSoftmax: {
      SERENITY_ASSIGN_OR_RETURN(const SoftmaxAttrs* attrs, AttrsOf<SoftmaxAttrs>(c));
      const int rank = static_cast<int>(x.shape.size());
      if (rank == 0 || (attrs->axis != rank - 1 && attrs->axis != -1)) {
        return Unsupported(c, "softmax over axis ", attrs->axis, " of ", ShapeString(x.shape),
                           "; only the last axis is supported");
      }
      create_name = "xnn_create_softmax_nc_f32";
      status = xnn_create_softmax_nc_f32(channels, input_stride, output_stride, 0, &op);
      break;
    }
  }
  if (status != xnn_status_success) return bound->Check(status, create_name);
  bound->Adopt(op);
  const size_t batch = RowsOf(x);
  const char* setup_name = "";
  switch (kind) {
    case Unary::kRelu:
    case Unary::kClamp:
      setup_name = "xnn_setup_clamp_nc_f32";
      status = xnn_setup_clamp_nc_f32(op, batch, RunTimeInput(c, 0, *bound), y.data, c.pool);
      break;
    case Unary::kSigmoid:
      setup_name = "xnn_setup_sigmoid_nc_f32";
      status = xnn_setup_sigmoid_nc_f32(op, batch, RunTimeInput(c, 0, *bound), y.data, c.pool);
      break;
    case Unary::kHardSwish:
      setup_name = "xnn_setup_hardswish_nc_f32";
      status = xnn_setup_hardswish_nc_f32(op, batch, RunTimeInput(c, 0, *bound), y.data, c.pool);
      break;
    case Unary::kSoftmax:
      setup_name = "xnn_setup_softmax_nc_f32";
      status = xnn_setup_softmax_nc_f32(op, batch, RunTimeInput(c, 0, *bound), y.data, c.pool);
      break;
  }
  if (status != xnn_status_success) return bound->Check(status, setup_name);
  return std::unique_ptr<BoundOp>(std::move(bound));
}

Result<std::unique_ptr<BoundOp>> BindRelu(const KernelContext& c) {
  return BindUnary(c, Unary::kRelu);
}
Result<std::unique_ptr<BoundOp>> BindClamp(const KernelContext& c) {
  return BindUnary(c, Unary::kClamp);
}
Result<std::unique_ptr<BoundOp>> BindSigmoid(const KernelContext& c) {
  return BindUnary(c, Unary::kSigmoid);
}
Result<std::unique_ptr<BoundOp>> BindHardSwish(const KernelContext& c) {
  return BindUnary(c, Unary::kHardSwish);
}
Result<std::unique_ptr<BoundOp>> BindSoftmax(const KernelContext& c) {
  return BindUnary(c, Unary::kSoftmax);
}

// Reference: element by element in double (row by row for softmax).
Status ReferenceUnary(const KernelContext& c, Unary kind) {
  using reference::At;
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  double low = 0.0, high = INFINITY;
  if (kind == Unary::kClamp) {
    SERENITY_ASSIGN_OR_RETURN(const ClampAttrs* attrs, AttrsOf<ClampAttrs>(c));
    low = attrs->min;
    high = attrs->max;
  }
  const int64_t rows = reference::NumRows(x), channels = reference::NumChannels(x);
  for (int64_t r = 0; r < rows; ++r) {
    if (kind == Unary::kSoftmax) {
      double largest = -INFINITY;
      for (int64_t i = 0; i < channels; ++i) largest = std::max<double>(largest, At(x, r, i));
      double total = 0.0;
      for (int64_t i = 0; i < channels; ++i) total += std::exp(At(x, r, i) - largest);
      for (int64_t i = 0; i < channels; ++i) {
        At(y, r, i) = static_cast<float>(std::exp(At(x, r, i) - largest) / total);
      }
      continue;
    }
    for (int64_t i = 0; i < channels; ++i) {
      const double v = At(x, r, i);
      double result = v;
      switch (kind) {
        case Unary::kRelu:
        case Unary::kClamp:
          result = v < low ? low : (v > high ? high : v);
          break;
        case Unary::kSigmoid:
          result = 1.0 / (1.0 + std::exp(-v));
          break;
        case Unary::kHardSwish:
          result = v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0;
          break;
        case Unary::kSoftmax:
          break;
      }
      At(y, r, i) = static_cast<float>(result);
    }
  }
  return Status::Ok();
}

Status ReferenceRelu(const KernelContext& c) { return ReferenceUnary(c, Unary::kRelu); }
Status ReferenceClamp(const KernelContext& c) { return ReferenceUnary(c, Unary::kClamp); }
Status ReferenceSigmoid(const KernelContext& c) { return ReferenceUnary(c, Unary::kSigmoid); }
Status ReferenceHardSwish(const KernelContext& c) { return ReferenceUnary(c, Unary::kHardSwish); }
Status ReferenceSoftmax(const KernelContext& c) { return ReferenceUnary(c, Unary::kSoftmax); }

}  // namespace

const OpKernel kReluKernel = {OpType::kRelu, kStridedInPlace, 1, 1, BindRelu, ReferenceRelu};
const OpKernel kClampKernel = {OpType::kClamp, kStridedInPlace, 1, 1, BindClamp, ReferenceClamp};
const OpKernel kSigmoidKernel = {OpType::kSigmoid, kStridedInPlace, 1, 1,
                                 BindSigmoid,      ReferenceSigmoid};
const OpKernel kHardSwishKernel = {OpType::kHardSwish, kStridedInPlace,   1, 1,
                                   BindHardSwish,      ReferenceHardSwish};
const OpKernel kSoftmaxKernel = {OpType::kSoftmax, kStrided, 1, 1, BindSoftmax, ReferenceSoftmax};

}  // namespace serenity::kernels
