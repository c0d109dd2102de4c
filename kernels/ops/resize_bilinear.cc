// ResizeBilinear: XNNPACK's resize_bilinear2d_nhwc_f32 (pixel strides in and
// out), with TensorFlow's coordinate conventions: align_corners, half-pixel
// centres, or neither (XNNPACK's "TensorFlow legacy" mode).
#include <algorithm>
#include <cmath>

#include "kernel_util.h"
#include "reference_util.h"

namespace serenity::kernels {
namespace {

Status CheckResize(const KernelContext& c, const ResizeBilinearAttrs& attrs) {
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  if (x.shape.size() != 4 || y.shape.size() != 4 || x.shape[0] != y.shape[0] ||
      x.shape[3] != y.shape[3]) {
    return Unsupported(c, "expects [N,H,W,C] -> [N,OH,OW,C], got ", ShapeString(x.shape), " -> ",
                       ShapeString(y.shape));
  }
  if (attrs.align_corners && attrs.half_pixel_centers) {
    return Unsupported(c, "align_corners and half_pixel_centers together");
  }
  return Status::Ok();
}

Result<std::unique_ptr<BoundOp>> BindResizeBilinear(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const ResizeBilinearAttrs* attrs, AttrsOf<ResizeBilinearAttrs>(c));
  SERENITY_RETURN_IF_ERROR(CheckResize(c, *attrs));
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  uint32_t flags = 0;
  if (attrs->align_corners) {
    flags |= XNN_FLAG_ALIGN_CORNERS;
  } else if (!attrs->half_pixel_centers) {
    flags |= XNN_FLAG_TENSORFLOW_LEGACY_MODE;
  }
  auto bound = std::make_unique<XnnBoundOp>(c.name);
  xnn_operator_t op = nullptr;
  xnn_status status =
      xnn_create_resize_bilinear2d_nhwc_f32(x.shape[3], x.pixel_stride, y.pixel_stride, flags, &op);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_create_resize_bilinear2d_nhwc_f32");
  }
  bound->Adopt(op);
  status =
      xnn_setup_resize_bilinear2d_nhwc_f32(op, x.shape[0], x.shape[1], x.shape[2], y.shape[1],
                                           y.shape[2], RunTimeInput(c, 0, *bound), y.data, c.pool);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_setup_resize_bilinear2d_nhwc_f32");
  }
  return std::unique_ptr<BoundOp>(std::move(bound));
}

// Source coordinate of output position `out` along one axis, and the two
// input positions and weight that interpolate it.
struct Tap {
  int64_t low, high;
  double weight;  // of `high`
};

Tap SourceTap(int64_t out, int64_t in_size, int64_t out_size, const ResizeBilinearAttrs& attrs) {
  double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  if (attrs.align_corners && out_size > 1) {
    scale = static_cast<double>(in_size - 1) / static_cast<double>(out_size - 1);
  }
  double source = attrs.half_pixel_centers ? (out + 0.5) * scale - 0.5 : out * scale;
  source = std::min(std::max(source, 0.0), static_cast<double>(in_size - 1));
  Tap tap;
  tap.low = static_cast<int64_t>(std::floor(source));
  tap.high = std::min(tap.low + 1, in_size - 1);
  tap.weight = source - static_cast<double>(tap.low);
  return tap;
}

Status ReferenceResizeBilinear(const KernelContext& c) {
  using reference::At4;
  SERENITY_ASSIGN_OR_RETURN(const ResizeBilinearAttrs* attrs, AttrsOf<ResizeBilinearAttrs>(c));
  SERENITY_RETURN_IF_ERROR(CheckResize(c, *attrs));
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  for (int64_t n = 0; n < y.shape[0]; ++n) {
    for (int64_t oy = 0; oy < y.shape[1]; ++oy) {
      const Tap ty = SourceTap(oy, x.shape[1], y.shape[1], *attrs);
      for (int64_t ox = 0; ox < y.shape[2]; ++ox) {
        const Tap tx = SourceTap(ox, x.shape[2], y.shape[2], *attrs);
        for (int64_t ch = 0; ch < y.shape[3]; ++ch) {
          const double top = (1.0 - tx.weight) * At4(x, n, ty.low, tx.low, ch) +
                             tx.weight * At4(x, n, ty.low, tx.high, ch);
          const double bottom = (1.0 - tx.weight) * At4(x, n, ty.high, tx.low, ch) +
                                tx.weight * At4(x, n, ty.high, tx.high, ch);
          At4(y, n, oy, ox, ch) = static_cast<float>((1.0 - ty.weight) * top + ty.weight * bottom);
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

const OpKernel kResizeBilinearKernel = {OpType::kResizeBilinear, kStrided, 1, 1, BindResizeBilinear,
                                        ReferenceResizeBilinear};

}  // namespace serenity::kernels
