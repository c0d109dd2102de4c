// Helpers shared by the XNNPACK bindings and hand-written kernels (not by the
// reference kernels, which stay independent of this file on purpose).
#ifndef SERENITY_KERNELS_KERNEL_UTIL_H_
#define SERENITY_KERNELS_KERNEL_UTIL_H_

#include <xnnpack.h>

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "dense_conv.h"
#include "op_registry.h"
#include "serenity/kernels/op_kernel.h"
#include "serenity/kernels/xnnpack_util.h"
#include "serenity/status.h"
#include "winograd_conv.h"

namespace serenity::kernels {

// Product of all dimensions but the last (1 for rank 0 and 1).
int64_t RowsOf(const OperandView& view);
// The last dimension (1 for rank 0).
int64_t ChannelsOf(const OperandView& view);
// Product of all dimensions.
int64_t ElementsOf(const OperandView& view);

// Threads of a bind-time pool (null: 1).
size_t ThreadsOf(pthreadpool_t pool);

// XNNPACK's output_min/output_max for a fused activation.
void ActivationRange(Activation activation, float* output_min, float* output_max);

// The operator's attributes of type T, or kInternal naming the operator.
template <typename T>
Result<const T*> AttrsOf(const KernelContext& context) {
  const T* attrs = std::get_if<T>(&context.op.attrs);
  if (attrs == nullptr) {
    return InternalError(context.name, ": ", OpTypeName(context.op.type),
                         " has attributes of the wrong kind");
  }
  return attrs;
}

// kUnsupported "<name> (<Type>): <why>".
template <typename... Args>
Status Unsupported(const KernelContext& context, const Args&... args) {
  return UnsupportedError(context.name, " (", OpTypeName(context.op.type), "): ", args...);
}

// "[1,8,8,3]".
std::string ShapeString(const std::vector<int64_t>& shape);

// One or more XNNPACK operators run in sequence, plus buffers they point into.
class XnnBoundOp : public BoundOp {
 public:
  explicit XnnBoundOp(std::string name) : name_(std::move(name)) {}
  ~XnnBoundOp() override;
  XnnBoundOp(const XnnBoundOp&) = delete;
  XnnBoundOp& operator=(const XnnBoundOp&) = delete;

  Status Run(pthreadpool_t pool) override;
  uint64_t packed_weight_bytes() const override { return packed_weight_bytes_; }

  // Takes ownership of `op` (deleted with this object, also on error paths).
  void Adopt(xnn_operator_t op) { operators_.push_back(op); }
  // Zero-filled storage that lives as long as this object, with
  // XNN_EXTRA_BYTES of slack after `count` floats.
  float* AllocateBuffer(size_t count);
  // A padded copy of `count` floats from `data`.
  const float* CopyConstant(const float* data, size_t count);
  void AddPackedWeightBytes(uint64_t bytes) { packed_weight_bytes_ += bytes; }
  // "<name>: <what>" wrapping of an XNNPACK status.
  Status Check(xnn_status status, const char* what) const;

 private:
  std::string name_;
  std::vector<xnn_operator_t> operators_;
  std::vector<std::unique_ptr<float[]>> buffers_;
  uint64_t packed_weight_bytes_ = 0;
};

// The pointer XNNPACK reads input `i` through at run time: for a constant, a
// padded copy owned by `bound` (XNNPACK may read past an input's end, and a
// constant may end the mapped model file); else the view's data.
const float* RunTimeInput(const KernelContext& context, size_t i, XnnBoundOp& bound);

// Nothing to do: the operands already alias.
class NoOpBoundOp : public BoundOp {
 public:
  Status Run(pthreadpool_t) override { return Status::Ok(); }
  bool is_noop() const override { return true; }
};

// Copies rows (see ParallelCopyRows) when run.
class CopyRowsOp : public BoundOp {
 public:
  CopyRowsOp(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
             int64_t row_floats)
      : src_(src),
        src_stride_(src_stride),
        dst_(dst),
        dst_stride_(dst_stride),
        rows_(rows),
        row_floats_(row_floats) {}
  Status Run(pthreadpool_t pool) override;

