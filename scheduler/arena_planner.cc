#include "serenity/scheduler/arena_planner.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <utility>

#include "arena_planner_internal.h"

namespace serenity::scheduler {
namespace {

using internal::AlignUp;

// Keeps every sum of sizes and offsets far from uint64 overflow.
constexpr uint64_t kMaxTotalBytes = uint64_t{1} << 62;

Status CheckBuffers(const std::vector<PlanBuffer>& buffers, const PlanOptions& options) {
  uint64_t total = 0;
  for (size_t i = 0; i < buffers.size(); ++i) {
    const PlanBuffer& b = buffers[i];
    if (b.alignment == 0) return InvalidArgumentError("buffer ", i, ": alignment is 0");
    if (b.alignment > kMaxTotalBytes) {
      return InvalidArgumentError("buffer ", i, ": alignment ", b.alignment, " is too large");
    }
    if (b.first > b.last) {
      return InvalidArgumentError("buffer ", i, ": live range [", b.first, ", ", b.last,
                                  "] is empty (first > last)");
    }
    if (b.size > kMaxTotalBytes - total) {
      return InvalidArgumentError("buffer ", i, ": total size exceeds 2^62 bytes");
    }
    total += b.size + b.alignment;
  }
  if (options.read_past_bytes > kMaxTotalBytes) {
    return InvalidArgumentError("read_past_bytes ", options.read_past_bytes, " is too large");
  }
  return Status::Ok();
}

}  // namespace

const char* PlannerKindName(PlannerKind kind) {
  switch (kind) {
    case PlannerKind::kGreedy:
      return "greedy";
    case PlannerKind::kBest:
      return "best";
  }
  return "unknown";
}

Result<PlannerKind> ParsePlannerKind(const std::string& name) {
  if (name == "greedy") return PlannerKind::kGreedy;
  if (name == "best") return PlannerKind::kBest;
  return InvalidArgumentError("unknown planner '", name, "' (expected greedy or best)");
}

uint64_t ArenaLowerBound(const std::vector<PlanBuffer>& buffers) {
  // Sweep over step boundaries: +size at first, -size after last.
  std::vector<std::pair<int64_t, uint64_t>> starts, ends;
  starts.reserve(buffers.size());
  ends.reserve(buffers.size());
  for (const PlanBuffer& b : buffers) {
    starts.emplace_back(b.first, b.size);
    ends.emplace_back(int64_t{b.last} + 1, b.size);
  }
  std::sort(starts.begin(), starts.end());
  std::sort(ends.begin(), ends.end());
  uint64_t live = 0;
  uint64_t peak = 0;
  size_t e = 0;
  for (size_t s = 0; s < starts.size(); ++s) {
    while (e < ends.size() && ends[e].first <= starts[s].first) live -= ends[e++].second;
    live += starts[s].second;
    peak = std::max(peak, live);
  }
  return peak;
}

namespace internal {

uint64_t PlacementHeight(const std::vector<PlanBuffer>& buffers,
                         const std::vector<uint64_t>& offsets) {
  uint64_t height = 0;
  for (size_t i = 0; i < buffers.size(); ++i) {
    height = std::max(height, offsets[i] + buffers[i].size);
  }
  return height;
}

std::vector<uint64_t> GreedyOffsets(const std::vector<PlanBuffer>& buffers) {
  return GreedyOffsets(buffers, GreedyOrder::kSize);
}

std::vector<uint64_t> GreedyOffsets(const std::vector<PlanBuffer>& buffers, GreedyOrder kind) {
  const size_t n = buffers.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  auto duration = [&](size_t i) { return int64_t{buffers[i].last} - buffers[i].first + 1; };
  auto area = [&](size_t i) {
    return static_cast<double>(buffers[i].size) * static_cast<double>(duration(i));
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (kind == GreedyOrder::kDuration && duration(a) != duration(b)) {
      return duration(a) > duration(b);
    }
    if (kind == GreedyOrder::kArea && area(a) != area(b)) return area(a) > area(b);
    if (buffers[a].size != buffers[b].size) return buffers[a].size > buffers[b].size;
    if (buffers[a].first != buffers[b].first) return buffers[a].first < buffers[b].first;
    return a < b;
  });

  std::vector<uint64_t> offsets(n, 0);
  // Placed buffers, kept sorted by (offset, index) so gaps are scanned bottom-up.
  std::vector<size_t> placed;
  placed.reserve(n);
  for (size_t idx : order) {
    const PlanBuffer& buffer = buffers[idx];
    uint64_t candidate = 0;
    uint64_t best_gap = UINT64_MAX;
    uint64_t best_offset = 0;
    bool found_gap = false;
    for (size_t p : placed) {
      const PlanBuffer& other = buffers[p];
      if (other.last < buffer.first || buffer.last < other.first) continue;
      if (other.size == 0) continue;
      const uint64_t aligned = AlignUp(candidate, buffer.alignment);
      if (offsets[p] >= aligned + buffer.size) {
        const uint64_t gap = offsets[p] - aligned;
        if (gap < best_gap) {
          best_gap = gap;
          best_offset = aligned;
          found_gap = true;
        }
      }
      candidate = std::max(candidate, offsets[p] + other.size);
    }
    offsets[idx] = found_gap ? best_offset : AlignUp(candidate, buffer.alignment);
    auto position = std::lower_bound(placed.begin(), placed.end(), idx, [&](size_t a, size_t b) {
      return offsets[a] != offsets[b] ? offsets[a] < offsets[b] : a < b;
    });
    placed.insert(position, idx);
  }
  return offsets;
}

}  // namespace internal

