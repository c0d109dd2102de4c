#include "serenity/npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

namespace serenity::npy {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr size_t kMaxHeaderBytes = 1 << 16;
constexpr int kMaxRank = 32;

// A tiny parser for the header's Python dict literal.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& source)
      : text_(text), source_(source) {}

  Status Parse(std::string* descr, bool* fortran_order, std::vector<int64_t>* shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    SkipSpace();
    if (!Consume('{')) return Error("the header is not a dict");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      std::string key;
      SERENITY_RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (!Consume(':')) return Error("expected ':' after '", key, "'");
      SkipSpace();
      if (key == "descr") {
        if (have_descr) return Error("'descr' appears twice");
        SERENITY_RETURN_IF_ERROR(ParseString(descr));
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_fortran) return Error("'fortran_order' appears twice");
        if (ConsumeWord("False")) {
          *fortran_order = false;
        } else if (ConsumeWord("True")) {
          *fortran_order = true;
        } else {
          return Error("'fortran_order' is neither True nor False");
        }
        have_fortran = true;
      } else if (key == "shape") {
        if (have_shape) return Error("'shape' appears twice");
        SERENITY_RETURN_IF_ERROR(ParseShape(shape));
        have_shape = true;
      } else {
        return Error("unexpected key '", key, "' in the header");
      }
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume('}')) break;
      return Error("expected ',' or '}' in the header dict");
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("trailing characters after the header dict");
    if (!have_descr || !have_fortran || !have_shape) {
      return Error("the header lacks ", !have_descr ? "'descr'" : !have_fortran ? "'fortran_order'"
                                                                                : "'shape'");
    }
    return Status::Ok();
  }

 private:
  template <typename... Args>
  Status Error(const Args&... args) const {
    return InvalidArgumentError(source_, ": malformed .npy header: ", args...);
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n')) ++pos_;
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ConsumeWord(const char* word) {
    const size_t n = std::strlen(word);
    if (text_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }
  Status ParseString(std::string* out) {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      return Error("expected a quoted string");
    }
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string::npos) return Error("unterminated string");
    *out = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return Status::Ok();
  }
  Status ParseShape(std::vector<int64_t>* shape) {
    shape->clear();
    if (!Consume('(')) return Error("'shape' is not a tuple");
    while (true) {
      SkipSpace();
      if (Consume(')')) return Status::Ok();
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') {
        return Error("'shape' holds something other than a non-negative integer");
      }
      int64_t value = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        if (value > (std::numeric_limits<int64_t>::max() - 9) / 10) {
          return Error("a dimension in 'shape' is too large");
        }
        value = value * 10 + (text_[pos_++] - '0');
      }
      if (static_cast<int>(shape->size()) == kMaxRank) return Error("'shape' has too many dimensions");
      shape->push_back(value);
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume(')')) return Status::Ok();
      return Error("expected ',' or ')' in 'shape'");
    }
  }

  const std::string& text_;
  const std::string& source_;
  size_t pos_ = 0;
};

std::string ShapeTuple(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    s += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) s += shape.size() == 1 ? "," : ", ";
  }
  return s + ")";
}

}  // namespace

