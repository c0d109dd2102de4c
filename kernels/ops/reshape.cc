// Reshape: a parallel copy of the dense bytes, or nothing when the runtime
// placed the output over the input.
#include "kernel_util.h"
#include "reference_util.h"

namespace serenity::kernels {
namespace {

Result<std::unique_ptr<BoundOp>> BindReshape(const KernelContext& c) {
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  if (ElementsOf(x) != ElementsOf(y)) {
    return Unsupported(c, "cannot reshape ", ShapeString(x.shape), " to ", ShapeString(y.shape));
  }
  if (x.data == y.data) return std::unique_ptr<BoundOp>(std::make_unique<NoOpBoundOp>());
  const int64_t count = ElementsOf(x);
  return std::unique_ptr<BoundOp>(
      std::make_unique<CopyRowsOp>(x.data, count, y.data, count, 1, count));
}

Status ReferenceReshape(const KernelContext& c) {
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  const int64_t count = reference::NumElements(x.shape);
  if (count != reference::NumElements(y.shape)) {
    return Unsupported(c, "reference: element counts differ");
  }
  // Row-major element order is what a reshape keeps; walk both views by it.
  std::vector<int64_t> in_index(x.shape.size(), 0), out_index(y.shape.size(), 0);
  for (int64_t i = 0; i < count; ++i) {
    reference::AtIndex(y, out_index) = reference::AtIndex(x, in_index);
    reference::NextIndex(x.shape, in_index);
    reference::NextIndex(y.shape, out_index);
  }
  return Status::Ok();
}

}  // namespace

const OpKernel kReshapeKernel = {OpType::kReshape, kDenseInPlace,   1, 1,
                                 BindReshape,      ReferenceReshape};

}  // namespace serenity::kernels
