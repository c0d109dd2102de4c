// Partial-vector loads and stores for the AVX2 kernels (dense_conv_avx2.cc,
// depthwise_conv_avx2.cc, winograd_conv_avx2.cc). Only translation units
// compiled with -mavx2 may include this: every copy of the inline functions
// is then an AVX2 one, so the linker cannot pick an AVX2 copy for code that
// runs without AVX2.
#ifndef SERENITY_KERNELS_AVX2_STORE_H_
#define SERENITY_KERNELS_AVX2_STORE_H_

#ifndef __AVX2__
#error "avx2_store.h is for translation units compiled with -mavx2 only"
#endif

#include <immintrin.h>

#include <cstdint>

namespace serenity::kernels::avx2 {

// Stores the first `lanes` (1..7) floats of `v`. Not vmaskmovps: its store
// form is microcoded and slow on AMD Zen.
inline void StorePartial(float* out, __m256 v, int64_t lanes) {
  __m128 part = _mm256_castps256_ps128(v);
  if (lanes >= 4) {
    _mm_storeu_ps(out, part);
    part = _mm256_extractf128_ps(v, 1);
    out += 4;
    lanes -= 4;
  }
  if (lanes >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(out), part);
    part = _mm_movehl_ps(part, part);
    out += 2;
    lanes -= 2;
  }
  if (lanes >= 1) _mm_store_ss(out, part);
}

// The first `lanes` (0..8) floats at `p`, zeros after them; never reads
// past them.
inline __m256 LoadPartial(const float* p, int64_t lanes) {
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return _mm256_maskload_ps(p, mask);
}

}  // namespace serenity::kernels::avx2

#endif  // SERENITY_KERNELS_AVX2_STORE_H_
