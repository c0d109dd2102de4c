// Add and Mul. Two dense operands broadcast through XNNPACK's add_nd /
// multiply_nd (the nd operators take no strides). Three or more dense
// same-shape addends go through a hand-written one-pass kernel, parallel over
// blocks of elements, that reads every addend of an element before writing
// it, so the output may alias any input. An Add with a channel-slice operand
// (zero-copy concat) goes through a hand-written per-pixel kernel. Where
// WorkPoolPreferred, same-shape addends run on OwnElementwiseOp.
#include <algorithm>
#include <array>
#include <cmath>

#include "kernel_util.h"
#include "reference_util.h"

namespace serenity::kernels {
namespace {

// numpy broadcasting of two shapes, or false.
bool BroadcastShapes(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                     std::vector<int64_t>* out) {
  const size_t rank = std::max(a.size(), b.size());
  out->assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    (*out)[i] = da == 1 ? db : da;
  }
  return true;
}

Result<Activation> ActivationOf(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(const ElementwiseAttrs* attrs, AttrsOf<ElementwiseAttrs>(c));
  return attrs->activation;
}

// The element loops of the hand-written adds, written so that GCC
// vectorises them: a clamp spelled std::min(std::max(...)) compiled to scalar
// compares and branches, and a copy loop into the sum to `rep movsq`, which
// made DARTS' step adds (outputs in a slice of the cell's concat) run ~40x
// slower than a dense add and take a sixth of the model's time.
template <bool kScalarA, bool kScalarB>
void SumTwo(const float* a, const float* b, int64_t n, float* sum) {
  for (int64_t i = 0; i < n; ++i) sum[i] = (kScalarA ? a[0] : a[i]) + (kScalarB ? b[0] : b[i]);
}

void SumInto(const float* a, bool scalar, int64_t n, float* sum) {
  if (scalar) {
    const float value = a[0];
    for (int64_t i = 0; i < n; ++i) sum[i] += value;
  } else {
    for (int64_t i = 0; i < n; ++i) sum[i] += a[i];
  }
}

void ClampInto(const float* sum, int64_t n, float lo, float hi, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    float value = sum[i];
    value = value < lo ? lo : value;
    value = value > hi ? hi : value;
    out[i] = value;
  }
}

using CreateBinary = xnn_status (*)(float, float, uint32_t, xnn_operator_t*);
using SetupBinary = xnn_status (*)(xnn_operator_t, size_t, const size_t*, size_t, const size_t*,
                                   const float*, const float*, float*, pthreadpool_t);

Result<std::unique_ptr<BoundOp>> BindBinary(const KernelContext& c, CreateBinary create,
                                            SetupBinary setup, const char* create_name,
                                            const char* setup_name) {
  SERENITY_ASSIGN_OR_RETURN(Activation activation, ActivationOf(c));
  const OperandView& a = c.inputs[0];
  const OperandView& b = c.inputs[1];
  const OperandView& y = c.outputs[0];
  std::vector<int64_t> broadcast;
  if (!BroadcastShapes(a.shape, b.shape, &broadcast) || broadcast != y.shape) {
    return Unsupported(c, ShapeString(a.shape), " and ", ShapeString(b.shape),
                       " do not broadcast to the output ", ShapeString(y.shape));
  }
  if (a.shape.size() > XNN_MAX_TENSOR_DIMS || b.shape.size() > XNN_MAX_TENSOR_DIMS) {
    return Unsupported(c, "rank above ", XNN_MAX_TENSOR_DIMS);
  }
  float output_min, output_max;
  ActivationRange(activation, &output_min, &output_max);
  auto bound = std::make_unique<XnnBoundOp>(c.name);
  // XNNPACK may read past the end of an input; a constant may end the file.
  const float* a_data = c.IsConstantInput(0) ? bound->CopyConstant(a.data, ElementsOf(a)) : a.data;
  const float* b_data = c.IsConstantInput(1) ? bound->CopyConstant(b.data, ElementsOf(b)) : b.data;
  size_t a_shape[XNN_MAX_TENSOR_DIMS] = {1}, b_shape[XNN_MAX_TENSOR_DIMS] = {1};
  std::copy(a.shape.begin(), a.shape.end(), a_shape);
  std::copy(b.shape.begin(), b.shape.end(), b_shape);
  xnn_operator_t op = nullptr;
  xnn_status status = create(output_min, output_max, 0, &op);
  if (status != xnn_status_success) return bound->Check(status, create_name);
  bound->Adopt(op);
  status = setup(op, std::max<size_t>(1, a.shape.size()), a_shape,
                 std::max<size_t>(1, b.shape.size()), b_shape, a_data, b_data, y.data, c.pool);
  if (status != xnn_status_success) return bound->Check(status, setup_name);
  return std::unique_ptr<BoundOp>(std::move(bound));
}

