#include "op_tester.h"

#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <sstream>

namespace serenity::kernels::testing {
namespace {

// Marks floats no kernel should write.
constexpr float kSentinel = -12345.0f;
constexpr int64_t kSlackFloats = XNN_EXTRA_BYTES / sizeof(float);

int64_t Rows(const std::vector<int64_t>& shape) {
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < shape.size(); ++d) rows *= shape[d];
  return rows;
}

int64_t Channels(const std::vector<int64_t>& shape) { return shape.empty() ? 1 : shape.back(); }

// Storage for one operand plus the view into it.
struct Operand {
  std::vector<float> storage;
  OperandView view;
  int64_t stride = 0;
};

Operand MakeOperand(const OperandSpec& spec, std::mt19937& rng, bool fill_random) {
  Operand operand;
  const int64_t channels = Channels(spec.shape);
  operand.stride = channels + spec.placement.extra;
  const int64_t offset = spec.placement.offset;
  operand.storage.assign(Rows(spec.shape) * operand.stride + kSlackFloats, kSentinel);
  std::uniform_real_distribution<float> dist(spec.min, spec.max);
  if (fill_random) {
    for (int64_t r = 0; r < Rows(spec.shape); ++r) {
      for (int64_t i = 0; i < channels; ++i) {
        operand.storage[r * operand.stride + offset + i] = dist(rng);
      }
    }
  }
  operand.view.data = operand.storage.data() + offset;
  operand.view.shape = spec.shape;
  operand.view.pixel_stride = spec.shape.empty() ? 1 : operand.stride;
  return operand;
}

struct Prepared {
  Operator op;
  std::vector<Tensor> tensors;
  std::vector<Operand> inputs;
  Operand output;
  std::vector<OperandView> input_views;
  std::vector<OperandView> output_views;
  std::vector<const Tensor*> tensor_ptrs;
};

// Fills inputs from `seed`; when `in_place`, the output view is input 0's.
std::unique_ptr<Prepared> Prepare(const OpCase& c, bool in_place) {
  auto p = std::make_unique<Prepared>();
  p->op = c.op;
  p->op.inputs.clear();
  p->op.outputs = {static_cast<int>(c.inputs.size())};
  std::mt19937 rng(c.seed);
  p->tensors.resize(c.inputs.size());
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const OperandSpec& spec = c.inputs[i];
    p->op.inputs.push_back(spec.absent ? -1 : static_cast<int>(i));
    if (spec.absent) {
      p->inputs.emplace_back();
      continue;
    }
    p->inputs.push_back(MakeOperand(spec, rng, true));
    Tensor& tensor = p->tensors[i];
    tensor.name = "t" + std::to_string(i);
    tensor.shape = spec.shape;
    if (spec.constant) {
      tensor.data = reinterpret_cast<const uint8_t*>(p->inputs.back().view.data);
      tensor.data_bytes = tensor.num_elements() * sizeof(float);
      if (spec.placement.extra > 0) {  // strided rows (Tensor::row_stride)
        const int64_t stride = p->inputs.back().stride;
        const int64_t rows = Rows(spec.shape);
        tensor.row_stride = stride;
        tensor.data_bytes = ((rows - 1) * stride + Channels(spec.shape)) * sizeof(float);
      }
    }
  }
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    p->input_views.push_back(p->inputs[i].view);
    p->tensor_ptrs.push_back(c.inputs[i].absent ? nullptr : &p->tensors[i]);
  }
  if (in_place) {
    p->output_views.push_back(p->input_views[0]);
    p->output_views[0].shape = c.output.shape;
    if (c.inputs[0].placement.extra == 0) {
      p->output_views[0].pixel_stride = c.output.shape.empty() ? 1 : Channels(c.output.shape);
    }
  } else {
    p->output = MakeOperand(c.output, rng, false);
    p->output_views.push_back(p->output.view);
  }
  return p;
}

}  // namespace

pthreadpool_t TestPool() {
  static pthreadpool_t pool = pthreadpool_create(2);
  return pool;
}

std::string Describe(const OpCase& c) {
  std::ostringstream out;
  out << OpTypeName(c.op.type) << " seed " << c.seed << (c.in_place ? " in-place" : "")
      << (c.input_relu ? " input-relu" : "");
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const OperandSpec& s = c.inputs[i];
    out << " in" << i << "=";
    if (s.absent) {
      out << "absent";
      continue;
    }
    out << "[";
    for (size_t d = 0; d < s.shape.size(); ++d) out << (d ? "," : "") << s.shape[d];
    out << "]";
    if (s.constant) out << "const";
    if (s.placement.extra) out << "@" << s.placement.offset << "+" << s.placement.extra;
  }
  out << " out=[";
  for (size_t d = 0; d < c.output.shape.size(); ++d) {
    out << (d ? "," : "") << c.output.shape[d];
  }
  out << "]";
  if (c.output.placement.extra) {
    out << "@" << c.output.placement.offset << "+" << c.output.placement.extra;
  }
  return out.str();
}

Status BindStatus(const OpCase& c) {
  std::unique_ptr<Prepared> p = Prepare(c, c.in_place);
  Result<std::unique_ptr<BoundOp>> bound =
      BindOp(p->op, p->tensor_ptrs, p->input_views, p->output_views, TestPool(), "test op",
             c.kernels, nullptr, c.input_relu);
  return bound.ok() ? Status::Ok() : bound.status();
}

