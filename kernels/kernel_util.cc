#include "kernel_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "depthwise_conv.h"
#include "elementwise.h"

namespace serenity::kernels {

OwnConvBoundOp::OwnConvBoundOp(bool depthwise, const DenseConvShape& shape, const float* weights,
                               const float* bias, const float* input, float* output, pthreadpool_t pool,
                               const float* scale_y, const float* scale_x)
    : depthwise_(depthwise),
      work_pool_(WorkPoolForThreads(ThreadsOf(pool))),
      packed_floats_(depthwise ? DepthwiseConvPackedFloats(shape) : DenseConvPackedFloats(shape)),
      packed_(new float[packed_floats_]),
      zeros_(new float[std::max(shape.in_channels, DenseConvZeroFloats(shape))]()) {
  if (depthwise) {
    DepthwiseConvPackWeights(shape, weights, bias, packed_.get());
  } else {
    DenseConvPackWeights(shape, weights, bias, packed_.get());
  }
  args_.shape = shape;
  args_.packed = packed_.get();
  args_.zeros = zeros_.get();
  args_.input = input;
  args_.output = output;
  if (depthwise && scale_y != nullptr && scale_x != nullptr) {
    scale_y_.assign(scale_y, scale_y + shape.out_h);
    scale_x_.assign(scale_x, scale_x + shape.out_w);
    args_.scale_y = scale_y_.data();
    args_.scale_x = scale_x_.data();
  }
}

Status OwnConvBoundOp::Run(pthreadpool_t pool) {
  WorkPool* work_pool = pool == nullptr ? nullptr : work_pool_;
  if (depthwise_) {
    DepthwiseConvRun(args_, work_pool);
  } else {
    DenseConvRun(args_, work_pool);
  }
  return Status::Ok();
}

bool WindowedConvSafe(const DenseConvShape& shape, const float* input, const float* output) {
  const int64_t in_row = shape.in_w * shape.in_channels;
  const int64_t out_row = shape.out_w * shape.out_channels;
  if (shape.batch != 1 || shape.in_pixel_stride != shape.in_channels ||
      shape.out_pixel_stride != shape.out_channels || output > input) {
    return false;
  }
  if ((shape.out_h - 1) * shape.stride_h - shape.pad_top >= shape.in_h) return false;
  const int64_t distance = input - output;  // floats
  for (int64_t e = 1; e < shape.out_h; ++e) {
    const int64_t first_read = std::max<int64_t>(0, e * shape.stride_h - shape.pad_top);
    if (e * out_row > distance + first_read * in_row) return false;
  }
  return true;
}

std::vector<WindowedBand> WindowedConvBands(const DenseConvShape& shape, int64_t distance_floats,
                                            int64_t scratch_rows) {
  const int64_t in_row = shape.in_w * shape.in_channels;
  const int64_t out_row = std::max<int64_t>(1, shape.out_w * shape.out_channels);
  std::vector<WindowedBand> bands;
  for (int64_t begin = 0; begin < shape.out_h;) {
    const int64_t first_read = std::max<int64_t>(0, begin * shape.stride_h - shape.pad_top);
    // Rows [begin, end) end at or below the band's first input row.
    const int64_t fits = (distance_floats + first_read * in_row) / out_row;
    WindowedBand band;
    band.begin = begin;
    band.direct = fits > begin;
    band.end = band.direct ? std::min(shape.out_h, fits)
                           : std::min(shape.out_h, begin + std::max<int64_t>(1, scratch_rows));
    bands.push_back(band);
    begin = band.end;
  }
  return bands;
}

WindowedConvBoundOp::WindowedConvBoundOp(bool depthwise, const DenseConvShape& shape,
                                         const float* weights, const float* bias,
                                         const float* input, float* output, pthreadpool_t pool,
                                         SharedScratch* shared)
    : OwnConvBoundOp(depthwise, shape, weights, bias, input, output, pool),
      shared_scratch_(shared) {
  const int64_t row_floats = shape.out_w * shape.out_channels;
  band_rows_ = std::max<int64_t>(
      1, std::min<int64_t>(shape.out_h, kWindowedBandBytes /
                                            std::max<int64_t>(1, row_floats * sizeof(float))));
  bands_ = WindowedConvBands(shape, input - output, band_rows_);
  const auto scratch_floats = static_cast<size_t>(band_rows_ * row_floats);
  if (shared != nullptr) {
    shared->Require(scratch_floats);
  } else {
    scratch_.reset(new float[scratch_floats]);
  }
}

Status WindowedConvBoundOp::Run(pthreadpool_t pool) {
  WorkPool* work_pool = pool == nullptr ? nullptr : work_pool_;
  float* scratch = shared_scratch_ != nullptr ? shared_scratch_->data() : scratch_.get();
  const DenseConvShape& shape = args_.shape;
  const int64_t in_row = shape.in_w * shape.in_channels;
  const int64_t out_row = shape.out_w * shape.out_channels;
  DenseConvArgs band = args_;
  band.shape.out_pixel_stride = shape.out_channels;
  for (const WindowedBand& rows_of : bands_) {
    const int64_t r0 = rows_of.begin;
    const int64_t rows = rows_of.end - rows_of.begin;
    // The band's windows start at input row `top` (above the input: padding).
    const int64_t top = r0 * shape.stride_h - shape.pad_top;
    if (top >= 0) {
      band.input = args_.input + top * in_row;
      band.shape.in_h = shape.in_h - top;
      band.shape.pad_top = 0;
    } else {
      band.input = args_.input;
      band.shape.in_h = shape.in_h;
      band.shape.pad_top = -top;
    }
    band.shape.out_h = rows;
    band.output = rows_of.direct ? args_.output + r0 * out_row : scratch;
    if (depthwise_) {
      DepthwiseConvRun(band, work_pool);
    } else {
      DenseConvRun(band, work_pool);
    }
    if (!rows_of.direct) {
      std::memcpy(args_.output + r0 * out_row, scratch,
                  static_cast<size_t>(rows * out_row) * sizeof(float));
    }
  }
  return Status::Ok();
}

WinogradConvBoundOp::WinogradConvBoundOp(const DenseConvShape& shape, const float* weights,
                                         const float* bias, const float* input, float* output,
                                         pthreadpool_t pool, SharedScratch* shared)
    : shared_scratch_(shared) {
  const size_t threads = ThreadsOf(pool);
  work_pool_ = WorkPoolForThreads(threads);
  plan_ = WinogradConvPlanFor(shape, static_cast<int64_t>(threads));
  packed_floats_ = WinogradConvPackedFloats(shape);
  packed_.reset(new float[packed_floats_]);
  WinogradConvPackWeights(shape, weights, bias, packed_.get());
  const auto scratch_floats = static_cast<size_t>(plan_.slots * plan_.slot_floats);
  if (shared != nullptr) {
    shared->Require(scratch_floats);
  } else {
    scratch_.reset(new float[scratch_floats]);
  }
  slot_busy_.reset(new int[static_cast<size_t>(plan_.slots)]());
  args_.shape = shape;
  args_.packed = packed_.get();
  args_.input = input;
  args_.output = output;
}

Status WinogradConvBoundOp::Run(pthreadpool_t pool) {
  float* scratch = shared_scratch_ != nullptr ? shared_scratch_->data() : scratch_.get();
  WinogradConvRun(args_, plan_, scratch, slot_busy_.get(),
                  pool == nullptr ? nullptr : work_pool_);
  return Status::Ok();
}

size_t ThreadsOf(pthreadpool_t pool) {
  return pool == nullptr ? 1 : pthreadpool_get_threads_count(pool);
}

int64_t RowsOf(const OperandView& view) {
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < view.shape.size(); ++i) rows *= view.shape[i];
  return rows;
}