class NaryAddOp : public BoundOp {
 public:
  NaryAddOp(std::vector<const float*> inputs, float* output, int64_t count, float output_min,
            float output_max)
      : inputs_(std::move(inputs)),
        output_(output),
        count_(count),
        output_min_(output_min),
        output_max_(output_max) {}

  Status Run(pthreadpool_t pool) override {
    if (count_ == 0) return Status::Ok();
    pthreadpool_parallelize_1d_tile_1d(pool, &NaryAddOp::AddTile, this, static_cast<size_t>(count_),
                                       kTile, 0);
    return Status::Ok();
  }

 private:
  static constexpr size_t kBlock = 256;
  static constexpr size_t kTile = 16 * kBlock;

  static void AddTile(void* context, size_t start, size_t count) {
    const NaryAddOp& self = *static_cast<const NaryAddOp*>(context);
    float sum[kBlock];
    for (size_t begin = start; begin < start + count; begin += kBlock) {
      const size_t n = std::min(kBlock, start + count - begin);
      const int64_t width = static_cast<int64_t>(n);
      SumTwo<false, false>(self.inputs_[0] + begin, self.inputs_[1] + begin, width, sum);
      for (size_t k = 2; k < self.inputs_.size(); ++k) {
        SumInto(self.inputs_[k] + begin, false, width, sum);
      }
      ClampInto(sum, width, self.output_min_, self.output_max_, self.output_ + begin);
    }
  }

  std::vector<const float*> inputs_;
  float* output_;
  int64_t count_;
  float output_min_, output_max_;
};

// Add where some view is a channel slice of a wider buffer (a zero-copy
// concat's input or an input read out of one): XNNPACK's add_nd takes no
// strides. Works per output pixel (all dimensions but the channels): an
// operand of the output's shape is read at its own pixel stride; a
// broadcasting operand through its own dimensions (index 0 where it has 1).
// Every element's addends are read before it is written, so the output may be
// the very memory of an input of the output's shape (in place).
class StridedAddOp : public BoundOp {
 public:
  static constexpr size_t kMaxRank = XNN_MAX_TENSOR_DIMS;

  struct Operand {
    const float* data = nullptr;
    int64_t pixel_stride = 0;
    bool full = false;           // the output's shape: read at pixel * stride
    bool scalar_channel = false; // last dimension 1: one value per pixel
    std::array<int64_t, kMaxRank> dims{};  // aligned to the output's rank
  };

  StridedAddOp(std::vector<Operand> inputs, float* output, int64_t output_stride,
               std::vector<int64_t> shape, float output_min, float output_max)
      : inputs_(std::move(inputs)),
        output_(output),
        output_stride_(output_stride),
        shape_(std::move(shape)),
        output_min_(output_min),
        output_max_(output_max) {
    channels_ = shape_.empty() ? 1 : shape_.back();
    pixels_ = 1;
    for (size_t d = 0; d + 1 < shape_.size(); ++d) pixels_ *= shape_[d];
  }

  Status Run(pthreadpool_t pool) override {
    if (pixels_ == 0 || channels_ == 0) return Status::Ok();
    const size_t tile = static_cast<size_t>(std::max<int64_t>(1, 4096 / channels_));
    pthreadpool_parallelize_1d_tile_1d(pool, &StridedAddOp::AddPixels, this,
                                       static_cast<size_t>(pixels_), tile, 0);
    return Status::Ok();
  }

 private:
  // Offset of `input`'s pixel for output pixel `pixel` (row-major over all
  // dimensions but the last).
  int64_t InputPixel(const Operand& input, int64_t pixel) const {
    if (input.full) return pixel * input.pixel_stride;
    int64_t row = 0, stride = 1, rest = pixel;
    for (size_t d = shape_.size() - 1; d-- > 0;) {
      const int64_t coordinate = rest % shape_[d];
      rest /= shape_[d];
      if (input.dims[d] != 1) row += coordinate * stride;
      stride *= input.dims[d];
    }
    return row * input.pixel_stride;
  }

