// Runs the serenity_schedule binary as a user would.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "serenity/model_format/model.h"

namespace serenity {
namespace {

struct ToolRun {
  int exit_code = -1;
  std::string out;
};

// Runs the tool with `arguments`; stderr is folded into `out` only when asked.
ToolRun RunTool(const std::string& arguments, bool capture_stderr = false) {
  const std::string command = std::string(SERENITY_SCHEDULE_BINARY) + " " + arguments +
                              (capture_stderr ? " 2>&1" : " 2>/dev/null");
  ToolRun run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/serenity_schedule_test_" +
         std::to_string(::getpid()) + "_" + name;
}

// x -> relu -> a, x -> relu -> b, a + b -> c; every tensor 1 KiB.
std::string WriteModel() {
  ModelBuilder builder("two_branches");
  const int x = builder.AddInput("x", {1, 8, 8, 4});
  const int a = builder.AddActivation("a", {1, 8, 8, 4});
  const int b = builder.AddActivation("b", {1, 8, 8, 4});
  const int c = builder.AddActivation("c", {1, 8, 8, 4});
  builder.AddOperator(OpType::kRelu, "relu_a", {x}, {a});
  builder.AddOperator(OpType::kRelu, "relu_b", {x}, {b});
  builder.AddOperator(OpType::kAdd, "add", {a, b}, {c}, ElementwiseAttrs{});
  builder.MarkOutput(c);
  Result<std::vector<uint8_t>> bytes = builder.Finish();
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  const std::string path = TempPath("model.srn");
  EXPECT_TRUE(WriteFileAtomically(path, *bytes).ok());
  return path;
}

TEST(SerenityScheduleTest, JsonLinePerModel) {
  const std::string model = WriteModel();
  const ToolRun run = RunTool(model + " " + model + " --json --no-rewrite --time-limit 5");
  EXPECT_EQ(run.exit_code, 0);
  size_t lines = 0;
  for (char c : run.out) lines += c == '\n' ? 1 : 0;
  EXPECT_EQ(lines, 2u);
  for (const char* field :
       {"\"model\": ", "\"ops\": 3", "\"algorithm\": \"optimal\"", "\"optimal\": true",
        "\"peak_bytes\": 3072", "\"lower_bound_bytes\": 3072", "\"stored_order_peak_bytes\": 3072",
        "\"heuristic_peak_bytes\": 3072", "\"states\": ", "\"time_ms\": "}) {
    EXPECT_NE(run.out.find(field), std::string::npos) << field << " in " << run.out;
  }
  std::remove(model.c_str());
}

// Without --no-rewrite the figures are the engine's. The model applies the same
// Relu to x twice: merging the duplicates leaves x -> relu -> add(a, a) with 2
// operators, and at most two 1 KiB tensors live at once (x and a while the
// Relu runs, a and the sum while the Add runs; the Add reads a twice, so it
// cannot write in place).
TEST(SerenityScheduleTest, DefaultModeReportsTheEnginesRewrites) {
  const std::string model = WriteModel();
  const ToolRun run = RunTool(model + " --json");
  EXPECT_EQ(run.exit_code, 0) << run.out;
  for (const char* field : {"\"rewrite\": true", "\"strategy\": \"rewrites\"", "\"ops\": 2",
                            "\"optimal\": true", "\"peak_bytes\": 2048",
                            "\"stored_order_peak_bytes\": 3072"}) {
    EXPECT_NE(run.out.find(field), std::string::npos) << field << " in " << run.out;
  }
  std::remove(model.c_str());
}

TEST(SerenityScheduleTest, TableAndAlgorithms) {
  const std::string model = WriteModel();
  for (const char* algorithm : {"stored", "heuristic", "optimal"}) {
    const ToolRun run = RunTool(model + " --no-rewrite --algorithm " + algorithm);
    EXPECT_EQ(run.exit_code, 0) << algorithm;
    EXPECT_NE(run.out.find("peak_bytes"), std::string::npos);
    EXPECT_NE(run.out.find(algorithm), std::string::npos);
  }
  std::remove(model.c_str());
}

TEST(SerenityScheduleTest, ErrorsAreOneLineAndExitOne) {
  const std::string model = WriteModel();
  const std::string corrupt = TempPath("corrupt.srn");
  {
    FILE* file = std::fopen(corrupt.c_str(), "wb");
    ASSERT_NE(file, nullptr);
    std::fputs("not a model at all", file);
    std::fclose(file);
  }
  for (const std::string& arguments :
       {model + " --bogus", model + " --algorithm fastest", model + " --time-limit -1",
        model + " --time-limit", std::string("/nonexistent/model.srn"), corrupt,
        std::string("")}) {
    const ToolRun run = RunTool(arguments + " --json", /*capture_stderr=*/true);
    EXPECT_EQ(run.exit_code, 1) << arguments;
    EXPECT_NE(run.out.find("serenity_schedule: "), std::string::npos) << arguments;
    size_t lines = 0;
    for (char c : run.out) lines += c == '\n' ? 1 : 0;
    EXPECT_EQ(lines, 1u) << arguments << ": " << run.out;
  }
  const ToolRun help = RunTool("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--no-rewrite"), std::string::npos);
  std::remove(model.c_str());
  std::remove(corrupt.c_str());
}

}  // namespace
}  // namespace serenity
