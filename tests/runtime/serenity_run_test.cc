// serenity_run as a real process: a good run with --json, and every user
// error ending in exit 1 with one "serenity_run: error: ..." line on stderr.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "serenity/engine.h"
#include "serenity/npy.h"
#include "test_models.h"

#ifndef SERENITY_RUN_PATH
#error "SERENITY_RUN_PATH must name the serenity_run executable"
#endif

namespace serenity {
namespace {

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// ctest runs these tests in parallel processes: each gets its own directory.
const std::string& Dir() {
  static const std::string* dir = [] {
    auto* d = new std::string(::testing::TempDir() + "/serenity_run_test_" +
                              std::to_string(getpid()));
    mkdir(d->c_str(), 0700);
    return d;
  }();
  return *dir;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Outcome RunTool(const std::vector<std::string>& args) {
  const std::string out = Dir() + "/run.out", err = Dir() + "/run.err";
  std::string command = Quote(SERENITY_RUN_PATH);
  for (const std::string& arg : args) command += " " + Quote(arg);
  command += " >" + Quote(out) + " 2>" + Quote(err) + " </dev/null";
  const int status = std::system(command.c_str());
  Outcome outcome;
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  outcome.out = ReadAll(out);
  outcome.err = ReadAll(err);
  return outcome;
}

// A minimal JSON reader: flattens an object into "a.b.c" -> scalar text.
class FlatJson {
 public:
  bool Parse(const std::string& text) {
    text_ = text;
    pos_ = 0;
    if (!Value("")) return false;
    Space();
    return pos_ == text_.size();
  }
  bool Has(const std::string& key) const { return values_.count(key) != 0; }
  std::string Get(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? "" : it->second;
  }
  double Number(const std::string& key) const { return std::atof(Get(key).c_str()); }

 private:
  void Space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool String(std::string* out) {
    if (pos_ >= text_.size() || text_[pos_] != '"') return false;
    ++pos_;
    out->clear();
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\') ++pos_;
      if (pos_ < text_.size()) *out += text_[pos_++];
    }
    if (pos_ >= text_.size()) return false;
    ++pos_;
    return true;
  }
  bool Value(const std::string& path) {
    Space();
    if (pos_ >= text_.size()) return false;
    const char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      Space();
      if (pos_ < text_.size() && text_[pos_] == '}') return ++pos_, true;
      while (true) {
        Space();
        std::string key;
        if (!String(&key)) return false;
        Space();
        if (pos_ >= text_.size() || text_[pos_++] != ':') return false;
        if (!Value(path.empty() ? key : path + "." + key)) return false;
        Space();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == '}') return ++pos_, true;
        return false;
      }
    }
    if (c == '[') {
      ++pos_;
      Space();
      if (pos_ < text_.size() && text_[pos_] == ']') return ++pos_, true;
      for (int i = 0;; ++i) {
        if (!Value(path + "." + std::to_string(i))) return false;
        Space();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ']') return ++pos_, true;
        return false;
      }
    }
    if (c == '"') {
      std::string s;
      if (!String(&s)) return false;
      values_[path] = s;
      return true;
    }
    const size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                   text_[pos_] == '-' || text_[pos_] == '+' || text_[pos_] == '.')) {
      ++pos_;
    }
    if (pos_ == start) return false;
    values_[path] = text_.substr(start, pos_ - start);
    return true;
  }

  std::string text_;
  size_t pos_ = 0;
  std::map<std::string, std::string> values_;
};

class SerenityRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_path_ = new std::string(Dir() + "/branchy.srn");
    Result<std::vector<uint8_t>> bytes = runtime_testing::BranchyNet().Finish();
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    ASSERT_TRUE(WriteFileAtomically(*model_path_, *bytes).ok());
  }
  static void TearDownTestSuite() {
    const int removed = std::system(("rm -rf " + Quote(Dir())).c_str());
    EXPECT_EQ(removed, 0);
    delete model_path_;
    model_path_ = nullptr;
  }

  static void ExpectOneLineError(const Outcome& outcome, const std::string& needle) {
    EXPECT_EQ(outcome.exit_code, 1) << outcome.err;
    EXPECT_EQ(outcome.err.rfind("serenity_run: error: ", 0), 0u) << outcome.err;
    ASSERT_FALSE(outcome.err.empty());
    EXPECT_EQ(outcome.err.find('\n'), outcome.err.size() - 1) << "more than one line:\n"
                                                              << outcome.err;
    EXPECT_NE(outcome.err.find(needle), std::string::npos)
        << "expected '" << needle << "' in: " << outcome.err;
    EXPECT_TRUE(outcome.out.empty()) << outcome.out;
  }

  static std::string* model_path_;
};
std::string* SerenityRunTest::model_path_ = nullptr;

