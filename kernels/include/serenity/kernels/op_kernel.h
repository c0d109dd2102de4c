// The op registry: how each operator of the .srn op set validates itself,
// binds to XNNPACK with fixed pointers, and runs.
//
// Binding happens once, at Engine::Create, with every operand's final address
// in the arena: XNNPACK's setup stores absolute pointers (indirection
// buffers), so a BoundOp is only valid while those addresses are. Run() then
// does no allocation and no validation: Prepare proved everything.
#ifndef SERENITY_KERNELS_OP_KERNEL_H_
#define SERENITY_KERNELS_OP_KERNEL_H_

#include <pthreadpool.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serenity/model_format/model.h"
#include "serenity/status.h"

namespace serenity::kernels {

// Where one operand lives at run time.
//
// `data` points at element [0, 0, 0, c0] of the tensor's view. For a dense
// tensor `pixel_stride` == shape.back(). For a channel slice of a wider NHWC
// buffer (zero-copy concat), data is offset by the slice's first channel and
// pixel_stride is the wider buffer's channel count: element [n, h, w, c] is at
// data[((n * H + h) * W + w) * pixel_stride + c].
struct OperandView {
  float* data = nullptr;
  std::vector<int64_t> shape;
  int64_t pixel_stride = 0;

  bool dense() const { return shape.empty() || pixel_stride == shape.back(); }
};

// What an op kind can do, so the rewriting pass only aliases where the kernel
// really supports it.
struct OpCapabilities {
  bool strided_input = false;   // can read a channel slice (pixel stride)
  bool strided_output = false;  // can write a channel slice
  bool in_place = false;        // output may be the same memory as input 0
  // Conv2D: largest kernel_h * kernel_w run windowed in place (the output
  // over input 0 at a lower offset; scheduler/alias.h); 0: never.
  int64_t windowed_max_positions = 0;
};

// Scratch memory shared by the operators of one engine. They run one at a
// time, so one buffer the size of the largest request serves them all (a
// Winograd convolution needs a few hundred KiB per thread; ResNet-18 has a
// dozen of them). An op that needs scratch calls Require() when it is bound
// and data() only when it runs; the owner calls Allocate() once every op is
// bound, before the first run. The owner keeps it alive as long as its ops.
// Not thread-safe: one engine binds its ops on one thread.
class SharedScratch {
 public:
  SharedScratch() = default;
  SharedScratch(const SharedScratch&) = delete;
  SharedScratch& operator=(const SharedScratch&) = delete;

  void Require(size_t floats) {
    if (floats > floats_) floats_ = floats;
  }
  // Takes the buffer (once; later calls keep it). Errors: kResourceExhausted.
  Status Allocate();
  // The buffer; nullptr before Allocate() or when nothing was required.
  float* data() const { return data_.get(); }
  uint64_t bytes() const { return floats_ * sizeof(float); }