Result<BoundCase> BindCase(const OpCase& c) {
  std::shared_ptr<Prepared> p = Prepare(c, c.in_place);
  pthreadpool_t pool = c.single_threaded ? nullptr : TestPool();
  Result<std::unique_ptr<BoundOp>> bound =
      BindOp(p->op, p->tensor_ptrs, p->input_views, p->output_views, pool, "test op", c.kernels,
             nullptr, c.input_relu);
  if (!bound.ok()) return bound.status();
  return BoundCase{std::move(bound).value(), p};
}

std::vector<float> RunOutput(const OpCase& c) {
  SCOPED_TRACE(Describe(c));
  std::unique_ptr<Prepared> p = Prepare(c, false);
  pthreadpool_t pool = c.single_threaded ? nullptr : TestPool();
  Result<std::unique_ptr<BoundOp>> bound =
      BindOp(p->op, p->tensor_ptrs, p->input_views, p->output_views, pool, "test op", c.kernels);
  std::vector<float> values;
  if (!bound.ok()) {
    ADD_FAILURE() << bound.status().ToString();
    return values;
  }
  Status status = (*bound)->Run(pool);
  if (!status.ok()) {
    ADD_FAILURE() << status.ToString();
    return values;
  }
  const OperandView& out = p->output_views[0];
  const int64_t rows = Rows(c.output.shape), channels = Channels(c.output.shape);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < channels; ++i) values.push_back(out.data[r * out.pixel_stride + i]);
  }
  return values;
}

void RunCase(const OpCase& c) {
  SCOPED_TRACE(Describe(c));
  std::unique_ptr<Prepared> actual = Prepare(c, c.in_place);
  std::unique_ptr<Prepared> expected = Prepare(c, false);

  pthreadpool_t pool = c.single_threaded ? nullptr : TestPool();
  Result<std::unique_ptr<BoundOp>> bound =
      BindOp(actual->op, actual->tensor_ptrs, actual->input_views, actual->output_views, pool,
             "test op", c.kernels, nullptr, c.input_relu);
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  const int runs = c.in_place ? 1 : 2;
  for (int run = 0; run < runs; ++run) {
    Status status = (*bound)->Run(pool);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  if (c.input_relu) {
    // The reference reads what the kernel should see: max(0, x).
    const OperandView& x = expected->input_views[0];
    const int64_t rows = Rows(c.inputs[0].shape), channels = Channels(c.inputs[0].shape);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < channels; ++i) {
        float& v = x.data[r * x.pixel_stride + i];
        v = std::max(v, 0.0f);
      }
    }
  }
  Status status =
      RunReferenceOp(expected->op, expected->input_views, expected->output_views, "test op");
  ASSERT_TRUE(status.ok()) << status.ToString();
  expected->output_views[0].data[0] += c.perturb_reference;

  const OperandView& got = actual->output_views[0];
  const OperandView& want = expected->output_views[0];
  const int64_t rows = Rows(c.output.shape), channels = Channels(c.output.shape);
  double scale = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < channels; ++i) {
      scale = std::max(scale, std::fabs(static_cast<double>(want.data[r * want.pixel_stride + i])));
    }
  }
  const double scale_error = c.scale_tolerance * scale;
  int failures = 0;
  for (int64_t r = 0; r < rows && failures < 10; ++r) {
    for (int64_t i = 0; i < channels && failures < 10; ++i) {
      const double g = got.data[r * got.pixel_stride + i];
      const double w = want.data[r * want.pixel_stride + i];
      const double error = std::fabs(g - w);
      if (!(error <= kAbsTolerance + kRelTolerance * std::fabs(w) || error <= scale_error)) {
        ADD_FAILURE() << "row " << r << " channel " << i << ": got " << g << ", reference " << w;
        ++failures;
      }
    }
  }
  if (!c.in_place) {
    // Everything outside the output slice (other channels, slack) untouched.
    const Operand& out = actual->output;
    const int64_t offset = c.output.placement.offset;
    for (size_t k = 0; k < out.storage.size() && failures < 10; ++k) {
      const int64_t r = static_cast<int64_t>(k) / out.stride;
      const int64_t i = static_cast<int64_t>(k) % out.stride - offset;
      const bool inside = r < rows && i >= 0 && i < channels;
      if (!inside && out.storage[k] != kSentinel) {
        ADD_FAILURE() << "wrote outside the output view at float " << k;
        ++failures;
      }
    }
  }
}

void ExpectSameAsXnnpack(OpCase c) {
  const std::vector<float> own = RunOutput(c);
  c.kernels = KernelChoice::kXnnpack;
  const std::vector<float> xnnpack = RunOutput(c);
  ASSERT_EQ(own.size(), xnnpack.size()) << Describe(c);
  double scale = 0.0;
  for (float value : xnnpack) scale = std::max(scale, std::fabs(static_cast<double>(value)));
  const double scale_error = c.scale_tolerance * scale;
  int failures = 0;
  for (size_t i = 0; i < own.size() && failures < 10; ++i) {
    const double error = std::fabs(own[i] - xnnpack[i]);
    if (!(error <= kAbsTolerance + kRelTolerance * std::fabs(xnnpack[i]) || error <= scale_error)) {
      ADD_FAILURE() << Describe(c) << " value " << i << ": " << own[i] << ", XNNPACK "
                    << xnnpack[i];
      ++failures;
    }
  }
}

}  // namespace serenity::kernels::testing
