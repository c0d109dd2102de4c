// Concat: a hand-written copy of each input into its part of the output,
// parallel over rows. An input the runtime already placed in its part (a
// producer that wrote straight into a channel slice) is skipped; when all are,
// the concat binds to a no-op.
#include <algorithm>
#include <cstring>

#include "kernel_util.h"
#include "reference_util.h"

namespace serenity::kernels {
namespace {

// One input's copy. Input row r goes to output row
// (r / block_rows) * out_block_rows + r % block_rows.
struct ConcatPiece {
  const float* src;
  int64_t src_stride;
  float* dst;
  int64_t dst_stride;
  int64_t rows;
  int64_t block_rows;
  int64_t out_block_rows;
  int64_t row_floats;
};

// With a work pool (WorkPoolPreferred: own kernels in use, 2+ threads), the
// copies run on it as one job (chunks of every piece), since the engine then
// gives pthreadpool operators one thread; else on the pthreadpool, one piece
// after the other.
class ConcatOp : public BoundOp {
 public:
  ConcatOp(std::vector<ConcatPiece> pieces, WorkPool* work_pool)
      : pieces_(std::move(pieces)), work_pool_(work_pool), shares_work_(work_pool != nullptr) {
    if (!shares_work_) return;
    int64_t floats = 0;
    for (const ConcatPiece& piece : pieces_) floats += piece.rows * piece.row_floats;
    if (floats < kOwnElementwiseParallelFloats) work_pool_ = nullptr;
    for (size_t p = 0; p < pieces_.size(); ++p) {
      const int64_t tile = TileRows(pieces_[p]);
      for (int64_t start = 0; start < pieces_[p].rows; start += tile) {
        chunks_.push_back({p, start, std::min(tile, pieces_[p].rows - start)});
      }
    }
  }

  Status Run(pthreadpool_t pool) override {
    if (shares_work_) {
      WorkPoolRun(pool == nullptr ? nullptr : work_pool_, &ConcatOp::CopyChunk, this,
                  chunks_.size());
      return Status::Ok();
    }
    for (ConcatPiece& piece : pieces_) {
      pthreadpool_parallelize_1d_tile_1d(pool, &ConcatOp::CopyTile, &piece,
                                         static_cast<size_t>(piece.rows),
                                         static_cast<size_t>(TileRows(piece)), 0);
    }
    return Status::Ok();
  }
  bool shares_work() const override { return shares_work_; }

 private:
  struct Chunk {
    size_t piece;
    int64_t start, count;
  };

  static int64_t TileRows(const ConcatPiece& piece) {
    return std::max<int64_t>(1, 4096 / std::max<int64_t>(1, piece.row_floats));
  }

  static void CopyTile(void* context, size_t start, size_t count) {
    const ConcatPiece& piece = *static_cast<const ConcatPiece*>(context);
    for (size_t row = start; row < start + count; ++row) {
      const int64_t r = static_cast<int64_t>(row);
      const int64_t out_row = (r / piece.block_rows) * piece.out_block_rows + r % piece.block_rows;
      std::memcpy(piece.dst + out_row * piece.dst_stride, piece.src + r * piece.src_stride,
                  static_cast<size_t>(piece.row_floats) * sizeof(float));
    }
  }

  static void CopyChunk(void* context, size_t index) {
    ConcatOp& self = *static_cast<ConcatOp*>(context);
    const Chunk& chunk = self.chunks_[index];
    CopyTile(&self.pieces_[chunk.piece], static_cast<size_t>(chunk.start),
             static_cast<size_t>(chunk.count));
  }

