#include "memory_picture.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

#include "serenity/kernels/op_kernel.h"
#include "serenity/scheduler/graph.h"
#include "serenity/scheduler/memory_model.h"

namespace serenity::tools {
namespace {

constexpr uint64_t kAlignment = 64;

// Bytes in use at every step: the union of the byte ranges of the blocks live
// then (aliased tensors share bytes and count once).
std::vector<uint64_t> UnionPerStep(const std::vector<ArenaBlock>& blocks, int steps) {
  std::vector<uint64_t> bytes(steps, 0);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (int s = 0; s < steps; ++s) {
    ranges.clear();
    for (const ArenaBlock& b : blocks) {
      if (b.first <= s && s <= b.last && b.bytes > 0) ranges.emplace_back(b.offset, b.offset + b.bytes);
    }
    std::sort(ranges.begin(), ranges.end());
    uint64_t total = 0, start = 0, end = 0;
    bool open = false;
    for (const auto& [lo, hi] : ranges) {
      if (open && lo <= end) {
        end = std::max(end, hi);
        continue;
      }
      if (open) total += end - start;
      start = lo;
      end = hi;
      open = true;
    }
    if (open) total += end - start;
    bytes[s] = total;
  }
  return bytes;
}

// ---- drawing ----

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 has no place for most control characters.
        out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
    }
  }
  return out;
}

std::string Num(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", value);
  return text;
}

std::string Bytes(uint64_t bytes) {
  char text[32];
  if (bytes >= (uint64_t{1} << 20)) {
    std::snprintf(text, sizeof(text), "%.2f MiB", static_cast<double>(bytes) / (1 << 20));
  } else if (bytes >= 1024) {
    std::snprintf(text, sizeof(text), "%.1f KiB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(text, sizeof(text), "%llu B", static_cast<unsigned long long>(bytes));
  }
  return text;
}

const char* const kCurveColors[] = {"#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
// One colour per OpType, in enum order (Conv2D, FullyConnected, MaxPool2D,
// AveragePool2D, GlobalAveragePool, Add, Mul, Concat, Relu, Clamp, Sigmoid,
// HardSwish, Softmax, Reshape, Pad, Slice, ResizeBilinear): a given operator
// kind has the same colour in every picture.
const char* const kOpColors[kNumOpTypes] = {
    "#f28e2b", "#1f3b73", "#edc948", "#bcbd22", "#ff9da7", "#4e79a7", "#17becf", "#59a14f",
    "#e15759", "#8c564b", "#b07aa1", "#e377c2", "#2ca02c", "#9c755f", "#aec7e8", "#76b7b2",
    "#d62728"};
constexpr const char* kInputColor = "#bab0ac";

const char* ColorOf(const std::string& op_type) {
  for (int k = 0; k < kNumOpTypes; ++k) {
    if (op_type == OpTypeName(static_cast<OpType>(k))) return kOpColors[k];
  }
  return kInputColor;
}

// A tick step of 1, 2 or 5 times a power of ten giving about `count` ticks.
double TickStep(double range, int count) {
  if (range <= 0) return 1;
  const double raw = range / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * power >= raw) return m * power;
  }
  return 10 * power;
}

struct Frame {
  double left, top, width, height;
  double x_max, y_max;  // data ranges: steps, bytes
  double X(double step) const { return left + width * step / x_max; }
  double Y(double bytes) const { return top + height - height * bytes / y_max; }
};

void Axes(std::string& svg, const Frame& f, const std::string& x_label, const std::string& y_label) {
  svg += "<rect x=\"" + Num(f.left) + "\" y=\"" + Num(f.top) + "\" width=\"" + Num(f.width) +
         "\" height=\"" + Num(f.height) + "\" fill=\"#ffffff\" stroke=\"#444444\"/>\n";
  const double y_step = TickStep(f.y_max, 5);
  for (double v = 0; v <= f.y_max * 1.0001; v += y_step) {
    const double y = f.Y(v);
    svg += "<line x1=\"" + Num(f.left - 4) + "\" y1=\"" + Num(y) + "\" x2=\"" +
           Num(f.left + f.width) + "\" y2=\"" + Num(y) +
           "\" stroke=\"#e0e0e0\" stroke-width=\"0.5\"/>\n";
    svg += "<text x=\"" + Num(f.left - 6) + "\" y=\"" + Num(y + 4) +
           "\" text-anchor=\"end\" font-size=\"11\">" + Bytes(static_cast<uint64_t>(v)) +
           "</text>\n";
  }
  const double x_step = std::max(1.0, TickStep(f.x_max, 10));
  for (double s = 0; s <= f.x_max; s += x_step) {
    const double x = f.X(s);
    svg += "<line x1=\"" + Num(x) + "\" y1=\"" + Num(f.top + f.height) + "\" x2=\"" + Num(x) +
           "\" y2=\"" + Num(f.top + f.height + 4) + "\" stroke=\"#444444\"/>\n";
    svg += "<text x=\"" + Num(x) + "\" y=\"" + Num(f.top + f.height + 16) +
           "\" text-anchor=\"middle\" font-size=\"11\">" + std::to_string(static_cast<int>(s)) +
           "</text>\n";
  }
  svg += "<text x=\"" + Num(f.left + f.width / 2) + "\" y=\"" + Num(f.top + f.height + 32) +
         "\" text-anchor=\"middle\" font-size=\"12\">" + Escape(x_label) + "</text>\n";
  svg += "<text x=\"" + Num(f.left - 70) + "\" y=\"" + Num(f.top + f.height / 2) +
         "\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 " +
         Num(f.left - 70) + " " + Num(f.top + f.height / 2) + ")\">" + Escape(y_label) +
         "</text>\n";
}

}  // namespace

