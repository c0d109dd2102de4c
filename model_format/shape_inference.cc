// Attribute checks and shape inference for every operator.
#include <cmath>
#include <string>
#include <vector>

#include "serenity/model_format/model.h"

namespace serenity {
namespace {

using Shape = std::vector<int64_t>;
using Shapes = std::vector<Shape>;

std::string ShapeString(const Shape& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

class OpChecker {
 public:
  OpChecker(const Operator& op, const Shapes& shapes,
            const std::vector<const Tensor*>& tensors)
      : op_(op), shapes_(shapes), tensors_(tensors) {}

  const char* op_name() const { return OpTypeName(op_.type); }

  Status InputCount(size_t min, size_t max) const {
    if (op_.inputs.size() != shapes_.size()) {
      return InvalidModelError(op_name(), " has ", op_.inputs.size(),
                               " inputs but ", shapes_.size(),
                               " input shapes were given");
    }
    if (!tensors_.empty() && tensors_.size() != shapes_.size()) {
      return InvalidModelError(op_name(), " has ", shapes_.size(),
                               " input shapes but ", tensors_.size(),
                               " input tensors were given");
    }
    if (shapes_.size() < min || shapes_.size() > max) {
      if (min == max) {
        return InvalidModelError(op_name(), " takes ", min, " input",
                                 min == 1 ? "" : "s", ", not ",
                                 shapes_.size());
      }
      return InvalidModelError(op_name(), " takes ", min, " to ", max,
                               " inputs, not ", shapes_.size());
    }
    if (op_.outputs.size() != 1) {
      return InvalidModelError(op_name(), " has ", op_.outputs.size(),
                               " outputs, not 1");
    }
    return Status::Ok();
  }

  // Input i must be present (not -1).
  Status Present(size_t i, const char* role) const {
    if (op_.inputs[i] < 0) {
      return InvalidModelError(op_name(), " input ", i, " (", role,
                               ") is required");
    }
    return Status::Ok();
  }
  bool IsPresent(size_t i) const {
    return i < op_.inputs.size() && op_.inputs[i] >= 0;
  }

  Status Rank(size_t i, const char* role, size_t rank) const {
    if (shapes_[i].size() != rank) {
      return InvalidModelError(op_name(), " input ", i, " (", role,
                               ") must have rank ", rank, ", has shape ",
                               ShapeString(shapes_[i]));
    }
    return Status::Ok();
  }

  Status Constant(size_t i, const char* role) const {
    if (tensors_.empty()) return Status::Ok();
    if (tensors_[i] == nullptr || !tensors_[i]->is_constant()) {
      return InvalidModelError(op_name(), " input ", i, " (", role,
                               ") must be a constant");
    }
    return Status::Ok();
  }

  Status AllInputsPresent() const {
    for (size_t i = 0; i < op_.inputs.size(); ++i) {
      if (op_.inputs[i] < 0) {
        return InvalidModelError(op_name(), " input ", i,
                                 " is required (it is -1)");
      }
    }
    return Status::Ok();
  }

  const Shape& shape(size_t i) const { return shapes_[i]; }
  size_t num_inputs() const { return shapes_.size(); }

 private:
  const Operator& op_;
  const Shapes& shapes_;
  const std::vector<const Tensor*>& tensors_;
};

template <typename T>
Result<const T*> AttrsAs(const Operator& op) {
  const T* attrs = std::get_if<T>(&op.attrs);
  if (attrs == nullptr) {
    return InvalidModelError(OpTypeName(op.type),
                             " has the wrong kind of attributes");
  }
  return attrs;
}

Status CheckDimension(const char* op_name, const char* what, int64_t value) {
  if (value < 1 || value > kMaxDimension) {
    return InvalidModelError(op_name, " output ", what, " would be ", value,
                             " (must be in [1, ", kMaxDimension, "])");
  }
  return Status::Ok();
}

Status CheckKnownActivation(const char* op_name, Activation activation) {
  switch (activation) {
    case Activation::kNone:
    case Activation::kRelu:
    case Activation::kRelu6:
      return Status::Ok();
  }
  return InvalidModelError(op_name, " has unknown activation ",
                           static_cast<int>(activation));
}

// Output extent of a sliding window: (in + pads - window) / stride + 1, or an
// error when the window does not fit even once.
Result<int64_t> WindowOutput(const char* op_name, const char* axis,
                             int64_t in, int64_t pad_before, int64_t pad_after,
                             int64_t window, int64_t stride) {
  int64_t padded = in + pad_before + pad_after;
  if (padded < window) {
    return InvalidModelError(op_name, " window of ", window, " along ", axis,
                             " does not fit the padded input of ", padded);
  }
  int64_t out = (padded - window) / stride + 1;
  SERENITY_RETURN_IF_ERROR(CheckDimension(op_name, axis, out));
  return out;
}

Status CheckPositive(const char* op_name, const char* field, int64_t value) {
  if (value < 1) {
    return InvalidModelError(op_name, " field ", field, " must be positive, is ",
                             value);
  }
  if (value > kMaxDimension) {
    return InvalidModelError(op_name, " field ", field, " is ", value,
                             ", more than the limit of ", kMaxDimension);
  }
  return Status::Ok();
}

Status CheckPadding(const char* op_name, const char* field, int64_t value) {
  if (value < 0) {
    return InvalidModelError(op_name, " field ", field,
                             " must not be negative, is ", value);
  }
  if (value > kMaxDimension) {
    return InvalidModelError(op_name, " field ", field, " is ", value,
                             ", more than the limit of ", kMaxDimension);
  }
  return Status::Ok();
}

Result<Shapes> InferConv2D(const Operator& op, const OpChecker& c) {
  SERENITY_RETURN_IF_ERROR(c.InputCount(2, 3));
  SERENITY_ASSIGN_OR_RETURN(const Conv2DAttrs* a, AttrsAs<Conv2DAttrs>(op));
  const char* n = c.op_name();
  SERENITY_RETURN_IF_ERROR(c.Present(0, "input"));
  SERENITY_RETURN_IF_ERROR(c.Present(1, "weights"));
  SERENITY_RETURN_IF_ERROR(c.Rank(0, "input", 4));
  SERENITY_RETURN_IF_ERROR(c.Rank(1, "weights", 4));
  SERENITY_RETURN_IF_ERROR(c.Constant(1, "weights"));
  SERENITY_RETURN_IF_ERROR(CheckPositive(n, "stride_h", a->stride_h));
  SERENITY_RETURN_IF_ERROR(CheckPositive(n, "stride_w", a->stride_w));
  SERENITY_RETURN_IF_ERROR(CheckPositive(n, "dilation_h", a->dilation_h));
  SERENITY_RETURN_IF_ERROR(CheckPositive(n, "dilation_w", a->dilation_w));
  SERENITY_RETURN_IF_ERROR(CheckPositive(n, "groups", a->groups));
  SERENITY_RETURN_IF_ERROR(CheckPadding(n, "pad_top", a->pad_top));
  SERENITY_RETURN_IF_ERROR(CheckPadding(n, "pad_bottom", a->pad_bottom));
  SERENITY_RETURN_IF_ERROR(CheckPadding(n, "pad_left", a->pad_left));
  SERENITY_RETURN_IF_ERROR(CheckPadding(n, "pad_right", a->pad_right));
  SERENITY_RETURN_IF_ERROR(CheckKnownActivation(n, a->activation));
  const Shape& x = c.shape(0);
  const Shape& w = c.shape(1);
  const int64_t channels = x[3], out_channels = w[0];
  if (channels % a->groups != 0 || out_channels % a->groups != 0) {
    return InvalidModelError(n, " groups ", a->groups,
                             " must divide the input channels (", channels,
                             ") and the output channels (", out_channels, ")");
  }
  if (w[3] != channels / a->groups) {
    return InvalidModelError(n, " input 1 (weights) has shape ",
                             ShapeString(w), ": its last dimension must be ",
                             channels / a->groups, " (input channels ",
                             channels, " / groups ", a->groups, ")");
  }
  const int64_t kernel_h = (w[1] - 1) * a->dilation_h + 1;
  const int64_t kernel_w = (w[2] - 1) * a->dilation_w + 1;
  if (a->pad_top > kernel_h || a->pad_bottom > kernel_h ||
      a->pad_left > kernel_w || a->pad_right > kernel_w) {
    return InvalidModelError(n, " padding (", a->pad_top, ", ", a->pad_bottom,
                             ", ", a->pad_left, ", ", a->pad_right,
                             ") is larger than the dilated kernel ", kernel_h,
                             "x", kernel_w);
  }
  if (c.IsPresent(2)) {
    SERENITY_RETURN_IF_ERROR(c.Rank(2, "bias", 1));
    SERENITY_RETURN_IF_ERROR(c.Constant(2, "bias"));
    if (c.shape(2)[0] != out_channels) {
      return InvalidModelError(n, " input 2 (bias) has shape ",
                               ShapeString(c.shape(2)), ", expected [",
                               out_channels, "]");
    }
  }
  SERENITY_ASSIGN_OR_RETURN(
      int64_t out_h, WindowOutput(n, "height", x[1], a->pad_top, a->pad_bottom,
                                  kernel_h, a->stride_h));
  SERENITY_ASSIGN_OR_RETURN(
      int64_t out_w, WindowOutput(n, "width", x[2], a->pad_left, a->pad_right,
                                  kernel_w, a->stride_w));
  return Shapes{{x[0], out_h, out_w, out_channels}};
}

Result<Shapes> InferFullyConnected(const Operator& op, const OpChecker& c) {
  SERENITY_RETURN_IF_ERROR(c.InputCount(2, 3));
  SERENITY_ASSIGN_OR_RETURN(const FullyConnectedAttrs* a,
                            AttrsAs<FullyConnectedAttrs>(op));
  const char* n = c.op_name();
  SERENITY_RETURN_IF_ERROR(CheckKnownActivation(n, a->activation));
  SERENITY_RETURN_IF_ERROR(c.Present(0, "input"));
  SERENITY_RETURN_IF_ERROR(c.Present(1, "weights"));
  SERENITY_RETURN_IF_ERROR(c.Rank(0, "input", 2));
  SERENITY_RETURN_IF_ERROR(c.Rank(1, "weights", 2));
  SERENITY_RETURN_IF_ERROR(c.Constant(1, "weights"));
  const Shape& x = c.shape(0);
  const Shape& w = c.shape(1);
  if (w[1] != x[1]) {
    return InvalidModelError(n, " input 1 (weights) has shape ",
                             ShapeString(w), " but the input has ", x[1],
                             " features (shape ", ShapeString(x), ")");
  }
  if (c.IsPresent(2)) {
    SERENITY_RETURN_IF_ERROR(c.Rank(2, "bias", 1));
    SERENITY_RETURN_IF_ERROR(c.Constant(2, "bias"));
    if (c.shape(2)[0] != w[0]) {
      return InvalidModelError(n, " input 2 (bias) has shape ",
                               ShapeString(c.shape(2)), ", expected [", w[0],
                               "]");
    }
  }
  return Shapes{{x[0], w[0]}};
}

Result<Shapes> InferPool2D(const Operator& op, const OpChecker& c) {
  SERENITY_RETURN_IF_ERROR(c.InputCount(1, 1));
  SERENITY_RETURN_IF_ERROR(c.AllInputsPresent());
  SERENITY_ASSIGN_OR_RETURN(const Pool2DAttrs* a, AttrsAs<Pool2DAttrs>(op));
  const char* n = c.op_name();
  SERENITY_RETURN_IF_ERROR(c.Rank(0, "input", 4));
  SERENITY_RETURN_IF_ERROR(CheckPositive(n, "filter_h", a->filter_h));
  SERENITY_RETURN_IF_ERROR(CheckPositive(n, "filter_w", a->filter_w));
  SERENITY_RETURN_IF_ERROR(CheckPositive(n, "stride_h", a->stride_h));
  SERENITY_RETURN_IF_ERROR(CheckPositive(n, "stride_w", a->stride_w));
  SERENITY_RETURN_IF_ERROR(CheckPadding(n, "pad_top", a->pad_top));
  SERENITY_RETURN_IF_ERROR(CheckPadding(n, "pad_bottom", a->pad_bottom));
  SERENITY_RETURN_IF_ERROR(CheckPadding(n, "pad_left", a->pad_left));
  SERENITY_RETURN_IF_ERROR(CheckPadding(n, "pad_right", a->pad_right));
  // A window made only of padding has no value to take the maximum of (and
  // nothing to average when padding does not count).
  if (a->pad_top >= a->filter_h || a->pad_bottom >= a->filter_h ||
      a->pad_left >= a->filter_w || a->pad_right >= a->filter_w) {
    return InvalidModelError(n, " padding (", a->pad_top, ", ", a->pad_bottom,
                             ", ", a->pad_left, ", ", a->pad_right,
                             ") must be smaller than the filter ", a->filter_h,
                             "x", a->filter_w);
  }
  const Shape& x = c.shape(0);
  SERENITY_ASSIGN_OR_RETURN(
      int64_t out_h, WindowOutput(n, "height", x[1], a->pad_top, a->pad_bottom,
                                  a->filter_h, a->stride_h));
  SERENITY_ASSIGN_OR_RETURN(
      int64_t out_w, WindowOutput(n, "width", x[2], a->pad_left, a->pad_right,
                                  a->filter_w, a->stride_w));
  return Shapes{{x[0], out_h, out_w, x[3]}};
}

Result<Shapes> InferGlobalAveragePool(const OpChecker& c) {
  SERENITY_RETURN_IF_ERROR(c.InputCount(1, 1));
  SERENITY_RETURN_IF_ERROR(c.AllInputsPresent());
  SERENITY_RETURN_IF_ERROR(c.Rank(0, "input", 4));
  const Shape& x = c.shape(0);
  return Shapes{{x[0], 1, 1, x[3]}};
}

Result<Shape> Broadcast(const char* n, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return InvalidModelError(n, " inputs of shapes ", ShapeString(a),
                               " and ", ShapeString(b), " do not broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Result<Shapes> InferElementwise(const Operator& op, const OpChecker& c) {
  const bool is_add = op.type == OpType::kAdd;
  SERENITY_RETURN_IF_ERROR(is_add ? c.InputCount(2, kMaxOperandsPerOp)
                                  : c.InputCount(2, 2));
  SERENITY_RETURN_IF_ERROR(c.AllInputsPresent());
  SERENITY_ASSIGN_OR_RETURN(const ElementwiseAttrs* a,
                            AttrsAs<ElementwiseAttrs>(op));
  const char* n = c.op_name();
  SERENITY_RETURN_IF_ERROR(CheckKnownActivation(n, a->activation));
  if (c.num_inputs() == 2) {
    SERENITY_ASSIGN_OR_RETURN(Shape out, Broadcast(n, c.shape(0), c.shape(1)));
    return Shapes{out};
  }
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    if (c.shape(i) != c.shape(0)) {
      return InvalidModelError(
          n, " with more than 2 inputs needs equal shapes: input ", i,
          " has shape ", ShapeString(c.shape(i)), ", input 0 has ",
          ShapeString(c.shape(0)));
    }
  }
  return Shapes{c.shape(0)};
}

Result<int> NormalizeAxis(const char* n, int axis, size_t rank) {
  const int r = static_cast<int>(rank);
  if (axis < -r || axis >= r) {
    return InvalidModelError(n, " axis ", axis, " is out of range for rank ",
                             rank);
  }
  return axis < 0 ? axis + r : axis;
}

Result<Shapes> InferConcat(const Operator& op, const OpChecker& c) {
  SERENITY_RETURN_IF_ERROR(c.InputCount(1, kMaxOperandsPerOp));
  SERENITY_RETURN_IF_ERROR(c.AllInputsPresent());
  SERENITY_ASSIGN_OR_RETURN(const ConcatAttrs* a, AttrsAs<ConcatAttrs>(op));
  const char* n = c.op_name();
  const Shape& first = c.shape(0);
  SERENITY_ASSIGN_OR_RETURN(int axis, NormalizeAxis(n, a->axis, first.size()));
  Shape out = first;
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    const Shape& s = c.shape(i);
    bool compatible = s.size() == first.size();
    for (size_t d = 0; compatible && d < s.size(); ++d) {
      if (static_cast<int>(d) != axis && s[d] != first[d]) compatible = false;
    }
    if (!compatible) {
      return InvalidModelError(n, " input ", i, " has shape ", ShapeString(s),
                               ", which does not match input 0's ",
                               ShapeString(first), " outside axis ", axis);
    }
    out[axis] += s[axis];
  }
  SERENITY_RETURN_IF_ERROR(CheckDimension(n, "concatenated axis", out[axis]));
  return Shapes{out};
}

Result<Shapes> InferUnary(const Operator& op, const OpChecker& c) {
  SERENITY_RETURN_IF_ERROR(c.InputCount(1, 1));
  SERENITY_RETURN_IF_ERROR(c.AllInputsPresent());
  const char* n = c.op_name();
  if (op.type == OpType::kClamp) {
    SERENITY_ASSIGN_OR_RETURN(const ClampAttrs* a, AttrsAs<ClampAttrs>(op));
    if (std::isnan(a->min) || std::isnan(a->max) || !(a->min <= a->max)) {
      return InvalidModelError(n, " needs min <= max, has min ", a->min,
                               " and max ", a->max);
    }
  } else if (op.type == OpType::kSoftmax) {
    SERENITY_ASSIGN_OR_RETURN(const SoftmaxAttrs* a, AttrsAs<SoftmaxAttrs>(op));
    const size_t rank = c.shape(0).size();
    if (rank == 0) {
      return InvalidModelError(n, " input must have rank 1 or more");
    }
    SERENITY_ASSIGN_OR_RETURN(int axis, NormalizeAxis(n, a->axis, rank));
    if (static_cast<size_t>(axis) != rank - 1) {
      return InvalidModelError(n, " axis ", a->axis,
                               " is not the last axis (only the last axis is "
                               "supported)");
    }
  }
  return Shapes{c.shape(0)};
}

Result<Shapes> InferReshape(const Operator& op, const OpChecker& c) {
  SERENITY_RETURN_IF_ERROR(c.InputCount(1, 1));
  SERENITY_RETURN_IF_ERROR(c.AllInputsPresent());
  SERENITY_ASSIGN_OR_RETURN(const ReshapeAttrs* a, AttrsAs<ReshapeAttrs>(op));
  const char* n = c.op_name();
  if (a->new_shape.size() > static_cast<size_t>(kMaxRank)) {
    return InvalidModelError(n, " new_shape has rank ", a->new_shape.size(),
                             ", more than the limit of ", kMaxRank);
  }
  int64_t in_count = 1;
  // Counts stay far from overflow: each factor is at most 2^24 and each
  // partial product is checked against kMaxTensorBytes (2^32) first.
  const int64_t max_count = static_cast<int64_t>(kMaxTensorBytes);
  for (int64_t d : c.shape(0)) {
    in_count *= d;
    if (in_count > max_count) {
      return InvalidModelError(n, " input shape ", ShapeString(c.shape(0)),
                               " has more than ", max_count, " elements");
    }
  }
  int64_t out_count = 1;
  for (int64_t d : a->new_shape) {
    SERENITY_RETURN_IF_ERROR(CheckPositive(n, "new_shape", d));
    out_count *= d;
    if (out_count > in_count) break;
  }
  if (out_count != in_count) {
    return InvalidModelError(n, " new_shape ", ShapeString(a->new_shape),
                             " does not hold the ", in_count,
                             " elements of input shape ",
                             ShapeString(c.shape(0)));
  }
  return Shapes{a->new_shape};
}

Result<Shapes> InferPad(const Operator& op, const OpChecker& c) {
  SERENITY_RETURN_IF_ERROR(c.InputCount(1, 1));
  SERENITY_RETURN_IF_ERROR(c.AllInputsPresent());
  SERENITY_ASSIGN_OR_RETURN(const PadAttrs* a, AttrsAs<PadAttrs>(op));
  const char* n = c.op_name();
  const Shape& x = c.shape(0);
  if (a->paddings.size() != 2 * x.size()) {
    return InvalidModelError(n, " paddings has ", a->paddings.size(),
                             " values; input shape ", ShapeString(x),
                             " needs ", 2 * x.size());
  }
  Shape out = x;
  for (size_t d = 0; d < x.size(); ++d) {
    SERENITY_RETURN_IF_ERROR(CheckPadding(n, "paddings", a->paddings[2 * d]));
    SERENITY_RETURN_IF_ERROR(
        CheckPadding(n, "paddings", a->paddings[2 * d + 1]));
    out[d] = x[d] + a->paddings[2 * d] + a->paddings[2 * d + 1];
    SERENITY_RETURN_IF_ERROR(CheckDimension(n, "dimension", out[d]));
  }
  return Shapes{out};
}

Result<Shapes> InferSlice(const Operator& op, const OpChecker& c) {
  SERENITY_RETURN_IF_ERROR(c.InputCount(1, 1));
  SERENITY_RETURN_IF_ERROR(c.AllInputsPresent());
  SERENITY_ASSIGN_OR_RETURN(const SliceAttrs* a, AttrsAs<SliceAttrs>(op));
  const char* n = c.op_name();
  const Shape& x = c.shape(0);
  if (a->begin.size() != x.size() || a->size.size() != x.size()) {
    return InvalidModelError(n, " begin and size need ", x.size(),
                             " values each for input shape ", ShapeString(x),
                             ", have ", a->begin.size(), " and ",
                             a->size.size());
  }
  Shape out(x.size());
  for (size_t d = 0; d < x.size(); ++d) {
    const int64_t begin = a->begin[d];
    const bool begin_ok = begin >= 0 && begin < x[d];
    const int64_t size =
        begin_ok && a->size[d] == -1 ? x[d] - begin : a->size[d];
    if (!begin_ok || size < 1 || size > x[d] - begin) {
      return InvalidModelError(n, " box begin ", ShapeString(a->begin),
                               " size ", ShapeString(a->size),
                               " is out of bounds of input shape ",
                               ShapeString(x), " in dimension ", d);
    }
    out[d] = size;
  }
  return Shapes{out};
}

Result<Shapes> InferResizeBilinear(const Operator& op, const OpChecker& c) {
  SERENITY_RETURN_IF_ERROR(c.InputCount(1, 1));
  SERENITY_RETURN_IF_ERROR(c.AllInputsPresent());
  SERENITY_ASSIGN_OR_RETURN(const ResizeBilinearAttrs* a,
                            AttrsAs<ResizeBilinearAttrs>(op));
  const char* n = c.op_name();
  SERENITY_RETURN_IF_ERROR(c.Rank(0, "input", 4));
  if (a->align_corners && a->half_pixel_centers) {
    return InvalidModelError(
        n, " cannot have both align_corners and half_pixel_centers");
  }
  SERENITY_RETURN_IF_ERROR(CheckDimension(n, "height", a->output_h));
  SERENITY_RETURN_IF_ERROR(CheckDimension(n, "width", a->output_w));
  const Shape& x = c.shape(0);
  return Shapes{{x[0], a->output_h, a->output_w, x[3]}};
}

}  // namespace

Result<std::vector<std::vector<int64_t>>> InferOutputShapes(
    const Operator& op, const std::vector<std::vector<int64_t>>& input_shapes,
    const std::vector<const Tensor*>& inputs) {
  for (size_t i = 0; i < input_shapes.size(); ++i) {
    const Shape& shape = input_shapes[i];
    const bool absent = i < op.inputs.size() && op.inputs[i] < 0;
    if (absent) continue;
    if (shape.size() > static_cast<size_t>(kMaxRank)) {
      return InvalidModelError(OpTypeName(op.type), " input ", i,
                               " has rank ", shape.size(),
                               ", more than the limit of ", kMaxRank);
    }
    for (int64_t d : shape) {
      if (d < 1 || d > kMaxDimension) {
        return InvalidModelError(OpTypeName(op.type), " input ", i,
                                 " has shape ", ShapeString(shape),
                                 " with a dimension outside [1, ",
                                 kMaxDimension, "]");
      }
    }
  }
  OpChecker c(op, input_shapes, inputs);
  switch (op.type) {
    case OpType::kConv2D:
      return InferConv2D(op, c);
    case OpType::kFullyConnected:
      return InferFullyConnected(op, c);
    case OpType::kMaxPool2D:
    case OpType::kAveragePool2D:
      return InferPool2D(op, c);
    case OpType::kGlobalAveragePool:
      return InferGlobalAveragePool(c);
    case OpType::kAdd:
    case OpType::kMul:
      return InferElementwise(op, c);
    case OpType::kConcat:
      return InferConcat(op, c);
    case OpType::kRelu:
    case OpType::kClamp:
    case OpType::kSigmoid:
    case OpType::kHardSwish:
    case OpType::kSoftmax:
      return InferUnary(op, c);
    case OpType::kReshape:
      return InferReshape(op, c);
    case OpType::kPad:
      return InferPad(op, c);
    case OpType::kSlice:
      return InferSlice(op, c);
    case OpType::kResizeBilinear:
      return InferResizeBilinear(op, c);
  }
  return InvalidModelError("unknown operator type ", static_cast<int>(op.type));
}

}  // namespace serenity
