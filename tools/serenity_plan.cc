// serenity_plan: place the buffers of a raw instance in one arena.
//
//   serenity_plan --csv FILE [--planner greedy|best] [--capacity BYTES]
//                 [--time-limit S] [--output OFFSETS.csv] [--json]
//
// FILE has rows `id,lower,upper,size` (half-open live interval [lower,
// upper), alignment 1), with or without a header line. Exit status 0 on
// success; 1 with one line on stderr for a bad flag, file or row, or when the
// capacity cannot be met.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "serenity/scheduler/arena_planner.h"
#include "serenity/scheduler/plan_csv.h"

namespace {

using serenity::Result;
using serenity::Status;
using serenity::scheduler::ArenaPlan;
using serenity::scheduler::PlanOptions;

constexpr const char kUsage[] =
    "usage: serenity_plan --csv FILE [--planner greedy|best] [--capacity BYTES] "
    "[--time-limit S] [--output OFFSETS.csv] [--json]";

int Fail(const std::string& message) {
  std::fprintf(stderr, "serenity_plan: %s\n", message.c_str());
  return 1;
}

bool ParseBytes(const std::string& text, uint64_t* value) {
  if (text.empty() || text.size() > 19) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  *value = std::strtoull(text.c_str(), nullptr, 10);
  return true;
}

bool ParseSeconds(const std::string& text, double* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double parsed = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !(parsed >= 0) || parsed > 1e6) {
    return false;
  }
  *value = parsed;
  return true;
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  std::string csv_path;
  std::string output_path;
  bool json = false;
  PlanOptions options;
  options.kind = serenity::scheduler::PlannerKind::kBest;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf("%s\n", kUsage);
      return 0;
    }
    if (flag == "--json") {
      json = true;
      continue;
    }
    if (flag != "--csv" && flag != "--planner" && flag != "--capacity" &&
        flag != "--time-limit" && flag != "--output") {
      return Fail("unknown flag '" + flag + "'\n" + kUsage);
    }
    if (i + 1 >= argc) return Fail("missing value after " + flag);
    const std::string value = argv[++i];
    if (flag == "--csv") {
      csv_path = value;
    } else if (flag == "--output") {
      output_path = value;
    } else if (flag == "--planner") {
      Result<serenity::scheduler::PlannerKind> kind = serenity::scheduler::ParsePlannerKind(value);
      if (!kind.ok()) return Fail(kind.status().message());
      options.kind = *kind;
    } else if (flag == "--capacity") {
      if (!ParseBytes(value, &options.capacity_bytes) || options.capacity_bytes == 0) {
        return Fail("--capacity '" + value + "' is not a positive number of bytes");
      }
    } else if (flag == "--time-limit") {
      if (!ParseSeconds(value, &options.time_limit_seconds)) {
        return Fail("--time-limit '" + value + "' is not a number of seconds");
      }
    }
  }
  if (csv_path.empty()) return Fail(std::string("--csv FILE is required\n") + kUsage);

  std::ifstream file(csv_path, std::ios::binary);
  if (!file) return Fail("cannot open '" + csv_path + "': " + std::strerror(errno));
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) return Fail("cannot read '" + csv_path + "'");

  auto csv = serenity::scheduler::ParsePlanCsv(text.str(), 1);
  if (!csv.ok()) return Fail(csv_path + ": " + csv.status().message());

  Result<ArenaPlan> plan = serenity::scheduler::PlanArena(csv->buffers, options);
  if (!plan.ok()) return Fail(csv_path + ": " + plan.status().ToString());
  const Status valid = serenity::scheduler::ValidateArenaPlan(csv->buffers, *plan, 0);

  if (!output_path.empty()) {
    std::ofstream out(output_path, std::ios::binary | std::ios::trunc);
    if (!out) return Fail("cannot write '" + output_path + "': " + std::strerror(errno));
    out << "id,lower,upper,size,offset\n";
    for (size_t i = 0; i < csv->rows.size(); ++i) {
      const auto& row = csv->rows[i];
      out << row.id << ',' << row.lower << ',' << row.upper << ',' << row.size << ','
          << plan->offsets[i] << '\n';
    }
    out.close();
    if (!out) return Fail("cannot write '" + output_path + "'");
  }

  const char* planner = serenity::scheduler::PlannerKindName(options.kind);
  if (json) {
    std::printf(
        "{\"file\": %s, \"buffers\": %zu, \"lower_bound_bytes\": %llu, \"arena_bytes\": %llu, "
        "\"planner\": \"%s\", \"optimal\": %s, \"time_ms\": %.3f, \"valid\": %s}\n",
        JsonString(csv_path).c_str(), csv->buffers.size(),
        static_cast<unsigned long long>(plan->lower_bound_bytes),
        static_cast<unsigned long long>(plan->arena_bytes), planner,
        plan->optimal ? "true" : "false", plan->time_ms, valid.ok() ? "true" : "false");
  } else {
    std::printf("buffers            %zu\n", csv->buffers.size());
    std::printf("lower bound bytes  %llu\n",
                static_cast<unsigned long long>(plan->lower_bound_bytes));
    std::printf("arena bytes        %llu (%.4fx the bound%s)\n",
                static_cast<unsigned long long>(plan->arena_bytes),
                plan->lower_bound_bytes == 0
                    ? 1.0
                    : static_cast<double>(plan->arena_bytes) /
                          static_cast<double>(plan->lower_bound_bytes),
                plan->optimal ? ", optimal" : "");
    std::printf("planner            %s\n", planner);
    std::printf("time ms            %.3f\n", plan->time_ms);
    std::printf("valid              %s\n", valid.ok() ? "yes" : valid.ToString().c_str());
  }
  if (!valid.ok()) return Fail("internal error: invalid plan: " + valid.ToString());
  return 0;
}
