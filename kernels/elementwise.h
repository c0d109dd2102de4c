// The AVX2 body of OwnElementwiseOp (kernel_util.h): clamp(sum of inputs)
// over one run of floats. Plain declarations on purpose: the AVX2
// translation unit must not instantiate inline code shared with the rest of
// the program (see dense_conv.h).
#ifndef SERENITY_KERNELS_ELEMENTWISE_H_
#define SERENITY_KERNELS_ELEMENTWISE_H_

#include <cstddef>
#include <cstdint>

namespace serenity::kernels {

// out[i] = min(max(inputs[0][i] + ... + inputs[count - 1][i], lo), hi) for
// i < n (count >= 1). `out` may be inputs[0] (every input of an element is
// read before it is written). Call only when DenseConvAvailable().
void ElementwiseClampSum(const float* const* inputs, size_t count, float* out, int64_t n,
                         float lo, float hi);

}  // namespace serenity::kernels

#endif  // SERENITY_KERNELS_ELEMENTWISE_H_
