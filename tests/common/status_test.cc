#include "serenity/status.h"

#include <gtest/gtest.h>

#include <iterator>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

namespace serenity {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kOk);
  EXPECT_EQ(status.ToString(), "ok");
}

TEST(StatusTest, OkCodeDropsMessage) {
  Status status(StatusCode::kOk, "ignored");
  EXPECT_TRUE(status.ok());
  EXPECT_TRUE(status.message().empty());
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  Status status = InvalidModelError("tensor ", 17, " ('x'): negative dimension ", -3);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidModel);
  EXPECT_EQ(status.message(), "tensor 17 ('x'): negative dimension -3");
  EXPECT_EQ(status.ToString(), "invalid model: tensor 17 ('x'): negative dimension -3");
}

TEST(StatusTest, WithContextPrefixesAndKeepsCode) {
  Status status = NotFoundError("no such file").WithContext("model.srn");
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "model.srn: no such file");
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
}

TEST(StatusTest, EveryCodeHasADistinctName) {
  const StatusCode codes[] = {
      StatusCode::kOk,           StatusCode::kInvalidArgument, StatusCode::kOutOfRange,
      StatusCode::kFailedPrecondition, StatusCode::kInvalidModel, StatusCode::kUnsupported,
      StatusCode::kCorruptCache, StatusCode::kResourceExhausted, StatusCode::kDeadlineExceeded,
      StatusCode::kNotFound,     StatusCode::kIoError,         StatusCode::kBackendError,
      StatusCode::kInternal};
  std::set<std::string> names;
  for (StatusCode code : codes) names.insert(StatusCodeName(code));
  EXPECT_EQ(names.size(), std::size(codes));
}

TEST(ResultTest, HoldsValue) {
  Result<std::string> result = std::string("hello");
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result.status().ok());
  EXPECT_EQ(*result, "hello");
  EXPECT_EQ(result->size(), 5u);
}

TEST(ResultTest, HoldsError) {
  Result<int> result = OutOfRangeError("index 9 of 3");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kOutOfRange);
}

TEST(ResultTest, OkStatusWithoutValueBecomesInternalError) {
  Result<int> result = Status::Ok();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInternal);
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> result = std::make_unique<int>(7);
  ASSERT_TRUE(result.ok());
  std::unique_ptr<int> value = std::move(result).value();
  EXPECT_EQ(*value, 7);
}

TEST(ResultDeathTest, ValueOnErrorDiesWithTheMessage) {
  Result<int> result = InvalidArgumentError("bad flag --frob");
  EXPECT_DEATH((void)result.value(), "bad flag --frob");
}

Result<int> ParsePositive(int x) {
  if (x <= 0) return InvalidArgumentError("not positive: ", x);
  return x;
}

Status Chain(int x, int* out) {
  SERENITY_ASSIGN_OR_RETURN(int value, ParsePositive(x));
  SERENITY_RETURN_IF_ERROR(value > 100 ? OutOfRangeError("too big") : Status::Ok());
  *out = value;
  return Status::Ok();
}

TEST(MacrosTest, PropagateErrorsAndValues) {
  int out = 0;
  EXPECT_TRUE(Chain(5, &out).ok());
  EXPECT_EQ(out, 5);
  EXPECT_EQ(Chain(-1, &out).message(), "not positive: -1");
  EXPECT_EQ(Chain(101, &out).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(out, 5);
}

}  // namespace
}  // namespace serenity

namespace serenity {
namespace {

// StrCat appends strings and integers itself and streams everything else; a
// std::ostringstream fed the same values is the oracle either way.
template <typename... Args>
std::string Streamed(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

TEST(StrCatTest, PrintsWhatAStreamPrints) {
  const std::string name = "a name longer than the small-string buffer";
  const std::string_view view = "view";
  const char* pointer = "pointer";
  const int64_t low = std::numeric_limits<int64_t>::min();
  const uint64_t high = std::numeric_limits<uint64_t>::max();
  const short little = -7;
  const size_t size = 12345;
  EXPECT_EQ(StrCat("tensor ", 17, " (", name, ")"), Streamed("tensor ", 17, " (", name, ")"));
  EXPECT_EQ(StrCat(view, pointer, low, high, little, size, 0, -1u),
            Streamed(view, pointer, low, high, little, size, 0, -1u));
  EXPECT_EQ(StrCat(), "");
  // Not appended by StrCat itself: a stream prints these its own way.
  EXPECT_EQ(StrCat("x", 'c', true, 2.5, 1e-7f, static_cast<unsigned char>(65)),
            Streamed("x", 'c', true, 2.5, 1e-7f, static_cast<unsigned char>(65)));
  // Characters alone (no other value that needs the stream) stay characters.
  EXPECT_EQ(StrCat("x", 'c'), "xc");
  EXPECT_EQ(StrCat("x", static_cast<unsigned char>(65)), "xA");
  EXPECT_EQ(StrCat("x", static_cast<signed char>(66)), "xB");
}

}  // namespace
}  // namespace serenity
