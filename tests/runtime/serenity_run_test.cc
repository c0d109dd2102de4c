// serenity_run and serenity_compile as real processes: a good run with
// --json, and every user error ending in exit 1 with one
// "serenity_run: error: ..." line on stderr; the plan cache seen from the
// command line (miss, hit, off, refresh, an unusable location, processes
// racing on one entry), ahead-of-time plans, and the memory picture rendered.
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
#include "serenity/scheduler/plan_csv.h"
#include "test_models.h"

#ifndef SERENITY_RUN_PATH
#error "SERENITY_RUN_PATH must name the serenity_run executable"
#endif
#ifndef SERENITY_COMPILE_PATH
#error "SERENITY_COMPILE_PATH must name the serenity_compile executable"
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

Outcome RunProgram(const std::string& program, const std::vector<std::string>& args) {
  const std::string out = Dir() + "/run.out", err = Dir() + "/run.err";
  std::string command = Quote(program);
  for (const std::string& arg : args) command += " " + Quote(arg);
  command += " >" + Quote(out) + " 2>" + Quote(err) + " </dev/null";
  const int status = std::system(command.c_str());
  Outcome outcome;
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  outcome.out = ReadAll(out);
  outcome.err = ReadAll(err);
  return outcome;
}

Outcome RunTool(const std::vector<std::string>& args) { return RunProgram(SERENITY_RUN_PATH, args); }
Outcome RunCompile(const std::vector<std::string>& args) {
  return RunProgram(SERENITY_COMPILE_PATH, args);
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

// --profile-cpu: the profile timed by thread CPU time, every operator listed.
TEST_F(SerenityRunTest, ProfileCpuListsEveryOperator) {
  Outcome outcome =
      RunTool({"--model=" + *model_path_, "--runs=2", "--profile-cpu", "--json"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  const size_t listed = outcome.out.find("\"profile\": [");
  ASSERT_NE(listed, std::string::npos) << outcome.out;
  Result<Model> model = Model::Load(*model_path_);
  ASSERT_TRUE(model.ok());
  size_t entries = 0;
  for (size_t at = outcome.out.find("\"mean_ms\"", listed); at != std::string::npos;
       at = outcome.out.find("\"mean_ms\"", at + 1)) {
    ++entries;
  }
  EXPECT_GT(entries, 0u);
  EXPECT_LE(entries, model->operators().size());
  Outcome bad = RunTool({"--model=" + *model_path_, "--profile-cpu=yes"});
  EXPECT_NE(bad.exit_code, 0);
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
  ExpectOneLineError(RunTool({"--model", *model_path_, "--rewrite-time-limit", "-2"}),
                     "--rewrite-time-limit");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--rewrite-work", "-1"}),
                     "--rewrite-work");

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

// ---- the plan cache, ahead-of-time plans, the memory picture (issue 9) ----

FlatJson ParseOrFail(const Outcome& outcome) {
  FlatJson json;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_TRUE(json.Parse(outcome.out)) << outcome.out;
  return json;
}

TEST_F(SerenityRunTest, CacheMissThenHitAndModes) {
  const std::string cache = Dir() + "/cache_modes";
  const std::vector<std::string> base = {"--model", *model_path_, "--cache-dir", cache,
                                         "--plan-only", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return RunTool(args);
  };
  Outcome first = with({});
  FlatJson miss = ParseOrFail(first);
  EXPECT_TRUE(first.err.empty()) << first.err;
  EXPECT_EQ(miss.Get("schedule.cache"), "miss");
  EXPECT_EQ(miss.Get("plan_only"), "true");
  EXPECT_FALSE(miss.Has("latency_ms.min")) << "--plan-only runs nothing";
  EXPECT_EQ(miss.Get("schedule.cache_path").rfind(cache + "/", 0), 0u);
  EXPECT_TRUE(miss.Has("schedule.planning_ms"));

  FlatJson hit = ParseOrFail(with({}));
  EXPECT_EQ(hit.Get("schedule.cache"), "hit");
  EXPECT_EQ(hit.Get("schedule.cache_path"), miss.Get("schedule.cache_path"));
  EXPECT_EQ(hit.Get("memory.arena_bytes"), miss.Get("memory.arena_bytes"));
  EXPECT_EQ(hit.Get("schedule.states"), miss.Get("schedule.states"));

  EXPECT_EQ(ParseOrFail(with({"--cache", "off"})).Get("schedule.cache"), "off");
  EXPECT_EQ(ParseOrFail(with({"--cache=refresh"})).Get("schedule.cache"), "refreshed");
  // Other planning options: another entry.
  EXPECT_EQ(ParseOrFail(with({"--scheduler", "heuristic"})).Get("schedule.cache"), "miss");
  EXPECT_EQ(ParseOrFail(with({"--scheduler", "heuristic"})).Get("schedule.cache"), "hit");
  EXPECT_EQ(ParseOrFail(with({"--rewrite-work", "12345"})).Get("schedule.cache"), "miss");
  EXPECT_EQ(ParseOrFail(with({"--rewrite-work", "12345"})).Get("schedule.cache"), "hit");
  // What a wall-clock limit cut: reported, and never a final entry.
  EXPECT_EQ(miss.Get("schedule.time_limited"), "false");
  EXPECT_EQ(miss.Get("schedule.cache_provisional"), "false");
  EXPECT_TRUE(miss.Has("rewrite_work"));
  FlatJson cut = ParseOrFail(with({"--rewrite-time-limit", "0.000000001"}));
  if (cut.Get("schedule.time_limited") == "true") {  // the model has rewrite sites
    EXPECT_EQ(cut.Get("schedule.cache_provisional"), "true");
    EXPECT_EQ(ParseOrFail(with({"--rewrite-time-limit", "0.000000001"})).Get("schedule.cache"),
              "retried");
  }

  // A full run (kernels bound and run) from a cached plan.
  Outcome run = RunTool({"--model", *model_path_, "--cache-dir", cache, "--runs", "1", "--json"});
  FlatJson ran = ParseOrFail(run);
  EXPECT_EQ(ran.Get("schedule.cache"), "hit");
  EXPECT_TRUE(ran.Has("latency_ms.min"));
  Outcome summary = RunTool({"--model", *model_path_, "--cache-dir", cache, "--plan-only"});
  EXPECT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_NE(summary.out.find("plan       cache hit"), std::string::npos) << summary.out;
}

TEST_F(SerenityRunTest, UnusableCacheLocationWarnsOnceAndRuns) {
  const std::string file = Dir() + "/cache_is_a_file";
  std::ofstream(file) << "x";
  Outcome outcome = RunTool({"--model", *model_path_, "--cache-dir", file + "/sub", "--runs", "1",
                             "--json"});
  FlatJson json = ParseOrFail(outcome);
  EXPECT_EQ(json.Get("schedule.cache"), "off");
  EXPECT_EQ(outcome.err.rfind("serenity_run: warning: plan cache: cannot write", 0), 0u)
      << outcome.err;
  EXPECT_EQ(outcome.err.find('\n'), outcome.err.size() - 1) << outcome.err;
  EXPECT_TRUE(json.Has("latency_ms.min"));
}

TEST_F(SerenityRunTest, CacheAndPictureFlagErrors) {
  ExpectOneLineError(RunTool({"--model", *model_path_, "--cache", "maybe"}), "maybe");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--cache"}), "needs a value");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--cache-dir", ""}), "--cache-dir");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--plan-only=yes"}), "takes no value");
  ExpectOneLineError(
      RunTool({"--model", *model_path_, "--memory-svg", "/nonexistent/dir/memory.svg"}),
      "/nonexistent/dir");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--memory-svg", Dir()}), "directory");
  std::ofstream(Dir() + "/plain_file") << "x";
  ExpectOneLineError(
      RunTool({"--model", *model_path_, "--memory-svg", Dir() + "/plain_file/m.svg"}),
      "not a directory");
}

