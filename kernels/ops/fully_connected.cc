// FullyConnected: XNNPACK's fully_connected_nc with [O, K] weights; rows may be
// channel slices (input and output strides). Where WorkPoolPreferred
// (own kernels in use, 2+ threads), Serenity's dense convolution kernel as a
// 1x1 convolution over N pixels instead: the engine then runs XNNPACK's
// operators on the calling thread alone, and a classifier's weights (5 MB in
// MobileNetV2) stream faster from two cores than from one.
#include "kernel_util.h"
#include "reference_util.h"

namespace serenity::kernels {
namespace {

Result<std::unique_ptr<BoundOp>> BindFullyConnected(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const FullyConnectedAttrs* attrs, AttrsOf<FullyConnectedAttrs>(c));
  const OperandView& x = c.inputs[0];
  const OperandView& w = c.inputs[1];
  const OperandView& y = c.outputs[0];
  if (x.shape.empty() || w.shape.size() != 2 || y.shape.empty()) {
    return Unsupported(c, "expects [N,K] input, [O,K] weights, got ", ShapeString(x.shape), ", ",
                       ShapeString(w.shape));
  }
  const int64_t out_channels = w.shape[0], in_channels = w.shape[1];
  const int64_t batch = RowsOf(x);
  if (ChannelsOf(x) != in_channels || ChannelsOf(y) != out_channels || RowsOf(y) != batch) {
    return Unsupported(c, "input ", ShapeString(x.shape), ", weights ", ShapeString(w.shape),
                       " and output ", ShapeString(y.shape), " do not agree");
  }
  const float* bias = nullptr;
  if (c.HasInput(2)) {
    if (c.inputs[2].shape.size() != 1 || c.inputs[2].shape[0] != out_channels) {
      return Unsupported(c, "bias ", ShapeString(c.inputs[2].shape), " is not [", out_channels,
                         "]");
    }
    bias = c.inputs[2].data;
  }
  float output_min, output_max;
  ActivationRange(attrs->activation, &output_min, &output_max);
  if (WorkPoolPreferred(c) && w.dense()) {
    DenseConvShape shape;
    shape.batch = batch;
    shape.in_h = shape.in_w = shape.out_h = shape.out_w = 1;
    shape.in_channels = in_channels;
    shape.out_channels = out_channels;
    shape.kernel_h = shape.kernel_w = 1;
    shape.in_pixel_stride = x.shape.empty() ? 1 : x.pixel_stride;
    shape.out_pixel_stride = y.pixel_stride;
    shape.out_min = output_min;
    shape.out_max = output_max;
    return std::unique_ptr<BoundOp>(std::make_unique<OwnConvBoundOp>(
        false, shape, w.data, bias, x.data, y.data, c.pool));
  }
  auto bound = std::make_unique<XnnBoundOp>(c.name);
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_create_fully_connected_nc_f32(
      in_channels, out_channels, x.shape.empty() ? 1 : x.pixel_stride, y.pixel_stride, w.data, bias,
      output_min, output_max, 0, &op);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_create_fully_connected_nc_f32");
  }
  bound->Adopt(op);
  bound->AddPackedWeightBytes((out_channels * in_channels + out_channels) * sizeof(float));
  status = xnn_setup_fully_connected_nc_f32(op, batch, RunTimeInput(c, 0, *bound), y.data, c.pool);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_setup_fully_connected_nc_f32");
  }
  return std::unique_ptr<BoundOp>(std::move(bound));
}

Status ReferenceFullyConnected(const KernelContext& c) {
  using reference::At;
  SERENITY_ASSIGN_OR_RETURN(const FullyConnectedAttrs* attrs, AttrsOf<FullyConnectedAttrs>(c));
  const OperandView& x = c.inputs[0];
  const OperandView& w = c.inputs[1];
  const OperandView& y = c.outputs[0];
  if (w.shape.size() != 2) return Unsupported(c, "reference expects [O,K] weights");
  const int64_t out_channels = w.shape[0], in_channels = w.shape[1];
  for (int64_t n = 0; n < reference::NumRows(y); ++n) {
    for (int64_t o = 0; o < out_channels; ++o) {
      double sum = c.HasInput(2) ? c.inputs[2].data[o] : 0.0;
      for (int64_t k = 0; k < in_channels; ++k) {
        sum += static_cast<double>(w.data[o * in_channels + k]) * At(x, n, k);
      }
      At(y, n, o) = static_cast<float>(reference::ApplyActivation(attrs->activation, sum));
    }
  }
  return Status::Ok();
}

}  // namespace

const OpKernel kFullyConnectedKernel = {OpType::kFullyConnected, kStrided, 2, 3, BindFullyConnected,
                                        ReferenceFullyConnected};

}  // namespace serenity::kernels
