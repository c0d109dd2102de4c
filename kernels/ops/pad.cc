// Pad: XNNPACK's constant_pad_nd_x32 (dense operands, up to 6 dimensions).
#include <cstring>

#include "kernel_util.h"
#include "reference_util.h"

namespace serenity::kernels {
namespace {

Result<std::unique_ptr<BoundOp>> BindPad(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const PadAttrs* attrs, AttrsOf<PadAttrs>(c));
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  const size_t rank = x.shape.size();
  if (attrs->paddings.size() != 2 * rank || y.shape.size() != rank) {
    return Unsupported(c, attrs->paddings.size(), " paddings for rank ", rank);
  }
  if (rank > XNN_MAX_TENSOR_DIMS) return Unsupported(c, "rank above ", XNN_MAX_TENSOR_DIMS);
  size_t input_shape[XNN_MAX_TENSOR_DIMS] = {1};
  size_t before[XNN_MAX_TENSOR_DIMS] = {0}, after[XNN_MAX_TENSOR_DIMS] = {0};
  for (size_t d = 0; d < rank; ++d) {
    const int64_t pre = attrs->paddings[2 * d], post = attrs->paddings[2 * d + 1];
    if (pre < 0 || post < 0 || x.shape[d] + pre + post != y.shape[d]) {
      return Unsupported(c, "paddings do not take ", ShapeString(x.shape), " to ",
                         ShapeString(y.shape), " (negative paddings are not supported)");
    }
    input_shape[d] = x.shape[d];
    before[d] = pre;
    after[d] = post;
  }
  uint32_t value_bits;
  static_assert(sizeof(value_bits) == sizeof(attrs->value), "x32 padding value");
  std::memcpy(&value_bits, &attrs->value, sizeof(value_bits));
  auto bound = std::make_unique<XnnBoundOp>(c.name);
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_create_constant_pad_nd_x32(&value_bits, 0, &op);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_create_constant_pad_nd_x32");
  }
  bound->Adopt(op);
  status = xnn_setup_constant_pad_nd_x32(op, rank == 0 ? 1 : rank, input_shape, before, after,
                                         RunTimeInput(c, 0, *bound), y.data, c.pool);
  if (status != xnn_status_success) {
    return bound->Check(status, "xnn_setup_constant_pad_nd_x32");
  }
  return std::unique_ptr<BoundOp>(std::move(bound));
}

Status ReferencePad(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const PadAttrs* attrs, AttrsOf<PadAttrs>(c));
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  const size_t rank = y.shape.size();
  if (attrs->paddings.size() != 2 * rank || x.shape.size() != rank) {
    return Unsupported(c, "reference: paddings do not match the rank");
  }
  if (reference::NumElements(y.shape) == 0) return Status::Ok();
  std::vector<int64_t> index(rank, 0), source(rank, 0);
  do {
    bool inside = true;
    for (size_t d = 0; d < rank; ++d) {
      source[d] = index[d] - attrs->paddings[2 * d];
      if (source[d] < 0 || source[d] >= x.shape[d]) inside = false;
    }
    reference::AtIndex(y, index) = inside ? reference::AtIndex(x, source) : attrs->value;
  } while (reference::NextIndex(y.shape, index));
  return Status::Ok();
}

}  // namespace

const OpKernel kPadKernel = {OpType::kPad, kDenseOnly, 1, 1, BindPad, ReferencePad};

}  // namespace serenity::kernels
