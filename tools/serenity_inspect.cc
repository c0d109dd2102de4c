// serenity_inspect MODEL.srn [--json]
//
// Prints a summary of a .srn model: name, format version, inputs and outputs
// with shapes, operator counts per type, tensors, activation and weight bytes,
// and whether an execution plan is stored. For a file the reader rejects it
// prints the reader's error as one line on stderr and exits with 1.
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "json_text.h"
#include "serenity/model_format/model.h"

namespace serenity {
namespace {

constexpr int kExitBadModel = 1;
constexpr int kExitUsage = 2;

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

using serenity::tools::JsonString;

// Messages are one line on stderr even when a name holds a newline.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

struct Summary {
  std::map<std::string, int> op_counts;
  int activations = 0;
  int constants = 0;
  uint64_t activation_bytes = 0;
};

Summary Summarize(const Model& model) {
  Summary s;
  for (const Operator& op : model.operators()) ++s.op_counts[OpTypeName(op.type)];
  for (const Tensor& t : model.tensors()) {
    if (t.is_constant()) {
      ++s.constants;
    } else {
      ++s.activations;
      s.activation_bytes += t.num_bytes();
    }
  }
  return s;
}

void PrintText(const Model& model, const Summary& s) {
  std::printf("model: %s\n", model.name().c_str());
  std::printf("format version: %u\n", kFormatVersion);
  if (!model.description().empty()) {
    std::printf("description: %s\n", model.description().c_str());
  }
  for (const auto& [title, list] :
       {std::pair<const char*, const std::vector<int>*>{"inputs", &model.inputs()},
        {"outputs", &model.outputs()}}) {
    std::printf("%s: %zu\n", title, list->size());
    for (int index : *list) {
      const Tensor& t = model.tensors()[index];
      std::printf("  %s %s %s\n", model.DescribeTensor(index).c_str(),
                  ShapeString(t.shape).c_str(), DataTypeName(t.type));
    }
  }
  std::printf("operators: %zu\n", model.operators().size());
  for (const auto& [name, count] : s.op_counts) {
    std::printf("  %s: %d\n", name.c_str(), count);
  }
  std::printf("tensors: %zu (%d activations, %d constants)\n",
              model.tensors().size(), s.activations, s.constants);
  std::printf("activation bytes: %llu\n",
              static_cast<unsigned long long>(s.activation_bytes));
  std::printf("weight bytes: %llu\n",
              static_cast<unsigned long long>(model.weight_bytes()));
  std::printf("graph hash: %016llx\n",
              static_cast<unsigned long long>(model.GraphHash()));
  if (!model.plan()) {
    std::printf("execution plan: none\n");
  } else {
    const StoredPlan& p = *model.plan();
    std::printf(
        "execution plan: stored (arena %llu bytes, peak %llu bytes, %s, %s)\n",
        static_cast<unsigned long long>(p.arena_bytes),
        static_cast<unsigned long long>(p.peak_bytes),
        p.optimal ? "optimal" : "not proven optimal",
        p.graph_hash == model.GraphHash() ? "matches this graph"
                                          : "stale: made for another graph");
  }
}

void PrintJson(const Model& model, const Summary& s) {
  std::printf("{\n  \"name\": %s,\n", JsonString(model.name()).c_str());
  std::printf("  \"format_version\": %u,\n", kFormatVersion);
  std::printf("  \"description\": %s,\n",
              JsonString(model.description()).c_str());
  for (const auto& [title, list] :
       {std::pair<const char*, const std::vector<int>*>{"inputs", &model.inputs()},
        {"outputs", &model.outputs()}}) {
    std::printf("  \"%s\": [", title);
    for (size_t i = 0; i < list->size(); ++i) {
      const int index = (*list)[i];
      const Tensor& t = model.tensors()[index];
      std::printf("%s\n    {\"tensor\": %d, \"name\": %s, \"shape\": %s, "
                  "\"type\": \"%s\"}",
                  i > 0 ? "," : "", index, JsonString(t.name).c_str(),
                  ShapeString(t.shape).c_str(), DataTypeName(t.type));
    }
    std::printf("%s],\n", list->empty() ? "" : "\n  ");
  }
  std::printf("  \"operators\": %zu,\n  \"operator_counts\": {",
              model.operators().size());
  bool first = true;
  for (const auto& [name, count] : s.op_counts) {
    std::printf("%s\"%s\": %d", first ? "" : ", ", name.c_str(), count);
    first = false;
  }
  std::printf("},\n");
  std::printf("  \"tensors\": %zu,\n  \"activations\": %d,\n"
              "  \"constants\": %d,\n",
              model.tensors().size(), s.activations, s.constants);
  std::printf("  \"activation_bytes\": %llu,\n  \"weight_bytes\": %llu,\n",
              static_cast<unsigned long long>(s.activation_bytes),
              static_cast<unsigned long long>(model.weight_bytes()));
  std::printf("  \"graph_hash\": \"%016llx\",\n",
              static_cast<unsigned long long>(model.GraphHash()));
  if (!model.plan()) {
    std::printf("  \"plan\": null\n}\n");
  } else {
    const StoredPlan& p = *model.plan();
    std::printf("  \"plan\": {\"arena_bytes\": %llu, \"peak_bytes\": %llu, "
                "\"optimal\": %s, \"matches_graph\": %s}\n}\n",
                static_cast<unsigned long long>(p.arena_bytes),
                static_cast<unsigned long long>(p.peak_bytes),
                p.optimal ? "true" : "false",
                p.graph_hash == model.GraphHash() ? "true" : "false");
  }
}

int Main(int argc, char** argv) {
  std::string path;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "-h" || arg == "--help") {
      std::printf("usage: serenity_inspect MODEL.srn [--json]\n");
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "serenity_inspect: unknown flag %s\n", arg.c_str());
      return kExitUsage;
    } else if (path.empty()) {
      path = arg;
    } else {
      std::fprintf(stderr, "serenity_inspect: more than one model given\n");
      return kExitUsage;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: serenity_inspect MODEL.srn [--json]\n");
    return kExitUsage;
  }
  Result<Model> model = Model::Load(path);
  if (!model.ok()) {
    std::fprintf(stderr, "serenity_inspect: %s\n",
                 OneLine(model.status().ToString()).c_str());
    return kExitBadModel;
  }
  const Summary summary = Summarize(*model);
  if (json) {
    PrintJson(*model, summary);
  } else {
    PrintText(*model, summary);
  }
  return std::fflush(stdout) == 0 ? 0 : kExitBadModel;
}

}  // namespace
}  // namespace serenity

int main(int argc, char** argv) {
  // A closed pipe (serenity_inspect m.srn | head -1) is an error code, not a
  // signal.
  std::signal(SIGPIPE, SIG_IGN);
  return serenity::Main(argc, argv);
}
