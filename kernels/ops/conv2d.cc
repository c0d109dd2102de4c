// Conv2D: XNNPACK's NHWC convolution (dense, grouped, depthwise, dilated),
// reading and writing channel slices through its pixel strides; on AVX2 + FMA
// CPUs Serenity's own direct, depthwise or Winograd kernel where it is the
// faster one.
#include <cmath>
#include <vector>

#include "dense_conv.h"
#include "depthwise_conv.h"
#include "kernel_util.h"
#include "reference_util.h"
#include "winograd_conv.h"

namespace serenity::kernels {
namespace {

int64_t ConvOutputSize(int64_t input, int pad_before, int pad_after, int64_t kernel, int dilation,
                       int stride) {
  const int64_t effective = (kernel - 1) * dilation + 1;
  const int64_t padded = input + pad_before + pad_after;
  if (padded < effective) return 0;
  return (padded - effective) / stride + 1;
}

// `weights` as a dense view: itself, or its rows gathered into `storage`.
// Weights with strided rows (a partial convolution's input channels of a
// model replayed from a plan cache entry, Tensor::row_stride) are gathered
// here, into memory that lives only while binding: every kernel copies the
// weights into its packed form when it is created (OwnConvBoundOp's
// constructor, xnn_create_convolution2d_nhwc_f32), so the gather is one more
// pass over weights that binding reads anyway, and keeps the copy out of
// every plan cache hit. A kernel added here must pack its weights at creation
// too (or own a copy): `storage` is freed when binding returns.
OperandView DenseWeights(const OperandView& weights, pthreadpool_t pool,
                         std::vector<float>* storage) {
  if (weights.dense()) return weights;
  const int64_t rows = RowsOf(weights), width = ChannelsOf(weights);
  storage->resize(static_cast<size_t>(rows * width));
  ParallelCopyRows(pool, weights.data, weights.pixel_stride, storage->data(), width, rows, width);
  OperandView dense = weights;
  dense.data = storage->data();
  dense.pixel_stride = width;
  return dense;
}

Result<std::unique_ptr<BoundOp>> BindConv2D(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const Conv2DAttrs* attrs, AttrsOf<Conv2DAttrs>(c));
  const OperandView& x = c.inputs[0];
  // Every kernel below reads the weights through `w`: dense.
  std::vector<float> gathered_weights;
  const OperandView w = DenseWeights(c.inputs[1], c.pool, &gathered_weights);
  const OperandView& y = c.outputs[0];
  if (x.shape.size() != 4 || w.shape.size() != 4 || y.shape.size() != 4) {
    return Unsupported(c, "expects rank-4 input, weights and output, got ", ShapeString(x.shape),
                       ", ", ShapeString(w.shape), ", ", ShapeString(y.shape));
  }
  const int64_t batch = x.shape[0], height = x.shape[1], width = x.shape[2];
  const int64_t in_channels = x.shape[3];
  const int64_t out_channels = w.shape[0], kernel_h = w.shape[1], kernel_w = w.shape[2];
  const int64_t group_in = w.shape[3];
  const int groups = attrs->groups;
  if (groups < 1 || in_channels % groups != 0 || group_in * groups != in_channels ||
      out_channels % groups != 0 || y.shape[3] != out_channels || y.shape[0] != batch) {
    return Unsupported(c, "inconsistent channels: input ", ShapeString(x.shape), ", weights ",
                       ShapeString(w.shape), ", groups ", groups, ", output ",
                       ShapeString(y.shape));
  }
  if (attrs->stride_h < 1 || attrs->stride_w < 1 || attrs->dilation_h < 1 ||
      attrs->dilation_w < 1 || attrs->pad_top < 0 || attrs->pad_bottom < 0 || attrs->pad_left < 0 ||
      attrs->pad_right < 0) {
    return Unsupported(c, "strides and dilations must be positive, paddings non-negative");
  }
  const int64_t out_h = ConvOutputSize(height, attrs->pad_top, attrs->pad_bottom, kernel_h,
                                       attrs->dilation_h, attrs->stride_h);
  const int64_t out_w = ConvOutputSize(width, attrs->pad_left, attrs->pad_right, kernel_w,
                                       attrs->dilation_w, attrs->stride_w);
  if (out_h != y.shape[1] || out_w != y.shape[2]) {
    return Unsupported(c, "output ", ShapeString(y.shape), " does not match the ", out_h, "x",
                       out_w, " that the convolution computes");
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
  const bool depthwise_shape =
      groups == in_channels && out_channels == in_channels && group_in == 1 && groups > 1;
  // Windowed in place (scheduler/alias.h): the output overlaps the input.
  // Only the own kernels run it, whatever KernelChoice says. (Channel slices
  // of one concat buffer interleave without sharing bytes: not this case.)
  // Whether two views' byte ranges meet.
  auto meet = [](const OperandView& a, const OperandView& b) {
    const auto* a_begin = reinterpret_cast<const char*>(a.data);
    const auto* b_begin = reinterpret_cast<const char*>(b.data);
    return a_begin < b_begin + RowsOf(b) * b.pixel_stride * static_cast<int64_t>(sizeof(float)) &&
           b_begin < a_begin + RowsOf(a) * a.pixel_stride * static_cast<int64_t>(sizeof(float));
  };
  const bool overlap = x.dense() && y.dense() && meet(x, y);
  const bool depthwise =
      depthwise_shape && (overlap || c.input_relu ||
                          DepthwiseConvPreferred(kernel_h, kernel_w, attrs->stride_h,
                                                 attrs->stride_w, ThreadsOf(c.pool)));
  if (c.input_relu && (!depthwise || overlap || c.kernels == KernelChoice::kXnnpack ||
                       !DenseConvAvailable() || kernel_h * kernel_w > kDenseConvMaxPositions)) {
    return Unsupported(c, "only Serenity's own depthwise kernel reads its input through a Relu, "
                          "and not windowed in place");
  }
  if (c.addend != nullptr) {
    const OperandView& a = *c.addend;
    const bool same_view = a.data == y.data && a.pixel_stride == y.pixel_stride;
    if (a.shape != y.shape) {
      return Unsupported(c, "addend ", ShapeString(a.shape), " is not the output's shape ",
                         ShapeString(y.shape));
    }
    if (depthwise || groups != 1 || overlap || c.kernels == KernelChoice::kXnnpack ||
        !DenseConvAvailable() || kernel_h * kernel_w > kDenseConvMaxPositions ||
        (!same_view && meet(a, y))) {
      return Unsupported(c,
                         "only Serenity's own dense kernels (direct and Winograd) add an addend "
                         "to their output, and not windowed in place");
    }
  }
  if (overlap && !((groups == 1 || depthwise) && DenseConvAvailable() &&
                   kernel_h * kernel_w <= kDenseConvMaxPositions)) {
    return Unsupported(c, "the output overlaps the input, which only the own dense and depthwise "
                          "kernels run (windowed in place), and not for this convolution here");
  }
  if ((overlap || c.kernels != KernelChoice::kXnnpack) && (groups == 1 || depthwise) &&
      DenseConvAvailable() && kernel_h * kernel_w <= kDenseConvMaxPositions) {
    DenseConvShape shape;
    shape.batch = batch;
    shape.in_h = height;
    shape.in_w = width;
    shape.in_channels = in_channels;
    shape.out_h = out_h;
    shape.out_w = out_w;
    shape.out_channels = out_channels;
    shape.kernel_h = kernel_h;
    shape.kernel_w = kernel_w;
    shape.stride_h = attrs->stride_h;
    shape.stride_w = attrs->stride_w;
    shape.dilation_h = attrs->dilation_h;
    shape.dilation_w = attrs->dilation_w;
    shape.pad_top = attrs->pad_top;
    shape.pad_left = attrs->pad_left;
    shape.in_pixel_stride = x.pixel_stride;
    shape.out_pixel_stride = y.pixel_stride;
    shape.out_min = output_min;
    shape.out_max = output_max;
    if (overlap) {
      if (!WindowedConvSafe(shape, x.data, y.data)) {
        return Unsupported(c, "the output overlaps the input but does not lie far enough below "
                              "it to be computed in place row by row");
      }
      return std::unique_ptr<BoundOp>(std::make_unique<WindowedConvBoundOp>(
          depthwise, shape, w.data, bias, x.data, y.data, c.pool, c.scratch));
    }
    const bool winograd = c.kernels == KernelChoice::kWinograd
                              ? WinogradConvApplies(shape)
                              : c.kernels == KernelChoice::kAuto && WinogradConvPreferred(shape);
    if (!depthwise && winograd) {
      auto op = std::make_unique<WinogradConvBoundOp>(shape, w.data, bias, x.data, y.data, c.pool,
                                                      c.scratch);
      if (c.addend != nullptr) op->AddAddend(c.addend->data, c.addend->pixel_stride);
      return std::unique_ptr<BoundOp>(std::move(op));
    }
    auto own = std::make_unique<OwnConvBoundOp>(depthwise, shape, w.data, bias, x.data, y.data,
                                                c.pool);
    if (c.input_relu) own->ReadInputThroughRelu();
    if (c.addend != nullptr) own->AddAddend(c.addend->data, c.addend->pixel_stride);
    return std::unique_ptr<BoundOp>(std::move(own));
  }

  auto bound = std::make_unique<XnnBoundOp>(c.name);
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_create_convolution2d_nhwc_f32(
      attrs->pad_top, attrs->pad_right, attrs->pad_bottom, attrs->pad_left, kernel_h, kernel_w,
      attrs->stride_h, attrs->stride_w, attrs->dilation_h, attrs->dilation_w, groups, group_in,
      out_channels / groups, x.pixel_stride, y.pixel_stride, w.data, bias, output_min, output_max,
      0, &op);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_create_convolution2d_nhwc_f32");
  }
  bound->Adopt(op);
  bound->AddPackedWeightBytes((out_channels * kernel_h * kernel_w * group_in + out_channels) *
                              sizeof(float));
  status = xnn_setup_convolution2d_nhwc_f32(op, batch, height, width, RunTimeInput(c, 0, *bound),
                                            y.data, c.pool);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_setup_convolution2d_nhwc_f32");
  }
  return std::unique_ptr<BoundOp>(std::move(bound));
}

