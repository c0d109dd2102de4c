// serenity_compile: plan a .srn model ahead of time. The output is the same
// model with its execution plan section filled in (order, arena offsets and
// pixel strides, keyed on the graph hash, kPlanFormatVersion and the planning
// options), so that Engine::Prepare on a device loads the plan with no search
// (ExecutionPlan::cache.status == kStoredPlan, "aot" in serenity_run).
//
// The device must plan with the same options (scheduler, time limits,
// rewrites) for the stored plan to apply; with others it plans at load.
//
// Every user error prints one line "serenity_compile: error: ..." on stderr
// and exits 1.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "flag_arg.h"
#include "serenity/engine.h"
#include "serenity/model_format/model.h"

namespace {

using serenity::Status;

constexpr char kUsage[] =
    "usage: serenity_compile MODEL.srn -o PLANNED.srn [options]\n"
    "\n"
    "Plans MODEL.srn and writes it with its execution plan section filled in:\n"
    "an engine with the same planning options loads it with no search.\n"
    "\n"
    "  -o, --output FILE     the planned model to write (required)\n"
    "  --scheduler NAME      optimal (default), heuristic or stored\n"
    "  --time-limit SECONDS  wall-clock limit of the optimal search (default 60;\n"
    "                        0 = none)\n"
    "  --arena-time-limit SECONDS\n"
    "                        wall-clock limit of the arena placement search\n"
    "                        (default 60)\n"
    "  --no-rewrite          no graph rewrites or buffer aliasing\n"
    "  --rewrite-work N      work budget of the rewrite search (default 6000000;\n"
    "                        0 = no rewrite trial)\n"
    "  --rewrite-time-limit SECONDS\n"
    "                        wall-clock limit of the rewrite search (default 120;\n"
    "                        0 = none)\n"
    "A plan that a wall-clock limit cut short is written with a warning: it\n"
    "depends on this machine's speed and load.\n"
    "  --version             print the version and exit\n"
    "  --help                print this help and exit\n";

struct Flags {
  std::string model;
  std::string output;
  serenity::EngineOptions options;
  bool version = false;
  bool help = false;
};

int Fail(const std::string& message) {
  std::string line = message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::fprintf(stderr, "serenity_compile: error: %s\n", line.c_str());
  return 1;
}

Status ParseSeconds(const std::string& flag, const std::string& text, double* seconds) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value) || value < 0) {
    return serenity::InvalidArgumentError(flag, " wants seconds >= 0, got '", text, "'");
  }
  *seconds = value;
  return Status::Ok();
}

Status ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    serenity::tools::FlagArg flag(argc, argv, &i);
    const std::string& arg = flag.name();
    const bool has_value = flag.has_value();
    auto next = [&](std::string* out) { return flag.Value(out); };
    std::string text;
    if (arg == "-o" || arg == "--output") {
      SERENITY_RETURN_IF_ERROR(next(&flags->output));
    } else if (arg == "--scheduler") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      serenity::Result<serenity::scheduler::Algorithm> algorithm =
          serenity::scheduler::ParseAlgorithm(text);
      if (!algorithm.ok()) {
        return serenity::InvalidArgumentError(
            "--scheduler wants optimal, heuristic or stored, got '", text, "'");
      }
      flags->options.scheduler = *algorithm;
    } else if (arg == "--time-limit") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      SERENITY_RETURN_IF_ERROR(
          ParseSeconds(arg, text, &flags->options.schedule_time_limit_seconds));
    } else if (arg == "--arena-time-limit") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      SERENITY_RETURN_IF_ERROR(ParseSeconds(arg, text, &flags->options.arena_time_limit_seconds));
    } else if (arg == "--rewrite-time-limit") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      SERENITY_RETURN_IF_ERROR(
          ParseSeconds(arg, text, &flags->options.rewrite_time_limit_seconds));
    } else if (arg == "--rewrite-work") {
      SERENITY_RETURN_IF_ERROR(next(&text));
      char* end = nullptr;
      errno = 0;
      const unsigned long long work = std::strtoull(text.c_str(), &end, 10);
      if (text.empty() || text[0] == '-' || *end != '\0' || errno == ERANGE) {
        return serenity::InvalidArgumentError(arg, " wants a count >= 0, got '", text, "'");
      }
      flags->options.rewrite_work_limit = work;
    } else if (arg == "--no-rewrite" && !has_value) {
      flags->options.rewrites = false;
    } else if (arg == "--version") {
      flags->version = true;
    } else if (arg == "--help" || arg == "-h") {
      flags->help = true;
    } else if (arg.empty() || arg[0] == '-') {
      return serenity::InvalidArgumentError("unknown flag '", argv[i],
                                            "' (serenity_compile --help lists the flags)");
    } else if (flags->model.empty()) {
      flags->model = arg;
    } else {
      return serenity::InvalidArgumentError("one model at a time: got '", flags->model,
                                            "' and '", arg, "'");
    }
  }
  if (flags->help || flags->version) return Status::Ok();
  if (flags->model.empty()) return serenity::InvalidArgumentError("no model given (MODEL.srn)");
  if (flags->output.empty()) return serenity::InvalidArgumentError("-o PLANNED.srn is required");
  return Status::Ok();
}