int64_t ChannelsOf(const OperandView& view) { return view.shape.empty() ? 1 : view.shape.back(); }

int64_t ElementsOf(const OperandView& view) { return RowsOf(view) * ChannelsOf(view); }

void ActivationRange(Activation activation, float* output_min, float* output_max) {
  *output_min = -INFINITY;
  *output_max = INFINITY;
  if (activation == Activation::kRelu || activation == Activation::kRelu6) *output_min = 0.0f;
  if (activation == Activation::kRelu6) *output_max = 6.0f;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << ']';
  return out.str();
}

XnnBoundOp::~XnnBoundOp() {
  for (xnn_operator_t op : operators_) xnn_delete_operator(op);
}

Status XnnBoundOp::Run(pthreadpool_t pool) {
  for (xnn_operator_t op : operators_) {
    xnn_status status = xnn_run_operator(op, pool);
    if (status != xnn_status_success) return Check(status, "xnn_run_operator");
  }
  return Status::Ok();
}

float* XnnBoundOp::AllocateBuffer(size_t count) {
  const size_t padded = count + XNN_EXTRA_BYTES / sizeof(float);
  buffers_.push_back(std::make_unique<float[]>(padded));
  std::memset(buffers_.back().get(), 0, padded * sizeof(float));
  return buffers_.back().get();
}

