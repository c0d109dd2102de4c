// MaxPool2D, AveragePool2D and GlobalAveragePool on XNNPACK's NHWC pooling
// operators (all take input and output pixel strides).
//
// XNNPACK rejects 1x1 pooling windows, and its average pooling always leaves
// padding out of the divisor. Both gaps are filled by a depthwise convolution
// with constant weights (1 for a 1x1 window, 1/(kh*kw) for average pooling
// that counts padding), which takes the same strides.
//
// On x86-64 with AVX2 + FMA, average pooling and those constant depthwise
// convolutions run on Serenity's own depthwise kernel (depthwise_conv.h)
// instead: weights 1, and each output pixel scaled by 1/(rows inside the
// window) * 1/(columns inside) (the divisor of a window clipped to the input
// is the product of the two), or by 1/(kh*kw) when padding counts. XNNPACK's
// average pooling ran NASNet's and AmoebaNet's 3x3 pools at about a third of
// the kernel's speed.
#include <cmath>
#include <limits>

#include "dense_conv.h"
#include "kernel_util.h"
#include "reference_util.h"

namespace serenity::kernels {
namespace {

Status CheckPool(const KernelContext& c, const Pool2DAttrs& attrs) {
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  if (x.shape.size() != 4 || y.shape.size() != 4) {
    return Unsupported(c, "expects rank-4 input and output, got ", ShapeString(x.shape), ", ",
                       ShapeString(y.shape));
  }
  if (attrs.filter_h < 1 || attrs.filter_w < 1 || attrs.stride_h < 1 || attrs.stride_w < 1) {
    return Unsupported(c, "filter and stride must be positive");
  }
  if (attrs.pad_top < 0 || attrs.pad_bottom < 0 || attrs.pad_left < 0 || attrs.pad_right < 0 ||
      attrs.pad_top >= attrs.filter_h || attrs.pad_bottom >= attrs.filter_h ||
      attrs.pad_left >= attrs.filter_w || attrs.pad_right >= attrs.filter_w) {
    return Unsupported(c, "paddings must be non-negative and smaller than the filter");
  }
  const int64_t padded_h = x.shape[1] + attrs.pad_top + attrs.pad_bottom;
  const int64_t padded_w = x.shape[2] + attrs.pad_left + attrs.pad_right;
  const int64_t out_h =
      padded_h < attrs.filter_h ? 0 : (padded_h - attrs.filter_h) / attrs.stride_h + 1;
  const int64_t out_w =
      padded_w < attrs.filter_w ? 0 : (padded_w - attrs.filter_w) / attrs.stride_w + 1;
  if (y.shape[0] != x.shape[0] || y.shape[1] != out_h || y.shape[2] != out_w ||
      y.shape[3] != x.shape[3]) {
    return Unsupported(c, "output ", ShapeString(y.shape), " does not match the [", x.shape[0], ",",
                       out_h, ",", out_w, ",", x.shape[3], "] the pooling computes");
  }
  return Status::Ok();
}

// 1 / (taps of a `filter`-wide window, `stride` apart, starting `pad` before
// the input, that land inside its `size` elements), for each of `out`
// outputs; 1/filter each when `count_padding`.
std::vector<float> PoolScales(int64_t size, int64_t out, int filter, int stride, int pad,
                              bool count_padding) {
  std::vector<float> scales(out);
  for (int64_t o = 0; o < out; ++o) {
    const int64_t first = o * stride - pad;
    const int64_t lo = first < 0 ? 0 : first;
    const int64_t hi = first + filter < size ? first + filter : size;
    const int64_t count = count_padding ? filter : hi - lo;
    scales[o] = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
  }
  return scales;
}

// Pooling as Serenity's own depthwise convolution, every weight 1:
// `average` scales each output by its window's divisor (PoolScales).
std::unique_ptr<BoundOp> BindOwnPool(const KernelContext& c, const Pool2DAttrs& attrs,
                                     bool average) {
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  DenseConvShape shape;
  shape.batch = x.shape[0];
  shape.in_h = x.shape[1];
  shape.in_w = x.shape[2];
  shape.in_channels = shape.out_channels = x.shape[3];
  shape.out_h = y.shape[1];
  shape.out_w = y.shape[2];
  shape.kernel_h = attrs.filter_h;
  shape.kernel_w = attrs.filter_w;
  shape.stride_h = attrs.stride_h;
  shape.stride_w = attrs.stride_w;
  shape.pad_top = attrs.pad_top;
  shape.pad_left = attrs.pad_left;
  shape.in_pixel_stride = x.pixel_stride;
  shape.out_pixel_stride = y.pixel_stride;
  shape.out_min = -INFINITY;
  shape.out_max = INFINITY;
  const std::vector<float> ones(shape.in_channels * shape.kernel_h * shape.kernel_w, 1.0f);
  if (!average) {
    return std::make_unique<OwnConvBoundOp>(true, shape, ones.data(), nullptr, x.data, y.data,
                                            c.pool);
  }
  const std::vector<float> scale_y =
      PoolScales(shape.in_h, shape.out_h, attrs.filter_h, attrs.stride_h, attrs.pad_top,
                 attrs.count_include_pad);
  const std::vector<float> scale_x =
      PoolScales(shape.in_w, shape.out_w, attrs.filter_w, attrs.stride_w, attrs.pad_left,
                 attrs.count_include_pad);
  return std::make_unique<OwnConvBoundOp>(true, shape, ones.data(), nullptr, x.data, y.data,
                                          c.pool, scale_y.data(), scale_x.data());
}

bool OwnPoolAvailable(const KernelContext& c, const Pool2DAttrs& attrs) {
  return c.kernels != KernelChoice::kXnnpack && DenseConvAvailable() &&
         attrs.filter_h * attrs.filter_w <= kDenseConvMaxPositions;
}

// Depthwise convolution with every weight equal to `weight`, no bias.
Result<std::unique_ptr<BoundOp>> BindConstantDepthwise(const KernelContext& c,
                                                       const Pool2DAttrs& attrs, float weight) {
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  const int64_t channels = x.shape[3];
  std::vector<float> weights(channels * attrs.filter_h * attrs.filter_w, weight);
  auto bound = std::make_unique<XnnBoundOp>(c.name);
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_create_convolution2d_nhwc_f32(
      attrs.pad_top, attrs.pad_right, attrs.pad_bottom, attrs.pad_left, attrs.filter_h,
      attrs.filter_w, attrs.stride_h, attrs.stride_w, 1, 1, channels, 1, 1, x.pixel_stride,
      y.pixel_stride, weights.data(), nullptr, -INFINITY, INFINITY, 0, &op);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_create_convolution2d_nhwc_f32 (pooling)");
  }
  bound->Adopt(op);
  bound->AddPackedWeightBytes(weights.size() * sizeof(float));
  status = xnn_setup_convolution2d_nhwc_f32(op, x.shape[0], x.shape[1], x.shape[2],
                                            RunTimeInput(c, 0, *bound), y.data, c.pool);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_setup_convolution2d_nhwc_f32 (pooling)");
  }
  return std::unique_ptr<BoundOp>(std::move(bound));
}