// --arena-csv writes the plan's arena instance (Engine::ArenaBuffers on the
// same plan, made here in process: the search is deterministic), in the CSV
// serenity_plan reads, with each buffer's offset and tensors.
TEST_F(SerenityRunTest, ArenaCsvIsThePlansArenaInstance) {
  const std::string csv = Dir() + "/arena.csv";
  Outcome outcome = RunTool(
      {"--model", *model_path_, "--plan-only", "--cache", "off", "--arena-csv", csv, "--json"});
  FlatJson json = ParseOrFail(outcome);
  Result<Model> model = Model::Load(*model_path_);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EngineOptions options;
  options.plan_cache = PlanCacheMode::kOff;
  Result<ExecutionPlan> plan = Engine::Prepare(*model, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  Result<std::vector<ArenaBuffer>> buffers = Engine::ArenaBuffers(*model, *plan);
  ASSERT_TRUE(buffers.ok()) << buffers.status().ToString();
  const Model& run = plan->rewritten_model ? *plan->rewritten_model : *model;

  const std::string text = ReadAll(csv);
  Result<scheduler::PlanCsv> parsed = scheduler::ParsePlanCsv(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->rows.size(), buffers->size());
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "id,lower,upper,size,offset,tensors");
  for (size_t b = 0; b < buffers->size(); ++b) {
    const ArenaBuffer& buffer = (*buffers)[b];
    const scheduler::PlanCsvRow& row = parsed->rows[b];
    EXPECT_EQ(row.id, std::to_string(b));
    EXPECT_EQ(row.lower, buffer.first_step);
    EXPECT_EQ(row.upper, buffer.last_step + 1) << "upper is exclusive";
    EXPECT_EQ(row.size, buffer.bytes);
    // offset and tensors: the fields after size (names here hold no comma).
    ASSERT_TRUE(std::getline(lines, line));
    std::vector<std::string> fields;
    std::stringstream split(line);
    for (std::string field; std::getline(split, field, ',');) fields.push_back(field);
    ASSERT_EQ(fields.size(), 6u) << line;
    EXPECT_EQ(fields[4], std::to_string(buffer.offset)) << line;
    std::string names;
    for (int t : buffer.tensors) names += (names.empty() ? "" : "; ") + run.tensors()[t].name;
    EXPECT_EQ(fields[5], names) << line;
  }
  // The file's own rows: the largest total live at a row's first step is the
  // peak serenity_run reports.
  uint64_t peak = 0;
  for (const scheduler::PlanCsvRow& row : parsed->rows) {
    uint64_t live = 0;
    for (const scheduler::PlanCsvRow& other : parsed->rows) {
      if (other.lower <= row.lower && row.lower < other.upper) live += other.size;
    }
    peak = std::max(peak, live);
  }
  EXPECT_EQ(std::to_string(peak), json.Get("memory.peak_bytes"));

  ExpectOneLineError(RunTool({"--model", *model_path_, "--arena-csv", ""}), "--arena-csv");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--arena-csv", "/nonexistent/dir/a.csv"}),
                     "/nonexistent/dir");
  ExpectOneLineError(RunTool({"--model", *model_path_, "--arena-csv", Dir()}), "directory");
}