  std::vector<ConcatPiece> pieces_;
  WorkPool* work_pool_;
  bool shares_work_;
  std::vector<Chunk> chunks_;
};

Status CheckConcat(const KernelContext& c, int axis) {
  const OperandView& y = c.outputs[0];
  const int rank = static_cast<int>(y.shape.size());
  if (axis < 0 || axis >= rank) return Unsupported(c, "axis ", axis, " for rank ", rank);
  int64_t total = 0;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const OperandView& x = c.inputs[i];
    bool same = static_cast<int>(x.shape.size()) == rank;
    for (int d = 0; same && d < rank; ++d) {
      if (d != axis && x.shape[d] != y.shape[d]) same = false;
    }
    if (!same) {
      return Unsupported(c, "input ", i, " ", ShapeString(x.shape), " does not fit output ",
                         ShapeString(y.shape), " on axis ", axis);
    }
    total += x.shape[axis];
  }
  if (total != y.shape[axis]) {
    return Unsupported(c, "inputs add up to ", total, " along axis ", axis, ", output has ",
                       y.shape[axis]);
  }
  return Status::Ok();
}

Result<std::unique_ptr<BoundOp>> BindConcat(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const ConcatAttrs* attrs, AttrsOf<ConcatAttrs>(c));
  SERENITY_RETURN_IF_ERROR(CheckConcat(c, attrs->axis));
  const OperandView& y = c.outputs[0];
  const int rank = static_cast<int>(y.shape.size());
  const int axis = attrs->axis;
  const bool channel_axis = axis == rank - 1;
  int64_t outer = 1;  // leading dimensions, in rows
  for (int d = 0; d < axis; ++d) outer *= y.shape[d];
  std::vector<ConcatPiece> pieces;
  int64_t offset = 0;  // along the axis
  for (const OperandView& x : c.inputs) {
    ConcatPiece piece{};
    piece.src = x.data;
    piece.src_stride = x.pixel_stride;
    piece.dst_stride = y.pixel_stride;
    piece.rows = RowsOf(x);
    if (channel_axis) {
      piece.dst = y.data + offset;
      piece.block_rows = std::max<int64_t>(1, piece.rows);
      piece.out_block_rows = 0;
      piece.row_floats = x.shape[axis];
    } else {
      const int64_t out_block_rows = RowsOf(y) / std::max<int64_t>(1, outer);
      const int64_t rows_per_unit = out_block_rows / std::max<int64_t>(1, y.shape[axis]);
      piece.dst = y.data + offset * rows_per_unit * y.pixel_stride;
      piece.block_rows = std::max<int64_t>(1, x.shape[axis] * rows_per_unit);
      piece.out_block_rows = out_block_rows;
      piece.row_floats = y.shape.back();
    }
    offset += x.shape[axis];
    const bool aliased = piece.src == piece.dst && piece.src_stride == piece.dst_stride &&
                         (channel_axis || outer == 1);
    if (!aliased && piece.rows > 0 && piece.row_floats > 0) pieces.push_back(piece);
  }
  if (pieces.empty()) return std::unique_ptr<BoundOp>(std::make_unique<NoOpBoundOp>());
  return std::unique_ptr<BoundOp>(std::make_unique<ConcatOp>(
      std::move(pieces), WorkPoolPreferred(c) ? WorkPoolForThreads(ThreadsOf(c.pool)) : nullptr));
}

Status ReferenceConcat(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const ConcatAttrs* attrs, AttrsOf<ConcatAttrs>(c));
  const OperandView& y = c.outputs[0];
  const size_t axis = static_cast<size_t>(attrs->axis);
  if (axis >= y.shape.size()) return Unsupported(c, "reference: axis out of range");
  int64_t offset = 0;
  std::vector<int64_t> index, target;
  for (const OperandView& x : c.inputs) {
    if (reference::NumElements(x.shape) > 0) {
      index.assign(x.shape.size(), 0);
      do {
        target = index;
        target[axis] += offset;
        reference::AtIndex(y, target) = reference::AtIndex(x, index);
      } while (reference::NextIndex(x.shape, index));
    }
    offset += x.shape[axis];
  }
  return Status::Ok();
}

}  // namespace

const OpKernel kConcatKernel = {OpType::kConcat, kStrided, 1, -1, BindConcat, ReferenceConcat};

}  // namespace serenity::kernels
