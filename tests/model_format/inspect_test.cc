// Runs the serenity_inspect binary as a real process on good and bad files.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "serenity/model_format/model.h"
#include "test_models.h"

#ifndef SERENITY_INSPECT_PATH
#error "SERENITY_INSPECT_PATH must name the serenity_inspect binary"
#endif

namespace serenity {
namespace {

struct ProcessRun {
  int exit_code = -1;
  bool signaled = false;
  std::string out;
  std::string err;
};

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/serenity_inspect_" +
         std::to_string(::getpid()) + "_" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ProcessRun Inspect(const std::string& args) {
  const std::string out_path = TempPath("stdout.txt");
  const std::string err_path = TempPath("stderr.txt");
  const std::string command = std::string("'") + SERENITY_INSPECT_PATH + "' " +
                              args + " >'" + out_path + "' 2>'" + err_path +
                              "'";
  ProcessRun run;
  const int status = std::system(command.c_str());
  // The shell reports a child killed by a signal as 128 + signal.
  if (WIFEXITED(status)) {
    run.exit_code = WEXITSTATUS(status);
    run.signaled = run.exit_code > 128;
  } else {
    run.signaled = true;
  }
  run.out = ReadAll(out_path);
  run.err = ReadAll(err_path);
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  return run;
}

void Contains(const std::string& text, const std::string& needle) {
  EXPECT_NE(text.find(needle), std::string::npos)
      << "'" << needle << "' not in:\n" << text;
}

TEST(InspectTest, GoodModelText) {
  const std::string path = TempPath("good.srn");
  ModelBuilder b = testing::TinyConvNet();
  b.SetDescription("for the inspect test");
  ASSERT_TRUE(WriteFileAtomically(path, testing::FinishOrDie(b)).ok());
  ProcessRun run = Inspect("'" + path + "'");
  EXPECT_FALSE(run.signaled);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(run.err.empty()) << run.err;
  Contains(run.out, "model: tiny\n");
  Contains(run.out, "format version: 1\n");
  Contains(run.out, "tensor 0 ('x') [1, 8, 8, 3] float32");
  Contains(run.out, "tensor 4 ('pool/y') [1, 4, 4, 4] float32");
  Contains(run.out, "operators: 2\n");
  Contains(run.out, "  Conv2D: 1\n");
  Contains(run.out, "  MaxPool2D: 1\n");
  Contains(run.out, "tensors: 5 (3 activations, 2 constants)\n");
  // x 192 + conv/y 256 + pool/y 64 floats; weights 108 + 4 floats.
  Contains(run.out, "activation bytes: 2048\n");
  Contains(run.out, "weight bytes: 448\n");
  Contains(run.out, "execution plan: none\n");
  std::remove(path.c_str());
}

TEST(InspectTest, GoodModelJsonWithPlan) {
  const std::string path = TempPath("plan.srn");
  ModelBuilder b = testing::TinyConvNet();
  StoredPlan plan;
  plan.arena_bytes = 4096;
  plan.peak_bytes = 2048;
  plan.optimal = true;
  b.SetPlan(plan);
  ASSERT_TRUE(WriteFileAtomically(path, testing::FinishOrDie(b)).ok());
  ProcessRun run = Inspect("'" + path + "' --json");
  EXPECT_FALSE(run.signaled);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  Contains(run.out, "\"name\": \"tiny\"");
  Contains(run.out, "\"format_version\": 1");
  Contains(run.out, "\"shape\": [1, 8, 8, 3]");
  Contains(run.out, "\"operator_counts\": {\"Conv2D\": 1, \"MaxPool2D\": 1}");
  Contains(run.out, "\"activations\": 3");
  Contains(run.out, "\"constants\": 2");
  Contains(run.out, "\"weight_bytes\": 448");
  Contains(run.out, "\"arena_bytes\": 4096");
  Contains(run.out, "\"matches_graph\": false");
  std::remove(path.c_str());
}

TEST(InspectTest, BadModelIsOneLineOnStderrAndExitOne) {
  const std::string path = TempPath("bad.srn");
  std::vector<uint8_t> bytes = testing::FinishOrDie(testing::TinyConvNet());
  bytes.resize(bytes.size() - 7);
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  ProcessRun run = Inspect("'" + path + "'");
  EXPECT_FALSE(run.signaled);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(run.out.empty()) << run.out;
  Contains(run.err, "invalid model: " + path + ": ");
  ASSERT_FALSE(run.err.empty());
  EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << run.err;

  // A semantic fault: the reader's message names the operator.
  ModelBuilder cyclic("cyclic");
  int s = cyclic.AddActivation("s", {1, 4});
  cyclic.AddOperator(OpType::kRelu, "loop", {s}, {s});
  cyclic.MarkOutput(s);
  ASSERT_TRUE(WriteFileAtomically(path, testing::FinishOrDie(cyclic)).ok());
  run = Inspect("'" + path + "'");
  EXPECT_EQ(run.exit_code, 1);
  Contains(run.err, "operator 0 ('loop')");

  run = Inspect("'" + TempPath("missing.srn") + "'");
  EXPECT_FALSE(run.signaled);
  EXPECT_EQ(run.exit_code, 1);
  Contains(run.err, "not found");
  std::remove(path.c_str());
}

TEST(InspectTest, UsageErrors) {
  ProcessRun run = Inspect("");
  EXPECT_EQ(run.exit_code, 2);
  Contains(run.err, "usage");
  run = Inspect("--frobnicate x.srn");
  EXPECT_EQ(run.exit_code, 2);
}

}  // namespace
}  // namespace serenity
