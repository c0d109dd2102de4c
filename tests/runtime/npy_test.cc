#include "serenity/npy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace serenity::npy {
namespace {

std::vector<uint8_t> NpyBytes(const std::string& header_dict, size_t data_bytes, int major = 1) {
  std::string header = header_dict;
  const size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::vector<uint8_t> bytes = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const size_t n = header.size();
  bytes.push_back(n & 0xff);
  bytes.push_back((n >> 8) & 0xff);
  if (major != 1) {
    bytes.push_back(0);
    bytes.push_back(0);
  }
  bytes.insert(bytes.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_bytes; ++i) bytes.push_back(static_cast<uint8_t>(i));
  return bytes;
}

TEST(NpyTest, EncodeParseRoundTrip) {
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 1e-3f};
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{6}, {2, 3}, {1, 2, 3, 1}}) {
    Result<std::vector<uint8_t>> bytes = Encode(shape, values.data(), values.size());
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    EXPECT_EQ((bytes->size() - values.size() * 4) % 64, 0u);  // data 64-byte aligned
    Result<Array> array = Parse(bytes->data(), bytes->size(), "round trip");
    ASSERT_TRUE(array.ok()) << array.status().ToString();
    EXPECT_EQ(array->shape, shape);
    EXPECT_EQ(array->data, values);
  }
  EXPECT_FALSE(Encode({2, 2}, values.data(), values.size()).ok());
}

TEST(NpyTest, ParsesWhatNumpyWrites) {
  // np.save of np.zeros((1, 3), np.float32), version 1.0 and 3.0.
  for (int major : {1, 3}) {
    std::vector<uint8_t> bytes =
        NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }", 12, major);
    Result<Array> array = Parse(bytes.data(), bytes.size(), "x.npy");
    ASSERT_TRUE(array.ok()) << array.status().ToString();
    EXPECT_EQ(array->shape, (std::vector<int64_t>{1, 3}));
    EXPECT_EQ(array->data.size(), 3u);
  }
  std::vector<uint8_t> scalar = NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4);
  Result<Array> array = Parse(scalar.data(), scalar.size(), "s.npy");
  ASSERT_TRUE(array.ok()) << array.status().ToString();
  EXPECT_TRUE(array->shape.empty());
  EXPECT_EQ(array->data.size(), 1u);
}

TEST(NpyTest, RejectsWhatItCannotRead) {
  struct Case {
    std::vector<uint8_t> bytes;
    const char* why;
  };
  std::vector<Case> cases = {
      {NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24), "'<f8'"},
      {NpyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", 12), "'>f4'"},
      {NpyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 12), "'<i4'"},
      {NpyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", 12), "Fortran"},
      {NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 11), "data bytes"},
      {NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 16), "data bytes"},
      {NpyBytes("{'descr': '<f4', 'shape': (3,), }", 12), "fortran_order"},
      {NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", 12), "'x'"},
      {NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", 12), "shape"},
      {NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,) }junk", 12), "trailing"},
      {NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, "
                "99999999999), }",
                0),
       "too large"},
      {{'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0, 0}, "magic"},
      {{0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0x7f}, "header"},
      {{0x93, 'N', 'U', 'M', 'P', 'Y', 9, 0, 0, 0}, "version"},
      {{0x93, 'N', 'U'}, "magic"},
  };
  for (const Case& c : cases) {
    Result<Array> array = Parse(c.bytes.data(), c.bytes.size(), "bad.npy");
    ASSERT_FALSE(array.ok()) << c.why;
    EXPECT_EQ(array.status().code(), StatusCode::kInvalidArgument) << c.why;
    EXPECT_NE(array.status().message().find("bad.npy"), std::string::npos);
    EXPECT_NE(array.status().message().find(c.why), std::string::npos)
        << "expected '" << c.why << "' in: " << array.status().message();
  }
}

TEST(NpyTest, FileErrors) {
  Result<Array> missing = Read("/nonexistent/dir/x.npy");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  const float v = 1.0f;
  Status unwritable = Write("/nonexistent/dir/x.npy", {1}, &v, 1);
  EXPECT_EQ(unwritable.code(), StatusCode::kIoError);
  EXPECT_NE(unwritable.message().find("/nonexistent/dir/x.npy"), std::string::npos);

  const std::string path =
      ::testing::TempDir() + "/npy_test_" + std::to_string(getpid()) + ".npy";
  const std::vector<float> values = {1, 2, 3, 4};
  ASSERT_TRUE(Write(path, {2, 2}, values.data(), values.size()).ok());
  Result<Array> back = Read(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(back->data, values);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace serenity::npy
