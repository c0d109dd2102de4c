#include "serenity/platforms/file_map.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace serenity::platforms {
namespace {

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/file_map_test_" + std::to_string(::getpid()) + "_" + name;
}

TEST(MappedFileTest, MapsContents) {
  std::string path = TempPath("contents");
  {
    std::ofstream out(path, std::ios::binary);
    out << "serenity";
  }
  Result<MappedFile> file = MappedFile::Open(path, 1 << 20);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(file->size(), 8u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file->data()), file->size()), "serenity");
  MappedFile moved = std::move(file).value();
  EXPECT_EQ(moved.size(), 8u);
  std::remove(path.c_str());
}

TEST(MappedFileTest, MissingFileIsNotFound) {
  Result<MappedFile> file = MappedFile::Open(TempPath("missing"), 1 << 20);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
}

TEST(MappedFileTest, DirectoryIsRejected) {
  Result<MappedFile> file = MappedFile::Open(::testing::TempDir(), 1 << 20);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kIoError);
}

TEST(MappedFileTest, OversizeFileIsRejectedBeforeMapping) {
  std::string path = TempPath("big");
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(100, 'x');
  }
  Result<MappedFile> file = MappedFile::Open(path, 99);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(file.status().message().find("limit"), std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace serenity::platforms