 private:
  size_t floats_ = 0;
  std::unique_ptr<float[]> data_;
};

// An operator bound to fixed pointers. Run() never allocates.
class BoundOp {
 public:
  virtual ~BoundOp() = default;
  virtual Status Run(pthreadpool_t pool) = 0;
  // Bytes XNNPACK holds for this op's packed weights (0 if none). Counted as
  // the weight and bias bytes handed to XNNPACK; its packed form pads output
  // channels to the micro-kernel's tile, so the true figure is a little
  // larger (a counting xnn_allocator measures it exactly).
  virtual uint64_t packed_weight_bytes() const { return 0; }
  // True when Run() has nothing to do because the operands already alias
  // (a zero-copy concat whose producers wrote into its slices, a reshape
  // whose output is its input): the runtime may skip it.
  virtual bool is_noop() const { return false; }
  // True when Run() spreads its work without waiting for threads that have
  // not started (Serenity's own kernels, kernels/work_pool.h); false when it
  // hands the pthreadpool to XNNPACK or pthreadpool_parallelize_*, which
  // return only after every worker has woken up.
  virtual bool shares_work() const { return false; }
};

// Which implementations BindOp may pick.
enum class KernelChoice {
  // The fastest this CPU has: on x86-64 with AVX2 + FMA, dense (groups = 1)
  // convolutions run on Serenity's own kernel (kernels/dense_conv.h, or
  // kernels/winograd_conv.h for 3x3 stride-1 ones where that is faster);
  // everything else, and every op on other CPUs, on XNNPACK.
  kAuto,
  // XNNPACK wherever it has the op (for comparisons).
  kXnnpack,
  // As kAuto, but 3x3 convolutions with stride 1 run on the direct kernel
  // where kAuto would pick the Winograd one (for comparisons).
  kDirect,
  // As kAuto, but every convolution the Winograd kernel
  // (kernels/winograd_conv.h) can run runs on it (for tests).
  kWinograd,
};

struct BindRequest {
  const Model* model = nullptr;
  int op_index = 0;
  // Index-aligned with the operator's inputs/outputs. Constant operands have
  // `data` pointing at the model's weights (read-only despite the type);
  // an absent optional operand has data == nullptr.
  std::vector<OperandView> inputs;
  std::vector<OperandView> outputs;
  pthreadpool_t pool = nullptr;  // threads available for setup
  KernelChoice kernels = KernelChoice::kAuto;
  // Scratch shared with the other ops of one engine (see SharedScratch);
  // nullptr: an op that needs scratch owns its own.
  SharedScratch* scratch = nullptr;
  // An activation to apply to the output instead of the operator's own
  // kNone: the engine folds a Relu or Clamp [0, 6] that is the only reader
  // of a convolution's output into the convolution, which then writes the
  // activation's output (EngineOptions::fold_activations). Only a Conv2D
  // without an activation takes one; any other operator, or a Conv2D that
  // has one: kInvalidArgument.
  Activation fused_activation = Activation::kNone;
  // Read input 0 through max(0, x): the engine folds a Relu whose output
  // only a depthwise Conv2D reads into it, which then reads the Relu's input
  // (Engine::Create). Only Serenity's own depthwise kernel does this (x86-64
  // with AVX2 + FMA, not windowed in place, not KernelChoice::kXnnpack);
  // elsewhere kUnsupported.
  bool input_relu = false;
  // A tensor to add to the output before the activation (data == nullptr:
  // none): the engine folds an Add that is the only reader of a Conv2D's
  // output into the Conv2D, which then writes the Add's output (Engine::
  // Create). Same shape as the output; it may be the output's own view (the
  // sum in place) but must not otherwise overlap it. Only Serenity's own
  // direct dense kernel does this (x86-64 with AVX2 + FMA, groups = 1, not
  // Winograd, not windowed in place, not KernelChoice::kXnnpack); elsewhere
  // kUnsupported.
  OperandView addend;
};

// Returns the capabilities of op kind `type` (independent of shapes).
OpCapabilities CapabilitiesOf(OpType type);

// Creates and sets up the XNNPACK operator(s) (or a hand-written kernel) for
// one operator. Initialises XNNPACK with the default allocator if nothing has
// yet (call InitializeXnnpack first to use another). XNNPACK may read up to
// XNN_EXTRA_BYTES past the end of any input view, so activation buffers need
// that much readable slack after them; constant operands XNNPACK reads at run
// time are copied into padded storage owned by the BoundOp. Channel-slice
// views are accepted only where CapabilitiesOf says so. Errors: kUnsupported
// (a shape or attribute combination this kernel cannot run, or a channel
// slice it cannot take, naming the operator), kInvalidArgument (views that do
// not match the operator), kBackendError / kResourceExhausted (XNNPACK
// refused).
Result<std::unique_ptr<BoundOp>> BindOp(const BindRequest& request);

// BindOp for an operator outside a Model (tests, passes that build
// operators). `input_tensors` is index-aligned with op.inputs (nullptr for an
// absent optional) or empty; it is consulted only to learn which inputs are
// constant (their bytes are then copied where XNNPACK would read past their
// end). `name` names the operator in error messages. The BoundOp keeps no
// reference to `op`, the tensors or the views, only the views' data pointers.
Result<std::unique_ptr<BoundOp>> BindOp(
    const Operator& op, const std::vector<const Tensor*>& input_tensors,
    const std::vector<OperandView>& inputs, const std::vector<OperandView>& outputs,
    pthreadpool_t pool, const std::string& name, KernelChoice kernels = KernelChoice::kAuto,
    SharedScratch* scratch = nullptr, bool input_relu = false, const OperandView* addend = nullptr);

// Naive reference implementation of one operator, for tests: plain loops in
// double-precision accumulation, no XNNPACK. Same operand convention as
// BindOp (strided views allowed).
Status RunReferenceOp(const Model& model, int op_index,
                      const std::vector<OperandView>& inputs,
                      const std::vector<OperandView>& outputs);

// RunReferenceOp for an operator outside a Model; `name` as for BindOp.
Status RunReferenceOp(const Operator& op, const std::vector<OperandView>& inputs,
                      const std::vector<OperandView>& outputs, const std::string& name);

// Runs a whole model on the reference kernels in stored order, each tensor in
// its own buffer. `inputs` are index-aligned with model.inputs(); returns one
// vector per model.outputs().
Result<std::vector<std::vector<float>>> RunModelReference(
    const Model& model, const std::vector<std::vector<float>>& inputs);

}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_OP_KERNEL_H_