// Processes started together on one model: readers meet either no entry or
// a whole one (a half-written entry would show up as a cache warning).
TEST_F(SerenityRunTest, ParallelRunsNeverSeeAHalfWrittenEntry) {
  const std::string cache = Dir() + "/cache_parallel";
  constexpr int kRounds = 8, kProcesses = 4;
  for (int round = 0; round < kRounds; ++round) {
    std::string command = "(";
    for (int p = 0; p < kProcesses; ++p) {
      const std::string out = Dir() + "/par_" + std::to_string(round) + "_" + std::to_string(p);
      command += Quote(SERENITY_RUN_PATH) + " --model " + Quote(*model_path_) + " --cache-dir " +
                 Quote(cache) + " --plan-only --json --cache " +
                 ((round + p) % 2 ? "refresh" : "on") + " >" + Quote(out + ".json") + " 2>" +
                 Quote(out + ".err") + "; echo $? >" + Quote(out + ".rc") + ") & (";
    }
    command += "true) ; wait";
    ASSERT_EQ(std::system(("bash -c " + Quote(command)).c_str()), 0);
    for (int p = 0; p < kProcesses; ++p) {
      const std::string out = Dir() + "/par_" + std::to_string(round) + "_" + std::to_string(p);
      EXPECT_EQ(ReadAll(out + ".rc"), "0\n") << ReadAll(out + ".err");
      EXPECT_EQ(ReadAll(out + ".err"), "");
      FlatJson json;
      ASSERT_TRUE(json.Parse(ReadAll(out + ".json"))) << out;
      EXPECT_EQ(json.Get("schedule.cache_warning"), "") << out;
      const std::string status = json.Get("schedule.cache");
      EXPECT_TRUE(status == "hit" || status == "miss" || status == "refreshed") << status;
    }
  }
}