  static void AddPixels(void* context, size_t start, size_t count) {
    const StridedAddOp& self = *static_cast<const StridedAddOp*>(context);
    const int64_t channels = self.channels_;
    const Operand& a = self.inputs_[0];
    const Operand& b = self.inputs_[1];
    for (size_t p = start; p < start + count; ++p) {
      const int64_t pixel = static_cast<int64_t>(p);
      float* out = self.output_ + pixel * self.output_stride_;
      const float* a_row = a.data + self.InputPixel(a, pixel);
      const float* b_row = b.data + self.InputPixel(b, pixel);
      for (int64_t c0 = 0; c0 < channels; c0 += kBlock) {
        const int64_t width = std::min<int64_t>(kBlock, channels - c0);
        const float* a_values = a.scalar_channel ? a_row : a_row + c0;
        const float* b_values = b.scalar_channel ? b_row : b_row + c0;
        float sum[kBlock];
        if (a.scalar_channel) {
          if (b.scalar_channel) {
            SumTwo<true, true>(a_values, b_values, width, sum);
          } else {
            SumTwo<true, false>(a_values, b_values, width, sum);
          }
        } else if (b.scalar_channel) {
          SumTwo<false, true>(a_values, b_values, width, sum);
        } else {
          SumTwo<false, false>(a_values, b_values, width, sum);
        }
        for (size_t k = 2; k < self.inputs_.size(); ++k) {
          const Operand& input = self.inputs_[k];
          const float* row = input.data + self.InputPixel(input, pixel);
          SumInto(input.scalar_channel ? row : row + c0, input.scalar_channel, width, sum);
        }
        ClampInto(sum, width, self.output_min_, self.output_max_, out + c0);
      }
    }
  }

  static constexpr int64_t kBlock = 256;

  std::vector<Operand> inputs_;
  float* output_;
  int64_t output_stride_;
  std::vector<int64_t> shape_;
  int64_t channels_ = 1;
  int64_t pixels_ = 1;
  float output_min_, output_max_;
};

bool Dense(const OperandView& view) {
  return view.shape.empty() || view.pixel_stride == view.shape.back();
}

Result<std::unique_ptr<BoundOp>> BindStridedAdd(const KernelContext& c) {
  SERENITY_ASSIGN_OR_RETURN(Activation activation, ActivationOf(c));
  const OperandView& y = c.outputs[0];
  if (y.shape.size() > StridedAddOp::kMaxRank) {
    return Unsupported(c, "rank above ", StridedAddOp::kMaxRank);
  }
  std::vector<StridedAddOp::Operand> inputs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const OperandView& x = c.inputs[i];
    std::vector<int64_t> broadcast;
    if (!BroadcastShapes(x.shape, y.shape, &broadcast) || broadcast != y.shape) {
      return Unsupported(c, "input ", i, " ", ShapeString(x.shape),
                         " does not broadcast to the output ", ShapeString(y.shape));
    }
    StridedAddOp::Operand operand;
    operand.data = x.data;
    operand.full = x.shape == y.shape;
    operand.pixel_stride = x.shape.empty() ? 1 : x.pixel_stride;
    const size_t pad = y.shape.size() - x.shape.size();
    for (size_t d = 0; d < y.shape.size(); ++d) {
      operand.dims[d] = d < pad ? 1 : x.shape[d - pad];
    }
    operand.scalar_channel = !y.shape.empty() && operand.dims[y.shape.size() - 1] == 1 &&
                             y.shape.back() != 1;
    inputs.push_back(operand);
  }
  float output_min, output_max;
  ActivationRange(activation, &output_min, &output_max);
  return std::unique_ptr<BoundOp>(std::make_unique<StridedAddOp>(
      std::move(inputs), y.data, y.shape.empty() ? 1 : y.pixel_stride, y.shape, output_min,
      output_max));
}