Status ReferenceConv2D(const KernelContext& c) {
  using reference::At4;
  SERENITY_ASSIGN_OR_RETURN(const Conv2DAttrs* attrs, AttrsOf<Conv2DAttrs>(c));
  const OperandView& x = c.inputs[0];
  const OperandView& w = c.inputs[1];
  const OperandView& y = c.outputs[0];
  if (x.shape.size() != 4 || w.shape.size() != 4 || y.shape.size() != 4) {
    return Unsupported(c, "reference expects rank-4 operands");
  }
  const int64_t groups = attrs->groups;
  const int64_t group_in = w.shape[3];
  const int64_t group_out = w.shape[0] / groups;
  const bool has_bias = c.HasInput(2);
  const int64_t kernel_h = w.shape[1], kernel_w = w.shape[2];
  for (int64_t n = 0; n < y.shape[0]; ++n) {
    for (int64_t oy = 0; oy < y.shape[1]; ++oy) {
      for (int64_t ox = 0; ox < y.shape[2]; ++ox) {
        for (int64_t o = 0; o < y.shape[3]; ++o) {
          const int64_t g = o / group_out;
          double sum = has_bias ? c.inputs[2].data[o] : 0.0;
          for (int64_t ky = 0; ky < kernel_h; ++ky) {
            const int64_t iy = oy * attrs->stride_h + ky * attrs->dilation_h - attrs->pad_top;
            if (iy < 0 || iy >= x.shape[1]) continue;
            for (int64_t kx = 0; kx < kernel_w; ++kx) {
              const int64_t ix = ox * attrs->stride_w + kx * attrs->dilation_w - attrs->pad_left;
              if (ix < 0 || ix >= x.shape[2]) continue;
              const float* pixel = &At4(x, n, iy, ix, g * group_in);
              const float* weights =
                  w.data + ((o * kernel_h + ky) * kernel_w + kx) * w.pixel_stride;
              // Four partial sums: independent chains run in parallel on the
              // FPU; in double, the order does not matter at float precision.
              double partial[4] = {0.0, 0.0, 0.0, 0.0};
              int64_t i = 0;
              for (; i + 4 <= group_in; i += 4) {
                for (int64_t k = 0; k < 4; ++k) {
                  partial[k] += static_cast<double>(weights[i + k]) * pixel[i + k];
                }
              }
              for (; i < group_in; ++i) partial[0] += static_cast<double>(weights[i]) * pixel[i];
              sum += (partial[0] + partial[1]) + (partial[2] + partial[3]);
            }
          }
          At4(y, n, oy, ox, o) =
              static_cast<float>(reference::ApplyActivation(attrs->activation, sum));
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

const OpKernel kConv2DKernel = {OpType::kConv2D, kStrided, 2, 3, BindConv2D, ReferenceConv2D};

}  // namespace serenity::kernels
