// Slice: a hand-written strided copy, one memcpy per output row, parallel over
// rows. Reads and writes channel slices (row strides) too.
#include <cstring>

#include "kernel_util.h"
#include "reference_util.h"

namespace serenity::kernels {
namespace {

class SliceOp : public BoundOp {
 public:
  static constexpr int kMaxRows = kMaxRank;  // row dimensions: all but the last

  Status Run(pthreadpool_t pool) override {
    if (rows_ == 0) return Status::Ok();
    const int64_t tile = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, row_floats_));
    pthreadpool_parallelize_1d_tile_1d(pool, &SliceOp::CopyTile, this, static_cast<size_t>(rows_),
                                       static_cast<size_t>(tile), 0);
    return Status::Ok();
  }

  // Output row dimensions, and for each the input row step and first row.
  int row_rank_ = 0;
  int64_t out_dims_[kMaxRows] = {};
  int64_t in_row_step_[kMaxRows] = {};  // input rows per unit of each dimension
  int64_t first_in_row_ = 0;
  int64_t rows_ = 0;
  int64_t row_floats_ = 0;
  const float* src_ = nullptr;  // input data + first channel
  int64_t src_stride_ = 0;
  float* dst_ = nullptr;
  int64_t dst_stride_ = 0;

 private:
  static void CopyTile(void* context, size_t start, size_t count) {
    const SliceOp& self = *static_cast<const SliceOp*>(context);
    for (size_t row = start; row < start + count; ++row) {
      int64_t rest = static_cast<int64_t>(row);
      int64_t in_row = self.first_in_row_;
      for (int d = self.row_rank_ - 1; d >= 0; --d) {
        in_row += (rest % self.out_dims_[d]) * self.in_row_step_[d];
        rest /= self.out_dims_[d];
      }
      std::memcpy(self.dst_ + static_cast<int64_t>(row) * self.dst_stride_,
                  self.src_ + in_row * self.src_stride_,
                  static_cast<size_t>(self.row_floats_) * sizeof(float));
    }
  }
};

Status CheckSlice(const KernelContext& c, const SliceAttrs& attrs) {
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  const size_t rank = x.shape.size();
  if (attrs.begin.size() != rank || attrs.size.size() != rank || y.shape != attrs.size) {
    return Unsupported(c, "begin/size do not match input ", ShapeString(x.shape), " and output ",
                       ShapeString(y.shape));
  }
  for (size_t d = 0; d < rank; ++d) {
    if (attrs.begin[d] < 0 || attrs.size[d] < 0 || attrs.begin[d] + attrs.size[d] > x.shape[d]) {
      return Unsupported(c, "slice box is outside the input ", ShapeString(x.shape),
                         " in dimension ", d);
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<BoundOp>> BindSlice(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const SliceAttrs* attrs, AttrsOf<SliceAttrs>(c));
  SERENITY_RETURN_IF_ERROR(CheckSlice(c, *attrs));
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  auto op = std::make_unique<SliceOp>();
  const int rank = static_cast<int>(x.shape.size());
  if (rank == 0) {
    op->rows_ = 1;
    op->row_floats_ = 1;
    op->src_ = x.data;
    op->dst_ = y.data;
    return std::unique_ptr<BoundOp>(std::move(op));
  }
  op->row_rank_ = rank - 1;
  int64_t step = 1;
  for (int d = rank - 2; d >= 0; --d) {
    op->out_dims_[d] = y.shape[d];
    op->in_row_step_[d] = step;
    op->first_in_row_ += attrs->begin[d] * step;
    step *= x.shape[d];
  }
  op->rows_ = RowsOf(y);
  op->row_floats_ = y.shape.back();
  op->src_ = x.data + attrs->begin.back();
  op->src_stride_ = x.pixel_stride;
  op->dst_ = y.data;
  op->dst_stride_ = y.pixel_stride;
  if (op->rows_ == 0 || op->row_floats_ == 0) op->rows_ = 0;
  return std::unique_ptr<BoundOp>(std::move(op));
}

Status ReferenceSlice(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const SliceAttrs* attrs, AttrsOf<SliceAttrs>(c));
  const OperandView& x = c.inputs[0];
  const OperandView& y = c.outputs[0];
  if (attrs->begin.size() != y.shape.size() || x.shape.size() != y.shape.size()) {
    return Unsupported(c, "reference: begin does not match the rank");
  }
  if (reference::NumElements(y.shape) == 0) return Status::Ok();
  std::vector<int64_t> index(y.shape.size(), 0), source(y.shape.size(), 0);
  do {
    for (size_t d = 0; d < index.size(); ++d) source[d] = attrs->begin[d] + index[d];
    reference::AtIndex(y, index) = reference::AtIndex(x, source);
  } while (reference::NextIndex(y.shape, index));
  return Status::Ok();
}

}  // namespace

const OpKernel kSliceKernel = {OpType::kSlice, kStrided, 1, 1, BindSlice, ReferenceSlice};

}  // namespace serenity::kernels
