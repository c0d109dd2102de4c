// The AVX2 body of elementwise.h. Compiled with -mavx2 -mfma on x86-64 only;
// see dense_conv.h for why nothing here may be shared with other translation
// units. Four vectors per step: the loop is bound by loads and stores
// (L2-resident operands), and a plain C++ loop compiled for baseline x86-64
// ran at half of XNNPACK's clamp per thread.
#include <immintrin.h>

#include "elementwise.h"

namespace serenity::kernels {
namespace {

template <int kInputs>  // 1, 2, or 0 for any count >= 3
void ClampSumRun(const float* const* inputs, size_t count, float* out, int64_t n, float lo,
                 float hi) {
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  const float* a = inputs[0];
  const float* b = kInputs != 1 ? inputs[1] : nullptr;
  auto sum = [&](int64_t i) {
    __m256 v = _mm256_loadu_ps(a + i);
    if (kInputs != 1) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
    if (kInputs == 0) {
      for (size_t k = 2; k < count; ++k) v = _mm256_add_ps(v, _mm256_loadu_ps(inputs[k] + i));
    }
    return _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
  };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 v0 = sum(i), v1 = sum(i + 8), v2 = sum(i + 16), v3 = sum(i + 24);
    _mm256_storeu_ps(out + i, v0);
    _mm256_storeu_ps(out + i + 8, v1);
    _mm256_storeu_ps(out + i + 16, v2);
    _mm256_storeu_ps(out + i + 24, v3);
  }
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, sum(i));
  for (; i < n; ++i) {
    float v = a[i];
    for (size_t k = 1; k < count; ++k) v += inputs[k][i];
    v = v < lo ? lo : v;
    out[i] = v > hi ? hi : v;
  }
}

}  // namespace

void ElementwiseClampSum(const float* const* inputs, size_t count, float* out, int64_t n,
                         float lo, float hi) {
  if (count == 1) return ClampSumRun<1>(inputs, count, out, n, lo, hi);
  if (count == 2) return ClampSumRun<2>(inputs, count, out, n, lo, hi);
  ClampSumRun<0>(inputs, count, out, n, lo, hi);
}

}  // namespace serenity::kernels