TEST_F(SerenityRunTest, CompiledModelLoadsWithNoSearch) {
  const std::string planned = Dir() + "/branchy_planned.srn";
  Outcome compiled = RunCompile({*model_path_, "-o", planned});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  EXPECT_TRUE(compiled.err.empty()) << compiled.err;
  EXPECT_NE(compiled.out.find("loads with no search"), std::string::npos) << compiled.out;

  Result<Model> model = Model::Load(planned);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_TRUE(model->plan().has_value());
  Result<Model> original = Model::Load(*model_path_);
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(model->plan()->graph_hash, original->GraphHash());
  EXPECT_EQ(model->plan()->plan_format_version, kPlanFormatVersion);

  const std::string cache = Dir() + "/cache_aot";
  const std::string aot_out = Dir() + "/aot_logits.npy", plain_out = Dir() + "/plain_logits.npy";
  FlatJson aot = ParseOrFail(RunTool({"--model", planned, "--cache-dir", cache, "--runs", "1",
                                      "--json", "--output", aot_out}));
  EXPECT_EQ(aot.Get("schedule.cache"), "aot");
  EXPECT_EQ(aot.Get("schedule.states"), "0");
  FlatJson plain = ParseOrFail(RunTool({"--model", *model_path_, "--cache", "off", "--runs", "1",
                                        "--json", "--output", plain_out}));
  EXPECT_EQ(aot.Get("memory.arena_bytes"), plain.Get("memory.arena_bytes"));
  EXPECT_EQ(ReadAll(aot_out), ReadAll(plain_out));
  // Other planning options than the compiled ones: planned at load.
  FlatJson other = ParseOrFail(RunTool({"--model", planned, "--cache-dir", cache,
                                        "--scheduler", "stored", "--plan-only", "--json"}));
  EXPECT_EQ(other.Get("schedule.cache"), "miss");
  FlatJson ignored = ParseOrFail(RunTool({"--model", planned, "--cache-dir", cache,
                                          "--ignore-stored-plan", "--plan-only", "--json"}));
  EXPECT_EQ(ignored.Get("schedule.cache"), "miss");
}

TEST_F(SerenityRunTest, SplicedPlanIsRefused) {
  // A plan made for another graph, spliced into this model with the builder.
  ModelBuilder other("other");
  const int x = other.AddInput("x", {1, 4, 4, 2});
  other.MarkOutput(
      runtime_testing::Conv(other, "c", x, 2, 3, 1, 4, 4, Activation::kRelu, 1.0f));
  Result<std::vector<uint8_t>> other_bytes = other.Finish();
  ASSERT_TRUE(other_bytes.ok());
  Result<Model> other_model = Model::FromBuffer(other_bytes->data(), other_bytes->size());
  ASSERT_TRUE(other_model.ok());
  EngineOptions options;
  options.plan_cache = PlanCacheMode::kOff;
  Result<ExecutionPlan> other_plan = Engine::Prepare(*other_model, options);
  ASSERT_TRUE(other_plan.ok());
  Result<Model> model = Model::Load(*model_path_);
  ASSERT_TRUE(model.ok());
  ModelBuilder spliced = ModelBuilder::FromModel(*model);
  spliced.SetPlan(ToStoredPlan(*other_plan, options));
  Result<std::vector<uint8_t>> bytes = spliced.Finish();
  ASSERT_TRUE(bytes.ok());
  const std::string path = Dir() + "/spliced.srn";
  ASSERT_TRUE(WriteFileAtomically(path, *bytes).ok());
  ExpectOneLineError(RunTool({"--model", path, "--runs", "1"}), "another graph");
  // Compiling it again replaces the foreign plan.
  Outcome recompiled = RunCompile({path, "-o", path});
  ASSERT_EQ(recompiled.exit_code, 0) << recompiled.err;
  EXPECT_EQ(ParseOrFail(RunTool({"--model", path, "--plan-only", "--json"})).Get("schedule.cache"),
            "aot");
}