 private:
  const float* src_;
  int64_t src_stride_;
  float* dst_;
  int64_t dst_stride_;
  int64_t rows_, row_floats_;
};

// Serenity's own dense or depthwise convolution (dense_conv.h,
// depthwise_conv.h), weights packed at construction. Runs on the work pool
// with as many threads as the bind-time `pool` (null: one); the pool it is
// run with decides only whether to use threads at all (null runs on the
// calling thread). `scale_y`/`scale_x`
// (depthwise only, optional, out_h and out_w floats, copied): output scales,
// see DenseConvArgs. Call only when DenseConvAvailable().
class OwnConvBoundOp : public BoundOp {
 public:
  OwnConvBoundOp(bool depthwise, const DenseConvShape& shape, const float* weights,
                 const float* bias, const float* input, float* output, pthreadpool_t pool,
                 const float* scale_y = nullptr, const float* scale_x = nullptr);
  Status Run(pthreadpool_t pool) override;
  uint64_t packed_weight_bytes() const override { return packed_floats_ * sizeof(float); }
  bool shares_work() const override { return true; }
  // Depthwise only: reads every input value x as max(0, x)
  // (DenseConvArgs::input_relu).
  void ReadInputThroughRelu() { args_.input_relu = true; }
  // Dense only: adds `addend` to the output before the activation
  // (DenseConvArgs::addend).
  void AddAddend(const float* addend, int64_t pixel_stride) {
    args_.addend = addend;
    args_.addend_pixel_stride = pixel_stride;
  }

 protected:  // WindowedConvBoundOp runs the same packed kernel band by band
  bool depthwise_;
  WorkPool* work_pool_;
  size_t packed_floats_;
  std::unique_ptr<float[]> packed_;
  std::unique_ptr<float[]> zeros_;
  std::vector<float> scale_y_, scale_x_;
  DenseConvArgs args_;
};

// A convolution whose output overlaps its input (windowed in place,
// scheduler/alias.h): batch 1, dense input and output, the output starting
// at or below the input. Computes bands of output rows in increasing order
// (WindowedConvBands), each with the own dense or depthwise kernel, either
// straight into the output where the band lies below every input row it
// reads, or into scratch (at most kWindowedBandBytes, from `shared` when
// given, else its own) and copied out only after the kernel returns (every
// thread done), so the band's windows are read before any of its rows is
// written. WindowedConvSafe says
// whether `input` lies far enough above `output` for that.
inline constexpr int64_t kWindowedBandBytes = 32 * 1024;

bool WindowedConvSafe(const DenseConvShape& shape, const float* input, const float* output);

// Output rows [begin, end) of a windowed convolution, computed in one kernel
// call: `direct`, straight into the output (every row of the band lies below
// the first input row the band reads, so the threads may write its rows in
// any order), else into scratch and copied out afterwards.
struct WindowedBand {
  int64_t begin = 0, end = 0;
  bool direct = false;
};

// The bands, in order, of a windowed convolution whose input lies
// `distance_floats` above its output (WindowedConvSafe must hold): from each
// band's first row, the longest direct band that fits below the first input
// row it reads, else a scratch band of up to `scratch_rows` rows. A strided
// convolution's output rows are shorter than the input rows they consume, so
// after a few scratch or short direct bands the rest of its output is one or
// two direct bands: no copy, and rows enough for the threads to share.
std::vector<WindowedBand> WindowedConvBands(const DenseConvShape& shape, int64_t distance_floats,
                                            int64_t scratch_rows);

class WindowedConvBoundOp : public OwnConvBoundOp {
 public:
  WindowedConvBoundOp(bool depthwise, const DenseConvShape& shape, const float* weights,
                      const float* bias, const float* input, float* output, pthreadpool_t pool,
                      SharedScratch* shared);
  Status Run(pthreadpool_t pool) override;