Result<std::unique_ptr<BoundOp>> BindAdd(const KernelContext& c) {
  const OperandView& y = c.outputs[0];
  bool same_shapes = true;
  for (const OperandView& x : c.inputs) same_shapes = same_shapes && x.shape == y.shape;
  if (same_shapes && c.inputs.size() <= kOwnElementwiseMaxInputs && WorkPoolPreferred(c)) {
    SERENITY_ASSIGN_OR_RETURN(Activation activation, ActivationOf(c));
    float output_min, output_max;
    ActivationRange(activation, &output_min, &output_max);
    std::vector<OwnElementwiseOp::Operand> inputs;
    for (const OperandView& x : c.inputs) {
      inputs.push_back({x.data, x.shape.empty() ? 1 : x.pixel_stride});
    }
    return std::unique_ptr<BoundOp>(std::make_unique<OwnElementwiseOp>(
        std::move(inputs), y.data, y.shape.empty() ? 1 : y.pixel_stride, RowsOf(y),
        ChannelsOf(y), output_min, output_max, c.pool));
  }
  bool strided = !Dense(c.outputs[0]);
  for (const OperandView& x : c.inputs) strided = strided || !Dense(x);
  if (strided) return BindStridedAdd(c);
  if (c.inputs.size() == 2) {
    return BindBinary(c, xnn_create_add_nd_f32, xnn_setup_add_nd_f32, "xnn_create_add_nd_f32",
                      "xnn_setup_add_nd_f32");
  }
  SERENITY_ASSIGN_OR_RETURN(Activation activation, ActivationOf(c));
  std::vector<const float*> inputs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.inputs[i].shape != y.shape) {
      return Unsupported(c, "input ", i, " ", ShapeString(c.inputs[i].shape),
                         " differs from the output ", ShapeString(y.shape),
                         "; only two addends may broadcast");
    }
    inputs.push_back(c.inputs[i].data);
  }
  float output_min, output_max;
  ActivationRange(activation, &output_min, &output_max);
  return std::unique_ptr<BoundOp>(std::make_unique<NaryAddOp>(
      std::move(inputs), y.data, ElementsOf(y), output_min, output_max));
}

Result<std::unique_ptr<BoundOp>> BindMul(const KernelContext& c) {
  return BindBinary(c, xnn_create_multiply_nd_f32, xnn_setup_multiply_nd_f32,
                    "xnn_create_multiply_nd_f32", "xnn_setup_multiply_nd_f32");
}

// Reference: walks every output index; an input reads index 0 along its
// broadcast (size-1 or missing) dimensions.
Status ReferenceElementwise(const KernelContext& c, bool multiply) {
  SERENITY_ASSIGN_OR_RETURN(const ElementwiseAttrs* attrs, AttrsOf<ElementwiseAttrs>(c));
  const OperandView& y = c.outputs[0];
  const size_t rank = y.shape.size();
  for (const OperandView& input : c.inputs) {
    if (input.shape.size() > rank)
      return Unsupported(c, "an input has a higher rank than the output");
    for (size_t d = 0; d < input.shape.size(); ++d) {
      const int64_t out_dim = y.shape[rank - input.shape.size() + d];
      if (input.shape[d] != 1 && input.shape[d] != out_dim) {
        return Unsupported(c, "input ", ShapeString(input.shape), " does not broadcast to ",
                           ShapeString(y.shape));
      }
    }
  }
  if (reference::NumElements(y.shape) == 0) return Status::Ok();
  std::vector<int64_t> index(rank, 0);
  std::vector<int64_t> input_index;
  do {
    double result = multiply ? 1.0 : 0.0;
    for (const OperandView& input : c.inputs) {
      const size_t offset = rank - input.shape.size();
      input_index.assign(input.shape.size(), 0);
      for (size_t d = 0; d < input.shape.size(); ++d) {
        input_index[d] = input.shape[d] == 1 ? 0 : index[offset + d];
      }
      const double value = reference::AtIndex(input, input_index);
      result = multiply ? result * value : result + value;
    }
    reference::AtIndex(y, index) =
        static_cast<float>(reference::ApplyActivation(attrs->activation, result));
  } while (reference::NextIndex(y.shape, index));
  return Status::Ok();
}

Status ReferenceAdd(const KernelContext& c) { return ReferenceElementwise(c, false); }
Status ReferenceMul(const KernelContext& c) { return ReferenceElementwise(c, true); }

}  // namespace

const OpKernel kAddKernel = {OpType::kAdd, kStridedInPlace, 2, -1, BindAdd, ReferenceAdd};
const OpKernel kMulKernel = {OpType::kMul, kDenseInPlace, 2, 2, BindMul, ReferenceMul};

}  // namespace serenity::kernels
