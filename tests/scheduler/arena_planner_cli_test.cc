// Runs the real serenity_plan binary on small CSV files (SerenityPlanCliTest),
// and ParsePlanCsv in process (PlanCsvTest: the ARM job runs these under qemu,
// where it does not start the tool).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "serenity/scheduler/arena_planner.h"
#include "serenity/scheduler/plan_csv.h"

namespace serenity::scheduler {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// ctest runs each test in its own process, several at once, so every file name
// carries the process id: parallel tests never share a stdout capture.
std::string TempPath(const std::string& name) {
  return testing::TempDir() + "/serenity_plan_cli_" + std::to_string(::getpid()) + "_" + name;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = TempPath(name);
  std::ofstream(path) << text;
  return path;
}

RunResult RunPlan(const std::string& args) {
  const std::string out_path = TempPath("serenity_plan_stdout.txt");
  const std::string err_path = TempPath("serenity_plan_stderr.txt");
  const std::string command = std::string(SERENITY_PLAN_BINARY) + " " + args + " >" + out_path +
                              " 2>" + err_path;
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadAll(out_path);
  result.err = ReadAll(err_path);
  return result;
}

// 8 bytes are live at every step (a+c+g, a+e+f, b+e+f, b+d+h): the bound.
constexpr char kSmallCsv[] =
    "id,lower,upper,size\n"
    "a,0,2,4\n"
    "b,2,4,4\n"
    "c,0,1,3\n"
    "d,3,4,3\n"
    "e,1,3,2\n"
    "f,1,3,2\n"
    "g,0,1,1\n"
    "h,3,4,1\n";

TEST(SerenityPlanCliTest, JsonAndOffsetsFile) {
  const std::string csv = WriteTemp("small.csv", kSmallCsv);
  const std::string offsets = TempPath("small_offsets.csv");
  RunResult run = RunPlan("--csv " + csv + " --planner best --json --output " + offsets);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_NE(run.out.find("\"buffers\": 8"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("\"lower_bound_bytes\": 8,"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("\"arena_bytes\": 8,"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("\"planner\": \"best\""), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("\"valid\": true"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("\"time_ms\": "), std::string::npos) << run.out;

  // The offsets file: the input columns plus offset, checked by the
  // validator against the input intervals.
  const std::string written = ReadAll(offsets);
  ASSERT_EQ(written.rfind("id,lower,upper,size,offset\n", 0), 0u) << written;
  Result<PlanCsv> input = ParsePlanCsv(kSmallCsv);
  ASSERT_TRUE(input.ok());
  std::istringstream lines(written);
  std::string line;
  std::getline(lines, line);
  ArenaPlan plan;
  size_t row = 0;
  while (std::getline(lines, line)) {
    ASSERT_LT(row, input->rows.size());
    const std::string prefix = input->rows[row].id + "," + std::to_string(input->rows[row].lower) +
                               "," + std::to_string(input->rows[row].upper) + "," +
                               std::to_string(input->rows[row].size) + ",";
    ASSERT_EQ(line.rfind(prefix, 0), 0u) << line;
    plan.offsets.push_back(std::stoull(line.substr(prefix.size())));
    ++row;
  }
  ASSERT_EQ(row, input->rows.size());
  plan.arena_bytes = 8;
  Status valid = ValidateArenaPlan(input->buffers, plan, 0);
  EXPECT_TRUE(valid.ok()) << valid.ToString();
}

TEST(SerenityPlanCliTest, GreedyWithoutHeaderAndCapacity) {
  std::string body = kSmallCsv;
  body = body.substr(body.find('\n') + 1);
  const std::string csv = WriteTemp("small_no_header.csv", body);
  RunResult greedy = RunPlan("--csv " + csv + " --planner greedy --json");
  ASSERT_EQ(greedy.exit_code, 0) << greedy.err;
  EXPECT_NE(greedy.out.find("\"planner\": \"greedy\""), std::string::npos);
  EXPECT_NE(greedy.out.find("\"lower_bound_bytes\": 8,"), std::string::npos) << greedy.out;
  EXPECT_NE(greedy.out.find("\"valid\": true"), std::string::npos);

  RunResult tight = RunPlan("--csv " + csv + " --capacity 8 --time-limit 5");
  EXPECT_EQ(tight.exit_code, 0) << tight.err;
  EXPECT_NE(tight.out.find("arena bytes        8 "), std::string::npos) << tight.out;

  RunResult too_small = RunPlan("--csv " + csv + " --capacity 7");
  EXPECT_EQ(too_small.exit_code, 1);
  EXPECT_NE(too_small.err.find("resource exhausted"), std::string::npos) << too_small.err;
  EXPECT_NE(too_small.err.find("capacity 7"), std::string::npos) << too_small.err;
}

TEST(SerenityPlanCliTest, BadRowNamesItsLine) {
  const std::string csv = WriteTemp("bad.csv", "id,lower,upper,size\na,0,2,4\n\nb,5,3,4\n");
  RunResult run = RunPlan("--csv " + csv);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_NE(run.err.find("line 4: lower 5 is not below upper 3"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << "one line: " << run.err;

  const std::string text = WriteTemp("bad_size.csv", "a,0,2,4\nb,1,3,-4\n");
  run = RunPlan("--csv " + text);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("line 2: size '-4' is not a non-negative integer"), std::string::npos)
      << run.err;

  const std::string short_row = WriteTemp("short.csv", "a,0,2\n");
  run = RunPlan("--csv " + short_row);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("line 1: missing column 'size'"), std::string::npos) << run.err;

  const std::string header = WriteTemp("bad_header.csv", "id,begin,end,size\na,0,2,4\n");
  run = RunPlan("--csv " + header);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("line 1: header has no 'lower' column"), std::string::npos) << run.err;

  const std::string unclosed = WriteTemp("unclosed.csv", "id,lower,upper,size\n\"a,0,1,4\n");
  run = RunPlan("--csv " + unclosed);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("line 2: a quoted field is not closed"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << "one line: " << run.err;
}

// Quoted fields (names with commas and quotes, as serenity_run --arena-csv
// writes them) and extra columns: the instance is the same as unquoted.
TEST(PlanCsvTest, QuotedFieldsAndExtraColumns) {
  Result<PlanCsv> csv = ParsePlanCsv(
      "id,lower,upper,size,offset,tensors\n"
      "\"a,1\",0,2,4,0,\"x, y; \"\"z\"\"\"\n"
      " \" b \" ,2,4,4,0,plain\n"
      "c,0,1,3,4,\"\"\n");
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  ASSERT_EQ(csv->rows.size(), 3u);
  EXPECT_EQ(csv->rows[0].id, "a,1");
  EXPECT_EQ(csv->rows[0].upper, 2);
  EXPECT_EQ(csv->rows[0].size, 4u);
  EXPECT_EQ(csv->rows[1].id, " b ") << "spaces inside quotes are kept";
  EXPECT_EQ(csv->rows[1].lower, 2);
  EXPECT_EQ(csv->rows[2].size, 3u);

  // CsvField writes what the parser reads back.
  for (const std::string name : {"plain", "a,b", "say \"hi\"", " padded ", "x;y"}) {
    Result<PlanCsv> back = ParsePlanCsv("id,lower,upper,size\n" + CsvField(name) + ",0,1,8\n");
    ASSERT_TRUE(back.ok()) << name << ": " << back.status().ToString();
    ASSERT_EQ(back->rows.size(), 1u);
    EXPECT_EQ(back->rows[0].id, name);
  }
  // A row is one line: a line break comes back as a space.
  Result<PlanCsv> broken =
      ParsePlanCsv("id,lower,upper,size\n" + CsvField("two\nlines\r") + ",0,1,8\n");
  ASSERT_TRUE(broken.ok()) << broken.status().ToString();
  ASSERT_EQ(broken->rows.size(), 1u);
  EXPECT_EQ(broken->rows[0].id, "two lines ");
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
}

TEST(PlanCsvTest, UnclosedQuoteNamesItsLine) {
  Result<PlanCsv> csv = ParsePlanCsv("id,lower,upper,size\na,0,1,4\n\"b,0,1,4\n");
  ASSERT_FALSE(csv.ok());
  EXPECT_NE(csv.status().message().find("line 3: a quoted field is not closed"), std::string::npos)
      << csv.status().ToString();
}

TEST(SerenityPlanCliTest, BadFlagsAndFiles) {
  RunResult run = RunPlan("--csv " + TempPath("does_not_exist.csv"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("cannot open"), std::string::npos) << run.err;

  const std::string csv = WriteTemp("flags.csv", kSmallCsv);
  run = RunPlan("--csv " + csv + " --fast");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("unknown flag '--fast'"), std::string::npos) << run.err;

  run = RunPlan("--csv " + csv + " --planner optimal");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("unknown planner 'optimal'"), std::string::npos) << run.err;

  run = RunPlan("--csv " + csv + " --capacity lots");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("--capacity 'lots'"), std::string::npos) << run.err;

  run = RunPlan("--csv " + csv + " --time-limit");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("missing value after --time-limit"), std::string::npos) << run.err;

  run = RunPlan("--planner best");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("--csv FILE is required"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace serenity::scheduler