TEST_F(SerenityRunTest, JsonRunReportsEveryField) {
  Outcome outcome = RunTool({"--model", *model_path_, "--runs", "3", "--warmup", "1",
                             "--threads", "2", "--json"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_TRUE(outcome.err.empty()) << outcome.err;
  FlatJson json;
  ASSERT_TRUE(json.Parse(outcome.out)) << outcome.out;
  for (const char* key :
       {"model", "ops", "threads", "schedule.algorithm", "schedule.optimal", "schedule.time_ms",
        "memory.arena_bytes", "memory.peak_bytes", "memory.baseline_arena_bytes",
        "memory.stored_order_peak_bytes", "memory.weights_bytes", "memory.rss_peak_bytes",
        "latency_ms.min", "latency_ms.median", "latency_ms.p90", "latency_ms.mean",
        "latency_ms.max", "runs", "load_ms"}) {
    EXPECT_TRUE(json.Has(key)) << key << " missing in " << outcome.out;
  }
  EXPECT_EQ(json.Get("model"), *model_path_);
  EXPECT_EQ(json.Get("ops"), "14");
  EXPECT_EQ(json.Get("threads"), "2");
  EXPECT_EQ(json.Get("runs"), "3");
  EXPECT_EQ(json.Get("schedule.algorithm"), "optimal");
  EXPECT_EQ(json.Get("schedule.optimal"), "true");
  EXPECT_GE(json.Number("memory.arena_bytes"), json.Number("memory.peak_bytes"));
  EXPECT_LT(json.Number("memory.peak_bytes"), json.Number("memory.stored_order_peak_bytes"));
  EXPECT_GT(json.Number("memory.rss_peak_bytes"), 0);
  EXPECT_LE(json.Number("latency_ms.min"), json.Number("latency_ms.median"));
  EXPECT_LE(json.Number("latency_ms.median"), json.Number("latency_ms.p90"));
  EXPECT_LE(json.Number("latency_ms.p90"), json.Number("latency_ms.max"));
  EXPECT_EQ(json.Get("outputs.0.name"), "logits");
}

TEST_F(SerenityRunTest, StoredSchedulerAndSummary) {
  Outcome outcome = RunTool({"--model=" + *model_path_, "--scheduler", "stored", "--runs=2",
                             "--no-rewrite", "--profile"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_NE(outcome.out.find("schedule   stored"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("latency"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("'logits' [1, 10]"), std::string::npos) << outcome.out;
}

TEST_F(SerenityRunTest, InputAndOutputFilesMatchTheEngine) {
  const std::string& dir = Dir();
  const std::vector<float> input = runtime_testing::Pattern(256, 2.0f, 1.0f);
  ASSERT_TRUE(npy::Write(dir + "/srt_in.npy", {1, 8, 8, 4}, input.data(), input.size()).ok());
  Outcome outcome = RunTool({"--model", *model_path_, "--input", dir + "/srt_in.npy", "--output",
                             dir + "/srt_logits.npy", "--output", dir + "/srt_pooled.npy",
                             "--runs", "1", "--warmup", "0"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  Result<npy::Array> logits = npy::Read(dir + "/srt_logits.npy");
  Result<npy::Array> pooled = npy::Read(dir + "/srt_pooled.npy");
  ASSERT_TRUE(logits.ok() && pooled.ok());
  EXPECT_EQ(logits->shape, (std::vector<int64_t>{1, 10}));
  EXPECT_EQ(pooled->shape, (std::vector<int64_t>{1, 4, 4, 8}));

  Result<Model> model = Model::Load(*model_path_);
  ASSERT_TRUE(model.ok());
  Result<Engine> engine = Engine::Create(*model, EngineOptions{});
  ASSERT_TRUE(engine.ok());
  ASSERT_TRUE(engine->SetInput(0, input.data(), input.size()).ok());
  ASSERT_TRUE(engine->Invoke().ok());
  std::vector<float> expected(10);
  ASSERT_TRUE(engine->GetOutput(0, expected.data(), 10).ok());
  EXPECT_EQ(logits->data, expected);
}

TEST_F(SerenityRunTest, UserErrorsExitOneWithOneLine) {
  const std::string& dir = Dir();
  ExpectOneLineError(RunTool({"--model", dir + "/no_such_model.srn"}), "no_such_model.srn");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--bogus"}), "--bogus");
  ExpectOneLineError(RunTool({}), "--model");
  ExpectOneLineError(RunTool({"--model"}), "needs a value");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--threads", "two"}), "--threads");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--runs", "0"}), "--runs");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--scheduler", "fastest"}), "fastest");

  const std::vector<float> wrong(3 * 8 * 8 * 4, 0.5f);
  ASSERT_TRUE(npy::Write(dir + "/srt_wrong.npy", {3, 8, 8, 4}, wrong.data(), wrong.size()).ok());
  ExpectOneLineError(RunTool({"--model", *model_path_, "--input", dir + "/srt_wrong.npy"}),
                     "does not match input 'image'");

  // A float64 .npy.
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 8, 8, 4), }";
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string f64 = std::string("\x93NUMPY\x01\x00", 8);
  f64 += static_cast<char>(header.size() & 0xff);
  f64 += static_cast<char>(header.size() >> 8);
  f64 += header + std::string(256 * 8, '\0');
  std::ofstream(dir + "/srt_f64.npy", std::ios::binary) << f64;
  ExpectOneLineError(RunTool({"--model", *model_path_, "--input", dir + "/srt_f64.npy"}), "<f8");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--input", dir + "/srt_missing.npy"}),
                     "srt_missing.npy");

  std::ofstream(dir + "/srt_garbage.srn", std::ios::binary) << std::string(100, 'x');
  ExpectOneLineError(RunTool({"--model", dir + "/srt_garbage.srn"}), "srt_garbage.srn");

  ExpectOneLineError(
      RunTool({"--model", *model_path_, "--runs", "1", "--output", "/nonexistent/dir/o.npy"}),
      "/nonexistent/dir/o.npy");
}

TEST_F(SerenityRunTest, VersionAndHelp) {
  Outcome version = RunTool({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, std::string("serenity_run ") + VersionString() + " (.srn format " +
                             std::to_string(kFormatVersion) + ")\n");
  Outcome help = RunTool({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--scheduler"), std::string::npos);
}

}  // namespace
}  // namespace serenity
