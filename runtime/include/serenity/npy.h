// Reading and writing NumPy .npy files of float32 (C order, little-endian):
// how serenity_run and tests move tensors in and out.
//
// Only what np.save writes for a float32 C-contiguous array is accepted:
// format version 1.0, 2.0 or 3.0, a header dict with exactly the keys
// 'descr' ('<f4'), 'fortran_order' (False) and 'shape' (a tuple of
// non-negative integers), and exactly as many data bytes as the shape says.
#ifndef SERENITY_NPY_H_
#define SERENITY_NPY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "serenity/export.h"
#include "serenity/status.h"

namespace serenity::npy {

struct Array {
  std::vector<int64_t> shape;  // empty for a 0-d array (one element)
  std::vector<float> data;     // row-major
};

// Errors: kNotFound (no such file), kIoError (cannot read), kInvalidArgument
// (not a .npy file, another dtype or byte order, Fortran order, a malformed
// header, or a data length that does not match the shape; the message names
// `source`, which is the path or a caller-chosen label).
SERENITY_API Result<Array> Parse(const uint8_t* bytes, size_t size, const std::string& source);
SERENITY_API Result<Array> Read(const std::string& path);

// Version 1.0 .npy bytes for `count` floats of `shape` (count must equal the
// shape's element count: kInvalidArgument otherwise).
SERENITY_API Result<std::vector<uint8_t>> Encode(const std::vector<int64_t>& shape,
                                                 const float* data, size_t count);
// Encode, then write `path` (kIoError naming the path when it cannot be
// written: missing directory, no permission, disk full).
SERENITY_API Status Write(const std::string& path, const std::vector<int64_t>& shape,
                          const float* data, size_t count);

}  // namespace serenity::npy

#endif  // SERENITY_NPY_H_