std::string TensorLabel(const Model& model, int t) {
  const std::string& name = model.tensors()[t].name;
  return name.empty() ? "tensor " + std::to_string(t) : name;
}

Result<MemoryPicture> BuildMemoryPicture(const Model& source, const ExecutionPlan& plan,
                                         const PictureOptions& options) {
  const Model& model = plan.rewritten_model != nullptr ? *plan.rewritten_model : source;
  const std::vector<Tensor>& tensors = model.tensors();
  const std::vector<Operator>& ops = model.operators();
  const int n = static_cast<int>(ops.size());
  if (static_cast<int>(plan.order.size()) != n || plan.placements.size() != tensors.size()) {
    return InvalidArgumentError("the plan does not fit model '", model.name(), "'");
  }
  std::vector<int> step_of(n, -1);
  for (int s = 0; s < n; ++s) {
    const int op = plan.order[s];
    if (op < 0 || op >= n || step_of[op] >= 0) {
      return InvalidArgumentError("the plan's order is not a permutation of the operators");
    }
    step_of[op] = s;
  }

  MemoryPicture picture;
  picture.title = model.name();
  picture.steps = n;
  picture.arena_bytes = plan.memory.arena_bytes;
  picture.peak_bytes = plan.memory.peak_bytes;

  // Live ranges from the model and the order alone (DESIGN.md §2).
  std::vector<int> first(tensors.size(), -1), last(tensors.size(), -1);
  std::vector<std::string> producer_type(tensors.size(), "graph input");
  for (int t : model.inputs()) first[t] = last[t] = 0;
  for (int op = 0; op < n; ++op) {
    for (int t : ops[op].outputs) {
      first[t] = std::max(first[t], step_of[op]);
      last[t] = std::max(last[t], step_of[op]);
      producer_type[t] = OpTypeName(ops[op].type);
    }
  }
  for (int op = 0; op < n; ++op) {
    for (int t : ops[op].inputs) {
      if (t >= 0 && !tensors[t].is_constant()) last[t] = std::max(last[t], step_of[op]);
    }
  }
  for (int t : model.outputs()) last[t] = n - 1;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const TensorPlacement& placement = plan.placements[t];
    if (tensors[t].is_constant() || placement.offset < 0 || first[t] < 0) continue;
    const std::vector<int64_t>& shape = tensors[t].shape;
    const int64_t channels = shape.empty() ? 1 : shape.back();
    const int64_t pixels = channels == 0 ? 0 : tensors[t].num_elements() / channels;
    ArenaBlock block;
    block.tensor = TensorLabel(model, static_cast<int>(t));
    block.op_type = producer_type[t];
    block.first = first[t];
    block.last = last[t];
    block.offset = static_cast<uint64_t>(placement.offset);
    if (placement.pixel_stride == channels) {
      block.bytes = scheduler::AlignUp(tensors[t].num_bytes(), kAlignment);
    } else {
      block.bytes = pixels == 0 ? 0
                                : static_cast<uint64_t>((pixels - 1) * placement.pixel_stride +
                                                        channels) *
                                      DataTypeSize(tensors[t].type);
    }
    picture.blocks.push_back(std::move(block));
  }

  // Curves of the model as stored, without aliasing: its stored order and,
  // when the plan did more than order it, its optimal order alone.
  const scheduler::Graph graph = scheduler::GraphFromModel(source);
  const scheduler::MemoryModel plain = scheduler::MemoryModel::WithoutAliasing(graph);
  std::vector<int> stored_order(graph.ops.size());
  for (size_t i = 0; i < stored_order.size(); ++i) stored_order[i] = static_cast<int>(i);
  picture.curves.push_back(
      {"stored order (as in the file)", scheduler::FootprintPerStep(graph, plain, stored_order)});
  if (options.order_time_limit_seconds > 0) {
    scheduler::ScheduleOptions schedule;
    schedule.algorithm = scheduler::Algorithm::kOptimal;
    schedule.time_limit_seconds = options.order_time_limit_seconds;
    SERENITY_ASSIGN_OR_RETURN(scheduler::Schedule order,
                              scheduler::ComputeSchedule(graph, plain, schedule));
    picture.curves.push_back(
        {std::string("optimal order alone") + (order.optimal ? "" : " (not proven)"),
         scheduler::FootprintPerStep(graph, plain, order.order)});
  }

  std::string label = std::string(scheduler::AlgorithmName(plan.schedule.algorithm)) + " order";
  if (plan.schedule.algorithm == scheduler::Algorithm::kOptimal && !plan.schedule.optimal) {
    label += " (not proven)";
  }
  if (plan.strategy == MemoryStrategy::kAliasing) label += " with aliasing";
  if (plan.strategy == MemoryStrategy::kRewrites) {
    label += " with rewrites (" + std::to_string(plan.rewrites_applied.size()) +
             " kept) and aliasing";
  }
  label += " (the plan)";
  picture.curves.push_back({label, UnionPerStep(picture.blocks, n)});
  return picture;
}