const float* XnnBoundOp::CopyConstant(const float* data, size_t count) {
  float* copy = AllocateBuffer(count);
  std::memcpy(copy, data, count * sizeof(float));
  return copy;
}

Status XnnBoundOp::Check(xnn_status status, const char* what) const {
  return XnnToStatus(status, StrCat(name_, ": ", what));
}

const float* RunTimeInput(const KernelContext& context, size_t i, XnnBoundOp& bound) {
  const OperandView& view = context.inputs[i];
  if (!context.IsConstantInput(i)) return view.data;
  return bound.CopyConstant(view.data, static_cast<size_t>(ElementsOf(view)));
}

#if !defined(__x86_64__)
// The portable body of elementwise_avx2.cc's, for the builds without it. Off
// x86-64 WorkPoolPreferred is false (DenseConvAvailable()), so no
// OwnElementwiseOp is bound there today; this keeps the op correct if one is.
void ElementwiseClampSum(const float* const* inputs, size_t count, float* out, int64_t n,
                         float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) {
    float sum = inputs[0][i];
    for (size_t k = 1; k < count; ++k) sum += inputs[k][i];
    out[i] = std::min(std::max(sum, lo), hi);
  }
}
#endif

namespace {

// Elements per task (16 KiB, as the row copies): DARTS' 28x28x48 tensors
// (37632 floats) make 10 tasks, which the threads share evenly; claiming
// one costs little next to it.
constexpr int64_t kElementwiseTaskFloats = 4096;

// Rows [row, ...) of every operand start at data + row * stride (+ offset
// when flat); out[i] = clamp(sum of the inputs' i-th floats) for i < n.
inline void ClampSum(const OwnElementwiseOp::Operand* inputs, size_t count, int64_t offset_floats,
                     int64_t row, float* out, int64_t n, float lo, float hi) {
  const float* starts[kOwnElementwiseMaxInputs];
  for (size_t k = 0; k < count; ++k) {
    starts[k] = inputs[k].data + row * inputs[k].stride + offset_floats;
  }
  ElementwiseClampSum(starts, count, out, n, lo, hi);
}

}  // namespace

OwnElementwiseOp::OwnElementwiseOp(std::vector<Operand> inputs, float* output,
                                   int64_t output_stride, int64_t rows, int64_t channels,
                                   float output_min, float output_max, pthreadpool_t pool)
    : work_pool_(WorkPoolForThreads(ThreadsOf(pool))),
      inputs_(std::move(inputs)),
      output_(output),
      output_stride_(output_stride),
      rows_(rows),
      channels_(channels),
      output_min_(output_min),
      output_max_(output_max) {
  flat_ = output_stride_ == channels_;
  for (const Operand& input : inputs_) flat_ = flat_ && input.stride == channels_;
  if (flat_) {
    rows_per_task_ = kElementwiseTaskFloats;
    tasks_ = (rows_ * channels_ + kElementwiseTaskFloats - 1) / kElementwiseTaskFloats;
  } else {
    rows_per_task_ = std::max<int64_t>(1, kElementwiseTaskFloats / std::max<int64_t>(1, channels_));
    tasks_ = (rows_ + rows_per_task_ - 1) / rows_per_task_;
  }
  if (rows_ * channels_ < kOwnElementwiseParallelFloats) work_pool_ = nullptr;
}