TEST_F(SerenityRunTest, CompileErrorsExitOneWithOneLine) {
  auto expect_error = [](const Outcome& outcome, const std::string& needle) {
    EXPECT_EQ(outcome.exit_code, 1) << outcome.err;
    EXPECT_EQ(outcome.err.rfind("serenity_compile: error: ", 0), 0u) << outcome.err;
    EXPECT_EQ(outcome.err.find('\n'), outcome.err.size() - 1) << outcome.err;
    EXPECT_NE(outcome.err.find(needle), std::string::npos) << outcome.err;
    EXPECT_TRUE(outcome.out.empty()) << outcome.out;
  };
  expect_error(RunCompile({*model_path_}), "-o");
  expect_error(RunCompile({"-o", Dir() + "/x.srn"}), "no model");
  expect_error(RunCompile({*model_path_, "-o", Dir() + "/x.srn", "--bogus"}), "--bogus");
  expect_error(RunCompile({*model_path_, *model_path_, "-o", Dir() + "/x.srn"}), "one model");
  expect_error(RunCompile({Dir() + "/missing.srn", "-o", Dir() + "/x.srn"}), "missing.srn");
  expect_error(RunCompile({*model_path_, "-o", "/nonexistent/dir/x.srn"}), "/nonexistent/dir");
  expect_error(RunCompile({*model_path_, "-o", Dir() + "/x.srn", "--scheduler", "best"}), "best");
  expect_error(RunCompile({*model_path_, "-o", Dir() + "/x.srn", "--time-limit", "-1"}),
               "--time-limit");
  expect_error(RunCompile({*model_path_, "-o", Dir() + "/x.srn", "--rewrite-time-limit", "x"}),
               "--rewrite-time-limit");
  Outcome help = RunCompile({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("-o PLANNED.srn"), std::string::npos);
}

#ifdef SERENITY_PYTHON_PATH
int CheckSvg(const std::string& svg, int buffers, int curves, std::string* err) {
  const std::string log = Dir() + "/check_svg.err";
  const std::string command = Quote(SERENITY_PYTHON_PATH) + " " + Quote(SERENITY_SVG_CHECKER) +
                              " " + Quote(svg) + " " + std::to_string(buffers) + " " +
                              std::to_string(curves) + " 2>" + Quote(log);
  const int status = std::system(command.c_str());
  *err = ReadAll(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(SerenityRunTest, MemorySvgRendersAndHasARectanglePerBuffer) {
  Result<Model> model = Model::Load(*model_path_);
  ASSERT_TRUE(model.ok());
  // One rectangle per activation of the model the plan runs (rewritten or
  // not); --no-rewrite runs the model as stored.
  int plain_activations = 0;
  for (const Tensor& t : model->tensors()) plain_activations += t.is_constant() ? 0 : 1;
  Result<ExecutionPlan> plan = Engine::Prepare(*model, EngineOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const Model& run_model = plan->rewritten_model ? *plan->rewritten_model : *model;
  int activations = 0;
  for (const Tensor& t : run_model.tensors()) activations += t.is_constant() ? 0 : 1;

  const std::string svg = Dir() + "/memory.svg";
  Outcome outcome = RunTool({"--model", *model_path_, "--memory-svg", svg, "--plan-only"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  const std::string text = ReadAll(svg);
  EXPECT_NE(text.find("<title>wide0/y (Conv2D)"), std::string::npos) << "hover names the tensor";
  EXPECT_NE(text.find("optimal order alone"), std::string::npos);
  std::string err;
  int rc = CheckSvg(svg, activations, 3, &err);
  if (rc == 77) GTEST_SKIP() << err;
  EXPECT_EQ(rc, 0) << err;

  // Without rewrites: two curves; and with a full run.
  const std::string plain = Dir() + "/memory_plain.svg";
  outcome = RunTool({"--model", *model_path_, "--memory-svg", plain, "--no-rewrite", "--runs",
                     "1"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(CheckSvg(plain, plain_activations, 2, &err), 0) << err;

  // The checker has teeth: a blank picture, a wrong count, broken XML.
  const std::string blank = Dir() + "/blank.svg";
  std::ofstream(blank) << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" "
                          "height=\"300\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
                          "</svg>";
  EXPECT_EQ(CheckSvg(blank, 0, 0, &err), 1);
  EXPECT_NE(err.find("blank"), std::string::npos) << err;
  EXPECT_EQ(CheckSvg(svg, activations + 1, 3, &err), 1);
  EXPECT_NE(err.find("buffer rectangles"), std::string::npos) << err;
  std::ofstream(Dir() + "/broken.svg") << text.substr(0, text.size() / 2);
  EXPECT_EQ(CheckSvg(Dir() + "/broken.svg", activations, 3, &err), 1);
  EXPECT_NE(err.find("well-formed"), std::string::npos) << err;
}
#endif

}  // namespace
}  // namespace serenity