Result<Array> Parse(const uint8_t* bytes, size_t size, const std::string& source) {
  if (size < kMagicBytes + 2 || std::memcmp(bytes, kMagic, kMagicBytes) != 0) {
    return InvalidArgumentError(source, ": not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = bytes[6];
  size_t header_bytes = 0, prefix = 0;
  if (major == 1) {
    prefix = 10;
    if (size < prefix) return InvalidArgumentError(source, ": truncated .npy header");
    header_bytes = bytes[8] | (size_t{bytes[9]} << 8);
  } else if (major == 2 || major == 3) {
    prefix = 12;
    if (size < prefix) return InvalidArgumentError(source, ": truncated .npy header");
    header_bytes = bytes[8] | (size_t{bytes[9]} << 8) | (size_t{bytes[10]} << 16) |
                   (size_t{bytes[11]} << 24);
  } else {
    return InvalidArgumentError(source, ": unsupported .npy format version ", major, ".",
                                static_cast<int>(bytes[7]));
  }
  if (header_bytes > kMaxHeaderBytes || header_bytes > size - prefix) {
    return InvalidArgumentError(source, ": truncated or oversized .npy header (", header_bytes,
                                " bytes)");
  }
  const std::string header(reinterpret_cast<const char*>(bytes + prefix), header_bytes);
  std::string descr;
  bool fortran_order = false;
  Array array;
  SERENITY_RETURN_IF_ERROR(HeaderParser(header, source).Parse(&descr, &fortran_order, &array.shape));
  if (descr != "<f4") {
    return InvalidArgumentError(source, ": dtype is '", descr,
                                "', expected '<f4' (float32, little-endian)");
  }
  if (fortran_order) {
    return InvalidArgumentError(source, ": array is in Fortran order; save it C-contiguous");
  }
  uint64_t count = 1;
  for (int64_t dim : array.shape) {
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / 4 / static_cast<uint64_t>(dim)) {
      return InvalidArgumentError(source, ": shape ", ShapeTuple(array.shape), " is too large");
    }
    count *= static_cast<uint64_t>(dim);
  }
  const size_t data_bytes = size - prefix - header_bytes;
  if (data_bytes != count * sizeof(float)) {
    return InvalidArgumentError(source, ": shape ", ShapeTuple(array.shape), " needs ",
                                count * sizeof(float), " data bytes but the file has ",
                                data_bytes);
  }
  array.data.resize(count);
  if (count != 0) std::memcpy(array.data.data(), bytes + prefix + header_bytes, data_bytes);
  return array;
}

Result<Array> Read(const std::string& path) {
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  errno = 0;
  std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    if (errno == ENOENT) return NotFoundError(path, ": no such file");
    return IoError(path, ": cannot open: ", std::strerror(errno));
  }
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof(chunk), file.get())) > 0) {
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  if (std::ferror(file.get())) return IoError(path, ": read error (is it a directory?)");
  return Parse(bytes.data(), bytes.size(), path);
}

Result<std::vector<uint8_t>> Encode(const std::vector<int64_t>& shape, const float* data,
                                    size_t count) {
  uint64_t expected = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return InvalidArgumentError("negative dimension in shape ", ShapeTuple(shape));
    expected *= static_cast<uint64_t>(dim);
  }
  if (expected != count) {
    return InvalidArgumentError("shape ", ShapeTuple(shape), " has ", expected,
                                " elements but ", count, " were given");
  }
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " +
                       ShapeTuple(shape) + ", }";
  // Pad with spaces so that the data starts 64-byte aligned, then '\n'.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::vector<uint8_t> bytes(kMagic, kMagic + kMagicBytes);
  bytes.push_back(1);
  bytes.push_back(0);
  bytes.push_back(static_cast<uint8_t>(header.size() & 0xff));
  bytes.push_back(static_cast<uint8_t>(header.size() >> 8));
  bytes.insert(bytes.end(), header.begin(), header.end());
  const uint8_t* raw = reinterpret_cast<const uint8_t*>(data);
  bytes.insert(bytes.end(), raw, raw + count * sizeof(float));
  return bytes;
}

Status Write(const std::string& path, const std::vector<int64_t>& shape, const float* data,
             size_t count) {
  SERENITY_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, Encode(shape, data, count));
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return IoError(path, ": cannot write: ", std::strerror(errno));
  const size_t written = std::fwrite(bytes.data(), 1, bytes.size(), file);
  const bool flushed = std::fflush(file) == 0;
  const bool closed = std::fclose(file) == 0;
  if (written != bytes.size() || !flushed || !closed) {
    return IoError(path, ": write failed: ", std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace serenity::npy