 private:
  int64_t band_rows_;
  std::vector<WindowedBand> bands_;
  SharedScratch* shared_scratch_;
  std::unique_ptr<float[]> scratch_;  // when there is no shared scratch
};

// Serenity's Winograd F(4x4, 3x3) convolution (winograd_conv.h): weights
// transformed at construction. Its scratch (one slot per thread of the
// bind-time `pool`) comes from `shared` when given (which must then be
// allocated before the first Run and outlive the op), else it is allocated
// here. Runs like OwnConvBoundOp. Call only when DenseConvAvailable() and
// WinogradConvApplies(shape).
class WinogradConvBoundOp : public BoundOp {
 public:
  WinogradConvBoundOp(const DenseConvShape& shape, const float* weights, const float* bias,
                      const float* input, float* output, pthreadpool_t pool,
                      SharedScratch* shared = nullptr);
  Status Run(pthreadpool_t pool) override;
  uint64_t packed_weight_bytes() const override { return packed_floats_ * sizeof(float); }
  bool shares_work() const override { return true; }
  // Adds `addend` to the output before the activation
  // (DenseConvArgs::addend).
  void AddAddend(const float* addend, int64_t pixel_stride) {
    args_.addend = addend;
    args_.addend_pixel_stride = pixel_stride;
  }

 private:
  WorkPool* work_pool_;
  WinogradConvPlan plan_;
  size_t packed_floats_;
  std::unique_ptr<float[]> packed_;
  SharedScratch* shared_scratch_;
  std::unique_ptr<float[]> scratch_;  // when there is no shared scratch
  std::unique_ptr<int[]> slot_busy_;
  DenseConvArgs args_;
};

// clamp(sum of the inputs, output_min, output_max), element by element, over
// `rows` rows of `channels` floats (each operand's rows `strides` apart: a
// channel slice when larger than `channels`), on the work pool: Relu, Clamp
// and same-shape Add. Why: when a model has own-kernel operators the engine
// runs pthreadpool operators (XNNPACK's clamp and add) on the calling thread
// alone (work_pool.h), and DARTS' pre-activation ReLUs and cell sums then
// run serially between parallel convolutions. The output may be input 0's
// memory (in place): each element's inputs are read before it is written.
// Runs with as many threads as the bind-time `pool`, like OwnConvBoundOp.
// At most kOwnElementwiseMaxInputs inputs. Allocates nothing when run.
inline constexpr size_t kOwnElementwiseMaxInputs = 16;
// Below this many output floats an OwnElementwiseOp (or a work-pool concat)
// runs on the calling thread: a 28x28x48 ReLU takes ~3.5 us on one thread,
// too little to gain from a second one, and on a loaded machine a helper
// descheduled while holding a chunk made such small jobs several times
// slower (DARTS at 2 threads: ReLUs 0.8 -> 3.2 ms per run in all).
inline constexpr int64_t kOwnElementwiseParallelFloats = int64_t{1} << 16;
class OwnElementwiseOp : public BoundOp {
 public:
  struct Operand {
    const float* data;
    int64_t stride;
  };
  OwnElementwiseOp(std::vector<Operand> inputs, float* output, int64_t output_stride, int64_t rows,
                   int64_t channels, float output_min, float output_max, pthreadpool_t pool);
  Status Run(pthreadpool_t pool) override;
  bool shares_work() const override { return true; }

 private:
  static void RunTask(void* context, size_t index);

  WorkPool* work_pool_;
  std::vector<Operand> inputs_;
  float* output_;
  int64_t output_stride_;
  int64_t rows_, channels_;
  int64_t rows_per_task_;  // or, when every operand is dense, floats per task
  int64_t tasks_;
  bool flat_;              // every operand dense: one long row
  float output_min_, output_max_;
};

// True when own kernels are in use and the bind-time pool has 2+ threads:
// the engine then runs XNNPACK's (pthreadpool) operators on the calling
// thread alone, so an op that can run on the work pool should. Relu, Clamp
// and same-shape Add bind OwnElementwiseOp, Concat copies on the work pool,
// FullyConnected the own dense kernel.
bool WorkPoolPreferred(const KernelContext& context);

// Copies `rows` rows of `row_floats` floats from `src` (rows `src_stride`
// floats apart) to `dst` (rows `dst_stride` apart), in parallel over rows.
// Allocates nothing.
void ParallelCopyRows(pthreadpool_t pool, const float* src, int64_t src_stride, float* dst,
                      int64_t dst_stride, int64_t rows, int64_t row_floats);

}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_KERNEL_UTIL_H_