Status CheckDestination(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  struct stat info;
  if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return serenity::IoError("-o ", path, ": directory ", dir, " does not exist");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    return serenity::IoError("-o ", path, ": directory ", dir, " is not writable");
  }
  return Status::Ok();
}

int Compile(const Flags& flags) {
  Status destination = CheckDestination(flags.output);
  if (!destination.ok()) return Fail(destination.message());
  serenity::Result<serenity::Model> model = serenity::Model::Load(flags.model);
  if (!model.ok()) return Fail(model.status().ToString());

  // A fresh search: neither an old stored plan nor a cache entry.
  serenity::EngineOptions options = flags.options;
  options.plan_cache = serenity::PlanCacheMode::kOff;
  options.use_stored_plan = false;
  serenity::Result<serenity::ExecutionPlan> plan = serenity::Engine::Prepare(*model, options);
  if (!plan.ok()) return Fail(flags.model + ": " + plan.status().ToString());

  // With rewrites the plan runs a rewritten model: that is what the file
  // holds then (same inputs and outputs, so a device sees no difference).
  const serenity::Model& run_model =
      plan->rewritten_model != nullptr ? *plan->rewritten_model : *model;
  serenity::ModelBuilder builder = serenity::ModelBuilder::FromModel(run_model);
  builder.SetPlan(serenity::ToStoredPlan(*plan, options));
  serenity::Result<std::vector<uint8_t>> bytes = builder.Finish();
  if (!bytes.ok()) return Fail(flags.model + ": " + bytes.status().ToString());

  // Load what is about to be written, as a device would, before writing it.
  serenity::Result<serenity::Model> planned =
      serenity::Model::FromBuffer(bytes->data(), bytes->size(), flags.output);
  if (!planned.ok()) return Fail(planned.status().ToString());
  options.use_stored_plan = true;
  serenity::Result<serenity::ExecutionPlan> loaded = serenity::Engine::Prepare(*planned, options);
  if (!loaded.ok()) return Fail(flags.output + ": " + loaded.status().ToString());
  if (loaded->cache.status != serenity::PlanCacheStatus::kStoredPlan ||
      loaded->order != plan->order || loaded->memory.arena_bytes != plan->memory.arena_bytes) {
    return Fail(flags.output + ": internal error: the written plan does not load as planned");
  }

  Status written = serenity::WriteFileAtomically(flags.output, *bytes);
  if (!written.ok()) return Fail(written.message());
  if (plan->time_limited()) {
    std::fprintf(stderr,
                 "serenity_compile: warning: a wall-clock limit cut the%s%s%s search short: "
                 "the plan depends on this machine's speed and load (compile on a quieter "
                 "machine, or raise the limit)\n",
                 plan->schedule.time_limited ? " order" : "",
                 plan->arena.time_limited ? " arena" : "",
                 plan->rewrite_time_limited ? " rewrite" : "");
  }
  std::printf(
      "serenity_compile: %s: '%s', %zu operators: %s order%s, arena %llu bytes (peak %llu, "
      "stored-order baseline %llu), planned in %.1f ms; loads with no search under "
      "--scheduler %s --time-limit %g --arena-time-limit %g --rewrite-time-limit %g "
      "--rewrite-work %llu%s\n",
      flags.output.c_str(), model->name().c_str(), model->operators().size(),
      serenity::scheduler::AlgorithmName(plan->schedule.algorithm),
      plan->schedule.optimal ? " (proven optimal)" : "",
      static_cast<unsigned long long>(plan->memory.arena_bytes),
      static_cast<unsigned long long>(plan->memory.peak_bytes),
      static_cast<unsigned long long>(plan->memory.baseline_arena_bytes), plan->planning_ms,
      serenity::scheduler::AlgorithmName(options.scheduler), options.schedule_time_limit_seconds,
      options.arena_time_limit_seconds, options.rewrite_time_limit_seconds,
      static_cast<unsigned long long>(options.rewrite_work_limit),
      options.rewrites ? "" : " --no-rewrite");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  Status status = ParseFlags(argc, argv, &flags);
  if (!status.ok()) return Fail(status.message());
  if (flags.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (flags.version) {
    std::printf("serenity_compile %s\n", serenity::VersionString());
    return 0;
  }
  return Compile(flags);
}
