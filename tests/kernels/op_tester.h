// Shared machinery for the per-op tests: run one operator through BindOp +
// Run and through RunReferenceOp on the same random data, with operands placed
// as channel slices of wider buffers where asked, and compare.
#ifndef SERENITY_TESTS_KERNELS_OP_TESTER_H_
#define SERENITY_TESTS_KERNELS_OP_TESTER_H_

#include <gtest/gtest.h>
#include <pthreadpool.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serenity/kernels/op_kernel.h"
#include "serenity/model_format/model.h"

namespace serenity::kernels::testing {

// |xnnpack - reference| <= kAbsTolerance + kRelTolerance * |reference|.
inline constexpr double kAbsTolerance = 1e-4;
inline constexpr double kRelTolerance = 1e-4;

// The pool every test binds and runs on (2 threads).
pthreadpool_t TestPool();

// Where an operand lives: a channel slice [offset, offset + C) of a buffer
// with C + extra channels per pixel (extra == 0: dense).
struct Placement {
  int64_t offset = 0;
  int64_t extra = 0;
};

struct OperandSpec {
  std::vector<int64_t> shape;
  bool absent = false;    // optional operand left out (-1)
  bool constant = false;  // a weight, marked constant; strided rows
                          // (Tensor::row_stride) when placement.extra > 0
  Placement placement;
  float min = -1.0f, max = 1.0f;  // random values in [min, max]
};

inline OperandSpec Spec(std::vector<int64_t> shape, bool constant = false) {
  OperandSpec spec;
  spec.shape = std::move(shape);
  spec.constant = constant;
  return spec;
}

struct OpCase {
  Operator op;
  std::vector<OperandSpec> inputs;
  OperandSpec output;
  bool in_place = false;  // output view := input 0 view
  uint32_t seed = 1;
  bool single_threaded = false;  // bind and run with a null pool
  KernelChoice kernels = KernelChoice::kAuto;
  // Test of the tester: added to the reference's first output value.
  float perturb_reference = 0.0f;
  // When positive, RunCase also accepts |got - reference| <= scale_tolerance
  // * max |reference| over the whole output: for Winograd convolutions,
  // whose rounding error scales with the output's magnitude, not with each
  // value's.
  double scale_tolerance = 0.0;
  // Bind with BindOp's input_relu (a Relu folded into a depthwise Conv2D);
  // the reference then reads max(0, x) of input 0.
  bool input_relu = false;
};

// Binds, runs (twice unless in place) and compares against the reference;
// checks the bytes around an output slice are untouched. Reports failures
// through GoogleTest with the case's description.
void RunCase(const OpCase& c);

// Binds and runs the case once (not in place) and returns its output, the
// channels of each row one after the other, for comparing two kernels'
// results with each other. Reports failures through GoogleTest.
std::vector<float> RunOutput(const OpCase& c);

// The case on the kernel it names (c.kernels) and on XNNPACK give the same
// output within the tolerances above (and c.scale_tolerance); up to 10
// differing values reported.
void ExpectSameAsXnnpack(OpCase c);

// BindOp's status for the case (without running).
Status BindStatus(const OpCase& c);

std::string Describe(const OpCase& c);

// A bound case whose buffers live as long as it does, for tests that run it
// themselves. Bound with TestPool() unless c.single_threaded (then no pool),
// as RunCase binds.
struct BoundCase {
  std::unique_ptr<BoundOp> op;
  std::shared_ptr<void> buffers;
};
Result<BoundCase> BindCase(const OpCase& c);

}  // namespace serenity::kernels::testing

#endif  // SERENITY_TESTS_KERNELS_OP_TESTER_H_