std::string RenderMemorySvg(const MemoryPicture& picture) {
  const double width = 1440, left = 100, plot_width = 900;
  const double notes_height = 18.0 * static_cast<double>(picture.notes.size());
  const double curves_top = 60 + notes_height, curves_height = 300;
  const double arena_top = curves_top + curves_height + 90, arena_height = 420;
  const double height = arena_top + arena_height + 60;

  std::string svg;
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Num(width) + "\" height=\"" +
         Num(height) + "\" viewBox=\"0 0 " + Num(width) + " " + Num(height) +
         "\" font-family=\"sans-serif\">\n";
  svg += "<title>Memory of " + Escape(picture.title) + "</title>\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>\n";
  svg += "<text x=\"" + Num(left) + "\" y=\"30\" font-size=\"18\" font-weight=\"bold\">Memory of " +
         Escape(picture.title) + "</text>\n";
  for (size_t i = 0; i < picture.notes.size(); ++i) {
    svg += "<text x=\"" + Num(left) + "\" y=\"" + Num(50 + 18.0 * static_cast<double>(i)) +
           "\" font-size=\"12\" fill=\"#444444\">" + Escape(picture.notes[i]) + "</text>\n";
  }

  // (a) Footprint over the steps.
  int max_steps = std::max(picture.steps, 1);
  uint64_t max_bytes = 1;
  for (const FootprintCurve& c : picture.curves) {
    max_steps = std::max(max_steps, static_cast<int>(c.bytes.size()));
    for (uint64_t b : c.bytes) max_bytes = std::max(max_bytes, b);
  }
  const Frame curves{left, curves_top, plot_width, curves_height, static_cast<double>(max_steps),
                     static_cast<double>(max_bytes) * 1.1};
  svg += "<g id=\"footprint\">\n";
  svg += "<text x=\"" + Num(left) + "\" y=\"" + Num(curves_top - 8) +
         "\" font-size=\"14\" font-weight=\"bold\">Footprint over the execution steps</text>\n";
  Axes(svg, curves, "execution step", "live bytes");
  for (size_t i = 0; i < picture.curves.size(); ++i) {
    const FootprintCurve& c = picture.curves[i];
    if (c.bytes.empty()) continue;
    const char* color = kCurveColors[i % (sizeof(kCurveColors) / sizeof(kCurveColors[0]))];
    std::string points;
    for (size_t s = 0; s < c.bytes.size(); ++s) {
      const double y = curves.Y(static_cast<double>(c.bytes[s]));
      points += Num(curves.X(static_cast<double>(s))) + "," + Num(y) + " " +
                Num(curves.X(static_cast<double>(s + 1))) + "," + Num(y) + " ";
    }
    svg += "<polyline class=\"curve\" fill=\"none\" stroke=\"" + std::string(color) +
           "\" stroke-width=\"2\" points=\"" + points + "\"><title>" + Escape(c.label) +
           "</title></polyline>\n";
    const size_t peak_step =
        static_cast<size_t>(std::max_element(c.bytes.begin(), c.bytes.end()) - c.bytes.begin());
    const uint64_t peak = c.bytes[peak_step];
    const std::string peak_text =
        c.label + ": peak " + Bytes(peak) + " at step " + std::to_string(peak_step);
    svg += "<circle class=\"peak\" cx=\"" + Num(curves.X(peak_step + 0.5)) + "\" cy=\"" +
           Num(curves.Y(static_cast<double>(peak))) + "\" r=\"5\" fill=\"" + color +
           "\" stroke=\"#000000\"><title>" + Escape(peak_text) + "</title></circle>\n";
    const double legend_y = curves_top + 14 + 34.0 * static_cast<double>(i);
    const double legend_x = left + plot_width + 20;
    svg += "<line x1=\"" + Num(legend_x) + "\" y1=\"" + Num(legend_y) + "\" x2=\"" +
           Num(legend_x + 24) + "\" y2=\"" + Num(legend_y) + "\" stroke=\"" + color +
           "\" stroke-width=\"3\"/>\n";
    svg += "<text x=\"" + Num(legend_x + 30) + "\" y=\"" + Num(legend_y + 4) +
           "\" font-size=\"11\">" + Escape(c.label) + "</text>\n";
    svg += "<text x=\"" + Num(legend_x + 30) + "\" y=\"" + Num(legend_y + 18) +
           "\" font-size=\"11\" font-weight=\"bold\">peak " + Bytes(peak) + " at step " +
           std::to_string(peak_step) + "</text>\n";
  }
  svg += "</g>\n";

  // (b) The arena layout under the plan's order.
  const double arena_max =
      static_cast<double>(std::max<uint64_t>({picture.arena_bytes, picture.peak_bytes, 1}));
  const Frame arena{left, arena_top, plot_width, arena_height,
                    static_cast<double>(std::max(picture.steps, 1)), arena_max * 1.05};
  svg += "<g id=\"arena\">\n";
  svg += "<text x=\"" + Num(left) + "\" y=\"" + Num(arena_top - 8) +
         "\" font-size=\"14\" font-weight=\"bold\">Arena layout (" + Bytes(picture.arena_bytes) +
         "): one rectangle per tensor, over its live steps</text>\n";
  Axes(svg, arena, "execution step (the plan's order)", "arena offset");
  std::map<std::string, const char*> colors;
  for (const ArenaBlock& b : picture.blocks) colors[b.op_type] = ColorOf(b.op_type);
  for (const ArenaBlock& b : picture.blocks) {
    const double x = arena.X(b.first);
    const double w = std::max(1.0, arena.X(b.last + 1) - x);
    const double y = arena.Y(static_cast<double>(b.offset + b.bytes));
    const double h = std::max(0.5, arena.Y(static_cast<double>(b.offset)) - y);
    svg += "<rect class=\"buffer\" x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" width=\"" + Num(w) +
           "\" height=\"" + Num(h) + "\" fill=\"" + colors[b.op_type] +
           "\" stroke=\"#333333\" stroke-width=\"0.4\"><title>" + Escape(b.tensor) + " (" +
           Escape(b.op_type) + "): " + Bytes(b.bytes) + " at offset " + std::to_string(b.offset) +
           ", steps " + std::to_string(b.first) + "-" + std::to_string(b.last) +
           "</title></rect>\n";
  }
  const double arena_y = arena.Y(static_cast<double>(picture.arena_bytes));
  svg += "<line class=\"arena-size\" x1=\"" + Num(left) + "\" y1=\"" + Num(arena_y) + "\" x2=\"" +
         Num(left + plot_width) + "\" y2=\"" + Num(arena_y) +
         "\" stroke=\"#000000\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/>\n";
  svg += "<text x=\"" + Num(left + plot_width - 4) + "\" y=\"" + Num(arena_y - 4) +
         "\" text-anchor=\"end\" font-size=\"11\">arena " + Bytes(picture.arena_bytes) +
         " (with read margin)</text>\n";
  const double peak_y = arena.Y(static_cast<double>(picture.peak_bytes));
  svg += "<line class=\"peak-line\" x1=\"" + Num(left) + "\" y1=\"" + Num(peak_y) + "\" x2=\"" +
         Num(left + plot_width) + "\" y2=\"" + Num(peak_y) +
         "\" stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"2 2\"/>\n";
  svg += "<text x=\"" + Num(left + 4) + "\" y=\"" + Num(peak_y - 4) +
         "\" font-size=\"11\" fill=\"#d62728\">peak " + Bytes(picture.peak_bytes) + "</text>\n";
  double legend_y = arena_top + 10;
  svg += "<text x=\"" + Num(left + plot_width + 20) + "\" y=\"" + Num(legend_y) +
         "\" font-size=\"12\" font-weight=\"bold\">produced by</text>\n";
  for (const auto& [type, color] : colors) {
    legend_y += 18;
    svg += "<rect x=\"" + Num(left + plot_width + 20) + "\" y=\"" + Num(legend_y - 10) +
           "\" width=\"14\" height=\"12\" fill=\"" + color + "\" stroke=\"#333333\"/>\n";
    svg += "<text x=\"" + Num(left + plot_width + 40) + "\" y=\"" + Num(legend_y) +
           "\" font-size=\"11\">" + Escape(type) + "</text>\n";
  }
  svg += "</g>\n</svg>\n";
  return svg;
}

}  // namespace serenity::tools