Result<std::unique_ptr<BoundOp>> BindMaxPool2D(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const Pool2DAttrs* attrs, AttrsOf<Pool2DAttrs>(c));
  SERENITY_RETURN_IF_ERROR(CheckPool(c, *attrs));
  if (attrs->filter_h * attrs->filter_w == 1) {
    if (OwnPoolAvailable(c, *attrs)) return BindOwnPool(c, *attrs, false);
    return BindConstantDepthwise(c, *attrs, 1.0f);
  }
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  auto bound = std::make_unique<XnnBoundOp>(c.name);
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_create_max_pooling2d_nhwc_f32(
      attrs->pad_top, attrs->pad_right, attrs->pad_bottom, attrs->pad_left, attrs->filter_h,
      attrs->filter_w, attrs->stride_h, attrs->stride_w, 1, 1, x.shape[3], x.pixel_stride,
      y.pixel_stride, -INFINITY, INFINITY, 0, &op);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_create_max_pooling2d_nhwc_f32");
  }
  bound->Adopt(op);
  status = xnn_setup_max_pooling2d_nhwc_f32(op, x.shape[0], x.shape[1], x.shape[2],
                                            RunTimeInput(c, 0, *bound), y.data, c.pool);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_setup_max_pooling2d_nhwc_f32");
  }
  return std::unique_ptr<BoundOp>(std::move(bound));
}

Result<std::unique_ptr<BoundOp>> BindAveragePool2D(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const Pool2DAttrs* attrs, AttrsOf<Pool2DAttrs>(c));
  SERENITY_RETURN_IF_ERROR(CheckPool(c, *attrs));
  const bool padded =
      attrs->pad_top > 0 || attrs->pad_bottom > 0 || attrs->pad_left > 0 || attrs->pad_right > 0;
  const int window = attrs->filter_h * attrs->filter_w;
  if (OwnPoolAvailable(c, *attrs)) return BindOwnPool(c, *attrs, true);
  if (window == 1 || (padded && attrs->count_include_pad)) {
    return BindConstantDepthwise(c, *attrs, 1.0f / static_cast<float>(window));
  }
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  auto bound = std::make_unique<XnnBoundOp>(c.name);
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_create_average_pooling2d_nhwc_f32(
      attrs->pad_top, attrs->pad_right, attrs->pad_bottom, attrs->pad_left, attrs->filter_h,
      attrs->filter_w, attrs->stride_h, attrs->stride_w, x.shape[3], x.pixel_stride, y.pixel_stride,
      -INFINITY, INFINITY, 0, &op);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_create_average_pooling2d_nhwc_f32");
  }
  bound->Adopt(op);
  status = xnn_setup_average_pooling2d_nhwc_f32(op, x.shape[0], x.shape[1], x.shape[2],
                                                RunTimeInput(c, 0, *bound), y.data, c.pool);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_setup_average_pooling2d_nhwc_f32");
  }
  return std::unique_ptr<BoundOp>(std::move(bound));
}