void OwnElementwiseOp::RunTask(void* context, size_t index) {
  const OwnElementwiseOp& self = *static_cast<const OwnElementwiseOp*>(context);
  const int64_t begin = static_cast<int64_t>(index) * self.rows_per_task_;
  if (self.flat_) {
    const int64_t n = std::min(self.rows_per_task_, self.rows_ * self.channels_ - begin);
    ClampSum(self.inputs_.data(), self.inputs_.size(), begin, 0, self.output_ + begin, n,
             self.output_min_, self.output_max_);
    return;
  }
  const int64_t end = std::min(self.rows_, begin + self.rows_per_task_);
  for (int64_t row = begin; row < end; ++row) {
    ClampSum(self.inputs_.data(), self.inputs_.size(), 0, row,
             self.output_ + row * self.output_stride_, self.channels_, self.output_min_,
             self.output_max_);
  }
}

Status OwnElementwiseOp::Run(pthreadpool_t pool) {
  WorkPoolRun(pool == nullptr ? nullptr : work_pool_, &OwnElementwiseOp::RunTask, this,
              static_cast<size_t>(tasks_));
  return Status::Ok();
}

bool WorkPoolPreferred(const KernelContext& context) {
  return context.kernels != KernelChoice::kXnnpack && DenseConvAvailable() &&
         ThreadsOf(context.pool) > 1;
}

namespace {

struct CopyRowsTask {
  const float* src;
  int64_t src_stride;
  float* dst;
  int64_t dst_stride;
  int64_t row_floats;
};

void CopyRowTile(void* context, size_t start, size_t count) {
  const CopyRowsTask& task = *static_cast<const CopyRowsTask*>(context);
  for (size_t row = start; row < start + count; ++row) {
    std::memcpy(task.dst + static_cast<int64_t>(row) * task.dst_stride,
                task.src + static_cast<int64_t>(row) * task.src_stride,
                static_cast<size_t>(task.row_floats) * sizeof(float));
  }
}

}  // namespace

void ParallelCopyRows(pthreadpool_t pool, const float* src, int64_t src_stride, float* dst,
                      int64_t dst_stride, int64_t rows, int64_t row_floats) {
  if (rows <= 0 || row_floats <= 0 || src == dst) return;
  // Contiguous rows are one long row, re-cut into chunks that keep every
  // thread busy.
  constexpr int64_t kChunkFloats = 4096;
  if (src_stride == row_floats && dst_stride == row_floats) {
    const int64_t total = rows * row_floats;
    if (total > kChunkFloats) {
      const int64_t whole = total / kChunkFloats;
      CopyRowsTask task{src, kChunkFloats, dst, kChunkFloats, kChunkFloats};
      pthreadpool_parallelize_1d_tile_1d(pool, CopyRowTile, &task, static_cast<size_t>(whole), 1,
                                         0);
      const int64_t tail = total - whole * kChunkFloats;
      if (tail > 0) {
        std::memcpy(dst + whole * kChunkFloats, src + whole * kChunkFloats,
                    static_cast<size_t>(tail) * sizeof(float));
      }
      return;
    }
    rows = 1;
    row_floats = total;
  }
  CopyRowsTask task{src, src_stride, dst, dst_stride, row_floats};
  const int64_t tile = std::max<int64_t>(1, kChunkFloats / row_floats);
  pthreadpool_parallelize_1d_tile_1d(pool, CopyRowTile, &task, static_cast<size_t>(rows),
                                     static_cast<size_t>(tile), 0);
}

Status CopyRowsOp::Run(pthreadpool_t pool) {
  ParallelCopyRows(pool, src_, src_stride_, dst_, dst_stride_, rows_, row_floats_);
  return Status::Ok();
}

}  // namespace serenity::kernels