Result<ArenaPlan> PlanArena(const std::vector<PlanBuffer>& buffers, const PlanOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  SERENITY_RETURN_IF_ERROR(CheckBuffers(buffers, options));

  ArenaPlan plan;
  plan.lower_bound_bytes = ArenaLowerBound(buffers);
  const uint64_t read_past = options.read_past_bytes;
  const uint64_t capacity = options.capacity_bytes;
  if (capacity > 0 && (capacity < read_past || plan.lower_bound_bytes > capacity - read_past)) {
    return ResourceExhaustedError("arena capacity ", capacity, " bytes is below the lower bound ",
                                  plan.lower_bound_bytes, " bytes + ", read_past,
                                  " read-past bytes: no placement fits");
  }

  plan.offsets = internal::GreedyOffsets(buffers);
  uint64_t height = internal::PlacementHeight(buffers, plan.offsets);
  if (options.kind == PlannerKind::kBest && height > plan.lower_bound_bytes) {
    // Other greedy orders first: cheap, and the search may not beat them in
    // its time. The smallest wins; ties keep the earlier one.
    for (internal::GreedyOrder order :
         {internal::GreedyOrder::kDuration, internal::GreedyOrder::kArea}) {
      std::vector<uint64_t> offsets = internal::GreedyOffsets(buffers, order);
      const uint64_t candidate = internal::PlacementHeight(buffers, offsets);
      if (candidate < height) {
        height = candidate;
        plan.offsets = std::move(offsets);
      }
    }
  }

  if (options.kind == PlannerKind::kBest && height > plan.lower_bound_bytes) {
    const bool has_deadline = options.time_limit_seconds > 0;
    const auto deadline =
        start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(has_deadline ? options.time_limit_seconds : 0));
    const uint64_t capacity_height = capacity > 0 ? capacity - read_past : 0;
    auto accept = [&](internal::SearchResult& result) {
      plan.offsets = std::move(result.offsets);
      height = internal::PlacementHeight(buffers, plan.offsets);
    };
    // No plan lower than `lo` exists (the bound, or proven by a search).
    uint64_t lo = plan.lower_bound_bytes;
    auto search_deadline = deadline;
    // The work budget: nodes of the searches together (0: none).
    const uint64_t node_limit = options.node_limit;
    auto nodes_left = [&] { return node_limit > plan.nodes ? node_limit - plan.nodes : 0; };
    if (capacity_height > plan.lower_bound_bytes && height > capacity_height) {
      // Fitting the capacity is what the caller needs: that first, then the
      // bound with at most a quarter of the time limit.
      internal::SearchResult fit = internal::SearchOffsets(
          buffers, capacity_height, deadline, has_deadline,
          node_limit == 0 ? 0 : std::max<uint64_t>(nodes_left() / 2, 1));
      plan.nodes += fit.nodes;
      if (fit.outcome == internal::SearchOutcome::kFound) accept(fit);
      if (fit.outcome == internal::SearchOutcome::kTimedOut) plan.time_limited = true;
      if (fit.outcome == internal::SearchOutcome::kInfeasible) lo = capacity_height + 1;
      search_deadline =
          std::min(deadline, std::chrono::steady_clock::now() + (deadline - start) / 4);
    }
    // The bound, then bisection between the proven floor and the best height
    // found while the searches keep finishing in time. The bound gets at
    // most half of the time left, so a bound that is out of reach (or too
    // hard to reach) still leaves time to improve on greedy.
    // Likewise the bound gets at most half of the nodes left.
    bool first = true;
    while (lo < height && (node_limit == 0 || nodes_left() > 0)) {
      const uint64_t target = first ? lo : lo + (height - lo) / 2;
      auto target_deadline = search_deadline;
      if (first && has_deadline) {
        const auto now = std::chrono::steady_clock::now();
        if (now < search_deadline) target_deadline = now + (search_deadline - now) / 2;
      }
      const bool bound = first;
      first = false;
      const uint64_t max_nodes =
          node_limit == 0 ? 0 : std::max<uint64_t>(bound ? nodes_left() / 2 : nodes_left(), 1);
      internal::SearchResult result =
          internal::SearchOffsets(buffers, target, target_deadline, has_deadline, max_nodes);
      plan.nodes += result.nodes;
      if (result.outcome == internal::SearchOutcome::kTimedOut) {
        plan.time_limited = true;
        if (target_deadline < search_deadline) continue;
        break;
      }
      if (result.outcome == internal::SearchOutcome::kOutOfNodes) {
        if (bound) continue;
        break;
      }
      if (result.outcome == internal::SearchOutcome::kFound) {
        accept(result);
      } else {
        lo = target + 1;
      }
    }
  }

  plan.arena_bytes = height + read_past;
  plan.optimal = height == plan.lower_bound_bytes;
  plan.time_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (capacity > 0 && plan.arena_bytes > capacity) {
    return ResourceExhaustedError("planner '", PlannerKindName(options.kind), "' needs ",
                                  plan.arena_bytes, " arena bytes (lower bound ",
                                  plan.lower_bound_bytes, " + ", read_past,
                                  " read-past), above the capacity of ", capacity, " bytes");
  }
#ifndef NDEBUG
  Status valid = ValidateArenaPlan(buffers, plan, read_past);
  if (!valid.ok()) {
    return InternalError("arena planner produced an invalid plan: ", valid.message());
  }
#endif
  return plan;
}

}  // namespace serenity::scheduler
