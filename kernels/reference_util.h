// Addressing helpers for the reference kernels only. The XNNPACK bindings do
// not use this file, so the oracle shares no code with what it checks.
#ifndef SERENITY_KERNELS_REFERENCE_UTIL_H_
#define SERENITY_KERNELS_REFERENCE_UTIL_H_

#include <cstdint>
#include <vector>

#include "serenity/kernels/op_kernel.h"

namespace serenity::kernels::reference {

// Number of rows (all dimensions but the last) of a view.
inline int64_t NumRows(const OperandView& view) {
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < view.shape.size(); ++d) rows *= view.shape[d];
  return rows;
}

inline int64_t NumChannels(const OperandView& view) {
  return view.shape.empty() ? 1 : view.shape.back();
}

// Element `c` of row `row`.
inline float& At(const OperandView& view, int64_t row, int64_t c) {
  return view.data[row * view.pixel_stride + c];
}

// Element [n, h, w, c] of a rank-4 view.
inline float& At4(const OperandView& view, int64_t n, int64_t h, int64_t w, int64_t c) {
  return view.data[((n * view.shape[1] + h) * view.shape[2] + w) * view.pixel_stride + c];
}

// Element at a full multi-index.
inline float& AtIndex(const OperandView& view, const std::vector<int64_t>& index) {
  if (index.empty()) return view.data[0];
  int64_t row = 0;
  for (size_t d = 0; d + 1 < index.size(); ++d) row = row * view.shape[d] + index[d];
  return view.data[row * view.pixel_stride + index.back()];
}

// Advances `index` through `shape` in row-major order; false after the last.
inline bool NextIndex(const std::vector<int64_t>& shape, std::vector<int64_t>& index) {
  for (size_t d = shape.size(); d-- > 0;) {
    if (++index[d] < shape[d]) return true;
    index[d] = 0;
  }
  return false;
}

inline int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return count;
}

inline double ApplyActivation(Activation activation, double value) {
  if (activation == Activation::kRelu || activation == Activation::kRelu6) {
    value = value < 0.0 ? 0.0 : value;
  }
  if (activation == Activation::kRelu6) value = value > 6.0 ? 6.0 : value;
  return value;
}

}  // namespace serenity::kernels::reference

#endif  // SERENITY_KERNELS_REFERENCE_UTIL_H_
