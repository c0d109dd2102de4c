// Read-only file mapping, so that a model's weights are used in place.
#ifndef SERENITY_PLATFORMS_FILE_MAP_H_
#define SERENITY_PLATFORMS_FILE_MAP_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "serenity/status.h"

namespace serenity::platforms {

// A whole file mapped read-only (or, where mapping is unavailable, read into
// memory). Move-only; unmaps on destruction. data() stays valid and unchanged
// for the object's lifetime.
class MappedFile {
 public:
  // Errors: kNotFound (no such file), kIoError (cannot open, stat or map; a
  // directory), kInvalidArgument (larger than `max_bytes`).
  static Result<MappedFile> Open(const std::string& path, uint64_t max_bytes);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile(const uint8_t* data, size_t size, bool mapped)
      : data_(data), size_(size), mapped_(mapped) {}
  void Release();

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

}  // namespace serenity::platforms

#endif  // SERENITY_PLATFORMS_FILE_MAP_H_