Result<std::unique_ptr<BoundOp>> BindGlobalAveragePool(const KernelContext& c) {
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  if (x.shape.size() != 4 || y.shape.size() != 4 || y.shape[0] != x.shape[0] || y.shape[1] != 1 ||
      y.shape[2] != 1 || y.shape[3] != x.shape[3]) {
    return Unsupported(c, "expects [N,H,W,C] -> [N,1,1,C], got ", ShapeString(x.shape), " -> ",
                       ShapeString(y.shape));
  }
  auto bound = std::make_unique<XnnBoundOp>(c.name);
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_create_global_average_pooling_nwc_f32(
      x.shape[3], x.pixel_stride, y.pixel_stride, -INFINITY, INFINITY, 0, &op);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_create_global_average_pooling_nwc_f32");
  }
  bound->Adopt(op);
  status = xnn_setup_global_average_pooling_nwc_f32(op, x.shape[0], x.shape[1] * x.shape[2],
                                                    RunTimeInput(c, 0, *bound), y.data, c.pool);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_setup_global_average_pooling_nwc_f32");
  }
  return std::unique_ptr<BoundOp>(std::move(bound));
}

// Reference: windows clipped to the input; `average` divides by the clipped
// count, or by kh*kw when padding counts.
Status ReferencePool(const KernelContext& c, bool average) {
  using reference::At4;
  SERENITY_ASSIGN_OR_RETURN(const Pool2DAttrs* attrs, AttrsOf<Pool2DAttrs>(c));
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  if (x.shape.size() != 4 || y.shape.size() != 4) {
    return Unsupported(c, "reference expects rank-4 operands");
  }
  for (int64_t n = 0; n < y.shape[0]; ++n) {
    for (int64_t oy = 0; oy < y.shape[1]; ++oy) {
      for (int64_t ox = 0; ox < y.shape[2]; ++ox) {
        for (int64_t ch = 0; ch < y.shape[3]; ++ch) {
          double sum = 0.0;
          double best = -std::numeric_limits<double>::infinity();
          int64_t count = 0;
          for (int64_t ky = 0; ky < attrs->filter_h; ++ky) {
            const int64_t iy = oy * attrs->stride_h + ky - attrs->pad_top;
            if (iy < 0 || iy >= x.shape[1]) continue;
            for (int64_t kx = 0; kx < attrs->filter_w; ++kx) {
              const int64_t ix = ox * attrs->stride_w + kx - attrs->pad_left;
              if (ix < 0 || ix >= x.shape[2]) continue;
              const double value = At4(x, n, iy, ix, ch);
              sum += value;
              if (value > best) best = value;
              ++count;
            }
          }
          double result = best;
          if (average) {
            const double divisor = attrs->count_include_pad
                                       ? static_cast<double>(attrs->filter_h * attrs->filter_w)
                                       : static_cast<double>(count);
            result = count == 0 ? 0.0 : sum / divisor;
          }
          At4(y, n, oy, ox, ch) = static_cast<float>(result);
        }
      }
    }
  }
  return Status::Ok();
}

Status ReferenceMaxPool2D(const KernelContext& c) { return ReferencePool(c, false); }
Status ReferenceAveragePool2D(const KernelContext& c) { return ReferencePool(c, true); }

Status ReferenceGlobalAveragePool(const KernelContext& c) {
  using reference::At4;
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  if (x.shape.size() != 4 || y.shape.size() != 4) {
    return Unsupported(c, "reference expects rank-4 operands");
  }
  for (int64_t n = 0; n < x.shape[0]; ++n) {
    for (int64_t ch = 0; ch < x.shape[3]; ++ch) {
      double sum = 0.0;
      for (int64_t h = 0; h < x.shape[1]; ++h) {
        for (int64_t w = 0; w < x.shape[2]; ++w) sum += At4(x, n, h, w, ch);
      }
      At4(y, n, 0, 0, ch) = static_cast<float>(sum / static_cast<double>(x.shape[1] * x.shape[2]));
    }
  }
  return Status::Ok();
}

}  // namespace

const OpKernel kMaxPool2DKernel = {OpType::kMaxPool2D, kStrided,          1, 1,
                                   BindMaxPool2D,      ReferenceMaxPool2D};
const OpKernel kAveragePool2DKernel = {OpType::kAveragePool2D, kStrided, 1, 1, BindAveragePool2D,
                                       ReferenceAveragePool2D};
const OpKernel kGlobalAveragePoolKernel = {
    OpType::kGlobalAveragePool, kStrided, 1, 1, BindGlobalAveragePool, ReferenceGlobalAveragePool};

}  // namespace serenity::kernels
